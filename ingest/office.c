/* office.c - what the Office readers share: the archive under limits, part names, the builder.
 *
 * Hostile archives are met here once for every format. A part is read through
 * a stream with a byte count, never by trusting the size the ZIP declares, so
 * a ZIP bomb stops when all parts read expand past max_doc_bytes. MuPDF
 * allocates through the counting allocator (memcap.h) under the same limit,
 * so XML made of millions of tiny elements fails there instead of taking the
 * machine. MuPDF's XML parser builds the tree without recursion, but every
 * reader walks it recursively, so nesting is measured on the bytes first and
 * refused past OFFICE_MAX_DEPTH. Part names only ever come from relationships
 * resolved inside the archive: a target that climbs out of it ("../../x")
 * or points outside (TargetMode="External") is ignored.
 */
#include "ingest/office.h"
#include "ingest/raw.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

office_kind office_kind_of(const char *ext)
{
    static const struct {
        const char *ext;
        office_kind kind;
    } map[] = {{"docx", OFFICE_DOCX}, {"docm", OFFICE_DOCX}, {"xlsx", OFFICE_XLSX},
               {"xlsm", OFFICE_XLSX}, {"pptx", OFFICE_PPTX}, {"pptm", OFFICE_PPTX},
               {"odt", OFFICE_ODT},   {"ods", OFFICE_ODS},   {"odp", OFFICE_ODP}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(ext, map[i].ext))
            return map[i].kind;
    return OFFICE_NONE;
}

bool office_is_legacy(const char *ext)
{
    return !strcmp(ext, "doc") || !strcmp(ext, "xls") || !strcmp(ext, "ppt");
}

int office_fail(office_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    return -1;
}

static void quiet(void *user, const char *message)
{
    (void)user;
    (void)message;
}

/* ---- parts -------------------------------------------------------------- */

/* Deepest element nesting in s[0..n), reading tags, comments, CDATA and
 * quoted attribute values the way an XML parser would. */
static int xml_depth(const unsigned char *s, size_t n)
{
    int depth = 0, max = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '<')
            continue;
        const char *end = ">";
        if (i + 3 < n && !memcmp(s + i, "<!--", 4))
            end = "-->";
        else if (i + 8 < n && !memcmp(s + i, "<![CDATA[", 9))
            end = "]]>";
        else if (i + 1 < n && s[i + 1] == '?')
            end = "?>";
        if (strcmp(end, ">") || (i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '/'))) {
            bool closing = i + 1 < n && s[i + 1] == '/';
            const void *e = memmem(s + i, n - i, end, strlen(end));
            if (!e)
                break;
            i = (size_t)((const unsigned char *)e - s) + strlen(end) - 1;
            if (closing && depth > 0)
                depth--;
            continue;
        }
        /* A start tag: to its '>', skipping quoted values. */
        size_t j = i + 1;
        char quote = 0;
        for (; j < n; j++) {
            if (quote) {
                if (s[j] == quote)
                    quote = 0;
            } else if (s[j] == '"' || s[j] == '\'') {
                quote = (char)s[j];
            } else if (s[j] == '>') {
                break;
            }
        }
        if (j >= n)
            break;
        if (s[j - 1] != '/' && ++depth > max)
            max = depth;
        i = j;
    }
    return max;
}

/* Reads part name whole (throws), counting its bytes against the
 * document's max_doc_bytes. */
