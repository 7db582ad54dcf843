/* search.c - `docqa search "..."`: the best-matching chunks with BM25 score,
 * file, page and a highlighted snippet; --json for scripts. */
#include <cjson/cJSON.h>
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

/* The snippet without markers, and the [start, end) byte ranges they held. */
static cJSON *snippet_json(cJSON *obj, const char *snippet)
{
    dq_buf plain = DQ_BUF_INIT;
    cJSON *ranges = cJSON_CreateArray();
    size_t start = 0;
    for (const char *p = snippet; *p; p++) {
        if (*p == RETRIEVE_HL_OPEN[0]) {
            start = plain.len;
        } else if (*p == RETRIEVE_HL_CLOSE[0]) {
            cJSON *r = cJSON_CreateArray();
            cJSON_AddItemToArray(r, cJSON_CreateNumber((double)start));
            cJSON_AddItemToArray(r, cJSON_CreateNumber((double)plain.len));
            cJSON_AddItemToArray(ranges, r);
        } else {
            dq_buf_putc(&plain, *p);
        }
    }
    cJSON_AddStringToObject(obj, "snippet", plain.data ? plain.data : "");
    cJSON_AddItemToObject(obj, "highlights", ranges);
    dq_buf_free(&plain);
    return obj;
}

void cli_add_page_span(cJSON *obj, int page_start, int page_end)
{
    cJSON_AddNumberToObject(obj, "page_start", page_start);
    cJSON_AddNumberToObject(obj, "page_end", page_end);
}

static void print_pages(int a, int b)
{
    if (a == b)
        printf("p. %d", a);
    else
        printf("pp. %d-%d", a, b);
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
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_NUMBER('k', "top", &rp.top_k, "n", "how many chunks to show (10)"),
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

    store *st = cli_open_store(g, false);
    if (!st) {
        dq_buf_free(&query);
        return EXIT_ERROR;
    }
    retrieve_result res = {0};
    int status = EXIT_OK;
    if (retrieve_search(st, NULL, query.data, &rp, &res) < 0) {
        cli_error("search failed: %s", dq_last_error());
        status = EXIT_ERROR;
    } else if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "query", query.data);
        cJSON_AddStringToObject(root, "match", res.match ? res.match : "");
        cJSON *arr = cJSON_AddArrayToObject(root, "results");
        for (size_t i = 0; i < res.n; i++) {
            const store_hit *h = &res.items[i].chunk;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "rank", (double)(i + 1));
            cJSON_AddNumberToObject(o, "score", h->score);
            cJSON_AddStringToObject(o, "path", h->path);
            cli_add_page_span(o, h->page_start, h->page_end);
            cJSON_AddBoolToObject(o, "ocr", h->ocr);
            cJSON_AddStringToObject(o, "section", h->section ? h->section : "");
            cJSON_AddNumberToObject(o, "chunk_id", (double)h->chunk_id);
            snippet_json(o, res.items[i].snippet);
            cJSON_AddStringToObject(o, "text", h->text);
            cJSON_AddItemToArray(arr, o);
        }
        char *out = cJSON_Print(root);
        puts(out);
        free(out);
        cJSON_Delete(root);
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
            print_pages(h->page_start, h->page_end);
            if (h->ocr)
                printf(" (OCR)");
            if (h->section && *h->section)
                printf("  %s", h->section);
            printf("  (bm25 %.2f)%s\n", h->score, tty ? "\033[0m" : "");
            char *snip = cli_render_snippet(res.items[i].snippet, tty);
            printf("   %s\n\n", snip);
            free(snip);
        }
    }
    retrieve_result_free(&res);
    store_close(st);
    dq_buf_free(&query);
    return status;
}
