/* status.c - `docqa status`: where the store is, what it holds, what failed. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        cJSON_AddNumberToObject(o, "failed_runs", (double)f->fail_count);
        cJSON_AddItemToArray(fl->failed, o);
    } else {
        if (fl->shown++ == 0)
            puts("\nfailed files:");
        /* A file that fails run after run needs the user, not another try. */
        if (f->fail_count > 1)
            printf("  %s: %s (failing for %lld runs)\n", f->path,
                   f->error ? f->error : "unknown error", (long long)f->fail_count);
        else
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

/* The last `docqa reindex` as recorded in meta; the strings are NULL when
 * none ran. */
typedef struct {
    char *finished_at, *summary, *status;
} last_reindex;

static int read_last_reindex(store *st, last_reindex *r)
{
    memset(r, 0, sizeof *r);
    if (store_get_meta(st, "reindex.finished_at", &r->finished_at) < 0 ||
        store_get_meta(st, "reindex.summary", &r->summary) < 0 ||
        store_get_meta(st, "reindex.status", &r->status) < 0)
        return -1;
    return 0;
}

static void last_reindex_free(last_reindex *r)
{
    free(r->finished_at);
    free(r->summary);
    free(r->status);
}

static void format_time(const char *epoch, char *out, size_t n)
{
    time_t t = (time_t)strtoll(epoch, NULL, 10);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M:%S %z", &tm);
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
    int status = cli_setup(g); /* the store */
    if (status != EXIT_OK)
        return status;
    store *st = g->st;
    store_stats s;
    char *split = NULL, *model = NULL;
    if (store_get_stats(st, &s) < 0 || store_get_meta(st, "split", &split) < 0 ||
        store_get_meta(st, "embed.model", &model) < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        free(split);
        free(model);
        return EXIT_ERROR;
    }
    last_reindex last;
    if (read_last_reindex(st, &last) < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        last_reindex_free(&last);
        free(split);
        free(model);
        return EXIT_ERROR;
    }
    failed_list fl = {json, json ? cJSON_CreateArray() : NULL, 0};
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
        cJSON_AddNumberToObject(root, "unreadable_ocr_pages", (double)s.unreadable_ocr);
        cJSON_AddNumberToObject(root, "unreadable_pages", (double)s.unreadable_failed);
        cJSON_AddStringToObject(root, "chunking", split ? split : "");
        cJSON_AddStringToObject(root, "embedding_model", model ? model : "");
        if (last.finished_at) {
            cJSON *r = cJSON_AddObjectToObject(root, "last_reindex");
            cJSON_AddNumberToObject(r, "finished_at", (double)strtoll(last.finished_at, NULL, 10));
            cJSON_AddStringToObject(r, "status", last.status ? last.status : "");
            cJSON_AddStringToObject(r, "summary", last.summary ? last.summary : "");
        }
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
        if (s.unreadable_ocr || s.unreadable_failed)
            printf("unreadable: %lld pages whose text layer is not their text: %lld read by OCR, "
                   "%lld not indexed (ingest again with --ocr auto)\n",
                   (long long)(s.unreadable_ocr + s.unreadable_failed),
                   (long long)s.unreadable_ocr, (long long)s.unreadable_failed);
        printf("chunking:   %s\n", split ? split : "(nothing ingested yet)");
        printf("size:       %s\n", size);
        if (last.finished_at) {
            char when[64];
            format_time(last.finished_at, when, sizeof when);
            printf("reindexed:  %s, %s: %s\n", when, last.status ? last.status : "",
                   last.summary ? last.summary : "");
        } else {
            printf("reindexed:  never\n");
        }
        if (store_each_file(st, list_failed, &fl) < 0)
            status = EXIT_ERROR;
    }
    if (status != EXIT_OK)
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
    last_reindex_free(&last);
    free(split);
    free(model);
    return status;
}
