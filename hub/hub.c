/* hub.c - a Hugging Face hub client for model folders: metadata by HEAD,
 * resumable verified downloads, and the pull of what docqa reads.
 *
 * Metadata comes the way huggingface_hub gets it: a HEAD on the resolve URL
 * with redirects inside the endpoint followed (renamed repositories, the
 * resolve cache) and the one to another host (the CDN holding LFS blobs) not
 * followed but read: its Location is where the bytes are, its X-Linked-Etag
 * the SHA-256, X-Repo-Commit the commit. Every later file of a pull is asked
 * for at that commit, so a push during the pull cannot mix two versions.
 *
 * A download writes "<dest>.<first 16 of the hash>.incomplete" beside dest,
 * so a partial file is resumed only for the same content; after a dropped
 * connection it asks for the rest with Range (a server answering 200 instead
 * of 206 starts it over), checks the SHA-256 when one is published, then
 * renames. The token goes only to the endpoint: the CDN URL is signed, and
 * a token has no business travelling to a second host.
 */
#include "hub/hub.h"

#include "common/common.h"
#include "embed/embed.h"
#include "net/net.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static char *path_join(const char *dir, const char *name)
{
    dq_buf b = DQ_BUF_INIT;
    size_t n = strlen(dir);
    dq_buf_printf(&b, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
    return dq_buf_take(&b);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* ---- names ---------------------------------------------------------------- */

static const hub_alias aliases[] = {
    {"bge-small-zh-v1.5", "BAAI/bge-small-zh-v1.5", false, NULL, false, NULL},
    {"bge-base-zh-v1.5", "BAAI/bge-base-zh-v1.5", false, NULL, false, NULL},
    {"bge-large-zh-v1.5", "BAAI/bge-large-zh-v1.5", false, NULL, false, NULL},
    {"bge-small-en-v1.5", "BAAI/bge-small-en-v1.5", false, NULL, false, NULL},
    {"bge-base-en-v1.5", "BAAI/bge-base-en-v1.5", false, NULL, false, NULL},
    {"m3e-small", "moka-ai/m3e-small", false, NULL, false, NULL},
    {"m3e-base", "moka-ai/m3e-base", false, NULL, false, NULL},
    {"m3e-large", "moka-ai/m3e-large", false, NULL, false, NULL},
    {"text2vec-base-chinese", "shibing624/text2vec-base-chinese", false, NULL, false, NULL},
    {"ms-marco-MiniLM-L-6-v2", "cross-encoder/ms-marco-MiniLM-L-6-v2", true, NULL, false, NULL},
    {"ms-marco-MiniLM-L-12-v2", "cross-encoder/ms-marco-MiniLM-L-12-v2", true, NULL, false, NULL},
    {"bge-reranker-base", "BAAI/bge-reranker-base", true, NULL, false, NULL},
    {"bge-reranker-large", "BAAI/bge-reranker-large", true, NULL, false, NULL},
    {"bce-reranker-base_v1", "maidalun1020/bce-reranker-base_v1", true, NULL, false, NULL},
    /* LLMs: Qwen's own GGUF repositories where they hold one file per
     * quantization; Qwen2.5-7B's Q4_K_M there is split in two files, which
     * docqa does not join, so bartowski's single-file conversion stands in,
     * as for Llama 3.2 (Meta publishes no GGUF). Qwen3-0.6B and -1.7B are
     * published as Q8_0 only. */
    {"qwen2.5-0.5b-instruct", "Qwen/Qwen2.5-0.5B-Instruct-GGUF", false,
     "qwen2.5-0.5b-instruct-%s.gguf", true, "Q4_K_M"},
    {"qwen2.5-1.5b-instruct", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", false,
     "qwen2.5-1.5b-instruct-%s.gguf", true, "Q4_K_M"},
    {"qwen2.5-3b-instruct", "Qwen/Qwen2.5-3B-Instruct-GGUF", false, "qwen2.5-3b-instruct-%s.gguf",
     true, "Q4_K_M"},
    {"qwen2.5-7b-instruct", "bartowski/Qwen2.5-7B-Instruct-GGUF", false,
     "Qwen2.5-7B-Instruct-%s.gguf", false, "Q4_K_M"},
    {"qwen3-0.6b", "Qwen/Qwen3-0.6B-GGUF", false, "Qwen3-0.6B-%s.gguf", false, "Q8_0"},
    {"qwen3-1.7b", "Qwen/Qwen3-1.7B-GGUF", false, "Qwen3-1.7B-%s.gguf", false, "Q8_0"},
    {"qwen3-4b", "Qwen/Qwen3-4B-GGUF", false, "Qwen3-4B-%s.gguf", false, "Q4_K_M"},
    {"llama-3.2-1b-instruct", "bartowski/Llama-3.2-1B-Instruct-GGUF", false,
     "Llama-3.2-1B-Instruct-%s.gguf", false, "Q4_K_M"},
    {"llama-3.2-3b-instruct", "bartowski/Llama-3.2-3B-Instruct-GGUF", false,
     "Llama-3.2-3B-Instruct-%s.gguf", false, "Q4_K_M"},
};

void hub_gguf_file(const hub_alias *a, const char *quant, char *out, size_t n)
{
    char q[32];
    snprintf(q, sizeof q, "%s", quant ? quant : a->quant);
    for (char *c = q; *c; c++)
        *c = (char)(a->gguf_lower ? tolower((unsigned char)*c) : toupper((unsigned char)*c));
    snprintf(out, n, a->gguf, q);
}

const hub_alias *hub_aliases(size_t *n)
{
    *n = sizeof aliases / sizeof aliases[0];
    return aliases;
}

const hub_alias *hub_alias_find(const char *name)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(aliases[i].name, name) == 0)
            return &aliases[i];
    return NULL;
}

