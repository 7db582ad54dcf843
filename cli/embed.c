/* embed.c - `docqa embed --model DIR "text"...`: vectors as JSON, for
 * checking a model by hand against its Python original. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/common.h"

static const char *const embed_usage[] = {
    "docqa embed [--model <dir> | --url <url>] [<options>] <text>...",
    NULL,
};

int cmd_embed(int argc, char **argv, cli_globals *g)
{
    const char *model = NULL, *url = NULL, *remote = NULL;
    bool int8 = false;
    int threads = -1;
    const char *device = NULL;
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store whose config to read"),
        OPT_STR(0, "model", &model, "dir", "a BERT model folder (default: the configured one)"),
        OPT_STR(0, "url", &url, "url", "an OpenAI-compatible embeddings endpoint instead"),
        OPT_STR(0, "remote-model", &remote, "name", "model name to send to --url"),
        OPT_BOOLEAN(0, "int8", &int8, "quantise the model's linear layers to int8"),
        OPT_NUMBER(0, "threads", &threads, "n", "threads for the encoder (all cores)"),
        OPT_STR(0, "device", &device, "dev", "auto, cpu or cuda (auto: a GPU when there is one)"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, embed_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args < 1) {
        cli_error("no text given");
        print_usage(stderr, embed_usage, opts);
        return EXIT_USAGE;
    }
    int rc = cli_setup(g); /* the config (of the store named or found, if any) */
    if (rc != EXIT_OK)
        return rc;
    dq_config *cfg = &g->cfg;
    if (model || url) { /* flags override the config file as a whole */
        free(cfg->embed_model);
        free(cfg->embed_url);
        cfg->embed_model = model ? dq_strdup(model) : NULL;
        cfg->embed_url = url ? dq_strdup(url) : NULL;
    }
    if (remote) {
        free(cfg->embed_remote);
        cfg->embed_remote = dq_strdup(remote);
    }
    if (int8)
        cfg->embed_int8 = true;
    if (threads >= 0)
        cfg->embed_threads = threads;
    if (device && bert_parse_device(device, &cfg->embed_device) < 0) {
        cli_error("--device '%s': expected auto, cpu or cuda", device);
        return EXIT_USAGE;
    }
    bool err;
    embedder *e = cli_open_embedder(cfg, &err);
    if (!e) {
        if (!err)
            cli_error("no embedding model: pass --model DIR or --url URL, or set [embed] model "
                      "in the config");
        return EXIT_ERROR;
    }
    int dim = embedder_dim(e);
    float *vecs = dim > 0 ? dq_malloc(sizeof(float) * (size_t)dim * (size_t)n_args) : NULL;
    int status = EXIT_OK;
    if (dim <= 0 || embedder_encode(e, (const char *const *)argv, (size_t)n_args, vecs) < 0) {
        cli_error("%s", dq_last_error());
        status = EXIT_ERROR;
    } else {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "model", embedder_identity(e));
        cJSON_AddNumberToObject(root, "dim", dim);
        cJSON *arr = cJSON_AddArrayToObject(root, "vectors");
        for (int i = 0; i < n_args; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "text", argv[i]);
            cJSON_AddItemToObject(o, "embedding",
                                  cJSON_CreateFloatArray(vecs + (size_t)i * (size_t)dim, dim));
            cJSON_AddItemToArray(arr, o);
        }
        char *out = cJSON_PrintUnformatted(root);
        puts(out);
        free(out);
        cJSON_Delete(root);
    }
    free(vecs);
    embedder_free(e);
    return status;
}
