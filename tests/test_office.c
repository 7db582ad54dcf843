/* test_office.c - DOCX, XLSX, PPTX, ODT, ODS, ODP through ingest_extract(), clean and split.
 *
 * The well-formed files are tests/fixtures/office/ (scripts/make_office_fixtures.py
 * writes them with python-docx and openpyxl, and by hand where Debian has no
 * writer). Hostile archives are built here with MuPDF's ZIP writer.
 */
#include "common/common.h"
#include "ingest/ingest.h"
#include "ingest/office.h"
#include "support/tmpdir.h"

#include <criterion/criterion.h>
#include <mupdf/fitz.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[] = "/tmp/dq_office_XXXXXX";

static void setup(void)
{
    strcpy(dir, "/tmp/dq_office_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    cr_expect_eq(tmpdir_remove(dir), 0);
}

TestSuite(office, .init = setup, .fini = teardown);

/* A fixture through the whole of ingest: raw, clean and chunks. */
typedef struct {
    ingest_raw_doc raw;
    ingest_doc doc;
    chunk_list chunks;
    char *paras; /* every paragraph, "#<level> " before headings, "\n" after each */
} ingested;

static void ingest_file(const char *path, ingested *in)
{
    memset(in, 0, sizeof *in);
    cr_assert_eq(ingest_extract(path, NULL, &in->raw), 0, "%s: %s", path, dq_last_error());
    cr_assert_eq(ingest_clean(&in->raw, &in->doc), 0);
    cr_assert_eq(split_document(&in->doc, NULL, &in->chunks), 0);
    dq_buf b = DQ_BUF_INIT;
    for (size_t p = 0; p < in->doc.n_pages; p++)
        for (size_t i = 0; i < in->doc.pages[p].n_paras; i++) {
            const ingest_para *para = &in->doc.pages[p].paras[i];
            if (para->heading)
                dq_buf_printf(&b, "#%d ", para->heading);
            dq_buf_printf(&b, "%s\n", para->text);
        }
    in->paras = dq_buf_take(&b);
}

static void ingest_fixture(const char *name, ingested *in)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/office/%s", DQ_SOURCE_DIR, name);
    ingest_file(path, in);
}

static void ingested_free(ingested *in)
{
    chunk_list_free(&in->chunks);
    ingest_doc_free(&in->doc);
    ingest_raw_doc_free(&in->raw);
    free(in->paras);
}

/* The chunk holding needle, or NULL. */
static const chunk *chunk_with(const ingested *in, const char *needle)
{
    for (size_t i = 0; i < in->chunks.n; i++)
        if (strstr(in->chunks.items[i].text, needle))
            return &in->chunks.items[i];
    return NULL;
}

/* The label of the chunk holding needle ("" when none holds it). */
static const char *label_of(const ingested *in, const char *needle)
{
    const chunk *c = chunk_with(in, needle);
    return c ? c->label : "";
}

Test(office, docx_structure)
{
    ingested in;
    ingest_fixture("contract.docx", &in);
    cr_expect_str_eq(in.raw.format, "docx");
    /* headings from Heading N and from a style based on Heading 2 */
    cr_expect(strstr(in.paras, "#1 第一章 总则\n本合同由甲方与乙方签订。\n#2 1.1 定义\n"), "%s", in.paras);
    cr_expect(strstr(in.paras, "#2 1.2 违约责任\n违约金为每日万分之五。\n"), "%s", in.paras);
    cr_expect(strstr(in.paras, "\n• First bullet item\n• Second bullet item\n"), "%s", in.paras);
    /* a table as rows with their headers, the header row once */
    cr_expect(strstr(in.paras, "Item | 2018 | 2017\nRent | 2018: 1,200 | 2017: 1,100\n"), "%s",
              in.paras);
    /* tracked changes accepted, a field's result without its instruction */
    cr_expect(strstr(in.paras, "Payment is due on the first day. Late fees apply.\n"), "%s", in.paras);
    cr_expect_null(strstr(in.paras, "DELETEDWORDS"));
    cr_expect(strstr(in.paras, "Total pages: 7\n"), "%s", in.paras);
    cr_expect_null(strstr(in.paras, "NUMPAGES"));
    /* a footnote after its paragraph; a text box once, not twice */
    cr_expect(strstr(in.paras, "Deposit is refundable.\n[footnote 1] See the 2019 amendment.\n"),
              "%s", in.paras);
    const char *box = strstr(in.paras, "Text box: call 400-800");
    cr_expect(box && !strstr(box + 1, "Text box"), "%s", in.paras);
    /* header and footer once, before the body */
    cr_expect(!strncmp(in.paras, "保密 CONFIDENTIAL 租赁合同\nLease contract footer\n#1", 52),
              "%s", in.paras);
    /* section paths and section+paragraph citations */
    const chunk *c = chunk_with(&in, "押金为两个月租金");
    cr_assert_not_null(c);
    cr_expect_str_eq(c->section, "第一章 总则 > 1.1 定义");
    cr_expect_str_eq(c->label, "§1.1 ¶1");
    cr_expect_str_eq(label_of(&in, "违约金为每日"), "§1.2 ¶1");
    cr_expect_str_eq(label_of(&in, "Rent | 2018"), "§2 ¶1");
    ingested_free(&in);
}

