/* test_badinput.c - hostile and broken input end to end: a corpus of bad files the test writes,
 * ingested in one batch by the docqa command, each with its exact outcome.
 *
 * Every file is made here (PDFs with MuPDF's writer via support/pdfgen.h,
 * EPUBs as zips, text in many encodings, seeded random bytes), never
 * downloaded. One `docqa ingest` over the folder must record each bad file's
 * reason in the store, ingest the good ones around it, exit 3, and leave a
 * store that passes PRAGMA integrity_check and FTS5's own integrity check.
 * The resource limits (file size, pages, characters per page, time) and the
 * symlink rules are checked the same way, and user FTS5 syntax in searches
 * must never become an SQL error.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "index/store_impl.h"
#include "ingest/ingest.h"
#include "retrieve/retrieve.h"
#include "support/pdfgen.h"
#include "support/run.h"
#include "support/tmpdir.h"

static char workdir[256];

/* ---- running docqa -------------------------------------------------------- */

static run_result docqa_argv(const char *const *args)
{
    return run_docqa(&(run_opts){.workdir = workdir}, args);
}

#define DOCQA(...) docqa_argv((const char *const[]){__VA_ARGS__, NULL})

static void setup(void)
{
    snprintf(workdir, sizeof workdir, "/tmp/docqa-bad-XXXXXX");
    cr_assert(mkdtemp(workdir));
}

static void teardown(void)
{
    cr_expect_eq(tmpdir_remove(workdir), 0);
}

TestSuite(badinput, .init = setup, .fini = teardown, .timeout = 600);

/* ---- writing the corpus --------------------------------------------------- */

static const char *at(const char *name)
{
    char *p = tmpdir_path(workdir, name);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    dq_mkdirs(p);
    *slash = '/';
    return p;
}

static void put_bytes(const char *name, const void *data, size_t n)
{
    cr_assert_eq(pdfgen_write_bytes(at(name), data, n), 0, "%s", dq_last_error());
}

static void put_text(const char *name, const char *text)
{
    put_bytes(name, text, strlen(text));
}

/* Reproducible bytes: the same "random" file on every run and machine. */
static void random_bytes(unsigned char *out, size_t n, uint32_t seed)
{
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (unsigned char)(x >> 7);
    }
}

static const pdfgen_line contract[] = {
    {"租赁合同", 18, true},
    {"乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付违约金。", 11, false},
    {"The deposit is refunded within thirty days after the lease ends.", 11, false},
};

static void put_pdf(const char *name, const pdfgen_line *lines, size_t n, const pdfgen_opts *o)
{
    pdfgen_page page = {lines, n, false};
    cr_assert_eq(pdfgen_write(at(name), &page, 1, o), 0, "%s", dq_last_error());
}

/* A classic uncompressed PDF whose objects 1..n are objs[0..n), xref exact,
 * so one structural flaw can be placed on purpose. */
static void put_raw_pdf(const char *name, const char *const *objs, size_t n)
{
    dq_buf b = DQ_BUF_INIT;
    long *offs = dq_calloc(n, sizeof *offs);
    dq_buf_puts(&b, "%PDF-1.4\n");
    for (size_t i = 0; i < n; i++) {
        offs[i] = (long)b.len;
        dq_buf_printf(&b, "%zu 0 obj\n%s\nendobj\n", i + 1, objs[i]);
    }
    long xref = (long)b.len;
    dq_buf_printf(&b, "xref\n0 %zu\n0000000000 65535 f \n", n + 1);
    for (size_t i = 0; i < n; i++)
        dq_buf_printf(&b, "%010ld 00000 n \n", offs[i]);
    dq_buf_printf(&b, "trailer\n<< /Size %zu /Root 1 0 R >>\nstartxref\n%ld\n%%%%EOF\n", n + 1,
                  xref);
    put_bytes(name, b.data, b.len);
    dq_buf_free(&b);
    free(offs);
}

#define PAGE_OBJ(parent)                                                                         \
    "<< /Type /Page /Parent " parent " /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 "  \
    "R >> >> /Contents 4 0 R >>"
#define FONT_OBJ "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
#define CONTENT_OBJ                                                                              \
    "<< /Length 44 >>\nstream\nBT /F1 12 Tf 72 700 Td (Looping tree) Tj ET\nendstream"

/* Page tree whose node 2 lists itself as its own kid: walking it naively never ends. */
static void put_looping_tree(const char *name)
{
    const char *objs[] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [2 0 R 5 0 R] /Count 2 >>",
        FONT_OBJ,
        CONTENT_OBJ,
        PAGE_OBJ("2 0 R"),
    };
    put_raw_pdf(name, objs, 5);
}

