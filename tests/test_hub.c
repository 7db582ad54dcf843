/* test_hub.c - the hub client and `docqa model pull/list/use/rm` against a
 * loopback hub laid out like huggingface.co: /{repo}/resolve/{rev}/{file},
 * small files answered directly (ETag, X-Repo-Commit), large ones with a 302
 * to a second server (the "CDN") carrying X-Linked-Etag (the SHA-256) and
 * X-Linked-Size, and the CDN honouring Range. The model served is the tiny
 * random-weight fixture tests/fixtures/bert-tiny-cls (or bert-tiny-rerank).
 */
#include <criterion/criterion.h>

#include "common/common.h"
#include "embed/embed.h"
#include "hub/hub.h"
#include "support/httpd.h"
#include "support/run.h"
#include "support/tmpdir.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define TOKEN "hf_secret_token_for_tests"

/* ---- the fake hub --------------------------------------------------------- */

typedef struct {
    char sha[65];
    dq_buf data;
} blob;

typedef struct {
    httpd *hub, *cdn;
    pthread_mutex_t lock;
    blob blobs[8];
    int n_blobs;
    /* behaviour */
    int cut_next;        /* the next this many CDN GETs drop after cut_bytes */
    long long cut_bytes;
    bool wrong_sha;      /* publish a SHA-256 that is not the file's */
    bool ignore_range;   /* the CDN answers 200 with the whole file */
    bool no_size;        /* the redirect carries no X-Linked-Size */
    /* observations */
    int cdn_gets, range_gets, hub_requests;
    char last_range[64];
    bool token_at_cdn;
    bool unpinned_after_first; /* a request after config.json not at COMMIT */
    int files_seen;
} fake_hub;

static fake_hub fh;
static char work[64];

static const char *fixture(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/tests/fixtures/%s", DQ_SOURCE_DIR, name);
    return buf[k];
}

/* Which fixture folder a repository serves, and how. */
static const char *repo_source(const char *repo, bool *gated, bool *bin_only)
{
    *gated = *bin_only = false;
    if (!strcmp(repo, "test-org/tiny-bge") || !strcmp(repo, "test-org/renamed"))
        return fixture("bert-tiny-cls");
    if (!strcmp(repo, "test-org/tiny-rerank"))
        return fixture("bert-tiny-rerank");
    if (!strcmp(repo, "test-org/gated")) {
        *gated = true;
        return fixture("bert-tiny-cls");
    }
    if (!strcmp(repo, "test-org/bin-only")) {
        *bin_only = true;
        return fixture("bert-tiny-cls");
    }
    if (!strcmp(repo, "test-org/xlmr"))
        return fixture("xlmr-tiny-rerank");
    if (!strcmp(repo, "test-org/roberta"))
        return "roberta";
    if (!strcmp(repo, "Qwen/Qwen2.5-0.5B-Instruct-GGUF") || !strcmp(repo, "test-org/tiny-GGUF")) {
        static char gguf_src[128]; /* made by the test: work/gguf-src */
        snprintf(gguf_src, sizeof gguf_src, "%s/gguf-src", work);
        return gguf_src;
    }
    return NULL;
}

static blob *find_blob(const char *sha)
{
    for (int i = 0; i < fh.n_blobs; i++)
        if (!strcmp(fh.blobs[i].sha, sha))
            return &fh.blobs[i];
    return NULL;
}

static blob *add_blob(const char *path)
{
    dq_buf b = DQ_BUF_INIT;
    if (dq_read_file(path, &b) < 0)
        return NULL;
    dq_sha256 s;
    uint8_t d[32];
    dq_sha256_init(&s);
    dq_sha256_update(&s, b.data, b.len);
    dq_sha256_final(&s, d);
    char hex[65];
    dq_hex(d, 32, hex);
    blob *x = find_blob(hex);
    if (x) {
        dq_buf_free(&b);
        return x;
    }
    x = &fh.blobs[fh.n_blobs++];
    snprintf(x->sha, sizeof x->sha, "%s", hex);
    x->data = b;
    return x;
}

static void error_code(httpd_response *resp, int status, const char *code, const char *msg)
{
    resp->status = status;
    dq_buf_printf(&resp->headers, "X-Error-Code: %s\r\nX-Error-Message: %s\r\n", code, msg);
    dq_buf_printf(&resp->body, "{\"error\":\"%s\"}", msg);
}

