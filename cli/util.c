/* util.c - Ctrl-C handling, and the config and model openers that print why
 * they failed, for the subcommands. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    if (interrupted) /* a second Ctrl-C means now: SQLite's journal keeps the store whole */
        _exit(EXIT_INTERRUPTED);
    interrupted = 1;
}

void cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool cli_interrupted(void)
{
    return interrupted != 0;
}

void cli_clear_interrupt(void)
{
    interrupted = 0;
}

int cli_load_config(dq_config *cfg, const char *store_dir)
{
    if (dq_config_load(cfg, store_dir) < 0) {
        cli_error("%s", dq_last_error());
        return -1;
    }
    return 0;
}

embedder *cli_open_embedder(const dq_config *cfg, bool *err)
{
    embedder *e = dq_config_open_embedder(cfg, NULL, err);
    if (*err)
        cli_error("%s", dq_last_error());
    return e;
}

char *cli_shown(char *text)
{
    char *shown = utf8_for_terminal(text ? text : "");
    free(text);
    return shown;
}