/* The hub's repository names: letters, digits, '-', '_', '.', not starting
 * or ending with '-' or '.', no "--" or ".." (huggingface_hub's rule). */
static bool valid_part(const char *s, size_t n)
{
    if (n == 0 || n > 96 || s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return false;
        if (i && (c == '-' || c == '.') && s[i - 1] == c)
            return false;
    }
    return true;
}

int hub_parse_name(const char *text, hub_name *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->revision, sizeof out->revision, "main");
    const char *at = strchr(text, '@');
    size_t n = at ? (size_t)(at - text) : strlen(text);
    char base[160];
    if (n >= sizeof base) {
        dq_set_error("'%.60s...': name too long", text);
        return -1;
    }
    memcpy(base, text, n);
    base[n] = '\0';
    if (at) {
        const char *rev = at + 1;
        size_t rn = strlen(rev);
        bool ok = rn > 0 && rn < sizeof out->revision;
        for (size_t i = 0; ok && i < rn; i++)
            ok = isalnum((unsigned char)rev[i]) || strchr("-_./", rev[i]);
        if (!ok || strstr(rev, "..")) {
            dq_set_error("'%s': bad revision (a branch, tag or commit hash)", text);
            return -1;
        }
        snprintf(out->revision, sizeof out->revision, "%s", rev);
    }
    const char *slash = strchr(base, '/');
    if (!slash) {
        out->alias = hub_alias_find(base);
        if (!out->alias) {
            dq_set_error("'%s' is neither a known model name nor a repository id "
                         "(org/name); 'docqa model list --aliases' shows the names",
                         base);
            return -1;
        }
        snprintf(out->repo, sizeof out->repo, "%s", out->alias->repo);
        return 0;
    }
    if (!valid_part(base, (size_t)(slash - base)) || !valid_part(slash + 1, strlen(slash + 1))) {
        dq_set_error("'%s': not a repository id (org/name, letters, digits, '-', '_', '.')",
                     base);
        return -1;
    }
    snprintf(out->repo, sizeof out->repo, "%s", base);
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(aliases[i].repo, base) == 0)
            out->alias = &aliases[i];
    return 0;
}

char *hub_models_dir(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    dq_buf b = DQ_BUF_INIT;
    if (xdg && *xdg == '/')
        dq_buf_printf(&b, "%s/docqa/models", xdg);
    else if (home && *home)
        dq_buf_printf(&b, "%s/.cache/docqa/models", home);
    else {
        dq_set_error("no model folder: neither XDG_CACHE_HOME nor HOME is set");
        return NULL;
    }
    return dq_buf_take(&b);
}

char *hub_folder_name(const hub_name *n)
{
    dq_buf b = DQ_BUF_INIT;
    for (const char *p = n->repo; *p; p++)
        if (*p == '/')
            dq_buf_puts(&b, "--");
        else
            dq_buf_putc(&b, *p);
    if (strcmp(n->revision, "main") != 0) {
        dq_buf_putc(&b, '@');
        for (const char *p = n->revision; *p; p++)
            if (*p == '/')
                dq_buf_puts(&b, "--");
            else
                dq_buf_putc(&b, *p);
    }
    return dq_buf_take(&b);
}

/* ---- the client -------------------------------------------------------------- */

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define MAX_REDIRECTS 10

struct hub {
    char *endpoint;    /* no trailing slash */
    char *token;       /* or NULL; never in a message */
    int connect_timeout_s, stall_timeout_s, retries;
    hub_progress_fn progress;
    void *progress_ctx;
    CURL *curl;        /* one handle, reset per request, so connections are reused */
};

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    double d = strtod(v, &end);
    return *end || d < 1 || d > 86400 ? dflt : (int)d;
}