static void hub_handler(void *ctx, const httpd_request *req, httpd_response *resp)
{
    (void)ctx;
    pthread_mutex_lock(&fh.lock);
    fh.hub_requests++;
    /* /{org}/{name}/resolve/{rev}/{file...} */
    char org[64], name[64], rev[128], file[256];
    int n = 0;
    if (sscanf(req->path, "/%63[^/]/%63[^/]/resolve/%127[^/]/%n", org, name, rev, &n) != 3 ||
        n == 0) {
        error_code(resp, 404, "EntryNotFound", "bad path");
        goto out;
    }
    snprintf(file, sizeof file, "%s", req->path + n);
    char repo[140];
    snprintf(repo, sizeof repo, "%s/%s", org, name);
    if (!strcmp(repo, "test-org/old-name")) {
        /* a renamed repository: a redirect within the hub, relative */
        resp->status = 307;
        dq_buf_printf(&resp->headers, "Location: /test-org/renamed/resolve/%s/%s\r\n", rev, file);
        goto out;
    }
    bool gated, bin_only;
    const char *src = repo_source(repo, &gated, &bin_only);
    if (!src) {
        error_code(resp, 404, "RepoNotFound", "Repository not found");
        goto out;
    }
    if (gated) {
        char auth[200] = "";
        httpd_header(req, "Authorization", auth, sizeof auth);
        if (!*auth) {
            error_code(resp, 401, "GatedRepo", "Access to model test-org/gated is restricted");
            goto out;
        }
        if (strcmp(auth, "Bearer " TOKEN) != 0) {
            resp->status = 401;
            dq_buf_puts(&resp->body, "{\"error\":\"Invalid credentials in Authorization header\"}");
            goto out;
        }
    }
    if (strcmp(rev, "main") != 0 && strcmp(rev, COMMIT) != 0 && strcmp(rev, "v1") != 0) {
        error_code(resp, 404, "RevisionNotFound", "Invalid rev id");
        goto out;
    }
    if (fh.files_seen++ > 0 && strcmp(rev, COMMIT) != 0)
        fh.unpinned_after_first = true;
    dq_buf_puts(&resp->headers, "X-Repo-Commit: " COMMIT "\r\n");
    if (!strcmp(src, "roberta")) {
        if (!strcmp(file, "config.json")) {
            dq_buf_puts(&resp->body, "{\"model_type\": \"roberta\", \"architectures\": "
                                     "[\"RobertaForSequenceClassification\"]}");
            dq_buf_puts(&resp->headers, "ETag: \"1111111111111111111111111111111111111111\"\r\n");
        } else {
            error_code(resp, 404, "EntryNotFound", "Entry not found");
        }
        goto out;
    }
    size_t fn = strlen(file);
    bool lfs = !strcmp(file, "model.safetensors") || !strcmp(file, "pytorch_model.bin") ||
               !strcmp(file, "sentencepiece.bpe.model") ||
               (fn > 5 && !strcmp(file + fn - 5, ".gguf")); /* LFS on the real hub too */
    char path[700];
    if (bin_only && !strcmp(file, "model.safetensors")) {
        error_code(resp, 404, "EntryNotFound", "Entry not found");
        goto out;
    }
    snprintf(path, sizeof path, "%s/%s", src,
             bin_only && !strcmp(file, "pytorch_model.bin") ? "model.safetensors" : file);
    struct stat st;
    if ((!bin_only && !strcmp(file, "pytorch_model.bin")) || stat(path, &st) != 0 ||
        !S_ISREG(st.st_mode)) {
        error_code(resp, 404, "EntryNotFound", "Entry not found");
        goto out;
    }
    if (lfs) {
        blob *b = add_blob(path);
        const char *sha = fh.wrong_sha
                              ? "badbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbad0"
                              : b->sha;
        resp->status = 302;
        dq_buf_printf(&resp->headers, "Location: %s/blobs/%s\r\nX-Linked-Etag: \"%s\"\r\n"
                                      "ETag: \"%s\"\r\n",
                      httpd_url(fh.cdn), b->sha, sha, sha);
        if (!fh.no_size)
            dq_buf_printf(&resp->headers, "X-Linked-Size: %zu\r\n", b->data.len);
        goto out;
    }
    dq_read_file(path, &resp->body);
    resp->content_type[0] = '\0';
    snprintf(resp->content_type, sizeof resp->content_type, "text/plain");
    dq_buf_puts(&resp->headers, "ETag: \"2222222222222222222222222222222222222222\"\r\n");
out:
    pthread_mutex_unlock(&fh.lock);
}

static void cdn_handler(void *ctx, const httpd_request *req, httpd_response *resp)
{
    (void)ctx;
    pthread_mutex_lock(&fh.lock);
    char sha[65] = "";
    sscanf(req->path, "/blobs/%64s", sha);
    blob *b = find_blob(sha);
    if (httpd_header(req, "Authorization", NULL, 0))
        fh.token_at_cdn = true;
    if (!b) {
        resp->status = 404;
        goto out;
    }
    if (strcmp(req->method, "GET") == 0)
        fh.cdn_gets++;
    resp->content_type[0] = '\0';
    snprintf(resp->content_type, sizeof resp->content_type, "application/octet-stream");
    char range[64] = "";
    size_t from = 0;
    if (httpd_header(req, "Range", range, sizeof range) && !fh.ignore_range) {
        fh.range_gets++;
        snprintf(fh.last_range, sizeof fh.last_range, "%s", range);
        from = (size_t)strtoull(range + 6, NULL, 10); /* "bytes=N-" */
        if (from >= b->data.len) {
            resp->status = 416;
            dq_buf_printf(&resp->headers, "Content-Range: bytes */%zu\r\n", b->data.len);
            goto out;
        }
        resp->status = 206;
        dq_buf_printf(&resp->headers, "Content-Range: bytes %zu-%zu/%zu\r\n", from,
                      b->data.len - 1, b->data.len);
    }
    dq_buf_append(&resp->body, b->data.data + from, b->data.len - from);
    if (fh.cut_next > 0 && strcmp(req->method, "GET") == 0) {
        fh.cut_next--;
        resp->cut_after = fh.cut_bytes;
    }
out:
    pthread_mutex_unlock(&fh.lock);
}

