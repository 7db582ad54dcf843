/* fuzz_cli_config.c - libFuzzer harness: the INI-style docqa config file.
 *
 * The input is written as <store>/config in a scratch folder (under /dev/shm when there is one, removed at exit)
 * (with XDG_CONFIG_HOME pointing at an empty folder so the user's own config
 * stays out) and read with cli_config_load(). An accepted file must give
 * values within their documented ranges. cli_error() is replaced here, so
 * rejected lines cost no output.
 */
#include "cli/cli.h"
#include "common/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n_errors;

void cli_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    n_errors++;
}

static char dir[64];

static void remove_scratch(void)
{
    static const char *const names[] = {"config", "xdg"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (unlink(path) < 0)
            rmdir(path);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/docqa-fuzz-config-%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
        atexit(remove_scratch);
        char xdg[96];
        snprintf(xdg, sizeof xdg, "%s/xdg", dir);
        if (dq_mkdirs(xdg) < 0)
            abort();
        setenv("XDG_CONFIG_HOME", xdg, 1);
        unsetenv("DOCQA_EMBED_MODEL");
        unsetenv("DOCQA_EMBED_URL");
        unsetenv("DOCQA_EMBED_API_KEY");
    }
    char path[128];
    snprintf(path, sizeof path, "%s/config", dir);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size))
        abort();
    fclose(f);
    cli_config cfg;
    int errors = n_errors;
    int rc = cli_config_load(&cfg, dir);
    if (rc == 0 && (cfg.embed_threads < 0 || cfg.embed_threads > 1024 || n_errors != errors))
        abort();
    if (rc < 0 && n_errors == errors)
        abort(); /* a rejected file always says why */
    cli_config_free(&cfg);
    return 0;
}
