/* retrieval.c - the retrieval settings of `search` (rag_retrieval_setup,
 * with the message printed), and the vector index brought in step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"

int cli_vindex_sync(store *st, const char *model, bool quiet)
{
    dq_config cfg;
    if (cli_load_config(&cfg, store_dir(st)) < 0) {
        dq_config_free(&cfg);
        return -1;
    }
    store_vindex_params vp = store_vindex_default_params();
    rag_vindex_params(&cfg, &vp);
    dq_config_free(&cfg);
    store_set_vindex_params(st, &vp);
    store_vx_report rep;
    if (store_vindex_sync(st, model, &rep) < 0) {
        cli_error("vector index of store '%s': %s", store_dir(st), dq_last_error());
        return -1;
    }
    if (rep.action != STORE_VX_CURRENT && !rep.saved) {
        cli_error("vector index of store '%s': %s", store_dir(st), rep.save_error);
        return -1;
    }
    if (!quiet && rep.action == STORE_VX_REBUILT)
        fprintf(stderr, "built %s: %lld vectors, %s (%s)\n", STORE_VINDEX_NAME,
                (long long)rep.vectors, rep.approximate ? "approximate" : "exact", rep.reason);
    return 0;
}

int cli_retrieval_setup(store *st, const cli_retrieval_flags *f, retrieve_params *rp,
                        embedder **emb)
{
    *emb = NULL;
    dq_config cfg;
    if (cli_load_config(&cfg, store_dir(st)) < 0)
        return EXIT_ERROR;
    int rc = rag_retrieval_setup(&cfg, f, rp, emb);
    dq_config_free(&cfg);
    if (rc < 0)
        cli_error("%s", dq_last_error());
    return rc == 0 ? EXIT_OK : rc == RAG_ERR_SETTING ? EXIT_USAGE : EXIT_ERROR;
}