static void hub_setup(void)
{
    memset(&fh, 0, sizeof fh);
    pthread_mutex_init(&fh.lock, NULL);
    fh.hub = httpd_start(hub_handler, NULL);
    fh.cdn = httpd_start(cdn_handler, NULL);
    cr_assert(fh.hub && fh.cdn, "%s", dq_last_error());
    snprintf(work, sizeof work, "/tmp/docqa-hub-XXXXXX");
    cr_assert_not_null(mkdtemp(work));
    unsetenv("HF_TOKEN");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    unsetenv("HF_ENDPOINT");
}

static void hub_teardown(void)
{
    httpd_stop(fh.hub);
    httpd_stop(fh.cdn);
    for (int i = 0; i < fh.n_blobs; i++)
        dq_buf_free(&fh.blobs[i].data);
    pthread_mutex_destroy(&fh.lock);
    tmpdir_remove(work);
}

static hub *test_hub(const char *token)
{
    hub_options o = {.endpoint = httpd_url(fh.hub), .token = token, .stall_timeout_s = 10};
    hub *h = hub_new(&o);
    cr_assert_not_null(h, "%s", dq_last_error());
    return h;
}

static char *wpath(const char *name)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "%s/%s", work, name);
    return dq_buf_take(&b);
}

static bool same_file(const char *a, const char *b)
{
    dq_buf x = DQ_BUF_INIT, y = DQ_BUF_INIT;
    bool ok = dq_read_file(a, &x) == 0 && dq_read_file(b, &y) == 0 && x.len == y.len &&
              memcmp(x.data, y.data, x.len) == 0;
    dq_buf_free(&x);
    dq_buf_free(&y);
    return ok;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static long long size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* ---- names --------------------------------------------------------------- */

Test(hub, names)
{
    hub_name n;
    cr_assert_eq(hub_parse_name("bge-small-zh-v1.5", &n), 0);
    cr_expect_str_eq(n.repo, "BAAI/bge-small-zh-v1.5");
    cr_expect_str_eq(n.revision, "main");
    cr_expect_not_null(n.alias);
    cr_assert_eq(hub_parse_name("moka-ai/m3e-base@v1.0", &n), 0);
    cr_expect_str_eq(n.repo, "moka-ai/m3e-base");
    cr_expect_str_eq(n.revision, "v1.0");
    cr_expect_not_null(n.alias, "a repo id of an alias finds the alias");
    char *folder = hub_folder_name(&n);
    cr_expect_str_eq(folder, "moka-ai--m3e-base@v1.0");
    free(folder);
    cr_assert_eq(hub_parse_name("org/model@refs/pr/1", &n), 0);
    folder = hub_folder_name(&n);
    cr_expect_str_eq(folder, "org--model@refs--pr--1");
    free(folder);
    cr_assert_eq(hub_parse_name("org/model", &n), 0);
    cr_expect_null(n.alias);

    cr_expect_eq(hub_parse_name("no-such-alias", &n), -1);
    cr_expect(strstr(dq_last_error(), "'no-such-alias' is neither"), "%s", dq_last_error());
    cr_expect_eq(hub_parse_name("../etc/passwd", &n), -1);
    cr_expect_eq(hub_parse_name("org/na me", &n), -1);
    cr_expect_eq(hub_parse_name("org/name@", &n), -1);
    cr_expect_eq(hub_parse_name("org/name@../x", &n), -1);
    cr_expect_eq(hub_parse_name("org/-x", &n), -1);

    setenv("XDG_CACHE_HOME", "/var/cache-test", 1);
    char *d = hub_models_dir();
    cr_expect_str_eq(d, "/var/cache-test/docqa/models");
    free(d);
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/someone", 1);
    d = hub_models_dir();
    cr_expect_str_eq(d, "/home/someone/.cache/docqa/models");
    free(d);

    size_t na;
    const hub_alias *a = hub_aliases(&na);
    cr_expect_gt(na, 8);
    for (size_t i = 0; i < na; i++)
        cr_expect_eq(hub_parse_name(a[i].name, &n), 0, "alias %s", a[i].name);
    cr_expect(hub_alias_find("bge-reranker-base")->reranker);
    cr_expect(!hub_alias_find("m3e-base")->reranker);
}

/* ---- pulling ------------------------------------------------------------- */

static void check_pulled_bge(const char *dir)
{
    static const char *const files[] = {"config.json", "vocab.txt", "tokenizer_config.json",
                                        "modules.json", "1_Pooling/config.json",
                                        "model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/%s", dir, files[i]);
        snprintf(b, sizeof b, "%s/%s", fixture("bert-tiny-cls"), files[i]);
        cr_expect(same_file(a, b), "%s differs from the served file", files[i]);
    }
    /* it loads, and is the same model as the fixture */
    bert_model *m = bert_load(dir, NULL), *f = bert_load(fixture("bert-tiny-cls"), NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    cr_assert_not_null(f);
    cr_expect_str_eq(bert_identity(m), bert_identity(f));
    bert_free(m);
    bert_free(f);
}

Test(hub, pull_model_folder, .init = hub_setup, .fini = hub_teardown)
{
    hub *h = test_hub(NULL);
    char *dir = wpath("models/test-org--tiny-bge");
    hub_pull_result res;
    cr_assert_eq(hub_pull(h, "test-org/tiny-bge", "main", dir, &res), 0, "%s", dq_last_error());
    cr_expect_str_eq(res.commit, COMMIT);
    cr_expect_eq(res.n_files, 6, "config, vocab, tokenizer config, modules, pooling, weights");
    cr_expect(!res.reranker);
    cr_expect_not(fh.unpinned_after_first, "every file after the first asked at the commit");
    cr_expect_not(fh.token_at_cdn);
    check_pulled_bge(dir);

    char *rec = wpath("models/test-org--tiny-bge/" HUB_RECORD);
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(rec, &b), 0);
    cJSON *j = cJSON_Parse(b.data);
    cr_assert_not_null(j);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "repo")->valuestring, "test-org/tiny-bge");
    cr_expect_str_eq(cJSON_GetObjectItem(j, "commit")->valuestring, COMMIT);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "files")), 6);
    cJSON_Delete(j);
    dq_buf_free(&b);

    /* pulling again finds the weights in place by their hash: no transfer */
    int gets = fh.cdn_gets;
    cr_assert_eq(hub_pull(h, "test-org/tiny-bge", "main", dir, &res), 0, "%s", dq_last_error());
    cr_expect_eq(fh.cdn_gets, gets);
    hub_free(h);
    free(rec);
    free(dir);
}