Test(office, docx_chinese_styles_and_rendered_pages)
{
    ingested in;
    ingest_fixture("pages.docx", &in);
    cr_expect(strstr(in.paras, "#1 第三章 价格\n#2 3.1 报价\n单价为每吨五百元。\n"), "%s", in.paras);
    cr_assert_eq(in.raw.n_pages, 2);
    cr_expect_str_eq(in.doc.pages[1].paras[0].text, "第二页的内容在这里。");
    const chunk *c = chunk_with(&in, "单价为每吨");
    cr_assert_not_null(c);
    cr_expect_str_eq(c->label, "p. 1, §1.1 ¶1");
    cr_expect_eq(c->page_end, 2);
    ingested_free(&in);
}

Test(office, xlsx_sheets_rows_and_formats)
{
    ingested in;
    ingest_fixture("prices.xlsx", &in);
    cr_expect_str_eq(in.raw.format, "xlsx");
    /* number and Chinese date formats, a formula's cached value, headers carried */
    cr_expect(strstr(in.paras, "#1 报价单\n产品 | 单价 | 日期 | 折扣 | 合计\n钢材1 | 单价: 1,280.50 | "
                               "日期: 2024年3月15日 | 折扣: 12.5% | 合计: 78600\n"),
              "%s", in.paras);
    cr_expect_null(strstr(in.paras, "HIDDENTEXT"), "hidden sheet read");
    cr_expect(strstr(in.paras, "\nMerged note across columns\n"), "%s", in.paras);
    /* one unit per sheet, rows cited; every chunk of the long sheet carries
     * the headers in its rows */
    cr_expect_str_eq(label_of(&in, "钢材1 |"), "sheet 报价单, rows 1–15");
    const chunk *last = chunk_with(&in, "钢材60");
    cr_assert_not_null(last);
    cr_expect(strstr(last->label, "sheet 报价单, rows ") && strstr(last->label, "–61"), "%s",
              last->label);
    cr_expect(strstr(last->text, "钢材60 | 单价: 1,339.50 | 日期:"), "%s", last->text);
    cr_expect_str_eq(last->section, "报价单");
    cr_expect_str_eq(label_of(&in, "North | Q1: 100"), "sheet Summary, rows 1–5");
    cr_expect_null(strstr(chunk_with(&in, "North")->text, "钢材"), "chunk crossed sheets");
    ingested_free(&in);
}

Test(office, pptx_slides_tables_notes)
{
    ingested in;
    ingest_fixture("deck.pptx", &in);
    /* title first, then the body top to bottom, then notes */
    cr_expect(strstr(in.paras, "#1 季度销售回顾\n收入增长百分之十二\nRevenue grew 12% in Q3\n"
                               "Notes: Mention the new plant\n#1 Pricing table\nProduct | Price\n"
                               "Steel | Price: 500\n"),
              "%s", in.paras);
    cr_expect_null(strstr(in.paras, "Hidden slide"));
    cr_expect_str_eq(label_of(&in, "Revenue grew"), "slide 1");
    cr_expect_str_eq(label_of(&in, "Copper | Price: 900"), "slide 2");
    cr_expect_str_eq(chunk_with(&in, "Copper")->section, "Pricing table");
    ingested_free(&in);
}

