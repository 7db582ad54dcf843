/* fuzz_model_config.c - libFuzzer harness: a model folder's JSON files and vocabulary.
 *
 * The input is cut at NUL bytes into up to five files written into a scratch
 * folder (under /dev/shm when there is one, removed at exit): config.json, tokenizer_config.json, modules.json,
 * pool/config.json (the Pooling module's, when modules.json points there) and
 * vocab.txt. Then model_read_config(), model_read_pooling() and
 * model_read_tokenizer() read them as bert_load() would, and a tokenizer
 * that loads must encode a sentence within its limits.
 */
#include "common/common.h"
#include "embed/model_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void remove_scratch(void)
{
    static const char *const names[] = {"config.json", "tokenizer_config.json", "modules.json", "pool/config.json", "vocab.txt", "pool"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (unlink(path) < 0)
            rmdir(path);
    }
    rmdir(dir);
}

static void put(const char *name, const char *data, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n == (size_t)-1) {
        unlink(path);
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n))
        abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/docqa-fuzz-model-%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
        atexit(remove_scratch);
        char pool[96];
        snprintf(pool, sizeof pool, "%s/pool", dir);
        if (dq_mkdirs(pool) < 0)
            abort();
    }
    static const char *const names[] = {"config.json", "tokenizer_config.json", "modules.json",
                                        "pool/config.json", "vocab.txt"};
    const char *s = (const char *)data;
    size_t at = 0;
    for (int i = 0; i < 5; i++) {
        if (at > size) {
            put(names[i], NULL, (size_t)-1); /* a missing file is a case too */
            continue;
        }
        const char *nul = memchr(s + at, '\0', size - at);
        size_t end = nul ? (size_t)(nul - s) : size;
        put(names[i], s + at, end - at);
        at = end + 1;
    }

    bert_config c;
    memset(&c, 0, sizeof c);
    cJSON *json = NULL;
    dq_buf raw = DQ_BUF_INIT;
    model_read_config(dir, &c, &json, &raw);
    cJSON_Delete(json);
    dq_buf_free(&raw);
    bool normalize;
    model_read_pooling(dir, &c, &normalize);
    int max_len = 512;
    wp_tokenizer *tok = model_read_tokenizer(dir, &max_len);
    if (tok) {
        if (max_len < 2 || max_len > 512)
            abort();
        int32_t ids[16];
        int n = wp_encode(tok, "Hello, 世界! naïve café", ids, 16);
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= wp_vocab_size(tok))
                abort();
        wp_free(tok);
    }
    return 0;
}
