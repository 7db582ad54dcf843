/* ocr.c - scanned pages to text with Tesseract, rendered by MuPDF in memory.
 *
 * A page is OCR'd at about 100x the cost of reading its text layer, so the
 * pages are spread over worker threads, one per core. A fz_document may be
 * used by one thread at a time only, so each worker opens the file itself in
 * its own fz_context (no shared store, hence no locks) and owns one
 * TessBaseAPI; workers take page numbers from a shared counter and write the
 * result into their page of the raw document, which nobody else touches
 * until they are joined. The calling thread only waits and reports progress,
 * so the progress callback never runs concurrently.
 *
 * Pages are rendered grey at ocr->dpi (lowered for huge pages so one bitmap
 * stays under MAX_PIXELS) and handed to Tesseract as raw bytes; no image file
 * is written. Tesseract's layout iterator gives lines with boxes grouped in
 * paragraphs, which become ingest_blocks and ingest_lines in points, so the
 * cleanup pass sees OCR text the way it sees a text layer. Tesseract puts a
 * space between every two Chinese characters; those are removed here.
 *
 * libtesseract (a C++ library that pulls in Leptonica and a dozen image
 * libraries) is loaded with dlopen() on the first document that needs OCR,
 * so `docqa search` does not pay for it at every start, and docqa runs
 * where it is missing, failing only the scans, with a message saying so.
 */
#include "ingest/memcap.h"
#include "ingest/ocr.h"
#include "ingest/raw.h"

#include "common/common.h"

#include <tesseract/capi.h>

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fewer non-space characters than this in the text layer of a page that is
 * mostly image: the text is a stamp or a page number, not the content. */
enum { SCAN_MAX_TEXT_CHARS = 32 };
/* The share of the page images must cover for the page to count as a scan. */
#define SCAN_MIN_IMAGE_SHARE 0.3f
/* One bitmap at most (8-bit grey): an A1 sheet at 300 dpi. */
#define MAX_PIXELS (70.0 * 1000 * 1000)
/* Leptonica refuses wider or taller images. */
#define MAX_SIDE 30000.0

/* ---- libtesseract, loaded on first use --------------------------------- */

/* The C API functions used here, typed from tesseract/capi.h. */
typedef struct {
    __typeof__(TessBaseAPICreate) *create;
    __typeof__(TessBaseAPIDelete) *destroy;
    __typeof__(TessBaseAPISetVariable) *set_variable;
    __typeof__(TessBaseAPIInit3) *init3;
    __typeof__(TessBaseAPISetImage) *set_image;
    __typeof__(TessBaseAPISetSourceResolution) *set_source_resolution;
    __typeof__(TessBaseAPIRecognize) *recognize;
    __typeof__(TessBaseAPIMeanTextConf) *mean_text_conf;
    __typeof__(TessBaseAPIGetIterator) *get_iterator;
    __typeof__(TessBaseAPIClear) *clear;
    __typeof__(TessBaseAPIEnd) *end;
    __typeof__(TessResultIteratorGetPageIterator) *page_iterator;
    __typeof__(TessResultIteratorGetUTF8Text) *utf8_text;
    __typeof__(TessResultIteratorNext) *next;
    __typeof__(TessResultIteratorDelete) *iterator_delete;
    __typeof__(TessPageIteratorIsAtBeginningOf) *at_beginning_of;
    __typeof__(TessPageIteratorBoundingBox) *bounding_box;
    __typeof__(TessDeleteText) *delete_text;
    void (*omp_set_max_active_levels)(int); /* libgomp's, loaded with Tesseract */
} tess_lib;

static tess_lib tess;           /* filled once by load_tess() */
static char tess_error[256];    /* why loading failed, "" when it worked */
static pthread_once_t tess_once = PTHREAD_ONCE_INIT;