Test(office, odf_text_sheet_presentation)
{
    ingested in;
    ingest_fixture("report.odt", &in);
    cr_expect(strstr(in.paras, "年度报告 页眉\n#1 第一章 概述\n本报告介绍年度经营情况。\n"
                               "[footnote 1] 数据未经审计。\n#2 1.1 Scope\n• Steel output\n"),
              "%s", in.paras);
    cr_expect(strstr(in.paras, "Metal | Tons\nSteel | Tons: 4200\n"), "%s", in.paras);
    cr_expect_eq(in.raw.n_pages, 2);
    cr_expect_str_eq(label_of(&in, "Steel output"), "p. 1, §1.1 ¶1");
    ingested_free(&in);

    ingest_fixture("stock.ods", &in);
    cr_expect_str_eq(in.paras, "#1 库存\n物料 | 数量\n螺栓 | 数量: 1,200\n");
    cr_expect_str_eq(label_of(&in, "螺栓"), "sheet 库存, rows 1–2");
    ingested_free(&in);

    ingest_fixture("training.odp", &in);
    cr_expect_str_eq(in.paras, "#1 Safety training\nWear a helmet at all times\n"
                               "Notes: Ask who has a helmet\n#1 安全培训\n安全培训\n");
    cr_expect_str_eq(label_of(&in, "Wear a helmet"), "slide 1");
    cr_expect_str_eq(label_of(&in, "安全培训"), "slide 2");
    ingested_free(&in);
}

/* ---- hostile files -------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *data; /* NUL-terminated, or len bytes */
    size_t len;
} zip_part;

/* Writes dir/file as a ZIP of the parts with MuPDF's writer; returns its path. */
static char *write_zip(const char *file, const zip_part *parts, size_t n)
{
    char *path = dq_malloc(512);
    snprintf(path, 512, "%s/%s", dir, file);
    fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
    cr_assert_not_null(ctx);
    fz_zip_writer *zip = fz_new_zip_writer(ctx, path);
    for (size_t i = 0; i < n; i++) {
        size_t len = parts[i].len ? parts[i].len : strlen(parts[i].data);
        fz_buffer *buf = fz_new_buffer_from_copied_data(ctx, (const unsigned char *)parts[i].data,
                                                        len);
        fz_write_zip_entry(ctx, zip, parts[i].name, buf, 1);
        fz_drop_buffer(ctx, buf);
    }
    fz_close_zip_writer(ctx, zip);
    fz_drop_zip_writer(ctx, zip);
    fz_drop_context(ctx);
    return path;
}

static const char *const W =
    "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"";

/* extract path, expecting failure with a message containing want */
static void expect_refused(const char *path, const char *want)
{
    ingest_raw_doc raw;
    cr_expect_eq(ingest_extract(path, NULL, &raw), -1, "%s extracted", path);
    cr_expect(strstr(dq_last_error(), want), "%s: got '%s', want '%s'", path, dq_last_error(),
              want);
    cr_expect_eq(raw.n_pages, 0);
}

static char *docx_with_body(const char *file, const char *body)
{
    dq_buf doc = DQ_BUF_INIT;
    dq_buf_printf(&doc, "<w:document %s><w:body>%s</w:body></w:document>", W, body);
    zip_part parts[] = {{"word/document.xml", doc.data, 0}};
    char *path = write_zip(file, parts, 1);
    dq_buf_free(&doc);
    return path;
}

Test(office, minimal_docx_without_rels)
{
    char *path = docx_with_body("min.docx", "<w:p><w:r><w:t>Hello &amp; 你好</w:t></w:r></w:p>");
    ingested in;
    ingest_file(path, &in);
    cr_expect_str_eq(in.paras, "Hello & 你好\n");
    ingested_free(&in);
    free(path);
}