static fz_buffer *read_part(office_reader *r, const char *name)
{
    fz_context *ctx = r->ctx;
    fz_stream *s = fz_open_archive_entry(ctx, r->zip, name);
    fz_buffer *buf = NULL;
    fz_var(buf);
    fz_try(ctx)
    {
        buf = fz_new_buffer(ctx, 16384);
        unsigned char tmp[65536];
        size_t got;
        while ((got = fz_read(ctx, s, tmp, sizeof tmp)) > 0) {
            r->expanded += (long long)got;
            /* MuPDF's own printf knows no %lld: the message is made here. */
            char msg[300] = "";
            long long cap = r->lim->max_doc_bytes;
            if (cap > 0 && r->expanded > cap)
                snprintf(msg, sizeof msg,
                         "\001expands past %lld MB (at part '%s'), over the limit of %lld MB "
                         "per document (--max-doc-memory); a ZIP bomb?",
                         cap >> 20, name, cap >> 20);
            if (msg[0])
                fz_throw(ctx, FZ_ERROR_GENERIC, "%s", msg);
            fz_append_data(ctx, buf, tmp, got);
        }
    }
    fz_always(ctx)
        fz_drop_stream(ctx, s);
    fz_catch(ctx)
    {
        fz_drop_buffer(ctx, buf);
        fz_rethrow(ctx);
    }
    return buf;
}

static bool has_part(office_reader *r, const char *name)
{
    int has = 0;
    fz_var(has);
    fz_try(r->ctx)
        has = fz_has_archive_entry(r->ctx, r->zip, name);
    fz_catch(r->ctx)
        has = 0;
    return has != 0;
}

fz_xml *office_read_xml(office_reader *r, const char *name, bool required)
{
    r->err[0] = '\0';
    if (!has_part(r, name)) {
        if (required)
            office_fail(r, "damaged file: missing part '%s'", name);
        return NULL;
    }
    fz_context *ctx = r->ctx;
    fz_buffer *buf = NULL;
    fz_xml *xml = NULL;
    fz_var(buf);
    fz_var(xml);
    fz_try(ctx)
    {
        buf = read_part(r, name);
        int depth = xml_depth(buf->data, buf->len);
        if (depth > OFFICE_MAX_DEPTH)
            fz_throw(ctx, FZ_ERROR_GENERIC, "\001part '%s' nests XML %d levels deep (limit %d)",
                     name, depth, (int)OFFICE_MAX_DEPTH);
        xml = fz_parse_xml(ctx, buf, 1);
    }
    fz_always(ctx)
        fz_drop_buffer(ctx, buf);
    fz_catch(ctx)
    {
        const char *msg = fz_caught_message(ctx);
        if (msg[0] == '\001')
            office_fail(r, "%s", msg + 1);
        else
            office_fail(r, "damaged file: part '%s': %s", name, msg);
        return NULL;
    }
    return xml;
}

void office_drop_xml(office_reader *r, fz_xml *xml)
{
    fz_drop_xml(r->ctx, xml);
}

/* ---- names ---------------------------------------------------------------- */

bool office_is(fz_xml *x, const char *local)
{
    const char *tag = x ? fz_xml_tag(x) : NULL;
    if (!tag)
        return false;
    const char *colon = strchr(tag, ':');
    return !strcmp(colon ? colon + 1 : tag, local);
}

fz_xml *office_child(fz_xml *x, const char *local)
{
    for (fz_xml *c = x ? fz_xml_down(x) : NULL; c; c = fz_xml_next(c))
        if (office_is(c, local))
            return c;
    return NULL;
}

const char *office_att(fz_xml *x, const char *local)
{
    if (!x || !fz_xml_tag(x))
        return NULL;
    /* fz_xml has no attribute iterator and no namespaces: try the prefixes
     * Office files use, and the generic ones some writers pick for the
     * relationships namespace ("ns:id" for "r:id"). */
    static const char *const prefixes[] = {"",       "w:",     "r:",    "table:", "text:",
                                           "office:", "presentation:", "draw:", "style:",
                                           "fo:",    "xlink:", "manifest:", "number:", "ns:",
                                           "ns0:",   "ns1:",   "ns2:",  "x:"};
    char name[96];
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        snprintf(name, sizeof name, "%s%s", prefixes[i], local);
        const char *v = fz_xml_att(x, name);
        if (v)
            return v;
    }
    return NULL;
}

/* base's folder joined with target, "." and ".." resolved; NULL when it
 * leaves the archive. A target starting with '/' is from the root. */