/* A page tree 3000 /Pages nodes deep with one page at the bottom. */
static void put_deep_tree(const char *name, int depth)
{
    size_t n = 5 + (size_t)depth;
    char **objs = dq_calloc(n, sizeof *objs);
    objs[0] = dq_strdup("<< /Type /Catalog /Pages 6 0 R >>");
    objs[1] = dq_strdup("<< /Type /Pages /Kids [] /Count 0 >>"); /* unused */
    objs[2] = dq_strdup(FONT_OBJ);
    objs[3] = dq_strdup("<< /Length 42 >>\nstream\nBT /F1 12 Tf 72 700 Td (Deep tree) Tj ET\n"
                        "endstream");
    char buf[200];
    /* objects 6 .. 5+depth are /Pages nodes, each the parent of the next;
     * object 5 is the page, child of the last node */
    snprintf(buf, sizeof buf, PAGE_OBJ("%d 0 R"), 5 + depth);
    objs[4] = dq_strdup(buf);
    for (int d = 0; d < depth; d++) {
        int self = 6 + d;
        int kid = d + 1 < depth ? self + 1 : 5;
        if (d == 0)
            snprintf(buf, sizeof buf, "<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", kid);
        else
            snprintf(buf, sizeof buf, "<< /Type /Pages /Parent %d 0 R /Kids [%d 0 R] /Count 1 >>",
                     self - 1, kid);
        objs[5 + d] = dq_strdup(buf);
    }
    put_raw_pdf(name, (const char *const *)objs, n);
    for (size_t i = 0; i < n; i++)
        free(objs[i]);
    free(objs);
}

/* n_pages pages of distinct sentences (a line repeated on every page would be
 * dropped as a running header), page 1777 holding a word found nowhere else. */
static void put_many_pages(const char *name, int n_pages)
{
    pdfgen_page *pages = dq_calloc((size_t)n_pages, sizeof *pages);
    pdfgen_line *lines = dq_calloc((size_t)n_pages, sizeof *lines);
    char **texts = dq_calloc((size_t)n_pages, sizeof *texts);
    for (int i = 0; i < n_pages; i++) {
        dq_buf b = DQ_BUF_INIT;
        static const char *const who[] = {"The clerk", "A surveyor", "The tenant", "Our agent",
                                          "The buyer", "A notary", "The lender"};
        static const char *const what[] = {"signed", "reviewed", "filed", "stamped", "copied",
                                           "returned", "archived", "questioned", "approved",
                                           "translated", "indexed"};
        static const char *const obj[] = {"the deed", "an invoice", "the survey", "a receipt",
                                          "the ledger", "a permit", "the appendix", "a map",
                                          "the schedule", "a warrant", "the inventory",
                                          "a memo", "the annex"};
        dq_buf_printf(&b, "%s %s %s in year %d.%s", who[i % 7], what[(i / 7) % 11],
                      obj[(i / 77) % 13], 1000 + i,
                      i + 1 == 1777 ? " The auditor is named Quillfeather." : "");
        texts[i] = dq_buf_take(&b);
        lines[i] = (pdfgen_line){texts[i], 11, false};
        pages[i] = (pdfgen_page){&lines[i], 1, false};
    }
    cr_assert_eq(pdfgen_write(at(name), pages, (size_t)n_pages, NULL), 0, "%s", dq_last_error());
    for (int i = 0; i < n_pages; i++)
        free(texts[i]);
    free(texts);
    free(lines);
    free(pages);
}

/* One PDF page carrying n_words words of 9 letters (so 9 * n_words
 * non-space characters) in lines of 140 words set at 0.5 and 0.55 pt, so
 * they all fit on it; the last word is "zanzibarx". The sizes alternate
 * because MuPDF grows one text span's glyph array by a fixed step: a
 * million glyphs in a single span is quadratic under ASan's realloc (which
 * always copies), though glibc's mremap hides it in a normal build. */
static void put_dense_page(const char *name, int n_words)
{
    int n_lines = (n_words + 139) / 140;
    pdfgen_line *lines = dq_calloc((size_t)n_lines, sizeof *lines);
    char **texts = dq_calloc((size_t)n_lines, sizeof *texts);
    for (int l = 0, i = 0; l < n_lines; l++) {
        dq_buf b = DQ_BUF_INIT;
        for (int k = 0; k < 140 && i < n_words; k++, i++) {
            if (k)
                dq_buf_putc(&b, ' ');
            if (i == n_words - 1) {
                dq_buf_puts(&b, "zanzibarx");
                continue;
            }
            char w[10];
            for (int c = 0; c < 9; c++)
                w[c] = (char)('a' + (i / (c + 1) + c) % 26);
            dq_buf_append(&b, w, 9);
        }
        texts[l] = dq_buf_take(&b);
        lines[l] = (pdfgen_line){texts[l], l % 2 ? 0.55f : 0.5f, false};
    }
    pdfgen_page page = {lines, (size_t)n_lines, false};
    cr_assert_eq(pdfgen_write(at(name), &page, 1, NULL), 0, "%s", dq_last_error());
    for (int l = 0; l < n_lines; l++)
        free(texts[l]);
    free(texts);
    free(lines);
}

/* An EPUB zip whose files are given as name/content pairs, by MuPDF's writer
 * through pdfgen_write_epub() when well formed, by hand here when not. */
