/* status.c - `docqa status`: where the store is, what it holds, what failed. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/common.h"

typedef struct {
    bool json;
    cJSON *failed; /* JSON array, when json */
    int shown;
} failed_list;

static int list_failed(void *ctx, const store_file *f)
{
    failed_list *fl = ctx;
    if (!f->status || strcmp(f->status, "failed") != 0)
        return 0;
    if (fl->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", f->path);
        cJSON_AddStringToObject(o, "error", f->error ? f->error : "");
        cJSON_AddItemToArray(fl->failed, o);
    } else {
        if (fl->shown++ == 0)
            puts("\nfailed files:");
        printf("  %s: %s\n", f->path, f->error ? f->error : "unknown error");
    }
    return 0;
}

static void human_size(int64_t bytes, char *out, size_t n)
{
    if (bytes >= 1 << 30)
        snprintf(out, n, "%.1f GiB", (double)bytes / (1 << 30));
    else if (bytes >= 1 << 20)
        snprintf(out, n, "%.1f MiB", (double)bytes / (1 << 20));
    else
        snprintf(out, n, "%.1f KiB", (double)bytes / 1024);
}

static const char *const status_usage[] = {"docqa status [<options>]", NULL};

int cmd_status(int argc, char **argv, cli_globals *g)
{
    bool json = false;
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_BOOLEAN(0, "json", &json, "print JSON for scripts"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, status_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args) {
        cli_error("status takes no arguments");
        return EXIT_USAGE;
    }
    store *st = cli_open_store(g, false);
    if (!st)
        return EXIT_ERROR;
    store_stats s;
    char *split = NULL, *model = NULL;
    if (store_get_stats(st, &s) < 0 || store_get_meta(st, "split", &split) < 0 ||
        store_get_meta(st, "embed.model", &model) < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        store_close(st);
        return EXIT_ERROR;
    }
    failed_list fl = {json, json ? cJSON_CreateArray() : NULL, 0};
    int status = EXIT_OK;
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "store", store_dir(st));
        cJSON_AddStringToObject(root, "root", store_root(st));
        cJSON_AddNumberToObject(root, "files", (double)s.files);
        cJSON_AddNumberToObject(root, "failed", (double)s.failed);
        cJSON_AddNumberToObject(root, "documents", (double)s.documents);
        cJSON_AddNumberToObject(root, "pages", (double)s.pages);
        cJSON_AddNumberToObject(root, "chunks", (double)s.chunks);
        cJSON_AddNumberToObject(root, "vectors", (double)s.vectors);
        cJSON_AddNumberToObject(root, "bytes", (double)s.db_bytes);
        cJSON_AddNumberToObject(root, "ocr_pages", (double)s.ocr_pages);
        cJSON_AddNumberToObject(root, "ocr_empty_pages", (double)s.ocr_empty);
        cJSON_AddNumberToObject(root, "ocr_mean_confidence", s.ocr_mean_conf);
        cJSON_AddStringToObject(root, "chunking", split ? split : "");
        cJSON_AddStringToObject(root, "embedding_model", model ? model : "");
        if (store_each_file(st, list_failed, &fl) < 0)
            status = EXIT_ERROR;
        cJSON_AddItemToObject(root, "failed_files", fl.failed);
        char *out = cJSON_Print(root);
        puts(out);
        free(out);
        cJSON_Delete(root);
    } else {
        char size[32];
        human_size(s.db_bytes, size, sizeof size);
        printf("store:      %s\n", store_dir(st));
        printf("root:       %s (paths are relative to it)\n", store_root(st));
        printf("files:      %lld (%lld failed)\n", (long long)s.files, (long long)s.failed);
        printf("documents:  %lld distinct, %lld pages, %lld chunks\n", (long long)s.documents,
               (long long)s.pages, (long long)s.chunks);
        printf("vectors:    %lld%s%s%s\n", (long long)s.vectors, model ? " (" : "",
               model ? model : "", model ? ")" : "");
        if (s.ocr_pages || s.ocr_empty)
            printf("ocr:        %lld pages read from scans (mean confidence %.0f%%), %lld scanned "
                   "pages with no text found\n",
                   (long long)s.ocr_pages, s.ocr_mean_conf, (long long)s.ocr_empty);
        printf("chunking:   %s\n", split ? split : "(nothing ingested yet)");
        printf("size:       %s\n", size);
        if (store_each_file(st, list_failed, &fl) < 0)
            status = EXIT_ERROR;
    }
    if (status != EXIT_OK)
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
    free(split);
    free(model);
    store_close(st);
    return status;
}