hub *hub_new(const hub_options *opt)
{
    hub_options o = opt ? *opt : (hub_options){0};
    hub *h = dq_calloc(1, sizeof *h);
    const char *ep = o.endpoint ? o.endpoint : getenv("HF_ENDPOINT");
    if (!ep || !*ep)
        ep = DEFAULT_ENDPOINT;
    size_t n = strlen(ep);
    while (n > 0 && ep[n - 1] == '/')
        n--;
    h->endpoint = dq_malloc(n + 1);
    memcpy(h->endpoint, ep, n);
    h->endpoint[n] = '\0';
    const char *tok = o.token;
    if (!tok)
        tok = getenv("HF_TOKEN");
    if (!tok || !*tok)
        tok = getenv("HUGGING_FACE_HUB_TOKEN");
    h->token = tok && *tok ? dq_strdup(tok) : NULL;
    h->connect_timeout_s =
        o.connect_timeout_s > 0 ? o.connect_timeout_s : env_int("HF_HUB_ETAG_TIMEOUT", 10);
    h->stall_timeout_s =
        o.stall_timeout_s > 0 ? o.stall_timeout_s : env_int("HF_HUB_DOWNLOAD_TIMEOUT", 30);
    h->retries = o.retries < 0 ? 0 : o.retries == 0 ? 3 : o.retries;
    h->progress = o.progress;
    h->progress_ctx = o.progress_ctx;
    h->curl = net_handle_new();
    if (!h->curl) {
        hub_free(h);
        return NULL;
    }
    return h;
}

void hub_free(hub *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    free(h->endpoint);
    if (h->token) {
        memset(h->token, 0, strlen(h->token));
        free(h->token);
    }
    free(h);
}

const char *hub_endpoint(const hub *h)
{
    return h->endpoint;
}

/* ---- one request ------------------------------------------------------------- */

/* Headers of the last response (a redirect's headers are dropped when the
 * next status line arrives). */
typedef struct {
    int status;
    char commit[64], linked_etag[80], etag[80], location[2048];
    char error_code[48], error_message[200];
    long long linked_size, content_length;
    char content_range[96];
} resp_headers;

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t k = (size_t)(end - v);
    if (k >= cap)
        k = cap - 1;
    memcpy(out, v, k);
    out[k] = '\0';
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *arg)
{
    resp_headers *r = arg;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        memset(r, 0, sizeof *r);
        r->linked_size = r->content_length = -1;
        const char *sp = memchr(buf, ' ', n);
        r->status = sp ? atoi(sp + 1) : 0;
        return n;
    }
    char num[32] = "";
    header_value(buf, n, "X-Repo-Commit", r->commit, sizeof r->commit);
    header_value(buf, n, "X-Linked-Etag", r->linked_etag, sizeof r->linked_etag);
    header_value(buf, n, "ETag", r->etag, sizeof r->etag);
    header_value(buf, n, "Location", r->location, sizeof r->location);
    header_value(buf, n, "X-Error-Code", r->error_code, sizeof r->error_code);
    header_value(buf, n, "X-Error-Message", r->error_message, sizeof r->error_message);
    header_value(buf, n, "Content-Range", r->content_range, sizeof r->content_range);
    header_value(buf, n, "X-Linked-Size", num, sizeof num);
    if (*num)
        r->linked_size = atoll(num);
    num[0] = '\0';
    header_value(buf, n, "Content-Length", num, sizeof num);
    if (*num)
        r->content_length = atoll(num);
    return n;
}

/* "abc", W/"abc" -> abc */
static void clean_etag(const char *in, char *out, size_t cap)
{
    if (strncmp(in, "W/", 2) == 0)
        in += 2;
    size_t n = strlen(in);
    if (n >= 2 && in[0] == '"' && in[n - 1] == '"') {
        in++;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, in, n);
    out[n] = '\0';
}