static char *resolve(const char *base, const char *target)
{
    dq_buf path = DQ_BUF_INIT;
    if (target[0] != '/') {
        const char *slash = strrchr(base, '/');
        if (slash)
            dq_buf_append(&path, base, (size_t)(slash - base) + 1);
    }
    dq_buf_puts(&path, target);
    /* Normalise segment by segment into out. */
    char *s = path.data;
    char *out = dq_malloc(path.len + 1);
    size_t n = 0;
    bool ok = true;
    while (*s && ok) {
        char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.')) {
            /* nothing */
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            if (n == 0)
                ok = false;
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else {
            if (n)
                out[n++] = '/';
            memcpy(out + n, s, len);
            n += len;
        }
        s += len + (e != NULL);
    }
    out[n] = '\0';
    dq_buf_free(&path);
    if (!ok || n == 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* The relationships of part, parsed once and kept until another part's are
 * asked for (owned by r: not to be dropped by the caller). */
static fz_xml *read_rels(office_reader *r, const char *part)
{
    if (r->rels_part && !strcmp(r->rels_part, part))
        return r->rels;
    office_drop_xml(r, r->rels);
    free(r->rels_part);
    r->rels = NULL;
    r->rels_part = dq_strdup(part);
    const char *slash = strrchr(part, '/');
    char name[1024];
    if (slash)
        snprintf(name, sizeof name, "%.*s/_rels/%s.rels", (int)(slash - part), part, slash + 1);
    else
        snprintf(name, sizeof name, "_rels/%s.rels", part);
    r->rels = office_read_xml(r, name, false);
    return r->rels;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

char **office_rel_targets(office_reader *r, const char *part, const char *suffix, size_t *n)
{
    *n = 0;
    fz_xml *rels = read_rels(r, part);
    char **out = NULL;
    size_t cap = 0;
    fz_xml *root = rels ? fz_xml_root(rels) : NULL;
    for (fz_xml *x = root ? fz_xml_down(root) : NULL; x; x = fz_xml_next(x)) {
        const char *type = office_att(x, "Type");
        const char *target = office_att(x, "Target");
        const char *mode = office_att(x, "TargetMode");
        if (!office_is(x, "Relationship") || !type || !target || !ends_with(type, suffix) ||
            (mode && !strcmp(mode, "External")))
            continue;
        char *t = resolve(part, target);
        if (!t)
            continue;
        DQ_GROW(out, cap, *n + 1);
        out[(*n)++] = t;
    }
    return out;
}

char *office_rel_target(office_reader *r, const char *part, const char *rid, const char *type)
{
    fz_xml *rels = read_rels(r, part);
    char *found = NULL;
    fz_xml *root = rels ? fz_xml_root(rels) : NULL;
    for (fz_xml *x = root ? fz_xml_down(root) : NULL; x && !found; x = fz_xml_next(x)) {
        const char *id = office_att(x, "Id");
        const char *t = office_att(x, "Type");
        const char *target = office_att(x, "Target");
        const char *mode = office_att(x, "TargetMode");
        if (!office_is(x, "Relationship") || !target || (mode && !strcmp(mode, "External")))
            continue;
        if (rid ? (id && !strcmp(id, rid)) : (t && ends_with(t, type)))
            found = resolve(part, target);
    }
    return found;
}

char *office_main_part(office_reader *r, const char *fallback)
{
    char *main = office_rel_target(r, "", NULL, "/officeDocument");
    return main ? main : dq_strdup(fallback);
}

/* ---- the builder ---------------------------------------------------------- */

void office_defer(office_reader *r, char *text)
{
    DQ_GROW(r->after, r->after_cap, r->n_after + 1);
    r->after[r->n_after++] = text;
}

int office_flush_deferred(office_reader *r, bool write)
{
    int rc = 0;
    for (size_t i = 0; i < r->n_after; i++) {
        if (rc == 0 && write)
            rc = office_para(r, r->after[i], 0, 0);
        free(r->after[i]);
    }
    r->n_after = 0;
    return rc;
}

/* A slide or sheet with nothing but its title would leave no chunk to
 * find it by: its first heading is repeated as body text. */
static void unit_finish(office_reader *r)
{
    ingest_raw_page *pg = r->page;
    if (!pg || pg->n_blocks == 0)
        return;
    for (size_t i = 0; i < pg->n_blocks; i++)
        if (pg->blocks[i].lines[0].heading == 0)
            return;
    ingest_block *b = raw_add_block(pg);
    raw_add_line(b, dq_strdup(pg->blocks[0].lines[0].text));
}

void office_unit(office_reader *r, int number, const char *label)
{
    unit_finish(r);
    r->page = raw_add_page(r->out, number);
    r->page->label = label ? utf8_sanitize(label, strlen(label)) : NULL;
}

int office_para(office_reader *r, const char *text, int heading, int loc)
{
    if (!r->page)
        office_unit(r, 1, NULL);
    dq_buf b = DQ_BUF_INIT;
    bool space = false;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (isspace(*p) || *p < 0x20 || *p == 0x7F) {
            space = b.len > 0;
            continue;
        }
        if (space)
            dq_buf_putc(&b, ' ');
        space = false;
        dq_buf_putc(&b, (char)*p);
    }
    if (b.len == 0) {
        dq_buf_free(&b);
        return 0;
    }
    /* The text is held beside MuPDF's memory, so it counts against the same limit. */
    r->text_bytes += (long long)b.len;
    long long cap = r->lim->max_doc_bytes;
    if (cap > 0 && r->text_bytes + (long long)r->mem->used > cap) {
        dq_buf_free(&b);
        return office_fail(r, "gives over %lld MB of text (repeated cells?), over the limit of "
                              "%lld MB per document (--max-doc-memory)",
                           (cap - (long long)r->mem->used) >> 20, cap >> 20);
    }
    /* A reader is linear in its input, but the clock is the last word. */
    if (++r->n_paras % 1024 == 0 && r->lim->max_seconds > 0 &&
        dq_now() - r->t0 > r->lim->max_seconds) {
        dq_buf_free(&b);
        return office_fail(r, "reading stopped after %.1f s, over the time limit of %g s per "
                              "document (--time-limit)",
                           dq_now() - r->t0, r->lim->max_seconds);
    }
    ingest_block *block = raw_add_block(r->page);
    ingest_line *line = raw_add_line(block, utf8_sanitize(b.data, b.len));
    line->heading = heading;
    line->loc = loc;
    dq_buf_free(&b);
    return 0;
}

int office_table_row(office_reader *r, office_table *t, const char *const *cells, size_t n, int loc)
{
    if (!t->has_header) {
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = cells[i] && cells[i][strspn(cells[i], " \t\r\n")];
        if (!any)
            return 0;
        table_header_add_row(&t->header, cells, n);
        t->has_header = true;
        char *line = table_header_line(&t->header);
        int rc = line ? office_para(r, line, 0, loc) : 0;
        free(line);
        return rc;
    }
    char *line = table_row_line(&t->header, cells, n);
    int rc = line ? office_para(r, line, 0, loc) : 0;
    free(line);
    return rc;
}

void office_table_free(office_table *t)
{
    if (!t)
        return;
    table_header_free(&t->header);
    memset(t, 0, sizeof *t);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const office_entry *)a)->key, ((const office_entry *)b)->key);
}

