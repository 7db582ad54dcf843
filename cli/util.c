/* util.c - store and config lookup and Ctrl-C handling shared by the subcommands. */
#include <dirent.h>
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

/* True when a store may be created in dir: it is missing, empty, or already
 * holds docqa's files. A folder of other files (say --store ~/Documents) is
 * refused rather than having docqa's database scattered among them. */
static bool may_hold_store(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return true; /* missing: store_open creates it */
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d))) {
        const char *name = e->d_name;
        if (!strncmp(name, STORE_DBNAME, strlen(STORE_DBNAME)))
            break; /* a store already */
        ok = !strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "config") ||
             !strcmp(name, STORE_LOCKNAME);
    }
    closedir(d);
    return ok;
}

store *cli_open_store(const cli_globals *g, bool create)
{
    char *dir = NULL;
    if (g->store_dir) {
        dir = dq_strdup(g->store_dir);
    } else if (getenv("DOCQA_STORE") && *getenv("DOCQA_STORE")) {
        dir = dq_strdup(getenv("DOCQA_STORE"));
    } else {
        dir = store_find(NULL);
        if (!dir && create) {
            char *cwd = getcwd(NULL, 0);
            dq_buf b = DQ_BUF_INIT;
            dq_buf_printf(&b, "%s/%s", cwd ? cwd : ".", STORE_DIRNAME);
            free(cwd);
            dir = dq_buf_take(&b);
        }
    }
    if (!dir) {
        cli_error("%s", dq_last_error());
        return NULL;
    }
    if (create && !may_hold_store(dir)) {
        cli_error("'%s' is a folder of other files, not a docqa store; name a new or empty "
                  "directory (or one made by docqa) with --store",
                  dir);
        free(dir);
        return NULL;
    }
    store *st = store_open(dir, create ? STORE_CREATE : 0);
    if (!st)
        cli_error("%s", dq_last_error());
    free(dir);
    return st;
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
    embedder *e = dq_config_open_embedder(cfg, err);
    if (*err)
        cli_error("%s", dq_last_error());
    return e;
}

embedder *cli_open_store_embedder(store *st, bool *err)
{
    dq_config cfg;
    embedder *e = NULL;
    *err = cli_load_config(&cfg, store_dir(st)) < 0;
    if (!*err)
        e = cli_open_embedder(&cfg, err);
    dq_config_free(&cfg);
    return e;
}