static bool is_sha256(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool is_commit(const char *s)
{
    if (strlen(s) != 40)
        return false;
    for (int i = 0; i < 40; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* The endpoint's host (scheme://host[:port]) so a redirect can be told apart. */
static bool same_origin(const char *a, const char *b)
{
    const char *pa = strstr(a, "://"), *pb = strstr(b, "://");
    if (!pa || !pb)
        return false;
    const char *ea = strchr(pa + 3, '/'), *eb = strchr(pb + 3, '/');
    size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
    return la == lb && strncasecmp(a, b, la) == 0;
}

static void setup_request(hub *h, const char *url, bool with_token, struct curl_slist **hdrs)
{
    *hdrs = curl_slist_append(NULL, "Accept-Encoding: identity");
    if (with_token && h->token) {
        dq_buf a = DQ_BUF_INIT;
        dq_buf_printf(&a, "Authorization: Bearer %s", h->token);
        *hdrs = curl_slist_append(*hdrs, a.data);
        memset(a.data, 0, a.len);
        dq_buf_free(&a);
    }
    /* a transfer that sends nothing for stall_timeout_s seconds fails; a slow
     * but moving one is left alone, however long a large file takes */
    net_request rq = {.user_agent = "docqa/1 (model pull)",
                      .connect_timeout_s = h->connect_timeout_s,
                      .stall_timeout_s = h->stall_timeout_s,
                      .headers = *hdrs};
    net_request_setup(h->curl, url, &rq);
}

static void resolve_url(const hub *h, const char *repo, const char *rev, const char *file,
                        dq_buf *out)
{
    dq_buf_printf(out, "%s/%s/resolve/", h->endpoint, repo);
    /* a revision may be "refs/pr/1": one path segment on the wire */
    char *esc = curl_easy_escape(h->curl, rev, 0);
    dq_buf_puts(out, esc ? esc : rev);
    curl_free(esc);
    dq_buf_printf(out, "/%s", file);
}

/* The error for a response that is not what was asked for. */
static void status_error(const hub *h, const char *repo, const char *rev, const char *file,
                         const resp_headers *r)
{
    const char *code = r->error_code;
    if (r->status == 401 || (r->status == 403 && !strcmp(code, "GatedRepo")) ||
        !strcmp(code, "GatedRepo")) {
        if (!strcmp(code, "GatedRepo"))
            dq_set_error("'%s' is a gated repository: accept its conditions on %s/%s with "
                         "your account, then set HF_TOKEN to one of your access tokens%s",
                         repo, h->endpoint, repo,
                         h->token ? " (the HF_TOKEN given has no access yet)" : "");
        else if (h->token)
            dq_set_error("%s refused HF_TOKEN for '%s' (HTTP %d): the token is wrong, "
                         "expired, or has no access to this repository",
                         h->endpoint, repo, r->status);
        else
            dq_set_error("'%s' needs authentication on %s (HTTP 401): it is private, gated, "
                         "or does not exist; check the name, or set HF_TOKEN",
                         repo, h->endpoint);
    } else if (r->status == 403) {
        dq_set_error("%s refused access to '%s' (HTTP 403)%s%s", h->endpoint, repo,
                     *r->error_message ? ": " : "", r->error_message);
    } else if (r->status == 404 && !strcmp(code, "RepoNotFound")) {
        dq_set_error("no repository '%s' on %s", repo, h->endpoint);
    } else if (r->status == 404 && !strcmp(code, "RevisionNotFound")) {
        dq_set_error("'%s' has no revision '%s'", repo, rev);
    } else if (r->status == 404) {
        dq_set_error("'%s' has no file '%s' at revision '%s'", repo, file, rev);
    } else {
        dq_set_error("%s answered HTTP %d for '%s' of '%s'%s%s", h->endpoint, r->status, file,
                     repo, *r->error_message ? ": " : "", r->error_message);
    }
}

/* Sets the error for a failed transfer on h; true when trying again may
 * help (no connection, a timeout, a connection that broke). */
static bool curl_failure(hub *h, const char *what, CURLcode rc)
{
    net_result res;
    net_result_of(h->curl, rc, NULL, &res);
    bool timeout = res.status == NET_TIMEOUT || res.status == NET_CONNECT_TIMEOUT;
    if (timeout)
        dq_set_error("%s: timed out (HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT set the "
                     "limits)",
                     what);
    else
        dq_set_error("%s: %s", what, res.reason);
    return timeout || res.status == NET_DROPPED ||
           (res.status == NET_UNREACHABLE && !res.no_host);
}

int hub_stat(hub *h, const char *repo, const char *revision, const char *file, hub_file *out)
{
    memset(out, 0, sizeof *out);
    out->size = -1;
    dq_buf url = DQ_BUF_INIT;
    resolve_url(h, repo, revision, file, &url);
    resp_headers r;
    int rc = -1;
    for (int hop = 0;; hop++) {
        struct curl_slist *hdrs = NULL;
        setup_request(h, url.data, same_origin(url.data, h->endpoint), &hdrs);
        curl_easy_setopt(h->curl, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, &r);
        curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, (long)(h->connect_timeout_s * 2 + 10));
        memset(&r, 0, sizeof r);
        CURLcode cc = curl_easy_perform(h->curl);
        curl_slist_free_all(hdrs);
        if (cc != CURLE_OK) {
            dq_buf what = DQ_BUF_INIT;
            dq_buf_printf(&what, "cannot reach %s for '%s'", h->endpoint, repo);
            curl_failure(h, what.data, cc);
            dq_buf_free(&what);
            goto out;
        }
        bool redirect = r.status >= 300 && r.status < 400 && *r.location;
        if (redirect && hop < MAX_REDIRECTS) {
            dq_buf next = DQ_BUF_INIT;
            if (r.location[0] == '/') {
                /* same host: the endpoint's origin plus the path */
                const char *p = strstr(h->endpoint, "://");
                const char *e = p ? strchr(p + 3, '/') : NULL;
                size_t origin = e ? (size_t)(e - h->endpoint) : strlen(h->endpoint);
                dq_buf_append(&next, h->endpoint, origin);
                dq_buf_puts(&next, r.location);
            } else {
                dq_buf_puts(&next, r.location);
            }
            if (same_origin(next.data, h->endpoint) && !*r.linked_etag) {
                dq_buf_free(&url);
                url = next;
                continue;
            }
            /* to another host (the CDN): this answer holds the metadata */
            snprintf(out->url, sizeof out->url, "%s", next.data);
            dq_buf_free(&next);
        } else if (r.status == 200) {
            /* fetch the bytes at the commit the metadata came from */
            dq_buf at = DQ_BUF_INIT;
            if (is_commit(r.commit))
                resolve_url(h, repo, r.commit, file, &at);
            snprintf(out->url, sizeof out->url, "%s", at.len ? at.data : url.data);
            dq_buf_free(&at);
        } else if (redirect) {
            dq_set_error("'%s' of '%s': more than %d redirects", file, repo, MAX_REDIRECTS);
            goto out;
        } else {
            status_error(h, repo, revision, file, &r);
            out->status = r.status;
            bool missing_file = r.status == 404 && strcmp(r.error_code, "RepoNotFound") != 0 &&
                                strcmp(r.error_code, "RevisionNotFound") != 0;
            rc = missing_file ? HUB_NOT_FOUND : -1;
            goto out;
        }
        break;
    }
    out->status = r.status;
    snprintf(out->commit, sizeof out->commit, "%s", r.commit);
    char etag[80];
    clean_etag(*r.linked_etag ? r.linked_etag : r.etag, etag, sizeof etag);
    snprintf(out->etag, sizeof out->etag, "%s", etag);
    /* X-Linked-Etag is an LFS object's SHA-256; a plain ETag of 64 hex digits
     * is one too (a mirror answering without the redirect), while git's blob
     * ids for small files are 40 */
    if (is_sha256(etag)) {
        for (int i = 0; i < 64; i++)
            out->sha256[i] = (char)tolower((unsigned char)etag[i]);
        out->sha256[64] = '\0';
    }
    /* a redirect's Content-Length is its own (empty) body's */
    out->size = r.linked_size >= 0 ? r.linked_size : r.status == 200 ? r.content_length : -1;
    rc = 0;
out:
    dq_buf_free(&url);
    return rc;
}

/* ---- downloading ---------------------------------------------------------------- */

typedef struct {
    hub *h;
    const char *file;   /* for progress */
    const char *part;   /* the .incomplete path */
    FILE *f;            /* opened on the first body byte of a 2xx answer */
    long long offset;   /* bytes already in part before this request */
    long long written;  /* in this request */
    long long total;    /* expected size, -1 unknown */
    int write_errno;
    bool cancelled;
    resp_headers r;
    dq_buf err_body;    /* a non-2xx answer's body, capped */
} dl_state;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    dl_state *s = arg;
    size_t n = size * nmemb;
    if (s->r.status < 200 || s->r.status >= 300) {
        if (s->err_body.len < 4096)
            dq_buf_append(&s->err_body, data, n);
        return n;
    }
    if (!s->f) {
        /* 206: the rest after offset; anything else: the whole file again */
        bool append = s->r.status == 206 && s->offset > 0;
        if (!append)
            s->offset = 0;
        s->f = fopen(s->part, append ? "ab" : "wb");
        if (!s->f) {
            s->write_errno = errno;
            return 0;
        }
    }
    if (fwrite(data, 1, n, s->f) != n) {
        s->write_errno = errno ? errno : EIO;
        return 0;
    }
    s->written += (long long)n;
    return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)ultotal;
    (void)ulnow;
    dl_state *s = arg;
    if (!s->h->progress)
        return 0;
    long long done = (s->r.status == 206 ? s->offset : 0) + (long long)dlnow;
    if (!s->h->progress(s->h->progress_ctx, s->file, done, s->total > 0 ? s->total : 0)) {
        s->cancelled = true;
        return 1;
    }
    return 0;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
}

