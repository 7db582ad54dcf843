/* upload.c - POST /api/ingest: a multipart/form-data body whose file parts
 * are saved in the upload folder and handed to a background ingest job.
 *
 * Each part streams into a temporary file in the upload folder (so the
 * final rename stays on one filesystem); the request's total is checked as
 * it arrives, and an over-limit or unsupported upload leaves nothing
 * behind. A saved file never replaces another: a name already taken gets
 * " (2)", " (3)", ... before its extension. Names are cut to their last
 * path component, so an upload cannot write outside the folder.
 */
#include "serve/handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "serve/context.h"
#include "serve/jobs.h"

struct upload {
    struct MHD_PostProcessor *pp;
    int fd;             /* the part being written, -1 when none */
    char **tmp;         /* (n) temporary files, one per part */
    char **names;       /* (n) sanitized names */
    size_t n, cap;
    size_t bytes;
    int status;         /* an error to answer with (413, 415, 400, 500), 0 when fine */
    char error[512];
};

static void fail(struct upload *u, int status, const char *fmt, const char *arg)
{
    if (u->status)
        return;
    u->status = status;
    snprintf(u->error, sizeof u->error, fmt, arg);
}

/* The last path component of name, control characters replaced, valid UTF-8. */
static char *clean_name(const char *name)
{
    const char *base = name;
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    char *s = utf8_sanitize(base, strnlen(base, 200));
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '_';
    if (s[0] == '.') { /* hidden files and ".." */
        dq_buf b = DQ_BUF_INIT;
        dq_buf_printf(&b, "_%s", s);
        free(s);
        s = dq_buf_take(&b);
    }
    return s;
}

static void close_part(struct upload *u)
{
    if (u->fd >= 0) {
        if (close(u->fd) < 0)
            fail(u, 500, "cannot save the upload: %s", strerror(errno));
        u->fd = -1;
    }
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    (void)kind;
    (void)key;
    (void)content_type;
    (void)transfer_encoding;
    serve_request *rq = cls;
    struct upload *u = rq->upload;
    if (u->status)
        return MHD_NO;
    if (!filename)
        return MHD_YES; /* a plain form field: nothing to save */
    if (off == 0) {
        close_part(u);
        char *name = clean_name(filename);
        if (!*name || !ingest_supported(name)) {
            fail(u, 415, "'%s' is not a file type docqa can ingest (PDF, EPUB, XPS, CBZ, FB2, "
                         "HTML, Markdown, text, Word, Excel, PowerPoint, OpenDocument)",
                 name);
            free(name);
            return MHD_NO;
        }
        dq_buf t = DQ_BUF_INIT;
        dq_buf_printf(&t, "%s/.upload-XXXXXX", rq->srv->upload_dir);
        int fd = mkostemp(t.data, O_CLOEXEC);
        if (fd < 0) {
            fail(u, 500, "cannot save the upload: %s", strerror(errno));
            free(name);
            dq_buf_free(&t);
            return MHD_NO;
        }
        DQ_GROW(u->tmp, u->cap, u->n + 1);
        u->names = dq_realloc(u->names, u->cap * sizeof *u->names);
        u->tmp[u->n] = dq_buf_take(&t);
        u->names[u->n] = name;
        u->n++;
        u->fd = fd;
    }
    u->bytes += size;
    if (u->bytes > rq->srv->p.max_upload_bytes) {
        char lim[32];
        snprintf(lim, sizeof lim, "%zu", rq->srv->p.max_upload_bytes);
        fail(u, 413, "upload is over the limit of %s bytes", lim);
        return MHD_NO;
    }
    for (size_t done = 0; done < size;) {
        ssize_t w = write(u->fd, data + done, size - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            fail(u, 500, "cannot save the upload: %s", strerror(errno));
            return MHD_NO;
        }
        done += (size_t)w;
    }
    return MHD_YES;
}

void upload_free(struct upload *u)
{
    if (!u)
        return;
    if (u->pp)
        MHD_destroy_post_processor(u->pp);
    if (u->fd >= 0)
        close(u->fd);
    for (size_t i = 0; i < u->n; i++) {
        if (u->tmp[i])
            unlink(u->tmp[i]);
        free(u->tmp[i]);
        free(u->names[i]);
    }
    free(u->tmp);
    free(u->names);
    free(u);
}

