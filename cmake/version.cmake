# version.cmake - writes docqa_version.h: the git commit the tree was built from.
# Run at every build (cmake -DSRC=<source dir> -DOUT=<header> -P version.cmake);
# the header is rewritten only when the commit changes, so nothing recompiles
# otherwise. A tree without git (a source tarball) names its commit in
# .docqa-commit; "-dirty" marks uncommitted changes to tracked files.
set(commit "unknown")
find_program(GIT_EXECUTABLE git)
# (only the tree's own repository: a tarball unpacked inside another one is not it)
if(GIT_EXECUTABLE AND EXISTS ${SRC}/.git)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SRC} rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE head RESULT_VARIABLE rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
if(head AND rc EQUAL 0)
  set(commit "${head}")
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SRC} status --porcelain --untracked-files=no
                  OUTPUT_VARIABLE changes ERROR_QUIET)
  if(changes)
    string(APPEND commit "-dirty")
  endif()
elseif(EXISTS ${SRC}/.docqa-commit)
  file(STRINGS ${SRC}/.docqa-commit lines LIMIT_COUNT 1)
  if(lines MATCHES "^[0-9a-f]+(-dirty)?$")
    set(commit "${lines}")
  endif()
endif()
set(text "/* written by cmake/version.cmake */\n#define DOCQA_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