/* Room for `need` more bytes beside path? Filesystems that cannot say pass. */
static int check_space(const char *dir, long long need)
{
    struct statvfs v;
    if (need <= 0 || statvfs(dir, &v) != 0)
        return 0;
    long long avail = (long long)v.f_bavail * (long long)v.f_frsize;
    if (avail < need) {
        dq_set_error("not enough disk space in '%s': %.1f MB needed, %.1f MB free", dir,
                     (double)need / 1e6, (double)avail / 1e6);
        return -1;
    }
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return dq_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = dq_malloc(n + 1);
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

/* One GET of info->url into part, resuming from its current size. 0 when the
 * transfer completed (the caller verifies), -1 with the error set; *retry
 * says whether trying again could help (a dropped connection). */
static int fetch_once(hub *h, const char *repo, const char *file, const hub_file *info,
                      const char *part, bool *retry)
{
    *retry = false;
    dl_state s = {.h = h, .file = file, .part = part, .total = info->size};
    s.offset = file_size(part);
    if (s.offset < 0)
        s.offset = 0;
    if (info->size >= 0 && s.offset > info->size) {
        unlink(part); /* longer than the file: not ours */
        s.offset = 0;
    }
    if (info->size >= 0 && s.offset == info->size && info->size > 0)
        return 0; /* complete already; verification decides */
    struct curl_slist *hdrs = NULL;
    setup_request(h, info->url, same_origin(info->url, h->endpoint), &hdrs);
    /* follow further redirects, but without the token on another host
     * (libcurl drops custom Authorization headers when the host changes) */
    curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h->curl, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, &s.r);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, &s);
    char range[48];
    if (s.offset > 0) {
        snprintf(range, sizeof range, "%lld-", s.offset);
        curl_easy_setopt(h->curl, CURLOPT_RANGE, range);
    }
    errno = 0;
    CURLcode cc = curl_easy_perform(h->curl);
    curl_slist_free_all(hdrs);
    int rc = 0;
    if (s.f && (fflush(s.f) != 0 || fsync(fileno(s.f)) != 0) && !s.write_errno)
        s.write_errno = errno;
    if (s.f && fclose(s.f) != 0 && !s.write_errno)
        s.write_errno = errno;
    long long have = file_size(part);
    if (s.cancelled) {
        dq_set_error("download of '%s' interrupted at %.1f of %.1f MB; the same command "
                     "resumes it",
                     file, (double)(have > 0 ? have : 0) / 1e6, (double)info->size / 1e6);
        rc = HUB_CANCELLED;
    } else if (s.write_errno) {
        if (s.write_errno == ENOSPC || s.write_errno == EDQUOT)
            dq_set_error("disk full writing '%s' (%.1f MB of %.1f MB written): free some "
                         "space and run the same command to resume",
                         part, (double)(have > 0 ? have : 0) / 1e6, (double)info->size / 1e6);
        else
            dq_set_error("cannot write '%s': %s", part, strerror(s.write_errno));
        rc = -1;
    } else if (s.r.status == 416 && s.offset > 0) {
        /* the server has no bytes past offset: start over once */
        unlink(part);
        dq_set_error("'%s': the server refused to resume (HTTP 416)", file);
        *retry = true;
        rc = -1;
    } else if (cc != CURLE_OK && s.r.status >= 200 && s.r.status < 300) {
        dq_buf what = DQ_BUF_INIT;
        dq_buf_printf(&what, "download of '%s' of '%s' broke off at %.1f of %.1f MB", file,
                      repo, (double)(have > 0 ? have : 0) / 1e6, (double)info->size / 1e6);
        curl_failure(h, what.data, cc);
        dq_buf_free(&what);
        *retry = true;
        rc = -1;
    } else if (cc != CURLE_OK) {
        dq_buf what = DQ_BUF_INIT;
        dq_buf_printf(&what, "cannot download '%s' of '%s'", file, repo);
        *retry = curl_failure(h, what.data, cc);
        dq_buf_free(&what);
        rc = -1;
    } else if (s.r.status < 200 || s.r.status >= 300) {
        status_error(h, repo, "", file, &s.r);
        rc = -1;
    } else if (!s.f && (s.r.status == 200 || s.offset == 0)) {
        /* an empty file: make it exist */
        FILE *f = fopen(part, "wb");
        if (!f || fclose(f) != 0) {
            dq_set_error("cannot write '%s': %s", part, strerror(errno));
            rc = -1;
        }
    }
    dq_buf_free(&s.err_body);
    return rc;
}