Test(hub, pull_reranker_and_renamed_repo, .init = hub_setup, .fini = hub_teardown)
{
    hub *h = test_hub(NULL);
    char *dir = wpath("rr");
    hub_pull_result res;
    cr_assert_eq(hub_pull(h, "test-org/tiny-rerank", "main", dir, &res), 0, "%s",
                 dq_last_error());
    cr_expect(res.reranker);
    cr_expect_eq(res.n_files, 4, "no modules.json, no pooling config");
    reranker *r = reranker_open(dir, NULL);
    cr_expect_not_null(r, "%s", dq_last_error());
    reranker_free(r);

    /* an XLM-RoBERTa reranker comes with its SentencePiece model, not vocab.txt */
    char *dir3 = wpath("xr");
    cr_assert_eq(hub_pull(h, "test-org/xlmr", "main", dir3, &res), 0, "%s", dq_last_error());
    cr_expect(res.reranker);
    cr_expect_eq(res.n_files, 4, "config, sentencepiece model, tokenizer config, weights");
    r = reranker_open(dir3, NULL);
    cr_expect_not_null(r, "%s", dq_last_error());
    reranker_free(r);
    free(dir3);

    /* a relative redirect inside the hub is followed for the metadata */
    char *dir2 = wpath("renamed");
    cr_assert_eq(hub_pull(h, "test-org/old-name", "main", dir2, &res), 0, "%s",
                 dq_last_error());
    check_pulled_bge(dir2);
    hub_free(h);
    free(dir);
    free(dir2);
}

Test(hub, dropped_connection_resumes_in_the_same_call, .init = hub_setup, .fini = hub_teardown)
{
    fh.cut_next = 1;
    fh.cut_bytes = 10000;
    hub *h = test_hub(NULL);
    char *dest = wpath("m.safetensors");
    hub_file info;
    cr_assert_eq(hub_download(h, "test-org/tiny-bge", "main", "model.safetensors", dest, &info),
                 0, "%s", dq_last_error());
    cr_expect(same_file(dest, fixture("bert-tiny-cls/model.safetensors")));
    cr_expect_eq(fh.cdn_gets, 2);
    cr_expect_eq(fh.range_gets, 1);
    cr_expect_str_eq(fh.last_range, "bytes=10000-");
    cr_expect_eq(strlen(info.sha256), 64);
    hub_free(h);
    free(dest);
}

Test(hub, interrupted_download_resumes_in_a_later_call, .init = hub_setup, .fini = hub_teardown)
{
    fh.cut_next = 2; /* the first try and its one retry both drop */
    fh.cut_bytes = 7000;
    hub_options o = {.endpoint = httpd_url(fh.hub), .retries = 1};
    hub *h = hub_new(&o);
    char *dest = wpath("w/model.safetensors");
    cr_assert_eq(hub_download(h, "test-org/tiny-bge", "main", "model.safetensors", dest, NULL),
                 -1);
    cr_expect(strstr(dq_last_error(), "download of 'model.safetensors' of 'test-org/tiny-bge' "
                                      "broke off"),
              "%s", dq_last_error());
    cr_expect_not(exists(dest), "nothing at the destination until verified");
    /* the partial file holds both pieces: 7000 then 7000 more via Range */
    char sha[65];
    cr_assert_eq(dq_sha256_file(fixture("bert-tiny-cls/model.safetensors"), sha), 0);
    dq_buf part = DQ_BUF_INIT;
    dq_buf_printf(&part, "%s.%.16s.incomplete", dest, sha);
    cr_expect_eq(size_of(part.data), 14000);
    cr_expect_str_eq(fh.last_range, "bytes=7000-");

    cr_assert_eq(hub_download(h, "test-org/tiny-bge", "main", "model.safetensors", dest, NULL),
                 0, "%s", dq_last_error());
    cr_expect_str_eq(fh.last_range, "bytes=14000-");
    cr_expect(same_file(dest, fixture("bert-tiny-cls/model.safetensors")));
    cr_expect_not(exists(part.data), "the partial file became the destination");
    dq_buf_free(&part);
    hub_free(h);
    free(dest);
}