Test(office, zip_bomb_stops_at_max_doc_memory)
{
    /* 160 MB of one repeated paragraph compresses to well under 1 MB */
    size_t n = 160u << 20;
    char *big = dq_malloc(n + 1);
    const char *unit = "<w:p><w:r><w:t>aaaa</w:t></w:r></w:p>";
    size_t ul = strlen(unit);
    size_t head = (size_t)snprintf(big, n, "<w:document %s><w:body>", W);
    for (size_t i = head; i + ul < n; i += ul)
        memcpy(big + i, unit, ul);
    memset(big + n - ((n - head) % ul), ' ', (n - head) % ul);
    big[n] = '\0';
    zip_part parts[] = {{"word/document.xml", big, n}};
    char *path = write_zip("bomb.docx", parts, 1);
    free(big);
    /* Expanding or holding the part, whichever comes first, meets the one limit. */
    ingest_params lim = ingest_default_params();
    lim.max_doc_bytes = 64 << 20;
    ingest_raw_doc raw;
    cr_expect_eq(office_extract(path, OFFICE_DOCX, &lim, &raw), -1);
    cr_expect(strstr(dq_last_error(), "over the limit of 64 MB per document (--max-doc-memory)"),
              "%s", dq_last_error());
    cr_expect_eq(raw.n_pages, 0);
    free(path);
}

Test(office, deep_nesting_and_broken_xml)
{
    dq_buf deep = DQ_BUF_INIT;
    for (int i = 0; i < 100000; i++)
        dq_buf_puts(&deep, "<w:sdt><w:sdtContent>");
    char *path = docx_with_body("deep.docx", deep.data);
    dq_buf_free(&deep);
    expect_refused(path, "nests XML");
    free(path);

    zip_part broken[] = {{"word/document.xml", "<w:document><w:body><w:p><w:r><w:t>x</w:t", 0}};
    path = write_zip("broken.docx", broken, 1);
    ingest_raw_doc raw;
    if (ingest_extract(path, NULL, &raw) == 0) /* MuPDF may close what is open */
        ingest_raw_doc_free(&raw);
    else
        cr_expect(strstr(dq_last_error(), "damaged file") || strstr(dq_last_error(), "no text"),
                  "%s", dq_last_error());
    free(path);

    zip_part garbage[] = {{"word/document.xml", "<<<&&&>>> \x01\x02 <a b='", 0}};
    path = write_zip("garbage.docx", garbage, 1);
    expect_refused(path, "");
    free(path);
}

Test(office, path_tricks_stay_inside_the_archive)
{
    zip_part parts[] = {
        {"_rels/.rels",
         "<Relationships><Relationship Id=\"r1\" Type=\"x/officeDocument\" "
         "Target=\"../../../../etc/passwd\"/></Relationships>",
         0},
        {"../evil/document.xml", "<w:document><w:body><w:p><w:r><w:t>evil</w:t></w:r></w:p>"
                                 "</w:body></w:document>", 0}};
    char *path = write_zip("tricks.docx", parts, 2);
    expect_refused(path, "missing part 'word/document.xml'");
    free(path);
}

Test(office, huge_shared_string_table)
{
    dq_buf sst = DQ_BUF_INIT;
    dq_buf_puts(&sst, "<sst>");
    for (int i = 0; i < 2100000; i++)
        dq_buf_puts(&sst, "<si/>");
    dq_buf_puts(&sst, "</sst>");
    zip_part parts[] = {
        {"xl/workbook.xml", "<workbook><sheets><sheet name=\"a\" r:id=\"r1\"/></sheets></workbook>", 0},
        {"xl/_rels/workbook.xml.rels",
         "<Relationships><Relationship Id=\"s\" Type=\"x/sharedStrings\" Target=\"sst.xml\"/>"
         "</Relationships>", 0},
        {"xl/sst.xml", sst.data, 0}};
    char *path = write_zip("strings.xlsx", parts, 3);
    dq_buf_free(&sst);
    expect_refused(path, "shared-string table has over 2000000 strings");
    free(path);
}