/* SHA-256 check and size check of a finished part file. */
static int verify(const char *repo, const char *file, const hub_file *info, const char *path,
                  bool *bad)
{
    *bad = false;
    long long have = file_size(path);
    if (info->size >= 0 && have != info->size) {
        dq_set_error("'%s' of '%s': %lld bytes received, the hub announced %lld", file, repo,
                     have, info->size);
        *bad = true;
        return -1;
    }
    if (!*info->sha256)
        return 0;
    char got[65];
    if (dq_sha256_file(path, got) < 0)
        return -1;
    if (strcmp(got, info->sha256) != 0) {
        dq_set_error("checksum mismatch for '%s' of '%s': the hub publishes SHA-256 %.16s..., "
                     "the download has %.16s...; it was deleted, run the command again (a "
                     "mirror serving stale files would explain it)",
                     file, repo, info->sha256, got);
        *bad = true;
        return -1;
    }
    return 0;
}

int hub_download(hub *h, const char *repo, const char *revision, const char *file,
                 const char *dest, hub_file *info_out)
{
    hub_file info;
    int rc = hub_stat(h, repo, revision, file, &info);
    if (info_out)
        *info_out = info;
    if (rc != 0)
        return rc;
    char *dir = dir_of(dest);
    char *part = NULL;
    if (dq_mkdirs(dir) < 0)
        goto fail;
    /* Already there with the published hash: nothing to fetch. */
    if (*info.sha256 && file_size(dest) == info.size) {
        char have[65];
        if (dq_sha256_file(dest, have) == 0 && strcmp(have, info.sha256) == 0) {
            if (h->progress)
                h->progress(h->progress_ctx, file, info.size, info.size);
            free(dir);
            return 0;
        }
    }
    {
        dq_buf p = DQ_BUF_INIT;
        char tag[17] = "";
        const char *src = *info.sha256 ? info.sha256 : info.etag;
        size_t k = 0;
        for (const char *c = src; *c && k < 16; c++)
            if (isalnum((unsigned char)*c))
                tag[k++] = *c;
        tag[k] = '\0';
        dq_buf_printf(&p, "%s.%s.incomplete", dest, *tag ? tag : "new");
        part = dq_buf_take(&p);
    }
    if (!*info.sha256 && !*info.etag)
        unlink(part); /* nothing says a leftover is the same content */
    {
        long long have = file_size(part);
        if (check_space(dir, info.size - (have > 0 ? have : 0)) < 0)
            goto fail;
    }
    for (int attempt = 0;; attempt++) {
        bool retry;
        int r = fetch_once(h, repo, file, &info, part, &retry);
        if (r == HUB_CANCELLED) {
            free(dir);
            free(part);
            return HUB_CANCELLED;
        }
        if (r == 0)
            break;
        if (!retry || attempt >= h->retries)
            goto fail;
        /* a fresh look at the file: a signed CDN URL may have expired */
        hub_file again;
        if (hub_stat(h, repo, revision, file, &again) == 0 && !strcmp(again.etag, info.etag))
            info = again;
    }
    bool bad;
    if (verify(repo, file, &info, part, &bad) < 0) {
        if (bad)
            unlink(part);
        goto fail;
    }
    if (rename(part, dest) < 0) {
        dq_set_error("cannot rename '%s' to '%s': %s", part, dest, strerror(errno));
        goto fail;
    }
    free(dir);
    free(part);
    return 0;
fail:
    free(dir);
    free(part);
    return -1;
}