Test(hub, server_ignoring_range_starts_over, .init = hub_setup, .fini = hub_teardown)
{
    fh.cut_next = 1;
    fh.cut_bytes = 5000;
    fh.ignore_range = true;
    hub *h = test_hub(NULL);
    char *dest = wpath("m.safetensors");
    cr_assert_eq(hub_download(h, "test-org/tiny-bge", "main", "model.safetensors", dest, NULL),
                 0, "%s", dq_last_error());
    cr_expect(same_file(dest, fixture("bert-tiny-cls/model.safetensors")));
    hub_free(h);
    free(dest);
}

Test(hub, size_not_announced, .init = hub_setup, .fini = hub_teardown)
{
    /* the redirect's own Content-Length (0) must not pass for the file's */
    fh.no_size = true;
    fh.cut_next = 1;
    fh.cut_bytes = 4000;
    hub *h = test_hub(NULL);
    char *dest = wpath("m.safetensors");
    hub_file info;
    cr_assert_eq(hub_download(h, "test-org/tiny-bge", "main", "model.safetensors", dest, &info),
                 0, "%s", dq_last_error());
    cr_expect_eq(info.size, -1);
    cr_expect(same_file(dest, fixture("bert-tiny-cls/model.safetensors")));
    cr_expect_str_eq(fh.last_range, "bytes=4000-");
    hub_free(h);
    free(dest);
}

Test(hub, wrong_checksum_rejected, .init = hub_setup, .fini = hub_teardown)
{
    fh.wrong_sha = true;
    hub *h = test_hub(NULL);
    char *dir = wpath("bad");
    hub_pull_result res;
    cr_assert_eq(hub_pull(h, "test-org/tiny-bge", "main", dir, &res), -1);
    cr_expect(strstr(dq_last_error(), "checksum mismatch for 'model.safetensors' of "
                                      "'test-org/tiny-bge'"),
              "%s", dq_last_error());
    char *w = wpath("bad/model.safetensors"), *rec = wpath("bad/" HUB_RECORD);
    cr_expect_not(exists(w));
    cr_expect_not(exists(rec), "no record: the pull is not complete");
    char *part = wpath("bad/model.safetensors.badbadbadbadbadb.incomplete");
    cr_expect_not(exists(part), "a download that fails its checksum is deleted");
    hub_free(h);
    free(dir);
    free(w);
    free(rec);
    free(part);
}

Test(hub, gated_needs_token_sent_only_to_the_hub, .init = hub_setup, .fini = hub_teardown)
{
    hub *h = test_hub(NULL);
    char *dir = wpath("g");
    hub_pull_result res;
    cr_assert_eq(hub_pull(h, "test-org/gated", "main", dir, &res), -1);
    cr_expect(strstr(dq_last_error(), "'test-org/gated' is a gated repository"), "%s",
              dq_last_error());
    cr_expect(strstr(dq_last_error(), "HF_TOKEN"), "%s", dq_last_error());
    hub_free(h);

    h = test_hub("hf_wrong");
    cr_assert_eq(hub_pull(h, "test-org/gated", "main", dir, &res), -1);
    cr_expect(strstr(dq_last_error(), "refused HF_TOKEN for 'test-org/gated' (HTTP 401)"), "%s",
              dq_last_error());
    cr_expect_null(strstr(dq_last_error(), "hf_wrong"), "the token is never in a message");
    hub_free(h);

    /* from the environment, as users set it */
    setenv("HF_TOKEN", TOKEN, 1);
    hub_options o = {.endpoint = httpd_url(fh.hub)};
    h = hub_new(&o);
    cr_assert_eq(hub_pull(h, "test-org/gated", "main", dir, &res), 0, "%s", dq_last_error());
    cr_expect_not(fh.token_at_cdn, "the CDN never sees the token");
    hub_free(h);
    free(dir);
}

Test(hub, not_found, .init = hub_setup, .fini = hub_teardown)
{
    hub *h = test_hub(NULL);
    hub_file info;
    char *dest = wpath("x");
    cr_expect_eq(hub_download(h, "test-org/nothing", "main", "config.json", dest, &info), -1);
    cr_expect(strstr(dq_last_error(), "no repository 'test-org/nothing' on http://127.0.0.1:"),
              "%s", dq_last_error());
    cr_expect_eq(info.status, 404);
    cr_expect_eq(hub_download(h, "test-org/tiny-bge", "main", "nope.txt", dest, NULL),
                 HUB_NOT_FOUND);
    cr_expect(strstr(dq_last_error(), "'test-org/tiny-bge' has no file 'nope.txt' at revision "
                                      "'main'"),
              "%s", dq_last_error());
    cr_expect_eq(hub_download(h, "test-org/tiny-bge", "v9", "config.json", dest, NULL), -1);
    cr_expect(strstr(dq_last_error(), "'test-org/tiny-bge' has no revision 'v9'"), "%s",
              dq_last_error());
    cr_expect_not(exists(dest));

    /* HF_ENDPOINT, here a port where nothing listens */
    hub_options o = {.connect_timeout_s = 2};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", httpd_closed_port());
    setenv("HF_ENDPOINT", url, 1);
    hub *h2 = hub_new(&o);
    cr_expect_str_eq(hub_endpoint(h2), url, "HF_ENDPOINT picks the endpoint");
    cr_expect_eq(hub_download(h2, "a/b", "main", "config.json", dest, NULL), -1);
    cr_expect(strstr(dq_last_error(), "cannot reach http://127.0.0.1:"), "%s", dq_last_error());
    hub_free(h2);
    hub_free(h);
    free(dest);
}