void office_index_build(office_index *ix, fz_xml *parent, const char *local, const char *att)
{
    memset(ix, 0, sizeof *ix);
    size_t cap = 0;
    for (fz_xml *x = parent ? fz_xml_down(parent) : NULL; x; x = fz_xml_next(x)) {
        const char *key = office_att(x, att);
        if (!office_is(x, local) || !key)
            continue;
        DQ_GROW(ix->items, cap, ix->n + 1);
        ix->items[ix->n++] = (office_entry){key, x};
    }
    if (ix->n > 1)
        qsort(ix->items, ix->n, sizeof *ix->items, cmp_entry);
}

long office_index_find(const office_index *ix, const char *key)
{
    if (!key || ix->n == 0)
        return -1;
    office_entry probe = {key, NULL};
    const office_entry *e = bsearch(&probe, ix->items, ix->n, sizeof *ix->items, cmp_entry);
    return e ? (long)(e - ix->items) : -1;
}

void office_index_free(office_index *ix)
{
    if (!ix)
        return;
    free(ix->items);
    memset(ix, 0, sizeof *ix);
}

void office_put_text(dq_buf *b, fz_xml *text_node)
{
    const char *t = fz_xml_text(text_node);
    if (t)
        dq_buf_puts(b, t);
}

/* ---- entry points --------------------------------------------------------- */

