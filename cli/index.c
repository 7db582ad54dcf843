/* index.c - `docqa index check|rebuild`: the FAISS file beside the store.
 *
 * Searches repair a missing, stale or corrupt file on their own; these are
 * for looking (check compares the file with the vectors table id by id) and
 * for forcing a rebuild, e.g. after changing [retrieve] ann_threshold. The
 * model is the one the store's vectors were made with (its meta), so no
 * model needs loading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/common.h"

static const char *const index_usage[] = {
    "docqa index check [<options>]",
    "docqa index rebuild [<options>]",
    NULL,
};

/* The identity of the store's vectors; NULL after printing why. */
static char *vectors_model(store *st)
{
    char *model = NULL;
    int found = store_get_meta(st, "embed.model", &model);
    if (found < 0)
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
    else if (!found)
        cli_error("store '%s' has no vectors: configure [embed] model and run 'docqa ingest'",
                  store_dir(st));
    return found > 0 ? model : NULL;
}

static int do_check(store *st, const char *model)
{
    store_vx_check c;
    if (store_vindex_check(st, model, &c) < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        return EXIT_ERROR;
    }
    bool model_ok = c.file_ok && c.file_model && !strcmp(c.file_model, model);
    bool ok = model_ok && !c.missing && !c.extra && c.file_seq == c.store_seq;
    printf("model:        %s\n", model);
    if (!c.file_ok)
        printf("index file:   %s\n", c.file_error);
    else
        printf("index file:   %s, %s, made for %s\n", STORE_VINDEX_NAME,
               c.approximate ? "approximate (IVF)" : "exact", c.file_model);
    printf("vectors:      %lld in the store, %lld in the index file\n",
           (long long)c.store_vectors, (long long)c.file_vectors);
    if (c.file_ok)
        printf("differences:  %lld missing from the file, %lld in it that the store no longer "
               "has\nchange log:   file at %llu, store at %llu\n",
               (long long)c.missing, (long long)c.extra, (unsigned long long)c.file_seq,
               (unsigned long long)c.store_seq);
    if (ok)
        printf("ok: the index file agrees with the store\n");
    else
        cli_error("the index file does not agree with the store; the next search repairs it, "
                  "or run 'docqa index rebuild'");
    store_vx_check_free(&c);
    return ok ? EXIT_OK : EXIT_ERROR;
}

static int do_rebuild(cli_globals *g, const char *model)
{
    store *st = g->st;
    g->needs |= CLI_NEEDS_CONFIG; /* check reads none: a broken config does not stop it */
    int status = cli_setup(g);
    if (status != EXIT_OK)
        return status;
    store_vindex_params vp = store_vindex_default_params();
    if (g->cfg.ann_threshold >= 0)
        vp.ann_threshold = g->cfg.ann_threshold;
    store_set_vindex_params(st, &vp);
    double t0 = dq_now();
    store_vx_report rep;
    if (store_vindex_rebuild(st, model, &rep) < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        return EXIT_ERROR;
    }
    if (!rep.saved) {
        cli_error("%s", rep.save_error);
        return EXIT_ERROR;
    }
    printf("rebuilt %s: %lld vectors, %s, in %.1f s\n", STORE_VINDEX_NAME,
           (long long)rep.vectors, rep.approximate ? "approximate (IVF)" : "exact",
           dq_now() - t0);
    return EXIT_OK;
}

int cmd_index(int argc, char **argv, cli_globals *g)
{
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, index_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args != 1 || (strcmp(argv[0], "check") != 0 && strcmp(argv[0], "rebuild") != 0)) {
        if (n_args >= 1)
            cli_error("unknown index subcommand '%s'", argv[0]);
        print_usage(stderr, index_usage, opts);
        return EXIT_USAGE;
    }
    int rc = cli_setup(g); /* the store */
    if (rc != EXIT_OK)
        return rc;
    char *model = vectors_model(g->st);
    rc = EXIT_ERROR;
    if (model)
        rc = !strcmp(argv[0], "check") ? do_check(g->st, model) : do_rebuild(g, model);
    free(model);
    return rc;
}