Test(office, encrypted_legacy_and_not_zip)
{
    /* an OLE compound file holding an EncryptedPackage stream, as Office
     * writes a password-protected .docx */
    char ole[2048] = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
    const char name[] = "E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e\0";
    memcpy(ole + 1024, name, sizeof name - 1);
    const char *files[] = {"secret.docx", "secret.xlsx"};
    for (int i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        fwrite(ole, 1, sizeof ole, f);
        fclose(f);
        expect_refused(path, "password-protected Office file");
    }
    zip_part odf[] = {{"mimetype", "application/vnd.oasis.opendocument.text", 0},
                      {"content.xml", "<office:document-content/>", 0},
                      {"META-INF/manifest.xml",
                       "<manifest:manifest><manifest:file-entry><manifest:encryption-data/>"
                       "</manifest:file-entry></manifest:manifest>", 0}};
    char *p = write_zip("secret.odt", odf, 3);
    expect_refused(p, "password-protected Office file");
    free(p);

    char path[512];
    snprintf(path, sizeof path, "%s/old.doc", dir);
    FILE *f = fopen(path, "wb");
    fwrite(ole, 1, 512, f);
    fclose(f);
    expect_refused(path, "libreoffice --headless --convert-to docx");
    snprintf(path, sizeof path, "%s/text.pptx", dir);
    f = fopen(path, "wb");
    fputs("this is not a zip", f);
    fclose(f);
    expect_refused(path, "not a pptx file");
}

Test(office, memory_limit)
{
    /* a million empty elements: small bytes, a large parsed tree */
    dq_buf body = DQ_BUF_INIT;
    dq_buf_printf(&body, "<w:document %s><w:body>", W);
    for (int i = 0; i < 1000000; i++)
        dq_buf_puts(&body, "<a/>");
    dq_buf_puts(&body, "<w:p><w:r><w:t>x</w:t></w:r></w:p></w:body></w:document>");
    zip_part parts[] = {{"word/document.xml", body.data, 0}};
    char *path = write_zip("many.docx", parts, 1);
    dq_buf_free(&body);
    ingest_params lim = ingest_default_params();
    lim.max_doc_bytes = 16 << 20;
    ingest_raw_doc raw;
    cr_expect_eq(office_extract(path, OFFICE_DOCX, &lim, &raw), -1);
    cr_expect_str_eq(dq_last_error(),
                     "needs more than 16 MB of memory to read, over the limit of 16 MB per "
                     "document (--max-doc-memory); a compressed bomb?");
    lim = ingest_default_params();
    cr_expect_eq(office_extract(path, OFFICE_DOCX, &lim, &raw), 0, "%s", dq_last_error());
    ingest_raw_doc_free(&raw);
    free(path);
}

static void expect_format(double v, const char *code, const char *want)
{
    char *got = office_format_number(v, code, false);
    cr_expect_str_eq(got, want, "%g as '%s'", v, code ? code : "(general)");
    free(got);
}

Test(office, number_formats)
{
    expect_format(1234.5, NULL, "1234.5");
    expect_format(0.1 + 0.2, "General", "0.3");
    expect_format(1234567.891, "#,##0.00", "1,234,567.89");
    expect_format(-1577, "#,##0;(#,##0)", "(1,577)");
    expect_format(-42.5, "0.0", "-42.5");
    expect_format(0.125, "0.0%", "12.5%");
    expect_format(12345, "0.00E+00", "1.23E+04");
    expect_format(1280, "\"¥\"#,##0.00", "¥1,280.00");
    expect_format(1280, "[$¥-804]#,##0", "¥1,280");
    expect_format(3.5, "0.00\"元\"", "3.50元");
    expect_format(0.5, "#.##", ".5");
    /* 45366 is 2024-03-15 */
    expect_format(45366, office_builtin_format(14), "2024/3/15");
    expect_format(45366, office_builtin_format(31), "2024年3月15日");
    expect_format(45366, office_builtin_format(58), "3月15日");
    expect_format(45366, "yyyy年m月d日", "2024年3月15日");
    expect_format(45366, "[DBNum1][$-804]yyyy\"年\"mm\"月\"dd\"日\"", "2024年03月15日");
    expect_format(45366, "dddd, mmmm d, yyyy", "Friday, March 15, 2024");
    expect_format(45366.75, "yyyy-mm-dd hh:mm", "2024-03-15 18:00");
    expect_format(45366.75, "h:mm AM/PM", "6:00 PM");
    expect_format(45366.5, office_builtin_format(34), "下午12时00分");
    expect_format(1, "yyyy-mm-dd", "1900-01-01");
    expect_format(61, "yyyy-mm-dd", "1900-03-01");
    expect_format(1.5 + 10.0 / 1440, "[hh]:mm:ss", "36:10:00");
    expect_format(45366, "yyyy\\-mm\\-dd", "2024-03-15");
    char *d1904 = office_format_number(0, "yyyy-mm-dd", true);
    cr_expect_str_eq(d1904, "1904-01-01");
    free(d1904);
}

