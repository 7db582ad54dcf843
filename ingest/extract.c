/* extract.c - ingest_extract(): lines with font size and weight from MuPDF's structured text.
 *
 * Each call makes its own fz_context (no shared store, so calls on different
 * threads never meet) and silences MuPDF's warning and error printers; the
 * last warning is kept to explain a failure. Pages go through the structured
 * text device only (nothing is rendered); each MuPDF text block becomes an
 * ingest_block and each line an ingest_line whose text is built in one reused
 * buffer. Dehyphenation is left off: cleanup joins hyphenated words itself.
 */
#include "ingest/ocr.h"
#include "ingest/quality.h"
#include "ingest/tables.h"
#include "ingest/memcap.h"
#include "ingest/office.h"
#include "ingest/pages.h"
#include "ingest/raw.h"
#include "ingest/watchdog.h"

#include "common/common.h"

#include <mupdf/fitz.h>
#include <mupdf/pdf.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char warning[256]; /* the last MuPDF warning, "" when none */
} mu_log;

static void on_warning(void *user, const char *message)
{
    mu_log *mlog = user;
    snprintf(mlog->warning, sizeof mlog->warning, "%s", message);
}

/* MuPDF reports every throw here before unwinding; fz_caught_message() gives
 * the same text to the catch block, so there is nothing to keep. */
static void on_error(void *user, const char *message)
{
    (void)user;
    (void)message;
}

/* Font sizes of one line with their character counts; lines rarely mix more
 * than a few sizes, and sizes past the table's end are simply not counted. */
typedef struct {
    float size[8];
    size_t count[8];
    int n;
} size_tally;

static void tally_size(size_tally *t, float size)
{
    for (int i = 0; i < t->n; i++) {
        if (fabsf(t->size[i] - size) < 0.05f) {
            t->count[i]++;
            return;
        }
    }
    if (t->n < 8) {
        t->size[t->n] = size;
        t->count[t->n++] = 1;
    }
}

static float tally_dominant(const size_tally *t)
{
    float best = 0;
    size_t best_n = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->count[i] > best_n) {
            best_n = t->count[i];
            best = t->size[i];
        }
    }
    return best;
}

static bool font_is_bold(fz_context *ctx, fz_font *font)
{
    if (!font)
        return false;
    if (fz_font_is_bold(ctx, font))
        return true;
    const char *name = fz_font_name(ctx, font);
    return name && (strstr(name, "Bold") || strstr(name, "Heavy") || strstr(name, "Black") ||
                    strstr(name, "bold"));
}

/* Characters that never belong in extracted text: controls, U+FFFD (MuPDF's
 * marker for a glyph with no Unicode mapping), surrogates and non-characters. */