static void put_epub_parts(const char *name, const char *const *parts, size_t n)
{
    /* A stored (uncompressed) zip: local headers, central directory, end record. */
    dq_buf z = DQ_BUF_INIT, cd = DQ_BUF_INIT;
    uint32_t crc_table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
#define PUT16(b, v) dq_buf_append(b, (const char[]){(char)((v) & 255), (char)(((v) >> 8) & 255)}, 2)
#define PUT32(b, v)                                                                              \
    dq_buf_append(b, (const char[]){(char)((v) & 255), (char)(((v) >> 8) & 255),                  \
                                    (char)(((v) >> 16) & 255), (char)(((v) >> 24) & 255)},        \
                  4)
    for (size_t i = 0; i < n; i += 2) {
        const char *fname = parts[i], *data = parts[i + 1];
        uint32_t len = (uint32_t)strlen(data), crc = 0xFFFFFFFFu;
        for (uint32_t k = 0; k < len; k++)
            crc = crc_table[(crc ^ (unsigned char)data[k]) & 255] ^ (crc >> 8);
        crc ^= 0xFFFFFFFFu;
        uint32_t off = (uint32_t)z.len;
        uint16_t fn = (uint16_t)strlen(fname);
        PUT32(&z, 0x04034b50u);
        PUT16(&z, 20);
        PUT16(&z, 0);
        PUT16(&z, 0);
        PUT16(&z, 0);
        PUT16(&z, 0);
        PUT32(&z, crc);
        PUT32(&z, len);
        PUT32(&z, len);
        PUT16(&z, fn);
        PUT16(&z, 0);
        dq_buf_append(&z, fname, fn);
        dq_buf_append(&z, data, len);
        PUT32(&cd, 0x02014b50u);
        PUT16(&cd, 20);
        PUT16(&cd, 20);
        PUT16(&cd, 0);
        PUT16(&cd, 0);
        PUT16(&cd, 0);
        PUT16(&cd, 0);
        PUT32(&cd, crc);
        PUT32(&cd, len);
        PUT32(&cd, len);
        PUT16(&cd, fn);
        PUT16(&cd, 0);
        PUT16(&cd, 0);
        PUT16(&cd, 0);
        PUT16(&cd, 0);
        PUT32(&cd, 0);
        PUT32(&cd, off);
        dq_buf_append(&cd, fname, fn);
    }
    uint32_t cd_off = (uint32_t)z.len;
    dq_buf_append(&z, cd.data, cd.len);
    PUT32(&z, 0x06054b50u);
    PUT16(&z, 0);
    PUT16(&z, 0);
    PUT16(&z, (uint16_t)(n / 2));
    PUT16(&z, (uint16_t)(n / 2));
    PUT32(&z, (uint32_t)cd.len);
    PUT32(&z, cd_off);
    PUT16(&z, 0);
#undef PUT16
#undef PUT32
    put_bytes(name, z.data, z.len);
    dq_buf_free(&z);
    dq_buf_free(&cd);
}

static const char *container_xml =
    "<?xml version=\"1.0\"?>\n<container version=\"1.0\" "
    "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles>"
    "<rootfile full-path=\"content.opf\" media-type=\"application/oebps-package+xml\"/>"
    "</rootfiles></container>\n";

static const char *opf_one_chapter =
    "<?xml version=\"1.0\"?>\n<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"2.0\">"
    "<metadata/><manifest><item id=\"c\" href=\"c.xhtml\" media-type=\"application/xhtml+xml\"/>"
    "</manifest><spine><itemref idref=\"c\"/></spine></package>\n";

/* ---- reading the store ---------------------------------------------------- */

/* PRAGMA integrity_check and FTS5's integrity-check on the store's database. */
static void assert_store_intact(void)
{
    char db_path[600];
    snprintf(db_path, sizeof db_path, "%s/.docqa/" STORE_DBNAME, workdir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK, "%s",
                 db_path);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    /* The tokenizer is not registered on this connection, so FTS5's check
     * goes through the store's own API. */
    sqlite3_close(db);
    store *st = store_open(at(".docqa"), 0);
    cr_assert(st, "%s", dq_last_error());
    cr_expect_eq(sqlite3_exec(store_db(st), "INSERT INTO fts(fts) VALUES('integrity-check')",
                              NULL, NULL, NULL),
                 SQLITE_OK, "fts integrity: %s", sqlite3_errmsg(store_db(st)));
    store_close(st);
}

/* The failed files `docqa status --json` lists, as a JSON object path -> error. */
static cJSON *failed_files(int *files, int *documents)
{
    run_result r = DOCQA("status", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(j, "%s", r.out);
    *files = cJSON_GetObjectItem(j, "files")->valueint;
    *documents = cJSON_GetObjectItem(j, "documents")->valueint;
    cJSON *map = cJSON_CreateObject();
    cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(j, "failed_files"))
        cJSON_AddStringToObject(map, cJSON_GetObjectItem(f, "path")->valuestring,
                                cJSON_GetObjectItem(f, "error")->valuestring);
    cJSON_Delete(j);
    run_result_free(&r);
    return map;
}

/* True when `docqa search` finds query in path. */
static bool found(const char *query, const char *path)
{
    run_result r = DOCQA("search", "--json", query);
    bool hit = r.status == 0 && strstr(r.out, path) != NULL;
    run_result_free(&r);
    return hit;
}

/* ---- the corpus ----------------------------------------------------------- */

typedef struct {
    const char *path;   /* under the workdir */
    const char *expect; /* the stored error; NULL: ingested fine */
    bool prefix;        /* expect is the error's start (the rest is MuPDF's wording) */
} outcome;