static const char ole_magic[8] = {'\xD0', '\xCF', '\x11', '\xE0', '\xA1', '\xB1', '\x1A', '\xE1'};

/* An OLE compound file holding "EncryptedPackage" (UTF-16) is an OOXML file
 * encrypted with a password; any other OLE file is a legacy binary format. */
static bool ole_is_encrypted(const unsigned char *data, size_t len)
{
    static const char name[] = "E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e\0";
    return memmem(data, len, name, sizeof name - 1) != NULL;
}

static int refuse_ole(const unsigned char *data, size_t len, ingest_raw_doc *out)
{
    (void)out;
    if (ole_is_encrypted(data, len))
        dq_set_error("password-protected Office file (remove the password and save it again)");
    else
        dq_set_error("not an Office Open XML file: a legacy binary Office file with a modern "
                     "extension (convert it: libreoffice --headless --convert-to docx|xlsx|pptx)");
    return -1;
}

/* ODF keeps encrypted parts in a normal ZIP and says so in its manifest:
 * <manifest:file-entry><manifest:encryption-data>. */
static bool odf_is_encrypted(office_reader *r)
{
    fz_xml *man = office_read_xml(r, "META-INF/manifest.xml", false);
    fz_xml *root = man ? fz_xml_root(man) : NULL;
    bool enc = false;
    for (fz_xml *e = root ? fz_xml_down(root) : NULL; e && !enc; e = fz_xml_next(e))
        enc = office_child(e, "encryption-data") != NULL;
    office_drop_xml(r, man);
    return enc;
}

static const char *const format_names[] = {"docx", "xlsx", "pptx", "odt", "ods", "odp"};

/* Reads the open archive zip (taken over) as kind. */
static int read_archive(fz_context *ctx, const memcap *mem, fz_archive *zip, office_kind kind,
                        const ingest_params *lim, ingest_raw_doc *out)
{
    office_reader r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.zip = zip;
    r.lim = lim;
    r.mem = mem;
    r.out = out;
    r.t0 = dq_now();
    int rc;
    bool odf = kind == OFFICE_ODT || kind == OFFICE_ODS || kind == OFFICE_ODP;
    if (odf && odf_is_encrypted(&r)) {
        dq_set_error("password-protected Office file (remove the password and save it again)");
        return -1;
    }
    switch (kind) {
    case OFFICE_DOCX:
        rc = office_read_docx(&r);
        break;
    case OFFICE_XLSX:
        rc = office_read_xlsx(&r);
        break;
    case OFFICE_PPTX:
        rc = office_read_pptx(&r);
        break;
    default:
        rc = office_read_odf(&r, kind);
        break;
    }
    office_drop_xml(&r, r.rels);
    free(r.rels_part);
    office_flush_deferred(&r, false);
    free(r.after);
    if (rc == 0) {
        unit_finish(&r);
        size_t lines = 0;
        for (size_t p = 0; p < out->n_pages; p++)
            lines += out->pages[p].n_blocks;
        if (lines == 0) {
            rc = office_fail(&r, "no text found (empty document)");
        }
    }
    if (rc < 0) {
        if (mem->hit)
            memcap_set_error(mem);
        else
            dq_set_error("%s", r.err[0] ? r.err : "damaged file");
        return -1;
    }
    out->format = dq_strdup(format_names[kind]);
    out->styled = true;
    return 0;
}