enum MHD_Result upload_begin(serve_request *rq)
{
    serve_server *srv = rq->srv;
    bool full = jobs_full(srv);
    if (full)
        return serve_reply_error(rq, 429, "%d ingest jobs are running already; try again when "
                                          "one is done",
                                 srv->p.max_jobs);
    const char *ct = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Content-Type");
    if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0)
        return serve_reply_error(rq, 415, "upload files as multipart/form-data");
    if (dq_mkdirs(srv->upload_dir) < 0)
        return serve_reply_error(rq, 500, "%s", dq_last_error());
    struct upload *u = dq_calloc(1, sizeof *u);
    u->fd = -1;
    rq->upload = u;
    u->pp = MHD_create_post_processor(rq->conn, 64 * 1024, on_part, rq);
    if (!u->pp)
        return serve_reply_error(rq, 400, "malformed multipart/form-data (no boundary?)");
    return MHD_YES;
}

enum MHD_Result upload_feed(serve_request *rq, const char *data, size_t n)
{
    struct upload *u = rq->upload;
    if (!u->status && u->pp && MHD_post_process(u->pp, data, n) != MHD_YES && !u->status)
        fail(u, 400, "malformed multipart/form-data%s", "");
    return MHD_YES; /* keep reading: the answer comes when the body is in */
}

/* Moves tmp to a free name in dir (name, "name (2).ext", ...); the final
 * absolute path, or NULL with the error set. */
static char *place(const char *dir, const char *tmp, const char *name)
{
    const char *dot = strrchr(name, '.');
    size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
    dq_buf p = DQ_BUF_INIT;
    for (int i = 1; i < 1000; i++) {
        dq_buf_clear(&p);
        if (i == 1)
            dq_buf_printf(&p, "%s/%s", dir, name);
        else
            dq_buf_printf(&p, "%s/%.*s (%d)%s", dir, (int)stem, name, i, name + stem);
        if (link(tmp, p.data) == 0) {
            unlink(tmp);
            return dq_buf_take(&p);
        }
        if (errno != EEXIST) {
            dq_set_error("cannot save '%s': %s", name, strerror(errno));
            dq_buf_free(&p);
            return NULL;
        }
    }
    dq_set_error("cannot save '%s': too many files of that name", name);
    dq_buf_free(&p);
    return NULL;
}

enum MHD_Result upload_finish(serve_request *rq)
{
    struct upload *u = rq->upload;
    if (u->pp) {
        MHD_destroy_post_processor(u->pp);
        u->pp = NULL;
    }
    close_part(u);
    if (u->status)
        return serve_reply_error(rq, u->status, "%s", u->error);
    if (u->n == 0)
        return serve_reply_error(rq, 400, "no file in the upload: send multipart/form-data "
                                          "with a file part");
    char **paths = dq_calloc(u->n, sizeof *paths);
    char **names = dq_calloc(u->n, sizeof *names);
    size_t n = u->n;
    for (size_t i = 0; i < n; i++) {
        paths[i] = place(rq->srv->upload_dir, u->tmp[i], u->names[i]);
        if (!paths[i]) {
            enum MHD_Result ret = serve_reply_error(rq, 500, "%s", dq_last_error());
            for (size_t k = 0; k < i; k++)
                unlink(paths[k]), free(paths[k]);
            free(paths);
            free(names);
            return ret;
        }
        free(u->tmp[i]);
        u->tmp[i] = NULL;
        names[i] = dq_strdup(u->names[i]);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(files, cJSON_CreateString(names[i]));
    char **saved = dq_calloc(n, sizeof *saved);
    for (size_t i = 0; i < n; i++)
        saved[i] = dq_strdup(paths[i]);
    int id = jobs_start(rq->srv, paths, names, n);
    if (id < 0) {
        for (size_t i = 0; i < n; i++)
            unlink(saved[i]), free(saved[i]);
        free(saved);
        cJSON_Delete(o);
        if (id == -2)
            return serve_reply_error(rq, 429, "%d ingest jobs are running already; try again "
                                              "when one is done",
                                     rq->srv->p.max_jobs);
        return serve_reply_error(rq, 500, "%s", dq_last_error());
    }
    for (size_t i = 0; i < n; i++)
        free(saved[i]);
    free(saved);
    cJSON_AddNumberToObject(o, "job", id);
    char loc[48];
    snprintf(loc, sizeof loc, "/api/jobs/%d", id);
    cJSON_AddStringToObject(o, "status_url", loc);
    return serve_reply_json(rq, 202, o);
}