static void expect_outcomes(const cJSON *failed, const outcome *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetObjectItem(failed, o[i].path);
        if (!o[i].expect) {
            cr_expect_null(e, "'%s' should have been ingested, failed with '%s'", o[i].path,
                           e ? e->valuestring : "");
            continue;
        }
        if (!e) {
            cr_expect_fail("'%s' should have failed with '%s'", o[i].path, o[i].expect);
            continue;
        }
        if (o[i].prefix)
            cr_expect(strncmp(e->valuestring, o[i].expect, strlen(o[i].expect)) == 0,
                      "'%s': '%s' does not start with '%s'", o[i].path, e->valuestring,
                      o[i].expect);
        else
            cr_expect_str_eq(e->valuestring, o[i].expect, "'%s': got '%s'", o[i].path,
                             e->valuestring);
        cr_expect_null(strchr(e->valuestring, '\n'), "one line: '%s'", e->valuestring);
    }
}

/* Writes every bad (and a few good) files under corpus/; returns the outcomes. */
static size_t write_corpus(outcome *o)
{
    size_t n = 0;
    /* good neighbours */
    put_text("corpus/a-good.md", "# Manual\n\nThe warranty period is 24 months from purchase.\n");
    o[n++] = (outcome){"corpus/a-good.md", NULL, false};
    put_pdf("corpus/b-good.pdf", contract, 3, NULL);
    o[n++] = (outcome){"corpus/b-good.pdf", NULL, false};

    /* encrypted: user password (needs --password), owner password only (opens as is) */
    pdfgen_opts user = {"hunter2", NULL}, owner_only = {"", NULL};
    put_pdf("corpus/enc-user.pdf", contract, 3, &user);
    o[n++] = (outcome){"corpus/enc-user.pdf", "file is encrypted (use --password)", false};
    pdfgen_line owner_line[] = {{"Owner locked but readable: the code is heliotrope.", 11, false}};
    put_pdf("corpus/enc-owner.pdf", owner_line, 1, &owner_only);
    o[n++] = (outcome){"corpus/enc-owner.pdf", NULL, false};

    /* truncated downloads of a 3-page PDF */
    const char *full = at("full.pdf");
    pdfgen_page three[] = {{contract, 3, false}, {contract, 3, false}, {contract, 3, false}};
    cr_assert_eq(pdfgen_write(full, three, 3, NULL), 0);
    long size = pdfgen_file_size(full);
    static const struct {
        const char *name;
        int percent;
        const char *expect;
    } cuts[] = {
        {"corpus/cut-01.pdf", 1, "damaged file: invalid key in dict"},
        {"corpus/cut-30.pdf", 30, "no text found (damaged or empty document): "},
        {"corpus/cut-60.pdf", 60, "no text found (damaged or empty document): "},
        {"corpus/cut-95.pdf", 95, "no text found (damaged or empty document): "},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        cr_assert_eq(pdfgen_write_truncated(full, at(cuts[i].name),
                                            (size_t)(size * cuts[i].percent / 100)),
                     0);
        o[n++] = (outcome){cuts[i].name, cuts[i].expect, true};
    }

    put_bytes("corpus/zero.pdf", "", 0);
    o[n++] = (outcome){"corpus/zero.pdf", "empty file", false};

    unsigned char noise[8192];
    random_bytes(noise, sizeof noise, 7);
    put_bytes("corpus/random.pdf", noise, sizeof noise);
    o[n++] = (outcome){"corpus/random.pdf", "not a PDF file", false};
    memcpy(noise, "%PDF-1.7\n", 9);
    put_bytes("corpus/random-header.pdf", noise, sizeof noise);
    o[n++] = (outcome){"corpus/random-header.pdf", "damaged file: no objects found", false};

    pdfgen_page scan[] = {{NULL, 0, true}, {NULL, 0, true}};
    cr_assert_eq(pdfgen_write(at("corpus/scan.pdf"), scan, 2, NULL), 0);
    /* blank image pages: OCR reads them and finds nothing */
    o[n++] = (outcome){"corpus/scan.pdf", "OCR found no text on 2 scanned pages", false};

    put_looping_tree("corpus/tree-loop.pdf");
    o[n++] = (outcome){"corpus/tree-loop.pdf", "damaged file: cycle in page tree", false};
    /* MuPDF refuses 3000 levels ("too much recursion in tree (parents)" or
     * "cycle in page tree", by which check trips first) and reads 50 fine */
    put_deep_tree("corpus/tree-deep.pdf", 3000);
    o[n++] = (outcome){"corpus/tree-deep.pdf", "damaged file: ", true};
    put_deep_tree("corpus/tree-50.pdf", 50);
    o[n++] = (outcome){"corpus/tree-50.pdf", NULL, false};

    put_many_pages("corpus/pages-3000.pdf", 3000);
    o[n++] = (outcome){"corpus/pages-3000.pdf", NULL, false};

    put_dense_page("corpus/million.pdf", 111112); /* 1,000,008 characters */
    o[n++] = (outcome){"corpus/million.pdf",
                       "page 1 has 1000008 characters, over the limit of 200000 per page "
                       "(--max-page-chars)",
                       false};

    /* EPUBs: chapter XHTML that is not well-formed, a package file that is
     * not XML at all, a zip with no container, random bytes */
    const char *broken_xml[] = {
        "mimetype", "application/epub+zip",
        "META-INF/container.xml", container_xml,
        "content.opf", opf_one_chapter,
        "c.xhtml", "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><body>"
                   "<h1>Unclosed <b>chapter<p>The lantern is kept in the &undefined; attic"
                   "</i></div></body>",
    };
    put_epub_parts("corpus/xml-broken.epub", broken_xml, 8);
    o[n++] = (outcome){"corpus/xml-broken.epub", NULL, false};
    const char *bad_opf[] = {
        "mimetype", "application/epub+zip",
        "META-INF/container.xml", container_xml,
        "content.opf", "<package <<< not xml at all \x01\x02",
    };
    put_epub_parts("corpus/opf-broken.epub", bad_opf, 6);
    o[n++] = (outcome){"corpus/opf-broken.epub", "damaged file: syntax error in attributes",
                       false};
    const char *no_container[] = {"mimetype", "application/epub+zip"};
    put_epub_parts("corpus/no-container.epub", no_container, 2);
    o[n++] = (outcome){"corpus/no-container.epub",
                       "damaged file: cannot find named zip archive entry", false};
    put_bytes("corpus/random.epub", noise + 9, 4000);
    o[n++] = (outcome){"corpus/random.epub", "damaged file: cannot recognize zip archive", false};

    /* text in every encoding, and not text at all */
    put_text("corpus/invalid-utf8.txt", "Caf\xc3 au lait \xff\xfe and a stray \x80 byte.\n");
    o[n++] = (outcome){"corpus/invalid-utf8.txt",
                       "unknown text encoding (not UTF-8, UTF-16 or GB18030)", false};
    /* "违约金的比例为千分之五。" in GB18030 */
    put_text("corpus/gb18030.txt", "\xce\xa5\xd4\xbc\xbd\xf0\xb5\xc4\xb1\xc8\xc0\xfd\xce\xaa"
                                   "\xc7\xa7\xb7\xd6\xd6\xae\xce\xe5\xa1\xa3\n");
    o[n++] = (outcome){"corpus/gb18030.txt", NULL, false};
    /* "Tangerine 橘子" with a UTF-16 BOM, little- and big-endian */
    static const char le[] = "\xff\xfeT\0a\0n\0g\0e\0r\0i\0n\0e\0 \0\x58\x6a\x50\x5b\n\0";
    static const char be[] = "\xfe\xff\0T\0a\0n\0g\0e\0l\0o\0 \x6a\x58\x5b\x50\0\n";
    put_bytes("corpus/utf16le.txt", le, sizeof le - 1);
    o[n++] = (outcome){"corpus/utf16le.txt", NULL, false};
    put_bytes("corpus/utf16be.txt", be, sizeof be - 1);
    o[n++] = (outcome){"corpus/utf16be.txt", NULL, false};
    /* a lone high surrogate, then an odd byte out */
    put_bytes("corpus/utf16-broken.txt", "\xff\xfeH\0i\0\x00\xd8x\0y", 11);
    o[n++] = (outcome){"corpus/utf16-broken.txt", "invalid UTF-16 text", false};
    put_bytes("corpus/nul.txt", "text with a\0NUL byte inside\n", 28);
    o[n++] = (outcome){"corpus/nul.txt", "not a text file (binary data)", false};
    put_text("corpus/bom-bad.txt", "\xef\xbb\xbfUTF-8 mark, then \xff\xff\n");
    o[n++] = (outcome){"corpus/bom-bad.txt",
                       "invalid UTF-8 text after a UTF-8 byte order mark", false};
    put_bytes("corpus/random.txt", noise + 100, 6000);
    o[n++] = (outcome){"corpus/random.txt", "unknown text encoding (not UTF-8, UTF-16 or GB18030)",
                       false};
    put_text("corpus/controls.txt", "\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11");
    o[n++] = (outcome){"corpus/controls.txt", "not a text file (binary data)", false};
    /* 200 KB on one line (under --max-page-chars), the last word unique */
    dq_buf longl = DQ_BUF_INIT;
    while (longl.len < (200u << 10))
        dq_buf_puts(&longl, "lorem ipsum dolor sit amet ");
    dq_buf_puts(&longl, "xylophonist");
    put_bytes("corpus/long-line.txt", longl.data, longl.len);
    dq_buf_free(&longl);
    o[n++] = (outcome){"corpus/long-line.txt", NULL, false};
    put_text("corpus/only-headings.md", "# One\n\n## Two\n");
    o[n++] = (outcome){"corpus/only-headings.md", "only headings, no body text to index", false};
    return n;
}