static bool keep_char(int c)
{
    if (c < 0x20 || (c >= 0x7F && c < 0xA0))
        return false;
    if (c == 0xFFFD || c == 0xFEFF || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return false;
    return true;
}

static bool font_is_cjk(fz_context *ctx, fz_font *font)
{
    return font && (fz_font_flags(font)->cjk || quality_cjk_font_name(fz_font_name(ctx, font)));
}

/* What the text pass knows of the fonts it met last: their names are read
 * once per font, not at every change of font within a line (a page's lines
 * switch between a few fonts all the time). Each font is kept, so its
 * address cannot come back as another font's. */
enum { FONT_CACHE_SIZE = 16 };
typedef struct {
    fz_font *font[FONT_CACHE_SIZE];
    bool bold[FONT_CACHE_SIZE], cjk[FONT_CACHE_SIZE];
    int n, next; /* entries in use; the one to replace next */
} font_cache;

/* The entry of font in fc, made when it has none. Never throws. */
static int font_cache_find(fz_context *ctx, font_cache *fc, fz_font *font)
{
    for (int i = 0; i < fc->n; i++)
        if (fc->font[i] == font)
            return i;
    int i = fc->n < FONT_CACHE_SIZE ? fc->n++ : fc->next;
    fc->next = (i + 1) % FONT_CACHE_SIZE;
    fz_drop_font(ctx, fc->font[i]);
    fc->font[i] = fz_keep_font(ctx, font);
    fc->bold[i] = font_is_bold(ctx, font);
    fc->cjk[i] = font_is_cjk(ctx, font);
    return i;
}

static void font_cache_clear(fz_context *ctx, font_cache *fc)
{
    for (int i = 0; i < fc->n; i++)
        fz_drop_font(ctx, fc->font[i]);
    memset(fc, 0, sizeof *fc);
}

/* Whether ch lies wholly off page (MuPDF's page space). MuPDF's own test
 * (FZ_STEXT_MEDIABOX_CLIP) bounds every glyph's outline, a tenth of the
 * whole extraction; the quad the stext page already holds (the glyph's
 * advance box) says the same for text set off the page. A glyph cut by the
 * page's edge stays while its advance box reaches the page (MuPDF asked the
 * same of its outline: 3 lines of the bench corpus's 1,271 pages differ). */
static bool char_off_page(const fz_stext_char *ch, fz_rect page)
{
    /* Corner by corner: the first corner decides for most characters. */
    const fz_quad *q = &ch->quad;
    return (q->ll.x <= page.x0 && q->lr.x <= page.x0 && q->ul.x <= page.x0 &&
            q->ur.x <= page.x0) ||
           (q->ll.x >= page.x1 && q->lr.x >= page.x1 && q->ul.x >= page.x1 &&
            q->ur.x >= page.x1) ||
           (q->ll.y <= page.y0 && q->lr.y <= page.y0 && q->ul.y <= page.y0 &&
            q->ur.y <= page.y0) ||
           (q->ll.y >= page.y1 && q->lr.y >= page.y1 && q->ul.y >= page.y1 &&
            q->ur.y >= page.y1);
}

/* MuPDF 1.21's fz_rect_from_quad() and fz_union_rect(), the same
 * comparisons in the same order (fz_min() and fz_max() are its inline
 * ones), inline: convert_page() bounds each line with them for every
 * character, as the stext device's close would have (load_stext() leaves
 * that pass out), and the calls were most of its cost. */
static inline fz_rect quad_box(const fz_quad *q)
{
    return (fz_rect){fz_min(fz_min(q->ll.x, q->lr.x), fz_min(q->ul.x, q->ur.x)),
                     fz_min(fz_min(q->ll.y, q->lr.y), fz_min(q->ul.y, q->ur.y)),
                     fz_max(fz_max(q->ll.x, q->lr.x), fz_max(q->ul.x, q->ur.x)),
                     fz_max(fz_max(q->ll.y, q->lr.y), fz_max(q->ul.y, q->ur.y))};
}

static inline fz_rect box_union(fz_rect a, fz_rect b)
{
    if (!fz_is_valid_rect(b))
        return a;
    if (!fz_is_valid_rect(a))
        return b;
    if (fz_is_infinite_rect(a))
        return a;
    if (fz_is_infinite_rect(b))
        return b;
    if (a.x0 > b.x0)
        a.x0 = b.x0;
    if (a.y0 > b.y0)
        a.y0 = b.y0;
    if (a.x1 < b.x1)
        a.x1 = b.x1;
    if (a.y1 < b.y1)
        a.y1 = b.y1;
    return a;
}

/* Whether box, a quad_box(), overlaps page: then its quad is not off the
 * page (char_off_page() is false), as each of its edges is one of the
 * quad's corners; a NaN edge decides nothing. Most characters are decided
 * here, without char_off_page()'s sixteen comparisons. */
static inline bool box_overlaps(fz_rect box, fz_rect page)
{
    return box.x1 > page.x0 && box.x0 < page.x1 && box.y1 > page.y0 && box.y0 < page.y1;
}

/* The box of ln's characters on page, as MuPDF bounds a line (the union of
 * its characters' quads), for a line some of whose characters were off it. */
static fz_rect line_box_on_page(const fz_stext_line *ln, fz_rect page)
{
    fz_rect box = fz_empty_rect;
    for (const fz_stext_char *ch = ln->first_char; ch; ch = ch->next)
        if (!char_off_page(ch, page))
            box = box_union(box, quad_box(&ch->quad));
    return box;
}

/* Appends the text blocks of st to page, counting every character as it
 * came into q (U+FFFD and controls too, which are left out); characters off
 * the page are not read. Each line's box is the union of its characters'
 * quads, as MuPDF's fz_stext_close_device() makes it, or of those on the
 * page when some are off it. Never throws. */
static void convert_page(fz_context *ctx, fz_stext_page *st, ingest_raw_page *page, dq_buf *lb,
                         font_cache *fonts, extract_stats *stats, text_quality *q)
{
    fz_font *last_font = NULL;
    bool last_bold = false, last_cjk = false;
    for (fz_stext_block *b = st->first_block; b; b = b->next) {
        if (b->type == FZ_STEXT_BLOCK_IMAGE) {
            stats->images++;
            continue;
        }
        if (b->type != FZ_STEXT_BLOCK_TEXT)
            continue;
        ingest_block *block = NULL;
        for (fz_stext_line *ln = b->u.t.first_line; ln; ln = ln->next) {
            dq_buf_clear(lb);
            size_tally sizes = {{0}, {0}, 0};
            size_t n_bold = 0, n_chars = 0;
            bool clipped = false;
            fz_rect line_box = fz_empty_rect;
            for (fz_stext_char *ch = ln->first_char; ch; ch = ch->next) {
                fz_rect ch_box = quad_box(&ch->quad);
                line_box = ch == ln->first_char ? ch_box : box_union(line_box, ch_box);
                if (!box_overlaps(ch_box, st->mediabox) && char_off_page(ch, st->mediabox)) {
                    clipped = true;
                    continue;
                }
                if (ch->font != last_font) {
                    int f = font_cache_find(ctx, fonts, ch->font);
                    last_font = ch->font;
                    last_bold = fonts->bold[f];
                    last_cjk = fonts->cjk[f];
                }
                if (ch->c >= 0)
                    quality_add_char(q, (uint32_t)ch->c, last_cjk);
                page->dropped += ch->c == 0xFFFD;
                if (!keep_char(ch->c))
                    continue;
                /* Bytes straight into the line's buffer: this runs for every character. */
                if (lb->len + 4 >= lb->cap)
                    dq_buf_reserve(lb, 4);
                lb->len += (size_t)utf8_encode((uint32_t)ch->c, lb->data + lb->len);
                if (ch->c == ' ' || ch->c == 0xA0 || ch->c == 0x3000)
                    continue;
                n_chars++;
                tally_size(&sizes, ch->size);
                n_bold += last_bold;
            }
            quality_end_word(q);
            if (lb->data) /* dq_buf's terminator, which the bytes above skipped */
                lb->data[lb->len] = '\0';
            if (n_chars == 0)
                continue;
            const char *s = lb->data;
            size_t n = lb->len;
            while (n > 0 && *s == ' ')
                s++, n--;
            while (n > 0 && s[n - 1] == ' ')
                n--;
            if (!block)
                block = raw_add_block(page);
            ingest_line *line = raw_add_line(block, dq_strndup(s, n));
            line->size = tally_dominant(&sizes);
            line->bold = 2 * n_bold > n_chars;
            fz_rect box = clipped ? line_box_on_page(ln, st->mediabox) : line_box;
            line->x0 = box.x0;
            line->y0 = box.y0;
            line->x1 = box.x1;
            line->y1 = box.y1;
            stats->chars += n_chars;
        }
    }
}

/* Takes the text of every page whose text layer is not its text (quality.c)
 * out of doc, leaving the page marked for OCR; page_chars (n_pages) are the
 * characters each page kept, taken off *chars. Returns the reason of the
 * first such page, NULL when there is none; *n_unreadable counts them. */
static const char *drop_unreadable(ingest_raw_doc *doc, const text_quality *quality,
                                   const size_t *page_chars, size_t *chars, int *n_unreadable)
{
    text_quality total = {0};
    for (size_t i = 0; i < doc->n_pages; i++)
        quality_sum(&total, &quality[i]);
    const char *first = NULL;
    *n_unreadable = 0;
    for (size_t i = 0; i < doc->n_pages; i++) {
        ingest_raw_page *page = &doc->pages[i];
        const char *why = quality_verdict(&quality[i], &total);
        if (!why)
            continue;
        raw_clear_page(page);
        page->unreadable = why;
        page->dropped = 0;
        *chars -= page_chars[i];
        if ((*n_unreadable)++ == 0)
            first = why;
    }
    return first;
}

/* fz_lookup_metadata() that returns -1 instead of throwing. */
static int lookup_meta(fz_context *ctx, fz_document *doc, const char *key, char *buf, int size)
{
    int need = -1;
    fz_var(need);
    fz_try(ctx)
        need = fz_lookup_metadata(ctx, doc, key, buf, size);
    fz_catch(ctx)
        need = -1;
    return need;
}

/* The document's title from its metadata, or NULL. */
static char *lookup_title(fz_context *ctx, fz_document *doc)
{
    char small[512];
    char *buf = small;
    int need = lookup_meta(ctx, doc, FZ_META_INFO_TITLE, small, sizeof small);
    if (need <= 1)
        return NULL;
    if (need > (int)sizeof small) {
        buf = dq_malloc((size_t)need);
        if (lookup_meta(ctx, doc, FZ_META_INFO_TITLE, buf, need) < 0)
            buf[0] = '\0';
    }
    const char *s = buf;
    size_t n = strlen(buf);
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char *title = n ? utf8_sanitize(s, n) : NULL;
    if (buf != small)
        free(buf);
    return title;
}

/* Opens path and unlocks it; returns the document, or NULL with the error set. */
static fz_document *open_document(fz_context *ctx, const char *path, const char *password,
                                  int *n_pages)
{
    fz_document *doc = NULL;
    fz_var(doc);
    fz_try(ctx)
    {
        fz_register_document_handlers(ctx);
        doc = fz_open_document(ctx, path);
        if (fz_needs_password(ctx, doc)) {
            if (!password || !*password)
                fz_throw(ctx, FZ_ERROR_GENERIC, "\001file is encrypted (use --password)");
            if (!fz_authenticate_password(ctx, doc, password))
                fz_throw(ctx, FZ_ERROR_GENERIC, "\001wrong password");
        }
        *n_pages = fz_count_pages(ctx, doc);
    }
    fz_catch(ctx)
    {
        /* A leading \001 marks our own reasons, which are not damage. */
        const char *msg = fz_caught_message(ctx);
        if (msg[0] == '\001')
            dq_set_error("%s", msg + 1);
        else
            dq_set_error("damaged file: %s", msg);
        fz_drop_document(ctx, doc);
        return NULL;
    }
    return doc;
}

/* Runs the contents of PDF page pageobj, whose transform is ctm (from
 * pdf_page_obj_transform), through dev, as fz_run_page_contents() does,
 * without loading the page: MuPDF's pdf_load_page() parses every link
 * and annotation of the page (their destinations too), about a twentieth of
 * the extraction, and the contents never look at them. The same transform,
 * resources, default colour spaces and output intent as MuPDF's own run;
 * what is left out is the page's transparency group, which only brackets the
 * contents for a renderer (text and rules pass through it unchanged).
 * Throws as MuPDF does. */
static void run_pdf_page_contents(fz_context *ctx, pdf_document *pdoc, pdf_obj *pageobj,
                                  fz_matrix ctm, fz_device *dev, fz_cookie *cookie)
{
    pdf_obj *resources = pdf_dict_get_inheritable(ctx, pageobj, PDF_NAME(Resources));
    pdf_obj *contents = pdf_dict_get(ctx, pageobj, PDF_NAME(Contents));
    fz_default_colorspaces *none = fz_new_default_colorspaces(ctx);
    fz_default_colorspaces *cs = NULL;
    pdf_processor *proc = NULL;
    fz_var(cs);
    fz_var(proc);
    fz_try(ctx)
    {
        cs = pdf_update_default_colorspaces(ctx, none, resources);
        fz_colorspace *intent = pdf_document_output_intent(ctx, pdoc);
        if (intent)
            fz_set_default_output_intent(ctx, cs, intent);
        fz_set_default_colorspaces(ctx, dev, cs);
        proc = pdf_new_run_processor(ctx, dev, ctm, "View", NULL, cs, cookie);
        pdf_process_contents(ctx, proc, pdoc, resources, contents, cookie);
        pdf_close_processor(ctx, proc);
    }
    fz_always(ctx)
    {
        pdf_drop_processor(ctx, proc);
        fz_drop_default_colorspaces(ctx, cs);
        fz_drop_default_colorspaces(ctx, none);
    }
    fz_catch(ctx)
        fz_rethrow(ctx);
}

/* The structured text of page i and its size, or NULL with the reason in
 * err when the page throws. What fz_new_stext_page_from_page() does, with a
 * cookie, so the time budget's watchdog can stop a page half-way. */
static fz_stext_page *load_stext(fz_context *ctx, fz_document *doc, int i,
                                 const fz_stext_options *opts, fz_cookie *cookie, fz_rect *bounds,
                                 table_rules *rules, char *err, size_t err_size)
{
    pdf_document *pdoc = pdf_specifics(ctx, doc);
    pdf_obj *pageobj = NULL; /* borrowed from the document */
    fz_page *page = NULL;
    fz_stext_page *st = NULL;
    fz_device *dev = NULL, *tdev = NULL;
    fz_matrix ctm = fz_identity; /* a PDF page's, read once for its size and its run */
    fz_var(pageobj);
    fz_var(page);
    fz_var(st);
    fz_var(dev);
    fz_var(tdev);
    fz_try(ctx)
    {
        if (pdoc) {
            fz_rect mediabox;
            pageobj = pdf_lookup_page_obj(ctx, pdoc, i);
            pdf_page_obj_transform(ctx, pageobj, &mediabox, &ctm);
            *bounds = fz_transform_rect(mediabox, ctm);
        } else {
            page = fz_load_page(ctx, doc, i);
            *bounds = fz_bound_page(ctx, page);
        }
        st = fz_new_stext_page(ctx, *bounds);
        dev = fz_new_stext_device(ctx, st, opts);
        /* One pass: text goes on to the stext device, ruling lines stay. */
        tdev = tables_new_device(ctx, dev, *bounds, rules);
        if (pdoc)
            run_pdf_page_contents(ctx, pdoc, pageobj, ctm, tdev, cookie);
        else
            fz_run_page_contents(ctx, page, tdev, fz_identity, cookie);
        fz_close_device(ctx, tdev);
#if FZ_VERSION_MAJOR == 1 && FZ_VERSION_MINOR == 21
        /* MuPDF 1.21's stext close only bounds each line and block by its
         * characters, one more walk over all of them: convert_page() bounds
         * the lines on its own walk, and nothing reads a text block's box.
         * Marked closed, the device drops without MuPDF's warning. Other
         * versions' close may do more, so they get it. */
        dev->close_device = NULL;
#else
        fz_close_device(ctx, dev);
#endif
    }
    fz_always(ctx)
    {
        fz_drop_device(ctx, tdev);
        fz_drop_device(ctx, dev);
        fz_drop_page(ctx, page);
    }
    fz_catch(ctx)
    {
        fz_drop_stext_page(ctx, st);
        snprintf(err, err_size, "%s", fz_caught_message(ctx));
        return NULL;
    }
    return st;
}

/* A PDF's text pass is split only past this many pages per part: fewer
 * would cost more in opening the file again than they save. */
enum { MIN_PART_PAGES = 16, MAX_PARTS = 64 };

/* The text pass over pages [from, to) of doc (n_pages in all) into out:
 * each page's lines, ruling lines, character counts and scan mark, under
 * the time, memory and per-page limits. -1 with the error set. */
static int text_pass(fz_context *ctx, fz_document *doc, const ingest_params *params,
                     const memcap *mem, int from, int to, int n_pages, page_part *out)
{
    size_t n = to > from ? (size_t)(to - from) : 0;
    out->rules = dq_calloc(n ? n : 1, sizeof *out->rules);
    out->quality = dq_calloc(n ? n : 1, sizeof *out->quality);
    out->page_chars = dq_calloc(n ? n : 1, sizeof *out->page_chars);
    out->loaded = dq_calloc(n ? n : 1, sizeof *out->loaded);
    out->n_alloc = n;
    /* Images are kept only to be counted: a document of images with no text
     * is a scan, which deserves a different message than an empty one. Text
     * off the page is dropped in convert_page(), not by MuPDF. */
    fz_stext_options opts = {.flags = FZ_STEXT_PRESERVE_IMAGES};
    extract_stats *stats = &out->stats;
    dq_buf lb = DQ_BUF_INIT;
    font_cache fonts = {0};
    fz_cookie cookie = {0};
    double t0 = dq_now();
    watchdog *wd = watchdog_start(params->max_seconds, &cookie.abort);
    const char *over = NULL; /* the limit that stopped the document */
    for (int i = from; i < to && !over; i++) {
        if (params->max_seconds > 0 && dq_now() - t0 > params->max_seconds) {
            over = "time";
            break;
        }
        size_t k = (size_t)(i - from);
        fz_rect bounds = fz_empty_rect;
        char err[256];
        size_t chars_before = stats->chars;
        fz_stext_page *st =
            load_stext(ctx, doc, i, &opts, &cookie, &bounds, &out->rules[k], err, sizeof err);
        if (__atomic_load_n(&cookie.abort, __ATOMIC_RELAXED)) {
            fz_drop_stext_page(ctx, st);
            over = "time";
            break;
        }
        if (mem->hit) {
            fz_drop_stext_page(ctx, st);
            over = "memory";
            break;
        }
        /* One broken page must not cost the rest: it stays, empty. */
        if (!st && stats->failed_pages++ == 0)
            snprintf(stats->first_error, sizeof stats->first_error, "%s", err);
        ingest_raw_page *rp = raw_add_page(&out->raw, i + 1);
        if (!fz_is_empty_rect(bounds)) {
            rp->width = bounds.x1 - bounds.x0;
            rp->height = bounds.y1 - bounds.y0;
        }
        if (st) {
            convert_page(ctx, st, rp, &lb, &fonts, stats, &out->quality[k]);
            out->page_chars[k] = stats->chars - chars_before;
            out->loaded[k] = true;
            rp->scanned = ocr_page_is_scan(st, bounds, stats->chars - chars_before);
            fz_drop_stext_page(ctx, st);
        }
        if (params->max_page_chars > 0 &&
            stats->chars - chars_before > (size_t)params->max_page_chars) {
            dq_set_error("page %d has %zu characters, over the limit of %ld per page "
                         "(--max-page-chars)",
                         i + 1, stats->chars - chars_before, params->max_page_chars);
            over = "chars";
        }
    }
    watchdog_stop(wd);
    font_cache_clear(ctx, &fonts);
    dq_buf_free(&lb);
    if (over && !strcmp(over, "time"))
        dq_set_error("extraction stopped on page %zu of %d after %.1f s, over the time limit "
                     "of %g s per document (--time-limit)",
                     (size_t)from + out->raw.n_pages + 1, n_pages, dq_now() - t0,
                     params->max_seconds);
    return over ? -1 : 0;
}

void page_part_free(page_part *p)
{
    if (!p)
        return;
    ingest_raw_doc_free(&p->raw);
    for (size_t i = 0; p->rules && i < p->n_alloc; i++)
        table_rules_free(&p->rules[i]);
    free(p->rules);
    free(p->quality);
    free(p->page_chars);
    free(p->loaded);
    memset(p, 0, sizeof *p);
}

/* Appends part's pages to whole (which takes them over) and adds its
 * counts; both are whole ranges read without failing (n_alloc == n_pages). */
static void part_join(page_part *whole, page_part *part)
{
    size_t n = whole->raw.n_pages, m = part->raw.n_pages;
    whole->rules = dq_realloc(whole->rules, (n + m ? n + m : 1) * sizeof *whole->rules);
    whole->quality = dq_realloc(whole->quality, (n + m ? n + m : 1) * sizeof *whole->quality);
    whole->page_chars =
        dq_realloc(whole->page_chars, (n + m ? n + m : 1) * sizeof *whole->page_chars);
    whole->loaded = dq_realloc(whole->loaded, (n + m ? n + m : 1) * sizeof *whole->loaded);
    memcpy(whole->rules + n, part->rules, m * sizeof *part->rules);
    memcpy(whole->quality + n, part->quality, m * sizeof *part->quality);
    memcpy(whole->page_chars + n, part->page_chars, m * sizeof *part->page_chars);
    memcpy(whole->loaded + n, part->loaded, m * sizeof *part->loaded);
    whole->n_alloc = n + m;
    part->n_alloc = 0; /* its rules are whole's now */
    raw_move_pages(&whole->raw, &part->raw);
    whole->stats.chars += part->stats.chars;
    whole->stats.images += part->stats.images;
    if (part->stats.failed_pages && !whole->stats.failed_pages)
        memcpy(whole->stats.first_error, part->stats.first_error,
               sizeof whole->stats.first_error);
    whole->stats.failed_pages += part->stats.failed_pages;
    if (part->warning[0])
        memcpy(whole->warning, part->warning, sizeof whole->warning);
    page_part_free(part);
}

/* The passes over the whole document, in page order: tables that continue
 * across pages, text layers that are not the text, OCR, and the verdict on
 * a document without text. whole's pages move to out. */
static int whole_document(const char *path, const ingest_params *params, int n_pages,
                          page_part *whole, ingest_raw_doc *out)
{
    tables_state tables = {0};
    for (size_t i = 0; i < whole->raw.n_pages; i++)
        if (whole->loaded[i])
            tables_detect(&whole->raw.pages[i], &whole->rules[i], &tables);
    tables_state_free(&tables);
    raw_move_pages(out, &whole->raw);
    extract_stats *stats = &whole->stats;
    int n_unreadable = 0;
    const char *unreadable =
        drop_unreadable(out, whole->quality, whole->page_chars, &stats->chars, &n_unreadable);

    /* OCR reopens the file on its own threads once the text pass is done. */
    int ocr_empty = 0;
    long ocr_chars = ocr_document(path, params->password, params->ocr, out, &ocr_empty);
    if (ocr_chars < 0)
        return -1;
    stats->chars += (size_t)ocr_chars;

    /* MuPDF repairs a truncated or broken file and hands back pages with
     * zero characters instead of failing, so no text at all is an error. */
    if (stats->chars > 0)
        return 0;
    if (n_pages > 0 && stats->failed_pages == n_pages)
        dq_set_error("damaged file: %s", stats->first_error);
    else if (unreadable && n_pages == 1 && (!params->ocr || params->ocr->mode == OCR_NEVER))
        dq_set_error("text layer unreadable (%s); run with --ocr auto", unreadable);
    else if (unreadable && (!params->ocr || params->ocr->mode == OCR_NEVER))
        dq_set_error("text layer unreadable on %s%d page%s (%s); run with --ocr auto",
                     n_unreadable == n_pages ? "all " : "", n_unreadable,
                     n_unreadable == 1 ? "" : "s", unreadable);
    else if (ocr_empty > 0)
        dq_set_error("OCR found no text on %d scanned page%s", ocr_empty,
                     ocr_empty == 1 ? "" : "s");
    else if (stats->images > 0 && params->ocr && params->ocr->mode == OCR_NEVER)
        dq_set_error("no text layer (scanned images?); OCR is off (--ocr never)");
    else if (stats->images > 0 && params->ocr)
        dq_set_error("no text layer, and no page is mostly image to OCR");
    else if (stats->images > 0)
        dq_set_error("no text layer (scanned images?); OCR not available");
    else if (whole->warning[0])
        dq_set_error("no text found (damaged or empty document): %s", whole->warning);
    else
        dq_set_error("no text found (damaged or empty document)");
    return -1;
}

/* How many parts the text pass of n_pages pages is split into. */
static size_t part_count(const ingest_params *params, int n_pages, bool may_split)
{
    size_t parts = may_split && params->page_parts > 1 ? (size_t)params->page_parts : 1;
    size_t most = (size_t)n_pages / MIN_PART_PAGES;
    if (parts > most)
        parts = most;
    if (parts > MAX_PARTS)
        parts = MAX_PARTS;
    return parts ? parts : 1;
}

/* The text pass over the pages after the first part in workers, beside the
 * first part's here; the parts joined into whole. -1 with the error of the
 * first range in page order that failed. */
static int text_pass_parts(fz_context *ctx, fz_document *doc, const char *path,
                           const ingest_params *params, const memcap *mem, int n_pages,
                           size_t parts, page_part *whole)
{
    int *bounds = dq_malloc((parts + 1) * sizeof *bounds);
    for (size_t i = 0; i <= parts; i++)
        bounds[i] = (int)((long long)n_pages * (long long)i / (long long)parts);
    page_workers *w = parts > 1 ? page_workers_start(path, params, bounds + 1, parts - 1) : NULL;
    int rc = parts > 1 && !w ? -1 : text_pass(ctx, doc, params, mem, 0, bounds[1], n_pages, whole);
    if (rc < 0) {
        page_workers_cancel(w);
    } else if (w) {
        page_part *rest = dq_calloc(parts - 1, sizeof *rest);
        rc = page_workers_finish(w, rest);
        for (size_t i = 0; rc == 0 && i + 1 < parts; i++)
            part_join(whole, &rest[i]);
        free(rest);
    }
    free(bounds);
    return rc;
}

/* A document open in its own MuPDF context, on the document's memory cap,
 * MuPDF's last warning kept. */
typedef struct {
    mu_log log;
    memcap mem;
    fz_context *ctx;
    fz_document *doc;
    int n_pages;
} mu_doc;

/* Opens path into d (which must not move while open); -1 with the error set,
 * d still to be closed. */
static int mu_open(mu_doc *d, const char *path, const ingest_params *params)
{
    *d = (mu_doc){.mem = memcap_make(params->max_doc_bytes)};
    d->ctx = memcap_new_context(&d->mem, FZ_STORE_DEFAULT);
    if (!d->ctx)
        return -1;
    fz_set_warning_callback(d->ctx, on_warning, &d->log);
    fz_set_error_callback(d->ctx, on_error, NULL);
    d->doc = open_document(d->ctx, path, params->password, &d->n_pages);
    return d->doc ? 0 : -1;
}

/* Closes d; rc < 0 after the memory cap was hit names the limit. */
static int mu_close(mu_doc *d, int rc)
{
    if (rc < 0 && d->mem.hit)
        memcap_set_error(&d->mem);
    if (d->ctx)
        fz_drop_document(d->ctx, d->doc);
    memcap_drop_context(&d->mem, d->ctx);
    return rc;
}

static int extract_mupdf(const char *path, const ingest_params *params, bool may_split,
                         ingest_raw_doc *out)
{
    mu_doc d;
    page_part whole = {0};
    int rc = mu_open(&d, path, params);
    if (rc == 0 && params->max_pages > 0 && d.n_pages > params->max_pages) {
        dq_set_error("%d pages, over the limit of %d pages per document (--max-pages)",
                     d.n_pages, params->max_pages);
        rc = -1;
    }
    if (rc == 0) {
        out->title = lookup_title(d.ctx, d.doc);
        size_t parts = part_count(params, d.n_pages, may_split);
        rc = text_pass_parts(d.ctx, d.doc, path, params, &d.mem, d.n_pages, parts, &whole);
    }
    /* The first part's warning is the earliest: a later part's wins. */
    if (rc == 0 && !whole.warning[0])
        memcpy(whole.warning, d.log.warning, sizeof whole.warning);
    if (rc == 0)
        rc = whole_document(path, params, d.n_pages, &whole, out);
    page_part_free(&whole);
    return mu_close(&d, rc);
}

int page_part_read(const char *path, const ingest_params *params, int from, int to,
                   page_part *out)
{
    memset(out, 0, sizeof *out);
    mu_doc d;
    int rc = mu_open(&d, path, params);
    if (rc == 0) {
        /* Opening warned in the first part already. */
        d.log.warning[0] = '\0';
        rc = text_pass(d.ctx, d.doc, params, &d.mem, from, to < d.n_pages ? to : d.n_pages,
                       d.n_pages, out);
        memcpy(out->warning, d.log.warning, sizeof out->warning);
    }
    return mu_close(&d, rc);
}

/* Reads up to n bytes of the start of path into buf; returns the count or -1. */
static ssize_t read_head(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return (ssize_t)got;
}

/* Non-space characters in block's lines (what --max-page-chars counts). */
static size_t block_chars(const ingest_block *block)
{
    size_t n = 0;
    for (size_t l = 0; l < block->n_lines; l++)
        for (const unsigned char *c = (const unsigned char *)block->lines[l].text; *c; c++)
            n += !isspace(*c) && (*c & 0xC0) != 0x80; /* count code points, not bytes */
    return n;
}

/* The page limits MuPDF's loop applies, for a text file read whole (its
 * pages are what form feeds split). */
static int check_text_limits(const ingest_raw_doc *doc, const ingest_params *params)
{
    if (params->max_pages > 0 && doc->n_pages > (size_t)params->max_pages) {
        dq_set_error("%zu pages, over the limit of %d pages per document (--max-pages)",
                     doc->n_pages, params->max_pages);
        return -1;
    }
    for (size_t i = 0; params->max_page_chars > 0 && i < doc->n_pages; i++) {
        size_t chars = 0;
        for (size_t b = 0; b < doc->pages[i].n_blocks; b++)
            chars += block_chars(&doc->pages[i].blocks[b]);
        if (chars > (size_t)params->max_page_chars) {
            dq_set_error("page %d has %zu characters, over the limit of %ld per page "
                         "(--max-page-chars)",
                         doc->pages[i].number, chars, params->max_page_chars);
            return -1;
        }
    }
    return 0;
}

ingest_params ingest_default_params(void)
{
    ingest_params p = {NULL, 512LL << 20, 10000, 200000, 120.0, NULL, 512LL << 20, 0};
    return p;
}

int ingest_extract(const char *path, const char *password, ingest_raw_doc *out)
{
    ingest_params p = ingest_default_params();
    p.password = password;
    return ingest_extract_params(path, &p, out);
}

int ingest_extract_ocr(const char *path, const char *password, const ocr_params *ocr,
                       ingest_raw_doc *out)
{
    ingest_params p = ingest_default_params();
    p.password = password;
    p.ocr = ocr;
    return ingest_extract_params(path, &p, out);
}

int ingest_extract_params(const char *path, const ingest_params *params, ingest_raw_doc *out)
{
    memset(out, 0, sizeof *out);
    char ext[16];
    raw_extension(path, ext, sizeof ext);
    if (!ingest_supported(path)) {
        if (ext[0])
            dq_set_error("unsupported file type '.%s'", ext);
        else
            dq_set_error("unsupported file type (no extension)");
        return -1;
    }

    /* Messages carry the reason only; the caller names the file. */
    struct stat st;
    if (stat(path, &st) < 0) {
        dq_set_error("%s", strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        dq_set_error("is a directory");
        return -1;
    }
    /* A FIFO named notes.txt would block the read forever. */
    if (!S_ISREG(st.st_mode)) {
        dq_set_error("not a regular file");
        return -1;
    }
    if (access(path, R_OK) < 0) {
        dq_set_error("%s", strerror(errno));
        return -1;
    }
    if (st.st_size == 0) {
        dq_set_error("empty file");
        return -1;
    }
    if (params->max_file_bytes > 0 && st.st_size > params->max_file_bytes) {
        dq_set_error("%.1f MB, over the limit of %.1f MB per file (--max-file-size)",
                     (double)st.st_size / (1 << 20), (double)params->max_file_bytes / (1 << 20));
        return -1;
    }

    const char *format = ext;
    int rc;
    office_kind office = office_kind_of(ext);
    if (office_is_legacy(ext)) {
        dq_set_error("legacy binary Office format '.%s' is not read; convert it first: "
                     "libreoffice --headless --convert-to %sx FILE",
                     ext, ext);
        return -1;
    }
    if (office != OFFICE_NONE) {
        rc = office_extract(path, office, params, out);
        if (rc < 0)
            return -1; /* out is already freed */
        return 0;      /* format set by the reader */
    }
    if (strcmp(ext, "txt") == 0) {
        rc = textfile_extract(path, false, out);
        if (rc == 0)
            rc = check_text_limits(out, params);
    } else if (strcmp(ext, "md") == 0 || strcmp(ext, "markdown") == 0) {
        format = "md";
        rc = textfile_extract(path, true, out);
        if (rc == 0)
            rc = check_text_limits(out, params);
    } else {
        if (strcmp(ext, "pdf") == 0) {
            /* MuPDF would "repair" any bytes into an empty PDF; a file that
             * is not one at all deserves to be called that. */
            char head[1024];
            ssize_t n = read_head(path, head, sizeof head);
            if (n < 0) {
                dq_set_error("%s", strerror(errno));
                return -1;
            }
            if (!memmem(head, (size_t)n, "%PDF-", 5)) {
                dq_set_error("not a PDF file");
                return -1;
            }
        } else if (strcmp(ext, "oxps") == 0) {
            format = "xps";
        } else if (strcmp(ext, "htm") == 0 || strcmp(ext, "xhtml") == 0) {
            format = "html";
        }
        rc = extract_mupdf(path, params, !strcmp(ext, "pdf"), out);
    }
    if (rc < 0) {
        ingest_raw_doc_free(out);
        return -1;
    }
    out->format = dq_strdup(format);
    return 0;
}