Test(hub, refuses_what_docqa_cannot_run_before_the_weights, .init = hub_setup,
     .fini = hub_teardown)
{
    hub *h = test_hub(NULL);
    char *dir = wpath("b");
    hub_pull_result res;
    cr_assert_eq(hub_pull(h, "test-org/bin-only", "main", dir, &res), -1);
    cr_expect(strstr(dq_last_error(), "'test-org/bin-only' publishes only pytorch_model.bin"),
              "%s", dq_last_error());
    cr_expect_eq(fh.cdn_gets, 0, "pytorch_model.bin is looked up, never downloaded");

    cr_assert_eq(hub_pull(h, "test-org/roberta", "main", dir, &res), -1);
    cr_expect(strstr(dq_last_error(), "'test-org/roberta' cannot run in docqa: "), "%s",
              dq_last_error());
    cr_expect(strstr(dq_last_error(), "model type 'roberta' is not supported"), "%s",
              dq_last_error());
    cr_expect_eq(fh.cdn_gets, 0);
    hub_free(h);
    free(dir);
}

static int progress_calls;

static bool cancel_progress(void *ctx, const char *file, long long done, long long total)
{
    (void)ctx;
    (void)total;
    progress_calls++;
    return !(strcmp(file, "model.safetensors") == 0 && done > 0);
}

Test(hub, cancelled_download_is_kept_for_a_resume, .init = hub_setup, .fini = hub_teardown)
{
    progress_calls = 0;
    hub_options o = {.endpoint = httpd_url(fh.hub), .progress = cancel_progress};
    hub *h = hub_new(&o);
    char *dest = wpath("c/model.safetensors");
    int rc = hub_download(h, "test-org/tiny-bge", "main", "model.safetensors", dest, NULL);
    cr_assert_eq(rc, HUB_CANCELLED, "%s", dq_last_error());
    cr_expect(strstr(dq_last_error(), "the same command resumes it"), "%s", dq_last_error());
    cr_expect_gt(progress_calls, 0);
    cr_expect_not(exists(dest));
    hub_free(h);
    free(dest);
}

static char *read_work(const char *name);

/* A write that fails part way (here the file size limit, as a full disk
 * would) keeps what was written for a resume and says why. */