Test(badinput, corpus_in_one_batch)
{
    outcome o[64];
    size_t n = write_corpus(o);
    /* entries the walk itself passes over */
    cr_assert_eq(symlink("nowhere.txt", at("corpus/dangling.txt")), 0);
    cr_assert_eq(mkfifo(at("corpus/fifo.txt"), 0644), 0);

    /* Default limits but the time budget: under a sanitizer on a loaded
     * machine the million-character page can take longer than 120 s, and
     * then the time limit, not the character limit, would name it (both
     * are tested on their own below). */
    run_result r = DOCQA("ingest", "--quiet", "--time-limit", "0", "corpus");
    cr_expect_eq(r.status, 3, "partial ingest; stderr: %s", r.err);
    cr_expect(strstr(r.err, "docqa: 'corpus/dangling.txt': broken symbolic link (No such file "
                            "or directory)\n"),
              "%s", r.err);
    cr_expect(strstr(r.err, "docqa: 'corpus/fifo.txt': not a regular file\n"), "%s", r.err);
    cr_expect(strstr(r.err, "docqa: 'corpus/zero.pdf': empty file\n"), "%s", r.err);
    /* every bad file is named once on stderr, with its reason */
    for (size_t i = 0; i < n; i++) {
        if (!o[i].expect)
            continue;
        char want[300];
        snprintf(want, sizeof want, "docqa: '%s': %s", o[i].path, o[i].expect);
        cr_expect(strstr(r.err, want), "no '%s' in stderr", want);
    }
    run_result_free(&r);

    int files = 0, docs = 0;
    cJSON *failed = failed_files(&files, &docs);
    expect_outcomes(failed, o, n);
    size_t n_bad = 0;
    for (size_t i = 0; i < n; i++)
        n_bad += o[i].expect != NULL;
    cr_expect_eq(cJSON_GetArraySize(failed), (int)n_bad, "only the bad files failed");
    cr_expect_eq(files, (int)n, "every file the walk found is recorded");
    cr_expect_eq(docs, (int)(n - n_bad));
    cJSON_Delete(failed);
    cr_log_info("bad-input corpus: %zu files, %zu bad, plus a broken link and a FIFO", n, n_bad);

    /* what the good files hold is searchable */
    cr_expect(found("warranty period", "corpus/a-good.md"));
    cr_expect(found("违约金", "corpus/b-good.pdf"));
    cr_expect(found("heliotrope", "corpus/enc-owner.pdf"));
    cr_expect(found("Quillfeather", "corpus/pages-3000.pdf"));
    cr_expect(found("lantern attic", "corpus/xml-broken.epub"));
    cr_expect(found("Deep tree", "corpus/tree-50.pdf"));
    cr_expect(found("千分之五", "corpus/gb18030.txt"));
    cr_expect(found("Tangerine", "corpus/utf16le.txt"));
    cr_expect(found("橘子", "corpus/utf16be.txt"));
    cr_expect(found("xylophonist", "corpus/long-line.txt"));
    assert_store_intact();

    /* the password unlocks the encrypted file; the rest stay as they were */
    r = DOCQA("ingest", "--quiet", "--time-limit", "0", "--password", "hunter2", "corpus");
    cr_expect_eq(r.status, 3, "%s", r.err);
    run_result_free(&r);
    failed = failed_files(&files, &docs);
    cr_expect_null(cJSON_GetObjectItem(failed, "corpus/enc-user.pdf"));
    cr_expect_eq(cJSON_GetArraySize(failed), (int)n_bad - 1);
    /* its text is b-good.pdf's, so search shows one of the two (near-duplicate
     * removal); the store holds it as a document of its own */
    cr_expect_eq(docs, (int)(n - n_bad) + 1);
    cJSON_Delete(failed);

    assert_store_intact();
}