static void load_tess(void)
{
    /* Debian 12 ships libtesseract.so.5; the unversioned name is the -dev symlink. */
    void *h = dlopen("libtesseract.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen("libtesseract.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(tess_error, sizeof tess_error,
                 "OCR not available: cannot load libtesseract.so.5 (install libtesseract5)");
        return;
    }
    struct {
        void **slot;
        const char *name;
    } syms[] = {
        {(void **)&tess.create, "TessBaseAPICreate"},
        {(void **)&tess.destroy, "TessBaseAPIDelete"},
        {(void **)&tess.set_variable, "TessBaseAPISetVariable"},
        {(void **)&tess.init3, "TessBaseAPIInit3"},
        {(void **)&tess.set_image, "TessBaseAPISetImage"},
        {(void **)&tess.set_source_resolution, "TessBaseAPISetSourceResolution"},
        {(void **)&tess.recognize, "TessBaseAPIRecognize"},
        {(void **)&tess.mean_text_conf, "TessBaseAPIMeanTextConf"},
        {(void **)&tess.get_iterator, "TessBaseAPIGetIterator"},
        {(void **)&tess.clear, "TessBaseAPIClear"},
        {(void **)&tess.end, "TessBaseAPIEnd"},
        {(void **)&tess.page_iterator, "TessResultIteratorGetPageIterator"},
        {(void **)&tess.utf8_text, "TessResultIteratorGetUTF8Text"},
        {(void **)&tess.next, "TessResultIteratorNext"},
        {(void **)&tess.iterator_delete, "TessResultIteratorDelete"},
        {(void **)&tess.at_beginning_of, "TessPageIteratorIsAtBeginningOf"},
        {(void **)&tess.bounding_box, "TessPageIteratorBoundingBox"},
        {(void **)&tess.delete_text, "TessDeleteText"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (!*syms[i].slot) {
            snprintf(tess_error, sizeof tess_error,
                     "OCR not available: libtesseract lacks %s (too old?)", syms[i].name);
            return;
        }
    }
    /* A Tesseract built without OpenMP has none to limit. */
    *(void **)&tess.omp_set_max_active_levels = dlsym(h, "omp_set_max_active_levels");
    /* The handle stays open for the life of the process: workers of later
     * documents use the same functions. */
}

ocr_params ocr_default_params(void)
{
    return (ocr_params){OCR_AUTO, "chi_sim+eng", 300, 0, NULL, NULL};
}

bool ocr_page_is_scan(const fz_stext_page *st, fz_rect bounds, size_t text_chars)
{
    if (text_chars >= SCAN_MAX_TEXT_CHARS || fz_is_empty_rect(bounds))
        return false;
    float page_area = (bounds.x1 - bounds.x0) * (bounds.y1 - bounds.y0);
    float image_area = 0;
    for (fz_stext_block *b = st->first_block; b; b = b->next) {
        if (b->type != FZ_STEXT_BLOCK_IMAGE)
            continue;
        fz_rect r = fz_intersect_rect(b->bbox, bounds);
        if (!fz_is_empty_rect(r))
            image_area += (r.x1 - r.x0) * (r.y1 - r.y0);
    }
    return page_area > 0 && image_area >= SCAN_MIN_IMAGE_SHARE * page_area;
}

/* ---- text --------------------------------------------------------------- */

static bool cjk_like(uint32_t cp)
{
    return uc_is_cjk(cp) || uc_is_cjk_punct(cp);
}

/* A malloc'd copy of Tesseract's line s without its trailing newline, its
 * outer spaces, and the spaces it puts between CJK characters; NULL when
 * nothing but spaces is left. */
static char *tidy_line(const char *s)
{
    size_t n = strlen(s);
    dq_buf out = DQ_BUF_INIT;
    uint32_t prev = 0; /* the last non-space character written */
    size_t pending = 0; /* spaces seen since it */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (k < 0) {
            i++;
            continue;
        }
        if (cp == ' ' || cp == '\n' || cp == '\r' || cp == '\t') {
            pending++;
            i += (size_t)k;
            continue;
        }
        if (pending && prev && !(cjk_like(prev) && cjk_like(cp)))
            dq_buf_putc(&out, ' ');
        pending = 0;
        dq_buf_append(&out, s + i, (size_t)k);
        prev = cp;
        i += (size_t)k;
    }
    if (out.len == 0) {
        dq_buf_free(&out);
        return NULL;
    }
    return dq_buf_take(&out);
}