/* ---- a model folder ------------------------------------------------------------ */

typedef struct {
    hub *h;
    const char *repo, *dir;
    char rev[128];     /* the commit once known, else the revision asked for */
    bool pinned;       /* rev is the commit of the first file */
    cJSON *files;      /* the record's "files" array */
    hub_pull_result *res;
} pull_ctx;

/* Fetches one file; optional ones may be missing (returns HUB_NOT_FOUND
 * without leaving an error that matters). */
static int pull_file(pull_ctx *p, const char *file, bool optional)
{
    char *dest = path_join(p->dir, file);
    hub_file info;
    int rc = hub_download(p->h, p->repo, p->rev, file, dest, &info);
    if (rc == 0) {
        if (!p->pinned && is_commit(info.commit)) {
            snprintf(p->rev, sizeof p->rev, "%s", info.commit);
            snprintf(p->res->commit, sizeof p->res->commit, "%s", info.commit);
            p->pinned = true;
        }
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", file);
        cJSON_AddNumberToObject(f, "size", (double)file_size(dest));
        if (*info.sha256)
            cJSON_AddStringToObject(f, "sha256", info.sha256);
        cJSON_AddItemToArray(p->files, f);
        p->res->n_files++;
    } else if (rc == HUB_NOT_FOUND && optional) {
        unlink(dest); /* a stale copy of a file the repository no longer has */
    }
    free(dest);
    return rc;
}

/* Reads modules.json (already pulled) for the Pooling module's folder. */
static char *pooling_path(const char *dir)
{
    char *mpath = path_join(dir, "modules.json");
    dq_buf b = DQ_BUF_INIT;
    char *out = NULL;
    if (dq_read_file(mpath, &b) == 0) {
        cJSON *j = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
        const cJSON *m;
        cJSON *arr = cJSON_IsArray(j) ? j : NULL;
        cJSON_ArrayForEach(m, arr)
        {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
            const cJSON *path = cJSON_GetObjectItemCaseSensitive(m, "path");
            if (cJSON_IsString(type) && ends_with(type->valuestring, "models.Pooling") &&
                cJSON_IsString(path) && *path->valuestring && !strstr(path->valuestring, "..") &&
                path->valuestring[0] != '/') {
                dq_buf p = DQ_BUF_INIT;
                dq_buf_printf(&p, "%s/config.json", path->valuestring);
                out = dq_buf_take(&p);
                break;
            }
        }
        cJSON_Delete(j);
    }
    dq_buf_free(&b);
    free(mpath);
    return out;
}

static void cannot_run(const char *repo)
{
    char why[400];
    snprintf(why, sizeof why, "%s", dq_last_error());
    dq_set_error("'%s' cannot run in docqa: %s; nothing large was downloaded", repo, why);
}

/* What would stop docqa from running the folder is found before the
 * weights: first the architecture (config.json) ... */
static int check_config(const char *repo, const char *dir, bool *reranker, bool *xlmr)
{
    if (bert_check_config(dir, reranker, xlmr) < 0) {
        cannot_run(repo);
        return -1;
    }
    return 0;
}

/* ... then the tokenizer options and sentence-transformers modules. */
static int check_folder(const char *repo, const char *dir, bool xlmr)
{
    if (bert_check_folder(dir, xlmr) < 0) {
        cannot_run(repo);
        return -1;
    }
    return 0;
}

long long hub_folder_bytes(const char *dir)
{
    long long total = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = path_join(dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0)
            total += S_ISDIR(st.st_mode) ? hub_folder_bytes(p) : (long long)st.st_size;
        free(p);
    }
    closedir(d);
    return total;
}

/* The record of a completed pull, written last (its files leave p). */
static int write_record(pull_ctx *p, const char *revision, const char *kind, const char *gguf,
                        const char *record)
{
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "repo", p->repo);
    cJSON_AddStringToObject(rec, "revision", revision ? revision : "main");
    cJSON_AddStringToObject(rec, "commit", p->res->commit);
    cJSON_AddStringToObject(rec, "endpoint", p->h->endpoint);
    cJSON_AddStringToObject(rec, "kind", kind);
    if (gguf)
        cJSON_AddStringToObject(rec, "gguf", gguf);
    cJSON_AddItemToObject(rec, "files", p->files);
    p->files = NULL;
    char *text = cJSON_Print(rec);
    cJSON_Delete(rec);
    int wr = dq_write_file_atomic(record, text, strlen(text));
    free(text);
    if (wr < 0)
        return -1;
    p->res->bytes = hub_folder_bytes(p->dir);
    return 0;
}

