# install.cmake - what `make install` (cmake --install) puts where, after the
# GNU and FHS conventions: GNUInstallDirs for bin, lib, man and doc; the
# places bash-completion, zsh, fish and systemd look for their files.
# `make uninstall` (the uninstall target) removes what install_manifest.txt lists.

# Debian's zsh reads vendor-completions, upstream zsh site-functions; systemd
# reads units and sysusers.d under <prefix>/lib for /usr and /usr/local alike
# (Debian 12 keeps system units in /lib/systemd/system).
set(DOCQA_ZSH_COMPLETION_DIR ${CMAKE_INSTALL_DATADIR}/zsh/site-functions CACHE STRING
    "where the zsh completion goes, relative to the prefix")
set(DOCQA_SYSTEMD_SYSTEM_DIR lib/systemd/system CACHE STRING "systemd system units (relative to the prefix, or absolute)")
set(DOCQA_SYSTEMD_USER_DIR lib/systemd/user CACHE STRING "systemd user units (relative to the prefix, or absolute)")
set(DOCQA_SYSUSERS_DIR lib/sysusers.d CACHE STRING "sysusers.d files (relative to the prefix, or absolute)")
# A packager's tool (dh_strip) splits the debug info itself: -DDOCQA_SPLIT_DEBUG=OFF.
option(DOCQA_SPLIT_DEBUG "install programs stripped, their debug info in <prefix>/lib/debug" ON)

install(TARGETS docqa RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
set(dq_installed_programs ${CMAKE_INSTALL_FULL_BINDIR}/docqa)
if(TARGET docqa_cuda)
  install(TARGETS docqa_cuda LIBRARY DESTINATION ${DQ_CUDA_BACKEND_DIR})
  list(APPEND dq_installed_programs ${DQ_CUDA_BACKEND_DIR}/libdocqa_cuda.so)
endif()

# gdb finds <prefix>/lib/debug/<path of the program>.debug by the program's
# debuglink when its debug-file-directory is <prefix>/lib/debug (/usr/lib/debug
# is the default; for /usr/local: 'set debug-file-directory /usr/local/lib/debug').
if(DOCQA_SPLIT_DEBUG AND CMAKE_OBJCOPY)
  foreach(prog ${dq_installed_programs})
    set(debug_file ${CMAKE_INSTALL_PREFIX}/lib/debug${prog}.debug)
    install(CODE "
      set(prog \"\$ENV{DESTDIR}${prog}\")
      set(dbg \"\$ENV{DESTDIR}${debug_file}\")
      get_filename_component(dbg_dir \"\${dbg}\" DIRECTORY)
      file(MAKE_DIRECTORY \"\${dbg_dir}\")
      execute_process(COMMAND ${CMAKE_OBJCOPY} --only-keep-debug \"\${prog}\" \"\${dbg}\" RESULT_VARIABLE rc1)
      execute_process(COMMAND ${CMAKE_OBJCOPY} --strip-debug --strip-unneeded --remove-section=.comment
                              --remove-section=.note --add-gnu-debuglink=\${dbg} \"\${prog}\" RESULT_VARIABLE rc2)
      if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
        message(FATAL_ERROR \"cannot split the debug info of \${prog}\")
      endif()
      file(CHMOD \"\${dbg}\" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
      message(STATUS \"Installing: \${dbg}\")
      list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"${debug_file}\")")
  endforeach()
endif()

if(TARGET docqa_docs)
  install(DIRECTORY ${DQ_DOCS_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 FILES_MATCHING PATTERN "*.1")
  install(FILES ${DQ_DOCS_DIR}/completion/docqa.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
          RENAME docqa)
  install(FILES ${DQ_DOCS_DIR}/completion/_docqa DESTINATION ${DOCQA_ZSH_COMPLETION_DIR})
  install(FILES ${DQ_DOCS_DIR}/completion/docqa.fish DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d)
endif()

# systemd units (dist/systemd/*.in): the program's installed path filled in.
set(DOCQA_BIN ${CMAKE_INSTALL_FULL_BINDIR}/docqa)
file(READ ${CMAKE_SOURCE_DIR}/dist/systemd/hardening.conf DOCQA_HARDENING)
string(REGEX REPLACE "\n$" "" DOCQA_HARDENING "${DOCQA_HARDENING}")
file(GLOB dq_units CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/dist/systemd/system/*.in
     ${CMAKE_SOURCE_DIR}/dist/systemd/user/*.in)
foreach(unit ${dq_units})
  get_filename_component(kind_dir ${unit} DIRECTORY)
  get_filename_component(kind ${kind_dir} NAME)
  string(TOUPPER ${kind} kind_upper)
  get_filename_component(name ${unit} NAME)
  string(REGEX REPLACE "\\.in$" "" name ${name})
  configure_file(${unit} ${CMAKE_BINARY_DIR}/systemd/${kind}/${name} @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${kind}/${name} DESTINATION ${DOCQA_SYSTEMD_${kind_upper}_DIR})
endforeach()
# The system units' user, made by systemd-sysusers (the package's postinst runs it).
install(FILES ${CMAKE_SOURCE_DIR}/dist/systemd/docqa.sysusers DESTINATION ${DOCQA_SYSUSERS_DIR}
        RENAME docqa.conf)
install(FILES ${CMAKE_SOURCE_DIR}/dist/systemd/serve.env DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

file(GLOB dq_docs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${dq_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})

add_custom_target(uninstall
  COMMAND ${CMAKE_COMMAND} -DMANIFEST=${CMAKE_BINARY_DIR}/install_manifest.txt
          "-DOWN_DIRS=${DQ_CUDA_BACKEND_DIR}\;${CMAKE_INSTALL_FULL_DOCDIR}/examples\;${CMAKE_INSTALL_FULL_DOCDIR}"
          -P ${CMAKE_SOURCE_DIR}/cmake/uninstall.cmake)