Test(badinput, limits_from_the_command_line)
{
    put_many_pages("docs/pages.pdf", 40);
    put_pdf("docs/small.pdf", contract, 3, NULL);
    dq_buf big = DQ_BUF_INIT;
    while (big.len < 1536 * 1024)
        dq_buf_puts(&big, "A line of a text file that is larger than one megabyte.\n");
    put_bytes("docs/big.txt", big.data, big.len);
    dq_buf_free(&big);
    put_dense_page("docs/dense.pdf", 1000);

    run_result r = DOCQA("ingest", "--quiet", "--max-pages", "39", "--max-file-size", "1",
                         "--max-page-chars", "8999", "docs");
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(strstr(r.err, "docqa: 'docs/pages.pdf': 40 pages, over the limit of 39 pages per "
                            "document (--max-pages)\n"),
              "%s", r.err);
    cr_expect(strstr(r.err, "docqa: 'docs/big.txt': 1.5 MB, over the limit of 1.0 MB per file "
                            "(--max-file-size)\n"),
              "%s", r.err);
    cr_expect(strstr(r.err, "docqa: 'docs/dense.pdf': page 1 has 9000 characters, over the "
                            "limit of 8999 per page (--max-page-chars)\n"),
              "%s", r.err);
    cr_expect(strstr(r.err, "ingested 1 file "), "%s", r.err);
    run_result_free(&r);
    assert_store_intact();

    /* at the limits exactly, and with limits off; big.txt's one page of 1.2 M
     * characters is over --max-page-chars too */
    char big_path[512];
    snprintf(big_path, sizeof big_path, "%s/docs/big.txt", workdir);
    cr_assert_eq(unlink(big_path), 0);
    r = DOCQA("ingest", "--quiet", "--force", "--max-pages", "40", "--max-file-size", "2",
              "--max-page-chars", "9000", "docs");
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    r = DOCQA("ingest", "--quiet", "--force", "--max-pages", "0", "--max-file-size", "0",
              "--max-page-chars", "0", "--time-limit", "0", "docs");
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);

    r = DOCQA("ingest", "--max-pages", "-1", "docs");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "docqa: limits must be 0 (none) or positive"), "%s", r.err);
    run_result_free(&r);
    assert_store_intact();
}

