/* run.h - runs the built docqa binary as a user would, for end-to-end tests:
 * in a folder, with extra environment, text on stdin, and optionally a
 * Ctrl-C (SIGINT) once its output shows it is under way. */
#ifndef DQ_TEST_RUN_H
#define DQ_TEST_RUN_H

#include <sys/types.h>

typedef struct {
    int status; /* exit code, or 128 + signal */
    int signal; /* the signal that ended it; 0 when it exited */
    char *out;  /* stdout, owned */
    char *err;  /* stderr, owned */
} run_result;

typedef struct {
    const char *workdir;      /* the current directory and $HOME */
    const char *const *env;   /* "NAME=value" entries to add, NULL-terminated; may be NULL */
    const char *input;        /* stdin; NULL: /dev/null */
    const char *interrupt_at; /* send SIGINT once stdout contains this (10 s at most) */
} run_opts;

/* $DOCQA_BIN, else the build's docqa. args is NULL-terminated, without
 * argv[0]. DOCQA_STORE, XDG_CONFIG_HOME, DOCQA_LLM_* and DOCQA_EMBED_MODEL/URL
 * are cleared first so the caller's environment cannot leak in (o->env sets
 * what a test wants). */
run_result run_docqa(const run_opts *o, const char *const *args);
/* The same in two halves, for a test that acts while docqa runs (signals
 * it, watches a server): start returns the pid (-1 when fork failed), and
 * finish waits for it (with o->interrupt_at as run_docqa) and collects the
 * output. */
pid_t run_docqa_start(const run_opts *o, const char *const *args);
run_result run_docqa_finish(const run_opts *o, pid_t pid);
void run_result_free(run_result *r);

#endif