Test(hub, write_error_keeps_partial, .init = hub_setup, .fini = hub_teardown)
{
    char *dest = wpath("f/model.safetensors");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {50000, 50000};
        setrlimit(RLIMIT_FSIZE, &rl);
        hub_options o = {.endpoint = httpd_url(fh.hub)};
        hub *h = hub_new(&o);
        int rc = hub_download(h, "test-org/tiny-bge", "main", "model.safetensors", dest, NULL);
        char *msg = wpath("msg");
        const char *e = dq_last_error();
        dq_write_file_atomic(msg, e, strlen(e));
        _exit(rc == -1 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the download should have failed");
    char *msg = read_work("msg");
    cr_expect(strstr(msg, "cannot write '"), "%s", msg);
    cr_expect(strstr(msg, "File too large"), "%s", msg);
    free(msg);
    cr_expect_not(exists(dest));
    /* the same download, without the limit, resumes from what was kept */
    hub *h = test_hub(NULL);
    cr_assert_eq(hub_download(h, "test-org/tiny-bge", "main", "model.safetensors", dest, NULL),
                 0, "%s", dq_last_error());
    cr_expect_str_eq(fh.last_range, "bytes=50000-");
    cr_expect(same_file(dest, fixture("bert-tiny-cls/model.safetensors")));
    hub_free(h);
    free(dest);
}

/* ---- the CLI ----------------------------------------------------------- */

/* Runs docqa in work/ with the hub as HF_ENDPOINT and everything (HOME,
 * caches, configs) inside work/. */
static run_result docqa(const char *const *args)
{
    char cache[200], endpoint[200];
    snprintf(cache, sizeof cache, "XDG_CACHE_HOME=%s/cache", work);
    snprintf(endpoint, sizeof endpoint, "HF_ENDPOINT=%s", httpd_url(fh.hub));
    const char *env[] = {cache, endpoint, NULL};
    return run_docqa(&(run_opts){.workdir = work, .env = env}, args);
}

#define DOCQA(...) docqa((const char *const[]){__VA_ARGS__, NULL})

static void write_work(const char *name, const char *text)
{
    char *p = wpath(name);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    dq_mkdirs(p);
    *slash = '/';
    cr_assert_eq(dq_write_file_atomic(p, text, strlen(text)), 0);
    free(p);
}

static char *read_work(const char *name)
{
    char *p = wpath(name);
    dq_buf b = DQ_BUF_INIT;
    dq_read_file(p, &b);
    free(p);
    return dq_buf_take(&b);
}

Test(hub_cli, pull_use_ingest_list_rm, .init = hub_setup, .fini = hub_teardown)
{
    run_result r = DOCQA("model", "pull", "test-org/tiny-bge");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "pulled test-org/tiny-bge (commit 0123456789) into "), "%s", r.out);
    cr_expect(strstr(r.out, "/cache/docqa/models/test-org--tiny-bge: 6 files"), "%s", r.out);
    cr_expect(strstr(r.out, "use it with: docqa model use test-org/tiny-bge"), "%s", r.out);
    run_result_free(&r);

    /* the user's config keeps its other lines */
    write_work(".config/docqa/config", "# my settings\n[embed]\nint8 = false   # fp32\n"
                                       "threads = 1\n\n[retrieve]\n");
    r = DOCQA("model", "use", "test-org/tiny-bge");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "[embed] model = "), "%s", r.out);
    cr_expect(strstr(r.out, "the next 'docqa ingest' embeds every chunk with it"), "%s", r.out);
    run_result_free(&r);
    char *cfg = read_work(".config/docqa/config");
    char want[400];
    snprintf(want, sizeof want,
             "# my settings\n[embed]\nint8 = false   # fp32\nthreads = 1\nmodel = %s/cache/"
             "docqa/models/test-org--tiny-bge\n\n[retrieve]\n",
             work);
    cr_expect_str_eq(cfg, want);
    free(cfg);

    r = DOCQA("model", "list");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "test-org/tiny-bge"), "%s", r.out);
    cr_expect(strstr(r.out, "embedding"), "%s", r.out);
    cr_expect(strstr(r.out, "[embed] model"), "%s", r.out);
    cr_expect(strstr(r.out, " MB"), "%s", r.out);
    run_result_free(&r);

    /* dense retrieval's input: every chunk gets a vector */
    write_work("docs/a.md", "# Lease\n\nThe deposit is two months of rent.\n");
    r = DOCQA("ingest", "--quiet", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    r = DOCQA("status", "--json");
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    int chunks = cJSON_GetObjectItem(j, "chunks")->valueint;
    cr_expect_gt(chunks, 0);
    cr_expect_eq(cJSON_GetObjectItem(j, "vectors")->valueint, chunks);
    cr_expect(!strncmp(cJSON_GetObjectItem(j, "embedding_model")->valuestring, "bert:", 5));
    cJSON_Delete(j);
    run_result_free(&r);

    /* the configured model is not removed by accident */
    r = DOCQA("model", "rm", "test-org/tiny-bge");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "'test-org/tiny-bge' is the configured [embed] model"), "%s", r.err);
    run_result_free(&r);
    r = DOCQA("model", "rm", "--force", "test-org/tiny-bge");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "removed "), "%s", r.out);
    run_result_free(&r);
    char *gone = wpath("cache/docqa/models/test-org--tiny-bge");
    cr_expect_not(exists(gone));
    free(gone);
    r = DOCQA("model", "rm", "test-org/tiny-bge");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "'test-org/tiny-bge' is not pulled"), "%s", r.err);
    run_result_free(&r);
}

Test(hub_cli, reranker_goes_to_retrieve, .init = hub_setup, .fini = hub_teardown)
{
    run_result r = DOCQA("model", "pull", "-q", "test-org/tiny-rerank");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "a reranker model"), "%s", r.out);
    run_result_free(&r);
    r = DOCQA("model", "use", "test-org/tiny-rerank");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    char *cfg = read_work(".config/docqa/config");
    char want[400];
    snprintf(want, sizeof want,
             "[retrieve]\nrerank_model = %s/cache/docqa/models/test-org--tiny-rerank\n", work);
    cr_expect_str_eq(cfg, want);
    free(cfg);
    r = DOCQA("model", "list");
    cr_expect(strstr(r.out, "reranker"), "%s", r.out);
    cr_expect(strstr(r.out, "[retrieve] rerank_model"), "%s", r.out);
    run_result_free(&r);
    /* a local folder works too; a second use replaces the line, never adds one */
    const char *folders[] = {fixture("bert-tiny-cls"), fixture("bert-tiny-mean")};
    for (int i = 0; i < 2; i++) {
        r = DOCQA("model", "use", folders[i]);
        cr_assert_eq(r.status, 0, "%s", r.err);
        run_result_free(&r);
    }
    cfg = read_work(".config/docqa/config");
    char want2[1200];
    snprintf(want2, sizeof want2,
             "[retrieve]\nrerank_model = %s/cache/docqa/models/test-org--tiny-rerank\n\n"
             "[embed]\nmodel = %s\n",
             work, folders[1]);
    cr_expect_str_eq(cfg, want2);
    free(cfg);
}