/* The time budget, through the library so the test need not be slow: a
 * budget far below what 300 pages take stops the document, whichever of the
 * watchdog (inside a page) or the check between pages sees it first. */
Test(badinput, time_budget_stops_a_document)
{
    put_many_pages("slow.pdf", 300);
    ingest_params p = ingest_default_params();
    p.max_seconds = 0.001;
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract_params(at("slow.pdf"), &p, &d), -1);
    const char *msg = dq_last_error();
    cr_expect(strncmp(msg, "extraction stopped on page ", 27) == 0, "%s", msg);
    cr_expect(strstr(msg, "over the time limit of 0.001 s per document (--time-limit)"), "%s",
              msg);
    cr_expect_eq(d.n_pages, 0, "nothing is handed back");
    ingest_raw_doc_free(&d);

    /* The default budget lets the same document through, pages intact. */
    p = ingest_default_params();
    cr_assert_eq(p.max_seconds, 120.0);
    cr_assert_eq(ingest_extract_params(at("slow.pdf"), &p, &d), 0, "%s", dq_last_error());
    cr_expect_eq(d.n_pages, 300);
    ingest_raw_doc_free(&d);

    /* ingest_extract() is ingest_extract_params() with the defaults. */
    ingest_params def = ingest_default_params();
    cr_expect_eq(def.max_file_bytes, 512LL << 20);
    cr_expect_eq(def.max_pages, 10000);
    cr_expect_eq(def.max_page_chars, 200000);
    cr_expect_null(def.password);
}

/* Inside one page only the watchdog can stop MuPDF: with a single page there
 * is no later check between pages, so this fails only through the cookie.
 * 100000 characters take far longer than a millisecond to interpret. */
Test(badinput, time_budget_stops_inside_a_page)
{
    put_dense_page("dense.pdf", 11112);
    ingest_params p = ingest_default_params();
    p.max_seconds = 0.001;
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract_params(at("dense.pdf"), &p, &d), -1);
    const char *msg = dq_last_error();
    cr_expect(strncmp(msg, "extraction stopped on page 1 of 1 after ", 40) == 0, "%s", msg);
    ingest_raw_doc_free(&d);
    p.max_seconds = 0;
    cr_assert_eq(ingest_extract_params(at("dense.pdf"), &p, &d), 0, "%s", dq_last_error());
    cr_expect_eq(d.n_pages, 1);
    ingest_raw_doc_free(&d);
}

/* Symbolic links inside a walked folder are followed while they stay inside
 * it; one leading out is reported and passed over unless --follow-symlinks. */
Test(badinput, symlinks_out_of_the_folder)
{
    put_text("docs/inside.md", "# Inside\n\nThe inside file mentions marzipan.\n");
    put_text("docs/sub/deeper.txt", "A deeper file mentions nougat.\n");
    put_text("outside/secret.md", "# Secret\n\nThe outside file mentions saffron.\n");
    put_text("outside/more/other.txt", "Another outside file mentions cardamom.\n");
    cr_assert_eq(symlink("../outside/secret.md", at("docs/secret.md")), 0);
    cr_assert_eq(symlink("../outside/more", at("docs/more")), 0);
    cr_assert_eq(symlink("sub/deeper.txt", at("docs/alias.txt")), 0); /* stays inside */
    cr_assert_eq(symlink("/etc/hostname", at("docs/host.so")), 0); /* not a document: quiet */

    char secret[600], more[600];
    snprintf(secret, sizeof secret, "%s/outside/secret.md", workdir);
    snprintf(more, sizeof more, "%s/outside/more", workdir);
    char *real_secret = realpath(secret, NULL), *real_more = realpath(more, NULL);

    run_result r = DOCQA("ingest", "docs");
    cr_expect_eq(r.status, 0, "links passed over by rule are not failures: %s", r.err);
    char want[1400];
    snprintf(want, sizeof want,
             "docqa: 'docs/secret.md': symbolic link to '%s', outside the folder, not followed "
             "(use --follow-symlinks)\n",
             real_secret);
    cr_expect(strstr(r.err, want), "%s", r.err);
    snprintf(want, sizeof want,
             "docqa: 'docs/more': symbolic link to '%s', outside the folder, not followed "
             "(use --follow-symlinks)\n",
             real_more);
    cr_expect(strstr(r.err, want), "%s", r.err);
    cr_expect_null(strstr(r.err, "host.so"), "%s", r.err);
    cr_expect(strstr(r.err, "ingested 2 files"), "%s", r.err);
    cr_expect(strstr(r.err, "1 linked to identical content"), "alias.txt: %s", r.err);
    cr_expect(strstr(r.err, "0 failed, 2 skipped\n"), "%s", r.err);
    run_result_free(&r);
    cr_expect(found("marzipan", "docs/inside.md"));
    cr_expect(!found("saffron", "docs/secret.md"));
    cr_expect(!found("cardamom", "other.txt"));

    r = DOCQA("ingest", "--follow-symlinks", "docs");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_null(strstr(r.err, "not followed"), "%s", r.err);
    run_result_free(&r);
    cr_expect(found("saffron", "docs/secret.md"));
    cr_expect(found("cardamom", "docs/more/other.txt"));

    /* a file named on the command line is read even through a link */
    cr_assert_eq(symlink("outside/more/other.txt", at("named.txt")), 0);
    r = DOCQA("ingest", "--quiet", "named.txt");
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    free(real_secret);
    free(real_more);
    assert_store_intact();
}

