/* fuzz_config.c - libFuzzer harness: the INI-style docqa config file.
 *
 * The input is written as <store>/config in a scratch folder (under /dev/shm
 * when there is one, removed at exit), with XDG_CONFIG_HOME pointing at an
 * empty folder so the user's own config stays out, and read with
 * dq_config_load(). An accepted file must give values within their documented
 * ranges; a rejected one must leave a message naming the file.
 */
#include "common/common.h"
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        static const char *const env[] = {"DOCQA_EMBED_MODEL", "DOCQA_EMBED_URL",
                                          "DOCQA_EMBED_API_KEY", "DOCQA_EMBED_DEVICE"};
        for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
            unsetenv(env[i]);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/config", dir);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size))
        abort();
    fclose(f);
    dq_config cfg;
    dq_set_error("%s", "");
    int rc = dq_config_load(&cfg, dir);
    if (rc == 0 && (cfg.embed_threads < 0 || cfg.embed_threads > 1024 || cfg.nprobe < 0 ||
                    cfg.nprobe > 65536 || *dq_last_error()))
        abort();
    if (rc < 0 && !strstr(dq_last_error(), path))
        abort(); /* a rejected file always says which file and why */
    dq_config_free(&cfg);
    return 0;
}