static size_t count_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s != ' ' && ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Moves what Tesseract recognized into page (lines in points, from the
 * pixmap's origin at page coordinates origin, one block per paragraph);
 * returns the non-space characters added. */
static size_t take_lines(TessBaseAPI *api, ingest_raw_page *page, float scale, fz_point origin)
{
    TessResultIterator *ri = tess.get_iterator(api);
    if (!ri)
        return 0;
    TessPageIterator *pi = tess.page_iterator(ri);
    size_t chars = 0;
    ingest_block *block = NULL;
    do {
        if (tess.at_beginning_of(pi, RIL_PARA))
            block = NULL;
        char *raw = tess.utf8_text(ri, RIL_TEXTLINE);
        char *text = raw ? tidy_line(raw) : NULL;
        tess.delete_text(raw);
        if (!text)
            continue;
        int l = 0, t = 0, r = 0, b = 0;
        tess.bounding_box(pi, RIL_TEXTLINE, &l, &t, &r, &b);
        if (!block)
            block = raw_add_block(page);
        chars += count_chars(text);
        ingest_line *line = raw_add_line(block, text);
        line->x0 = origin.x + (float)l / scale;
        line->y0 = origin.y + (float)t / scale;
        line->x1 = origin.x + (float)r / scale;
        line->y1 = origin.y + (float)b / scale;
    } while (tess.next(ri, RIL_TEXTLINE));
    tess.iterator_delete(ri);
    return chars;
}

/* ---- workers ------------------------------------------------------------ */

typedef struct {
    /* Read-only while workers run. */
    const char *path, *password;
    const ocr_params *params;
    ingest_raw_doc *doc;
    const int *targets; /* (n_targets) indexes into doc->pages */
    int n_targets;
    /* Under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int next;        /* next index into targets */
    int done;        /* pages finished */
    int running;     /* workers not yet exited */
    bool stop;       /* interrupted, or a worker could not start */
    char error[256]; /* why a worker could not start, "" when all did */
    long chars;      /* non-space characters recognized */
} ocr_job;

static void quiet(void *user, const char *message)
{
    (void)user;
    (void)message;
}

static void job_fail(ocr_job *job, const char *fmt, const char *arg)
{
    pthread_mutex_lock(&job->mu);
    if (!job->error[0])
        snprintf(job->error, sizeof job->error, fmt, arg);
    job->stop = true;
    pthread_mutex_unlock(&job->mu);
}

/* Renders page i grey at the job's resolution (less for a huge page);
 * *origin gets the page coordinates of the pixmap's top-left corner. */
static fz_pixmap *render_page(fz_context *ctx, fz_document *mdoc, int i, int dpi, float *scale,
                              fz_point *origin)
{
    fz_page *page = fz_load_page(ctx, mdoc, i);
    fz_pixmap *pix = NULL;
    fz_try(ctx)
    {
        fz_rect b = fz_bound_page(ctx, page);
        double w = b.x1 - b.x0, h = b.y1 - b.y0;
        double s = dpi / 72.0;
        if (w * s * h * s > MAX_PIXELS)
            s = sqrt(MAX_PIXELS / (w * h));
        if (w * s > MAX_SIDE)
            s = MAX_SIDE / w;
        if (h * s > MAX_SIDE)
            s = MAX_SIDE / h;
        *scale = (float)s;
        *origin = fz_make_point(b.x0, b.y0);
        pix = fz_new_pixmap_from_page(ctx, page, fz_scale((float)s, (float)s), fz_device_gray(ctx),
                                      0);
    }
    fz_always(ctx) fz_drop_page(ctx, page);
    fz_catch(ctx) fz_rethrow(ctx);
    return pix;
}

/* OCRs one page into doc; a page MuPDF cannot render is left as it was, and
 * so is a page with a text layer where OCR finds nothing (--ocr always). */
static void read_page(fz_context *ctx, fz_document *mdoc, TessBaseAPI *api, ocr_job *job, int i)
{
    ingest_raw_page *page = &job->doc->pages[i];
    fz_pixmap *pix = NULL;
    float scale = 1;
    fz_point origin = {0, 0};
    fz_var(pix);
    fz_try(ctx) pix = render_page(ctx, mdoc, i, job->params->dpi, &scale, &origin);
    fz_catch(ctx) return;
    int w = fz_pixmap_width(ctx, pix), h = fz_pixmap_height(ctx, pix);
    tess.set_image(api, fz_pixmap_samples(ctx, pix), w, h, 1, (int)fz_pixmap_stride(ctx, pix));
    tess.set_source_resolution(api, (int)(scale * 72 + 0.5f));
    size_t chars = 0;
    int conf = 0;
    if (tess.recognize(api, NULL) == 0) {
        ingest_raw_page got = {.number = page->number};
        chars = take_lines(api, &got, scale, origin);
        conf = tess.mean_text_conf(api);
        if (chars > 0) {
            raw_clear_page(page);
            page->blocks = got.blocks;
            page->n_blocks = got.n_blocks;
            page->ocr = 1;
            page->ocr_conf = (float)conf;
        } else {
            raw_clear_page(&got);
            if (page->n_blocks == 0)
                page->ocr = -1;
        }
    }
    tess.clear(api);
    fz_drop_pixmap(ctx, pix);
    pthread_mutex_lock(&job->mu);
    job->chars += (long)chars;
    pthread_mutex_unlock(&job->mu);
}

static void *worker(void *arg)
{
    ocr_job *job = arg;
    /* Tesseract's LSTM asks OpenMP for 10 threads per line; with a worker
     * per core they only fight over the cores (3.3-3.8x the CPU time for the
     * same pages, measured). A parallel region at or past this thread's
     * max-active-levels gets one thread, and the setting is per thread, so
     * nothing outside the workers changes. */
    if (tess.omp_set_max_active_levels)
        tess.omp_set_max_active_levels(0);
    /* The counting allocator without a cap, for its zeroed small blocks:
     * MuPDF's page-tree walk reads one it never filled (memcap.h). The text
     * pass has held the document under the cap. */
    memcap mem = memcap_make(0);
    fz_context *ctx = memcap_new_context(&mem, 64 << 20);
    fz_document *mdoc = NULL;
    TessBaseAPI *api = NULL;
    if (!ctx) {
        job_fail(job, "%s", dq_last_error());
        goto out;
    }
    fz_set_warning_callback(ctx, quiet, NULL);
    fz_set_error_callback(ctx, quiet, NULL);
    fz_var(mdoc);
    fz_try(ctx)
    {
        fz_register_document_handlers(ctx);
        mdoc = fz_open_document(ctx, job->path);
        if (fz_needs_password(ctx, mdoc) &&
            !fz_authenticate_password(ctx, mdoc, job->password ? job->password : ""))
            fz_throw(ctx, FZ_ERROR_GENERIC, "wrong password");
    }
    fz_catch(ctx)
    {
        job_fail(job, "cannot reopen for OCR: %s", fz_caught_message(ctx));
        goto out;
    }
    api = tess.create();
    /* Tesseract's own diagnostics would go to stderr; library code is quiet. */
    tess.set_variable(api, "debug_file", "/dev/null");
    if (tess.init3(api, NULL, job->params->langs) != 0) {
        job_fail(job,
                 "cannot load OCR languages '%s' (install tesseract-ocr-<lang>, or set "
                 "--ocr-lang)",
                 job->params->langs);
        goto out;
    }
    tess.set_variable(api, "debug_file", "/dev/null");
    for (;;) {
        pthread_mutex_lock(&job->mu);
        int k = job->stop || job->next >= job->n_targets ? -1 : job->next++;
        pthread_mutex_unlock(&job->mu);
        if (k < 0)
            break;
        read_page(ctx, mdoc, api, job, job->targets[k]);
        pthread_mutex_lock(&job->mu);
        job->done++;
        pthread_cond_signal(&job->cv);
        pthread_mutex_unlock(&job->mu);
    }
out:
    if (api) {
        tess.end(api);
        tess.destroy(api);
    }
    if (ctx)
        fz_drop_document(ctx, mdoc);
    memcap_drop_context(&mem, ctx);
    pthread_mutex_lock(&job->mu);
    job->running--;
    pthread_cond_signal(&job->cv);
    pthread_mutex_unlock(&job->mu);
    return NULL;
}

/* Tesseract takes languages as "name+name"; anything else is a typo, and a
 * path separator would read files outside tessdata. */
static bool langs_valid(const char *langs)
{
    if (!langs || !*langs || *langs == '+')
        return false;
    for (const char *s = langs; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (c == '+' && s[1] && s[1] != '+');
        if (!ok)
            return false;
    }
    return true;
}

long ocr_document(const char *path, const char *password, const ocr_params *ocr,
                  ingest_raw_doc *doc, int *n_empty)
{
    *n_empty = 0;
    if (!ocr || ocr->mode == OCR_NEVER)
        return 0;
    int *targets = dq_calloc(doc->n_pages ? doc->n_pages : 1, sizeof *targets);
    int n = 0;
    for (size_t i = 0; i < doc->n_pages; i++)
        if (ocr->mode == OCR_ALWAYS || doc->pages[i].scanned || doc->pages[i].unreadable)
            targets[n++] = (int)i;
    if (n == 0) {
        free(targets);
        return 0;
    }
    if (!langs_valid(ocr->langs)) {
        dq_set_error("bad OCR languages '%s' (want names joined by '+', as chi_sim+eng)",
                     ocr->langs ? ocr->langs : "");
        free(targets);
        return -1;
    }
    pthread_once(&tess_once, load_tess);
    if (tess_error[0]) {
        dq_set_error("%s", tess_error);
        free(targets);
        return -1;
    }
    ocr_job job = {.path = path,
                   .password = password,
                   .params = ocr,
                   .doc = doc,
                   .targets = targets,
                   .n_targets = n};
    pthread_mutex_init(&job.mu, NULL);
    pthread_cond_init(&job.cv, NULL);

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n_workers = ocr->threads > 0 ? ocr->threads : cores > 0 ? (int)cores : 1;
    if (n_workers > n)
        n_workers = n;
    pthread_t *tids = dq_calloc((size_t)n_workers, sizeof *tids);
    int started = 0;
    for (int w = 0; w < n_workers; w++) {
        pthread_mutex_lock(&job.mu);
        job.running++;
        pthread_mutex_unlock(&job.mu);
        if (pthread_create(&tids[w], NULL, worker, &job) != 0) {
            pthread_mutex_lock(&job.mu);
            job.running--;
            pthread_mutex_unlock(&job.mu);
            break;
        }
        started++;
    }
    bool interrupted = false;
    if (started == 0)
        snprintf(job.error, sizeof job.error, "cannot start an OCR thread");
    pthread_mutex_lock(&job.mu);
    int reported = -1;
    while (job.running > 0) {
        if (job.done != reported && ocr->progress) {
            reported = job.done;
            pthread_mutex_unlock(&job.mu);
            int stop = ocr->progress(ocr->user, reported, n);
            pthread_mutex_lock(&job.mu);
            if (stop) {
                job.stop = true;
                interrupted = true;
            }
            continue;
        }
        pthread_cond_wait(&job.cv, &job.mu);
    }
    pthread_mutex_unlock(&job.mu);
    for (int w = 0; w < started; w++)
        pthread_join(tids[w], NULL);
    if (ocr->progress && !interrupted && reported != job.done)
        ocr->progress(ocr->user, job.done, n);
    free(tids);
    pthread_cond_destroy(&job.cv);
    pthread_mutex_destroy(&job.mu);

    long rc = job.chars;
    if (interrupted) {
        dq_set_error("interrupted");
        rc = -1;
    } else if (job.error[0]) {
        dq_set_error("%s", job.error);
        rc = -1;
    }
    for (int k = 0; k < n; k++)
        *n_empty += doc->pages[targets[k]].ocr == -1;
    free(targets);
    return rc;
}
