/* run.c - runs the docqa binary for end-to-end tests. */
#include "support/run.h"

#include "common/common.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef DQ_BINARY_DIR
#define DQ_BINARY_DIR "."
#endif

static const char *docqa_bin(void)
{
    const char *b = getenv("DOCQA_BIN");
    return b && *b ? b : DQ_BINARY_DIR "/docqa";
}

static char *slurp(const char *path)
{
    dq_buf b = DQ_BUF_INIT;
    dq_read_file(path, &b);
    return dq_buf_take(&b);
}

static void run_paths(const run_opts *o, char *out_path, char *err_path, size_t n)
{
    snprintf(out_path, n, "%s/.run-out", o->workdir);
    snprintf(err_path, n, "%s/.run-err", o->workdir);
}

pid_t run_docqa_start(const run_opts *o, const char *const *args)
{
    char out_path[512], err_path[512], in_path[512];
    run_paths(o, out_path, err_path, sizeof out_path);
    snprintf(in_path, sizeof in_path, "%s/.run-in", o->workdir);
    if (o->input)
        dq_write_file_atomic(in_path, o->input, strlen(o->input));
    /* emptied before the child exists: interrupt_at must not find the last
     * run's output there and stop this one before it has begun */
    const char *outs[] = {out_path, err_path};
    for (int k = 0; k < 2; k++) {
        int fd = open(outs[k], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            close(fd);
    }
    pid_t pid = fork();
    if (pid == 0) {
        int i = open(o->input ? in_path : "/dev/null", O_RDONLY);
        int f = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (i < 0 || f < 0 || e < 0 || chdir(o->workdir) < 0)
            _exit(99);
        dup2(i, 0);
        dup2(f, 1);
        dup2(e, 2);
        unsetenv("DOCQA_STORE");
        unsetenv("XDG_CONFIG_HOME");
        unsetenv("DOCQA_LLM_URL");
        unsetenv("DOCQA_LLM_MODEL");
        unsetenv("DOCQA_LLM_API_KEY");
        unsetenv("DOCQA_EMBED_MODEL");
        unsetenv("DOCQA_EMBED_URL");
        setenv("HOME", o->workdir, 1);
        for (int k = 0; o->env && o->env[k]; k++)
            putenv((char *)o->env[k]);
        const char *argv[64];
        int n = 0;
        argv[n++] = "docqa";
        for (int k = 0; args[k] && n < 63; k++)
            argv[n++] = args[k];
        argv[n] = NULL;
        execv(docqa_bin(), (char *const *)argv);
        _exit(98);
    }
    return pid;
}

run_result run_docqa_finish(const run_opts *o, pid_t pid)
{
    char out_path[512], err_path[512];
    run_paths(o, out_path, err_path, sizeof out_path);
    run_result r = {0};
    if (pid < 0) {
        r.status = -1;
        r.out = dq_strdup("");
        r.err = dq_strdup("fork failed");
        return r;
    }
    int st = 0;
    bool reaped = false;
    if (o->interrupt_at) {
        for (int waited = 0; waited < 10000; waited += 5) {
            char *now = slurp(out_path);
            bool seen = strstr(now, o->interrupt_at) != NULL;
            free(now);
            if (seen)
                break;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                reaped = true;
                break;
            }
            struct timespec ts = {0, 5000000L};
            nanosleep(&ts, NULL);
        }
        if (!reaped)
            kill(pid, SIGINT);
    }
    if (!reaped)
        waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    return r;
}

run_result run_docqa(const run_opts *o, const char *const *args)
{
    return run_docqa_finish(o, run_docqa_start(o, args));
}

void run_result_free(run_result *r)
{
    free(r->out);
    free(r->err);
}