int hub_pull(hub *h, const char *repo, const char *revision, const char *dir,
             hub_pull_result *res)
{
    memset(res, 0, sizeof *res);
    if (dq_mkdirs(dir) < 0)
        return -1;
    pull_ctx p = {h, repo, dir, "", false, cJSON_CreateArray(), res};
    snprintf(p.rev, sizeof p.rev, "%s", revision ? revision : "main");
    int rc = -1;
    char *pool = NULL;
    /* the record goes last: a folder without it is an unfinished pull */
    char *record = path_join(dir, HUB_RECORD);
    unlink(record);

    int r = pull_file(&p, "config.json", false);
    if (r == HUB_NOT_FOUND) {
        char why[400];
        snprintf(why, sizeof why, "%s", dq_last_error());
        dq_set_error("%s (not a transformers model folder?)", why);
    }
    if (r != 0) {
        rc = r == HUB_CANCELLED ? HUB_CANCELLED : -1;
        goto out;
    }
    bool xlmr = false;
    if (check_config(repo, dir, &res->reranker, &xlmr) < 0)
        goto out;
    r = pull_file(&p, xlmr ? "sentencepiece.bpe.model" : "vocab.txt", false);
    if (r == HUB_NOT_FOUND && xlmr) {
        dq_set_error("'%s' has no sentencepiece.bpe.model, which docqa reads for XLM-RoBERTa "
                     "(tokenizer.json alone is not enough); nothing large was downloaded",
                     repo);
        goto out;
    }
    if (r == HUB_NOT_FOUND) {
        /* find out whether it is a SentencePiece model, for the message */
        hub_file t;
        bool spm = hub_stat(h, repo, p.rev, "tokenizer.json", &t) == 0;
        dq_set_error("'%s' has no vocab.txt%s: docqa reads WordPiece (BERT) tokenizers; "
                     "nothing large was downloaded",
                     repo, spm ? " (only tokenizer.json, likely SentencePiece)" : "");
        goto out;
    }
    if (r != 0) {
        rc = r == HUB_CANCELLED ? HUB_CANCELLED : -1;
        goto out;
    }
    static const char *const optional[] = {"tokenizer_config.json", "special_tokens_map.json",
                                           "modules.json"};
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++) {
        r = pull_file(&p, optional[i], true);
        if (r == HUB_CANCELLED || r < 0) {
            rc = r == HUB_CANCELLED ? HUB_CANCELLED : -1;
            goto out;
        }
    }
    pool = pooling_path(dir);
    if (pool && (r = pull_file(&p, pool, false)) != 0) {
        rc = r == HUB_CANCELLED ? HUB_CANCELLED : -1;
        goto out;
    }
    if (check_folder(repo, dir, xlmr) < 0)
        goto out;

    r = pull_file(&p, "model.safetensors", false);
    if (r == HUB_NOT_FOUND) {
        hub_file t;
        if (hub_stat(h, repo, p.rev, "model.safetensors.index.json", &t) == 0)
            dq_set_error("'%s' has its weights split over several safetensors files, which "
                         "docqa does not read yet",
                         repo);
        else if (hub_stat(h, repo, p.rev, "pytorch_model.bin", &t) == 0)
            dq_set_error("'%s' publishes only pytorch_model.bin, which docqa does not read "
                         "(it is a Python pickle); pick a revision with model.safetensors "
                         "(name@revision), or convert it with torch and safetensors and give "
                         "'docqa model use' the folder",
                         repo);
        else
            dq_set_error("'%s' has no model.safetensors at revision '%s'", repo, p.rev);
        goto out;
    }
    if (r != 0) {
        rc = r == HUB_CANCELLED ? HUB_CANCELLED : -1;
        goto out;
    }

    if (write_record(&p, revision, res->reranker ? "reranker" : "embedding", NULL, record) < 0)
        goto out;
    rc = 0;
out:
    cJSON_Delete(p.files);
    free(pool);
    free(record);
    return rc;
}

int hub_pull_gguf(hub *h, const char *repo, const char *revision, const char *file,
                  const char *dir, hub_pull_result *res)
{
    memset(res, 0, sizeof *res);
    if (!ends_with(file, ".gguf") || strchr(file, '/') || file[0] == '.') {
        dq_set_error("'%s': not a .gguf file name", file);
        return -1;
    }
    if (dq_mkdirs(dir) < 0)
        return -1;
    pull_ctx p = {h, repo, dir, "", false, cJSON_CreateArray(), res};
    snprintf(p.rev, sizeof p.rev, "%s", revision ? revision : "main");
    /* a record stays until another quantization is complete: the file it
     * names is whole, and is what `model use` takes */
    char *record = path_join(dir, HUB_RECORD);
    int rc = pull_file(&p, file, false);
    if (rc == 0 && write_record(&p, revision, "llm", file, record) < 0)
        rc = -1;
    cJSON_Delete(p.files);
    free(record);
    return rc;
}