Test(office, time_limit_and_many_notes)
{
    /* 5,000 footnotes cited in order: linear with the notes indexed */
    dq_buf body = DQ_BUF_INIT, notes = DQ_BUF_INIT;
    dq_buf_printf(&body, "<w:document %s><w:body>", W);
    dq_buf_printf(&notes, "<w:footnotes %s>", W);
    for (int i = 0; i < 5000; i++) {
        dq_buf_printf(&body, "<w:p><w:r><w:t>para %d</w:t></w:r><w:r><w:footnoteReference "
                             "w:id=\"%d\"/></w:r></w:p>", i, i + 1);
        dq_buf_printf(&notes, "<w:footnote w:id=\"%d\"><w:p><w:r><w:t>note %d</w:t></w:r></w:p>"
                              "</w:footnote>", i + 1, i);
    }
    dq_buf_puts(&body, "</w:body></w:document>");
    dq_buf_puts(&notes, "</w:footnotes>");
    zip_part parts[] = {{"word/document.xml", body.data, 0}, {"word/footnotes.xml", notes.data, 0}};
    char *path = write_zip("notes.docx", parts, 2);
    dq_buf_free(&body);
    dq_buf_free(&notes);
    ingested in;
    ingest_file(path, &in);
    cr_expect(strstr(in.paras, "para 4999\n[footnote 5000] note 4999\n"), "notes out of order");
    ingested_free(&in);

    ingest_params lim = ingest_default_params();
    lim.max_seconds = 1e-9;
    ingest_raw_doc raw;
    cr_expect_eq(office_extract(path, OFFICE_DOCX, &lim, &raw), -1);
    cr_expect(strstr(dq_last_error(), "over the time limit") &&
                  strstr(dq_last_error(), "(--time-limit)"),
              "%s", dq_last_error());
    free(path);
}

/* ---- files Word wrote (tests/fixtures/office/real/README.md) -------------- */

Test(office, word_rendered_page_breaks)
{
    ingested in;
    ingest_fixture("real/par-rendered-page-breaks.docx", &in);
    cr_expect_eq(in.raw.n_pages, 4);
    cr_expect_str_eq(in.doc.pages[0].paras[0].text, "No page breaks");
    /* a break inside a paragraph moves the next one to the new page */
    cr_expect_str_eq(in.doc.pages[2].paras[0].text, "Two page>><<breaks>><<in one run.");
    cr_expect(!strncmp(in.chunks.items[0].label, "p. 1, ¶1", 9), "%s", in.chunks.items[0].label);
    ingested_free(&in);
}

Test(office, word_headers_once_and_styles)
{
    ingested in;
    ingest_fixture("real/sct-first-page-hdrftr.docx", &in);
    const char *h = strstr(in.paras, "Default (odd, primary) Header\n");
    cr_expect(h && !strstr(h + 1, "Default (odd, primary) Header"), "%s", in.paras);
    cr_expect(strstr(in.paras, "First Page Header (section 2)\n"), "%s", in.paras);
    cr_expect_str_eq(in.doc.pages[in.doc.n_pages - 1].paras[0].text,
                     "Page 6, Third page of section 2.");
    ingested_free(&in);

    ingest_fixture("real/hdr-header-footer.docx", &in);
    const char *want = "Header for section-1\nFooter for section 1\nsection with header\n";
    cr_expect(!strncmp(in.paras, want, strlen(want)), "%s", in.paras);
    ingested_free(&in);

    ingest_fixture("real/par-known-styles.docx", &in);
    cr_expect(strstr(in.paras, "\n#1 Heading 1\nBody Text\n"), "%s", in.paras);
    cr_expect_str_eq(label_of(&in, "Body Text"), "§1 ¶1");
    ingested_free(&in);
}

Test(office, powerpoint_tables_and_text)
{
    ingested in;
    ingest_fixture("real/tbl-cell.pptx", &in);
    cr_expect(strstr(in.paras, "a | b | c\nd | b: e | c: f\ng | b: h | c: i\n"), "%s", in.paras);
    cr_expect_str_eq(label_of(&in, "d | b: e"), "slide 3");
    ingested_free(&in);
    ingest_fixture("real/txt-text.pptx", &in);
    cr_expect_str_eq(label_of(&in, "Text run in table cell"), "slide 2");
    cr_expect(strstr(in.paras, "yahoo.com\n"), "%s", in.paras);
    ingested_free(&in);
}

