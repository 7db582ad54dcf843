/* search.c - `docqa search "..."`: the best-matching chunks with their
 * scores (BM25, cosine, fused rank, as the mode ran), file, page span,
 * section and a highlighted snippet; --json for scripts. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/common.h"
#include "retrieve/retrieve.h"

char *cli_render_snippet(const char *snippet, bool tty)
{
    const char *open = tty ? "\033[1;31m" : "**";
    const char *close = tty ? "\033[0m" : "**";
    dq_buf out = DQ_BUF_INIT;
    for (const char *p = snippet; *p; p++) {
        if (*p == RETRIEVE_HL_OPEN[0])
            dq_buf_puts(&out, open);
        else if (*p == RETRIEVE_HL_CLOSE[0])
            dq_buf_puts(&out, close);
        else
            dq_buf_putc(&out, *p);
    }
    return dq_buf_take(&out);
}

static void print_pages(int a, int b)
{
    if (a == b)
        printf("p. %d", a);
    else
        printf("pp. %d-%d", a, b);
}

/* "rrf 0.0323 · bm25 4.12 (#2) · cosine 0.81 (#1)": each score the mode
 * produced, labelled, so a reader knows what the numbers are. */
static void print_scores(const retrieve_hit *h)
{
    const char *sep = "";
    if (!isnan(h->rerank)) {
        printf("rerank %.2f", h->rerank);
        sep = " · ";
    }
    if (!isnan(h->fused)) {
        printf("%srrf %.4f", sep, h->fused);
        sep = " · ";
    }
    if (!isnan(h->bm25)) {
        printf("%sbm25 %.2f", sep, h->bm25);
        if (!isnan(h->fused))
            printf(" (#%d)", h->bm25_rank);
        sep = " · ";
    }
    if (!isnan(h->dense)) {
        printf("%scosine %.3f", sep, h->dense);
        if (!isnan(h->fused) && h->dense_rank)
            printf(" (#%d)", h->dense_rank);
    }
}

static const char *const search_usage[] = {
    "docqa search [<options>] <query>",
    NULL,
};

int cmd_search(int argc, char **argv, cli_globals *g)
{
    bool json = false;
    retrieve_params rp = retrieve_default_params();
    rp.top_k = 10;
    cli_retrieval_flags rf = {0};
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_NUMBER('k', "top", &rp.top_k, "n", "how many chunks to show (10)"),
        CLI_RETRIEVAL_OPTIONS(&rf),
        OPT_BOOLEAN(0, "json", &json, "print JSON for scripts"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, search_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args < 1) {
        cli_error("no query given");
        print_usage(stderr, search_usage, opts);
        return EXIT_USAGE;
    }
    if (rp.top_k < 1 || rp.top_k > 1000) {
        cli_error("--top must be between 1 and 1000");
        return EXIT_USAGE;
    }
    dq_buf query = DQ_BUF_INIT;
    for (int i = 0; i < n_args; i++)
        dq_buf_printf(&query, "%s%s", i ? " " : "", argv[i]);

    retrieve_result res = {0};
    embedder *emb = NULL;
    store *st = NULL;
    int status = cli_setup(g); /* the store and its config */
    if (status == EXIT_OK) {
        st = g->st;
        status = cli_retrieval_setup(&g->cfg, &rf, &rp, &emb);
    }
    if (status != EXIT_OK) {
        /* printed */
    } else if (retrieve_search(st, emb, query.data, &rp, &res) < 0) {
        cli_error("search failed: %s", dq_last_error());
        status = EXIT_ERROR;
    } else if (json) {
        cJSON *root = rag_search_json(query.data, &rp, &res);
        char *out = cJSON_Print(root);
        puts(out);
        free(out);
        cJSON_Delete(root);
    } else if (res.n == 0 && res.below_threshold) {
        printf("no relevant passage found (the best of %zu candidates scored %.3f, below the "
               "threshold %.3f)\n",
               res.below_threshold, res.best_dropped, rp.min_score);
    } else if (res.scope.kind == RETRIEVE_SCOPE_CHOSEN && res.scope.n_docs == 0) {
        printf("no document matches --doc '%s'\n", rp.doc);
    } else if (res.n == 0) {
        size_t shown = query.len;
        if (shown > 80) { /* a pasted page of text is not worth echoing whole */
            shown = 77;
            while (shown && ((unsigned char)query.data[shown] & 0xC0) == 0x80)
                shown--;
        }
        printf("no chunks match '%.*s%s'\n", (int)shown, query.data,
               shown < query.len ? "..." : "");
    } else {
        bool tty = isatty(STDOUT_FILENO);
        for (size_t i = 0; i < res.n; i++) {
            const store_hit *h = &res.items[i].chunk;
            printf("%s%zu. %s  ", tty ? "\033[1m" : "", i + 1, h->path);
            if (h->label && h->label[0])
                printf("%s", h->label);
            else
                print_pages(h->page_start, h->page_end);
            if (h->ocr)
                printf(" (OCR)");
            if (h->section && *h->section)
                printf("  %s", h->section);
            printf("  (");
            print_scores(&res.items[i]);
            printf(")%s\n", tty ? "\033[0m" : "");
            char *snip = cli_render_snippet(res.items[i].snippet, tty);
            printf("   %s\n\n", snip);
            free(snip);
        }
    }
    retrieve_result_free(&res);
    embedder_free(emb);
    reranker_free(rp.reranker);
    dq_buf_free(&query);
    return status;
}