Test(hub_cli, errors, .init = hub_setup, .fini = hub_teardown)
{
    run_result r = DOCQA("model", "pull", "test-org/gated");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "docqa: 'test-org/gated' is a gated repository"), "%s", r.err);
    run_result_free(&r);
    char *left = wpath("cache/docqa/models/test-org--gated");
    cr_expect_not(exists(left), "a failed pull leaves no empty folder behind");
    free(left);

    setenv("HF_TOKEN", TOKEN, 1);
    r = DOCQA("model", "pull", "test-org/gated");
    unsetenv("HF_TOKEN");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_null(strstr(r.out, TOKEN));
    cr_expect_null(strstr(r.err, TOKEN));
    run_result_free(&r);

    r = DOCQA("model", "pull", "test-org/nothing");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "no repository 'test-org/nothing'"), "%s", r.err);
    run_result_free(&r);

    r = DOCQA("model", "pull", "test-org/bin-only");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "publishes only pytorch_model.bin"), "%s", r.err);
    run_result_free(&r);

    /* an architecture docqa cannot run: refused before the weights */
    int gets = fh.cdn_gets;
    r = DOCQA("model", "pull", "test-org/roberta");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "'test-org/roberta' cannot run in docqa: "), "%s", r.err);
    cr_expect(strstr(r.err, "nothing large was downloaded"), "%s", r.err);
    cr_expect_eq(fh.cdn_gets, gets);
    run_result_free(&r);

    r = DOCQA("model", "pull", "not a name");
    cr_expect_eq(r.status, 2);
    run_result_free(&r);

    r = DOCQA("model", "use", "m3e-base");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "'m3e-base' is not pulled"), "%s", r.err);
    cr_expect(strstr(r.err, "'docqa model pull m3e-base' fetches it"), "%s", r.err);
    run_result_free(&r);

    r = DOCQA("model", "frobnicate");
    cr_expect_eq(r.status, 2);
    run_result_free(&r);
}

Test(hub_cli, interrupted_pull_resumes, .init = hub_setup, .fini = hub_teardown)
{
    fh.cut_next = 4; /* more drops than one run retries */
    fh.cut_bytes = 3000;
    run_result r = DOCQA("model", "pull", "test-org/tiny-bge");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "broke off"), "%s", r.err);
    run_result_free(&r);
    r = DOCQA("model", "list");
    cr_expect(strstr(r.out, "incomplete"), "%s", r.out);
    run_result_free(&r);
    r = DOCQA("model", "use", "test-org/tiny-bge");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "'test-org/tiny-bge' is an unfinished pull"), "%s", r.err);
    run_result_free(&r);
    r = DOCQA("model", "pull", "test-org/tiny-bge");
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    cr_expect_str_eq(fh.last_range, "bytes=12000-", "the second run asked for the rest");
    char *dir = wpath("cache/docqa/models/test-org--tiny-bge");
    check_pulled_bge(dir);
    free(dir);
    /* info takes the name of a pulled model as well as a folder */
    r = DOCQA("model", "info", "test-org/tiny-bge");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "/cache/docqa/models/test-org--tiny-bge"), "%s", r.out);
    cr_expect(strstr(r.out, "pooling: cls"), "%s", r.out);
    run_result_free(&r);
}

/* An LLM alias pulls one GGUF file of a repository that holds one per
 * quantization; `model use` points [llm] model at it. The file is a tiny
 * random-weight chat model with Qwen's real vocabulary. */
Test(hub_cli, gguf_alias_pull_use, .init = hub_setup, .fini = hub_teardown)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/gguf-src && /usr/bin/python3 %s/scripts/lm_reference.py chat --vocab "
             "%s/tests/fixtures/bpe/qwen3-vocab.gguf.gz %s/gguf-src/qwen2.5-0.5b-instruct-q4_k_m.gguf",
             work, DQ_SOURCE_DIR, DQ_SOURCE_DIR, work);
    cr_assert_eq(system(cmd), 0);
    run_result r = DOCQA("model", "pull", "-q", "qwen2.5-0.5b-instruct");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "pulled Qwen/Qwen2.5-0.5B-Instruct-GGUF (commit 0123456789) into "),
              "%s", r.out);
    cr_expect(strstr(r.out, ": qwen2.5-0.5b-instruct-q4_k_m.gguf, "), "%s", r.out);
    cr_expect(strstr(r.out, "an LLM"), "%s", r.out);
    cr_expect_eq(fh.cdn_gets, 1); /* the one file, through the CDN with its SHA-256 */
    run_result_free(&r);
    char src[300], got[300];
    snprintf(src, sizeof src, "%s/gguf-src/qwen2.5-0.5b-instruct-q4_k_m.gguf", work);
    snprintf(got, sizeof got,
             "%s/cache/docqa/models/Qwen--Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf",
             work);
    cr_expect(same_file(src, got));

    /* a quantization the repository does not have */
    r = DOCQA("model", "pull", "-q", "--quant", "Q8_0", "qwen2.5-0.5b-instruct");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "Qwen/Qwen2.5-0.5B-Instruct-GGUF has no file "
                            "'qwen2.5-0.5b-instruct-q8_0.gguf'; pick another --quant"),
              "%s", r.err);
    run_result_free(&r);
    r = DOCQA("model", "pull", "--quant", "Q8_0", "test-org/tiny-GGUF");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "--quant is for the LLM aliases"), "%s", r.err);
    run_result_free(&r);
    /* any repository, one file by name */
    r = DOCQA("model", "pull", "-q", "--file", "qwen2.5-0.5b-instruct-q4_k_m.gguf",
              "test-org/tiny-GGUF");
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);

    r = DOCQA("model", "use", "qwen2.5-0.5b-instruct");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    char *cfg = read_work(".config/docqa/config");
    char want[400];
    snprintf(want, sizeof want, "[llm]\nmodel = %s\n", got);
    cr_expect(strstr(cfg, want), "%s", cfg);
    free(cfg);
    r = DOCQA("model", "list");
    cr_expect(strstr(r.out, "Qwen/Qwen2.5-0.5B-Instruct-GGUF"), "%s", r.out);
    cr_expect(strstr(r.out, " llm "), "%s", r.out);
    run_result_free(&r);
}
