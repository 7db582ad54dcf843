/* retrieval.c - the retrieval settings search and ask share: [retrieve] in
 * the config, then --mode, --min-score and --exact; and the embedding model
 * dense retrieval needs, opened only when the mode may use it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"

static void vindex_params_from(const cli_config *cfg, store_vindex_params *vp)
{
    if (cfg->ann_threshold >= 0)
        vp->ann_threshold = cfg->ann_threshold;
    vp->nprobe = cfg->nprobe;
    vp->exact = cfg->exact;
}

int cli_vindex_sync(store *st, const char *model, bool quiet)
{
    cli_config cfg;
    if (cli_config_load(&cfg, store_dir(st)) < 0) {
        cli_config_free(&cfg);
        return -1;
    }
    store_vindex_params vp = store_vindex_default_params();
    vindex_params_from(&cfg, &vp);
    cli_config_free(&cfg);
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
    cli_config cfg;
    if (cli_config_load(&cfg, store_dir(st)) < 0) {
        cli_config_free(&cfg);
        return EXIT_ERROR;
    }
    int rc = EXIT_OK;
    const char *mode = f->mode ? f->mode : cfg.retrieve_mode;
    if (mode && retrieve_parse_mode(mode, &rp->mode) < 0) {
        cli_error("unknown mode '%s' (auto, bm25, dense or hybrid)", mode);
        rc = EXIT_USAGE;
        goto done;
    }
    rp->min_score = cfg.min_score;
    if (f->min_score) {
        char *end;
        double x = strtod(f->min_score, &end);
        if (end == f->min_score || *end || isnan(x)) {
            cli_error("--min-score wants a number, not '%s'", f->min_score);
            rc = EXIT_USAGE;
            goto done;
        }
        rp->min_score = x;
    }
    rp->doc = f->doc;
    rp->no_scope = f->no_scope;
    vindex_params_from(&cfg, &rp->vindex);
    rp->vindex.exact = rp->vindex.exact || f->exact;
    const char *rerank = f->no_rerank ? NULL : f->rerank ? f->rerank : cfg.rerank_model;
    if (rerank) {
        bert_params bp = bert_default_params();
        bp.n_threads = cfg.embed_threads;
        rp->reranker = reranker_open(rerank, &bp);
        if (!rp->reranker) {
            cli_error("%s", dq_last_error());
            rc = EXIT_ERROR;
            goto done;
        }
    }
    if (rp->mode != RETRIEVE_BM25) {
        bool err;
        *emb = cli_open_embedder(&cfg, &err);
        if (err)
            rc = EXIT_ERROR;
        else if (!*emb && rp->mode != RETRIEVE_AUTO) {
            cli_error("--mode %s needs an embedding model: set [embed] model or url in the "
                      "config (see README)",
                      retrieve_mode_name(rp->mode));
            rc = EXIT_USAGE;
        }
    }
done:
    if (rc != EXIT_OK) { /* nothing half-opened stays with the caller */
        reranker_free(rp->reranker);
        rp->reranker = NULL;
        embedder_free(*emb);
        *emb = NULL;
    }
    cli_config_free(&cfg);
    return rc;
}