Test(office, spreadsheets_from_other_writers)
{
    ingested in;
    ingest_fixture("real/date.xlsx", &in);
    cr_expect(strstr(in.paras, "\n2021-01-01 | 15\n2021-01-02 | 15: 16\n255:10:10 | 15: 17\n"), "%s",
              in.paras);
    ingested_free(&in);
    ingest_fixture("real/date_1904.xlsx", &in);
    cr_expect(strstr(in.paras, "\n2021-01-01 | 15\n"), "%s", in.paras);
    ingested_free(&in);
    ingest_fixture("real/nonstandard-xml-ns-prefix.xlsx", &in);
    cr_expect_str_eq(in.paras, "#1 Sheet1\na | b\n1 | b: 3\n2 | b: 4\n");
    ingested_free(&in);
    ingest_fixture("real/number_rows_repeated.ods", &in);
    cr_expect_eq(in.raw.n_pages, 3);
    cr_expect_str_eq(label_of(&in, "C | B: D"), "sheet Sheet1, rows 1–8");
    ingested_free(&in);
    /* 16,384 columns of one cell: read, bounded, not a hang */
    ingest_fixture("real/issue_594_dos.ods", &in);
    cr_expect_gt(in.chunks.n, 0);
    ingested_free(&in);
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/office/real/issue_594_dos.ods", DQ_SOURCE_DIR);
    ingest_params lim = ingest_default_params();
    lim.max_doc_bytes = 2 << 20;
    ingest_raw_doc raw;
    cr_expect_eq(office_extract(path, OFFICE_ODS, &lim, &raw), -1);
    cr_expect(strstr(dq_last_error(), "of text (repeated cells?)"), "%s", dq_last_error());
}

static void expect_same_line(const ingest_line *a, const ingest_line *b)
{
    cr_expect_str_eq(a->text, b->text);
    cr_expect_eq(a->heading, b->heading);
    cr_expect_eq(a->loc, b->loc);
    cr_expect_eq(a->bold, b->bold);
}

static void expect_same_page(const ingest_raw_page *a, const ingest_raw_page *b)
{
    cr_expect_eq(a->number, b->number);
    cr_expect_str_eq(a->label ? a->label : "-", b->label ? b->label : "-");
    cr_expect_eq(a->unreadable, b->unreadable);
    cr_assert_eq(a->n_blocks, b->n_blocks);
    for (size_t k = 0; k < a->n_blocks; k++) {
        const ingest_block *x = &a->blocks[k], *y = &b->blocks[k];
        cr_expect_eq(x->table, y->table);
        cr_expect_str_eq(x->header ? x->header : "-", y->header ? y->header : "-");
        cr_assert_eq(x->n_lines, y->n_lines);
        for (size_t l = 0; l < x->n_lines; l++)
            expect_same_line(&x->lines[l], &y->lines[l]);
    }
}

/* docqa ingest reads each file in a child process (isolate.c), which sends
 * the document back through a pipe: what arrives is what was read, labels,
 * rows, table marks and citation kind included. */
Test(office, the_reader_child_sends_the_whole_document)
{
    const char *names[] = {"prices.xlsx", "deck.pptx", "contract.docx", "stock.ods"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/fixtures/office/%s", DQ_SOURCE_DIR, names[i]);
        ingest_params params = ingest_default_params();
        ingest_raw_doc here, there;
        cr_assert_eq(ingest_extract_params(path, &params, &here), 0, "%s", dq_last_error());
        cr_assert_eq(ingest_extract_isolated(path, &params, &there), 0, "%s", dq_last_error());
        cr_expect_eq(here.cite, there.cite, "%s", names[i]);
        cr_expect_eq(here.styled, there.styled, "%s", names[i]);
        cr_assert_eq(here.n_pages, there.n_pages, "%s", names[i]);
        for (size_t p = 0; p < here.n_pages; p++)
            expect_same_page(&here.pages[p], &there.pages[p]);
        ingest_raw_doc_free(&here);
        ingest_raw_doc_free(&there);
    }
}
