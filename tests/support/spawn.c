/* spawn.c - running the docqa binary from tests (see spawn.h). */
#include "support/spawn.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t spawn_docqa(const char *bin, const char *workdir, const char *out_path,
                  const char *err_path, const char *const *args)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || chdir(workdir) < 0)
        _exit(99);
    dup2(o, 1);
    dup2(e, 2);
    unsetenv("DOCQA_STORE");
    setenv("HOME", workdir, 1);
    const char *argv[32];
    int n = 0;
    argv[n++] = "docqa";
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    execv(bin, (char *const *)argv);
    _exit(98);
}

int spawn_wait(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