/* User query syntax is text to search for, never FTS5 syntax or SQL. */
static const char *const hostile_queries[] = {
    "\"warranty period",          "warranty\"",
    "NEAR(warranty period, 2)",   "NEAR/2 warranty",
    "warr*",                      "*",
    "(warranty",                  "warranty)) OR ((",
    "text: warranty",             "section:违约",
    "{text section}: warranty",   "^warranty",
    "warranty AND NOT period",    "- warranty + period",
    "'; DROP TABLE chunks; --",   "\" OR 1=1 --",
    "合同\" OR \"x",              "违约金*",
    "\\",                         "%_%",
    "rowid:1",                    "fts MATCH 'x'",
    "warranty\x01period",         "ＮＥＡＲ（warranty）",
};

Test(badinput, fts_syntax_in_questions)
{
    put_text("docs/manual.md", "# Manual\n\nThe warranty period is 24 months from purchase.\n");
    put_text("docs/lease.md", "# 合同\n\n乙方应支付违约金。\n");
    run_result r = DOCQA("ingest", "--quiet", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);

    store *st = store_open(at(".docqa"), STORE_READONLY);
    cr_assert(st, "%s", dq_last_error());
    retrieve_params rp = retrieve_default_params();
    for (size_t i = 0; i < sizeof hostile_queries / sizeof hostile_queries[0]; i++) {
        const char *q = hostile_queries[i];
        retrieve_result res = {0};
        int rc = retrieve_search(st, NULL, q, &rp, &res);
        if (rc < 0)
            cr_expect_str_eq(dq_last_error(), "the question has no searchable words",
                             "query '%s' failed: %s", q, dq_last_error());
        else if (strstr(q, "warranty") && !strstr(q, "\x01"))
            cr_expect_gt(res.n, 0, "query '%s' finds the manual", q);
        retrieve_result_free(&res);

        run_result s = DOCQA("search", "--", q);
        cr_expect(s.status == 0 || (rc < 0 && s.status == 1), "docqa search '%s': %d %s", q,
                  s.status, s.err);
        cr_expect_null(strstr(s.err, "fts5"), "'%s': %s", q, s.err);
        cr_expect_null(strstr(s.err, "syntax error"), "'%s': %s", q, s.err);
        run_result_free(&s);
    }
    store_close(st);

    /* the tables survived the injection attempts */
    int files = 0, docs = 0;
    cJSON *failed = failed_files(&files, &docs);
    cr_expect_eq(files, 2);
    cr_expect_eq(docs, 2);
    cJSON_Delete(failed);
    cr_expect(found("违约金", "docs/lease.md"));
    assert_store_intact();
}

/* A broken config file stops the command with the file and line named. */
Test(badinput, hostile_config_files)
{
    put_text("docs/a.md", "# A\n\nSome text to index.\n");
    static const struct {
        const char *text;
        size_t len;
        const char *expect;
    } cases[] = {
        {"[embed]\nthreads = 99999\n", 0, "config' line 2: unknown or invalid setting 'embed.threads = 99999'"},
        {"[embed\n", 0, "config' line 1: malformed section header"},
        {"\x7f\x45\x4c\x46\x02\x01\x01\n", 0, "config' line 1: expected 'key = value'"},
        {"[embed]\nint8 = maybe\n", 0, "config' line 2: unknown or invalid setting 'embed.int8 = maybe'"},
        {"[embed]\nmodel = /x\0\nthreads = 1\n", 32, "config' line 2: NUL byte (not a text file?)"},
        /* a 5000-byte value is one line, not two */
        {NULL, 0, "config' line 3: unknown or invalid setting 'embed.bogus = 1'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].text) {
            put_bytes(".docqa/config", cases[i].text,
                      cases[i].len ? cases[i].len : strlen(cases[i].text));
        } else {
            dq_buf b = DQ_BUF_INIT;
            dq_buf_puts(&b, "[embed]\nmodel = ");
            for (int k = 0; k < 5000; k++)
                dq_buf_putc(&b, 'x');
            dq_buf_puts(&b, "\nbogus = 1\n");
            put_bytes(".docqa/config", b.data, b.len);
            dq_buf_free(&b);
        }
        run_result r = DOCQA("ingest", "--quiet", "docs");
        cr_expect_eq(r.status, 1, "case %zu: %s", i, r.err);
        cr_expect(strstr(r.err, cases[i].expect), "case %zu: %s", i, r.err);
        run_result_free(&r);
    }
}
