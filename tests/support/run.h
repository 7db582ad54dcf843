/* run.h - runs the built docqa binary as a user would, for end-to-end tests:
 * in a folder, with extra environment, text on stdin, and optionally a
 * Ctrl-C (SIGINT) once its output shows it is under way. */
#ifndef DQ_TEST_RUN_H
#define DQ_TEST_RUN_H

typedef struct {
    int status; /* exit code, or 128 + signal */
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
 * argv[0]. DOCQA_STORE, XDG_CONFIG_HOME and DOCQA_LLM_* are cleared first so
 * the caller's environment cannot leak in. */
run_result run_docqa(const run_opts *o, const char *const *args);
void run_result_free(run_result *r);

#endif