/* Opens a fz_context under params' memory cap, then the archive from path or
 * data, and reads it. */
static int run(const char *path, const unsigned char *data, size_t len, office_kind kind,
               const ingest_params *params, ingest_raw_doc *out)
{
    memset(out, 0, sizeof *out);
    ingest_params l = params ? *params : ingest_default_params();
    memcap mem = memcap_make(l.max_doc_bytes);
    fz_context *ctx = memcap_new_context(&mem, 0);
    if (!ctx)
        return -1;
    fz_set_warning_callback(ctx, quiet, NULL);
    fz_set_error_callback(ctx, quiet, NULL);
    fz_archive *zip = NULL;
    fz_stream *stm = NULL;
    fz_buffer *buf = NULL;
    fz_var(zip);
    fz_var(stm);
    fz_var(buf);
    int rc = -1;
    bool opened = false;
    fz_try(ctx)
    {
        if (path) {
            stm = fz_open_file(ctx, path);
        } else {
            buf = fz_new_buffer_from_copied_data(ctx, data, len);
            stm = fz_open_buffer(ctx, buf);
        }
        if (!fz_is_zip_archive(ctx, stm))
            fz_throw(ctx, FZ_ERROR_GENERIC, "\001not a ZIP archive");
        zip = fz_open_zip_archive_with_stream(ctx, stm);
        opened = true;
    }
    fz_catch(ctx)
    {
        const char *msg = fz_caught_message(ctx);
        dq_set_error("not a %s file (damaged?): %s", format_names[kind],
                     msg[0] == '\001' ? msg + 1 : msg);
    }
    if (opened) {
        rc = read_archive(ctx, &mem, zip, kind, &l, out);
        if (rc < 0)
            ingest_raw_doc_free(out);
    }
    fz_drop_archive(ctx, zip);
    fz_drop_stream(ctx, stm);
    fz_drop_buffer(ctx, buf);
    memcap_drop_context(&mem, ctx);
    return rc;
}

int office_parse(const unsigned char *data, size_t len, office_kind kind,
                 const ingest_params *lim, ingest_raw_doc *out)
{
    memset(out, 0, sizeof *out);
    if (len >= 8 && !memcmp(data, ole_magic, 8))
        return refuse_ole(data, len, out);
    return run(NULL, data, len, kind, lim, out);
}

int office_extract(const char *path, office_kind kind, const ingest_params *lim,
                   ingest_raw_doc *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dq_set_error("%s", strerror(errno));
        return -1;
    }
    unsigned char head[8];
    ssize_t got = read(fd, head, sizeof head);
    if (got == 8 && !memcmp(head, ole_magic, 8)) {
        /* The directory naming the streams sits anywhere: look through the
         * file in blocks, overlapping by the name's length. */
        enum { BLOCK = 1 << 20, OVERLAP = 64 };
        unsigned char *blk = dq_malloc(BLOCK + OVERLAP);
        size_t keep = 0;
        bool enc = false;
        lseek(fd, 0, SEEK_SET);
        ssize_t n;
        while (!enc && (n = read(fd, blk + keep, BLOCK)) > 0) {
            enc = ole_is_encrypted(blk, keep + (size_t)n);
            size_t have = keep + (size_t)n;
            keep = have < OVERLAP ? have : OVERLAP;
            memmove(blk, blk + have - keep, keep);
        }
        free(blk);
        close(fd);
        if (enc)
            dq_set_error("password-protected Office file (remove the password and save it again)");
        else
            refuse_ole(head, 0, out);
        return -1;
    }
    close(fd);
    return run(path, NULL, 0, kind, lim, out);
}
