/* test_textfile.c - .txt/.md through ingest_extract(): encodings, line ends, pages, Markdown. */
#include "common/common.h"
#include "ingest/ingest.h"
#include "support/tmpdir.h"

#include <criterion/criterion.h>

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/dq_textfile_XXXXXX";
static ingest_raw_doc doc;

static void setup(void)
{
    strcpy(dir, "/tmp/dq_textfile_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    memset(&doc, 0, sizeof doc);
}

static void teardown(void)
{
    ingest_raw_doc_free(&doc);
    cr_expect_eq(tmpdir_remove(dir), 0);
}

TestSuite(textfile, .init = setup, .fini = teardown);

/* Writes n bytes to dir/name and extracts it into doc; returns the rc. */
static int extract_bytes(const char *name, const char *data, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
    ingest_raw_doc_free(&doc);
    return ingest_extract(path, NULL, &doc);
}

static int extract_str(const char *name, const char *text)
{
    return extract_bytes(name, text, strlen(text));
}

/* The document rendered as "p<page>:" headers, blocks separated by "|" and
 * lines by "/", headings prefixed "#<level> ": one string to compare. */
static char *render(void)
{
    dq_buf b = DQ_BUF_INIT;
    for (size_t p = 0; p < doc.n_pages; p++) {
        dq_buf_printf(&b, "%sp%d:", p ? " " : "", doc.pages[p].number);
        for (size_t k = 0; k < doc.pages[p].n_blocks; k++) {
            if (k)
                dq_buf_putc(&b, '|');
            const ingest_block *blk = &doc.pages[p].blocks[k];
            for (size_t l = 0; l < blk->n_lines; l++) {
                const ingest_line *ln = &blk->lines[l];
                cr_assert(utf8_valid(ln->text, strlen(ln->text)));
                cr_assert_eq(ln->size, 0);
                cr_assert_not(ln->bold);
                if (l)
                    dq_buf_putc(&b, '/');
                if (ln->heading)
                    dq_buf_printf(&b, "#%d ", ln->heading);
                dq_buf_puts(&b, ln->text);
            }
        }
    }
    return dq_buf_take(&b);
}

static void assert_render(const char *want)
{
    char *got = render();
    cr_assert_str_eq(got, want);
    free(got);
}

Test(textfile, utf8_paragraphs_and_lines)
{
    cr_assert_eq(extract_str("a.txt", "First line\n  second line  \n\n\n第二段。\n"), 0, "%s",
                 dq_last_error());
    cr_assert_str_eq(doc.format, "txt");
    cr_assert_null(doc.title);
    cr_assert_eq(doc.n_pages, 1);
    cr_assert_eq(doc.pages[0].width, 0);
    assert_render("p1:First line/second line|第二段。");
}

Test(textfile, crlf_and_cr)
{
    cr_assert_eq(extract_str("a.txt", "one\r\ntwo\r\n\r\nthree\rfour\r\rfive"), 0);
    assert_render("p1:one/two|three/four|five");
}

Test(textfile, form_feed_pages)
{
    cr_assert_eq(extract_str("a.txt", "page one\n\fpage two\nmore\f\fpage four\n\f\n"), 0);
    cr_assert_eq(doc.n_pages, 4); /* the trailing form feed starts no page */
    cr_assert_eq(doc.pages[2].n_blocks, 0);
    assert_render("p1:page one p2:page two/more p3: p4:page four");
}

Test(textfile, utf8_bom_stripped)
{
    cr_assert_eq(extract_str("a.txt", "\xEF\xBB\xBF合同条款\nline"), 0);
    assert_render("p1:合同条款/line");
}

Test(textfile, gb18030_converted)
{
    /* "合同的违约金" in GBK, then an ASCII line. */
    static const char gbk[] = "\xba\xcf\xcd\xac\xb5\xc4\xce\xa5\xd4\xbc\xbd\xf0\r\nABC 123\r\n";
    cr_assert_eq(extract_str("gbk.txt", gbk), 0, "%s", dq_last_error());
    assert_render("p1:合同的违约金/ABC 123");
}

Test(textfile, gb18030_four_byte_sequence)
{
    /* Outside the BMP, GB18030 uses four-byte sequences GBK lacks. */
    const char *utf8 = "caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80";
    char gb[64], *in = (char *)utf8, *out = gb;
    size_t il = strlen(utf8), ol = sizeof gb;
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    cr_assert_neq(cd, (iconv_t)-1);
    cr_assert_neq(iconv(cd, &in, &il, &out, &ol), (size_t)-1);
    iconv_close(cd);
    size_t n = (size_t)(out - gb);
    cr_assert_not(utf8_valid(gb, n));
    cr_assert_eq(extract_bytes("four.txt", gb, n), 0, "%s", dq_last_error());
    assert_render("p1:caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80");
}

Test(textfile, utf16le_and_be_with_bom)
{
    static const char le[] = "\xFF\xFE" "A\x00" "\x08\x54" "\n\x00" "\x0c\x54" "\x0c\x54";
    cr_assert_eq(extract_bytes("le.txt", le, sizeof le - 1), 0, "%s", dq_last_error());
    assert_render("p1:A合/同同");
    static const char be[] = "\xFE\xFF" "\x00" "B" "\x54\x08";
    cr_assert_eq(extract_bytes("be.txt", be, sizeof be - 1), 0, "%s", dq_last_error());
    assert_render("p1:B合");
    static const char odd[] = "\xFF\xFE" "A\x00" "B";
    cr_assert_eq(extract_bytes("odd.txt", odd, sizeof odd - 1), -1);
    cr_assert_str_eq(dq_last_error(), "invalid UTF-16 text");
}

Test(textfile, binary_garbage_fails)
{
    unsigned char junk[512];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    cr_assert_eq(extract_bytes("junk.txt", (const char *)junk, sizeof junk), -1);
    cr_assert_str_eq(dq_last_error(), "unknown text encoding (not UTF-8, UTF-16 or GB18030)");
    cr_assert_eq(doc.n_pages, 0);
    cr_assert_null(doc.pages);

    /* Valid in every encoding but full of NULs and controls: still binary. */
    static const char nul[] = "ELF\x00\x01\x02\x03 text";
    cr_assert_eq(extract_bytes("nul.txt", nul, sizeof nul - 1), -1);
    cr_assert_str_eq(dq_last_error(), "not a text file (binary data)");
    static const char ctl[] = "a\x01\x02\x03\x04\x05 b";
    cr_assert_eq(extract_bytes("ctl.txt", ctl, sizeof ctl - 1), -1);
    cr_assert_str_eq(dq_last_error(), "not a text file (binary data)");
}

Test(textfile, stray_controls_dropped)
{
    dq_buf b = DQ_BUF_INIT;
    for (int i = 0; i < 30; i++)
        dq_buf_puts(&b, "plain text line with words\n");
    dq_buf_puts(&b, "tab\there\x07 bell\xC2\x85 nel");
    cr_assert_eq(extract_bytes("c.txt", b.data, b.len), 0, "%s", dq_last_error());
    const ingest_block *blk = &doc.pages[0].blocks[0];
    cr_assert_str_eq(blk->lines[blk->n_lines - 1].text, "tab here bell nel");
    dq_buf_free(&b);
}

Test(textfile, empty_inputs)
{
    cr_assert_eq(extract_str("zero.txt", ""), -1);
    cr_assert_str_eq(dq_last_error(), "empty file");
    cr_assert_eq(extract_str("ws.txt", "  \n\r\n\t \f \n"), -1);
    cr_assert_str_eq(dq_last_error(), "empty file");
    cr_assert_eq(doc.n_pages, 0);
    cr_assert_eq(extract_str("bom.md", "\xEF\xBB\xBF"), -1);
    cr_assert_str_eq(dq_last_error(), "empty file");
    cr_assert_eq(extract_str("fm.md", "---\ntitle: x\n---\n<!-- nothing -->\n"), -1);
    cr_assert_str_eq(dq_last_error(), "empty file");
}

Test(textfile, markdown_headings)
{
    cr_assert_eq(extract_str("h.md", "# Title #\n"
                                     "intro line\n"
                                     "## 第二章 违约责任\n"
                                     "###### six\n"
                                     "####### seven is text\n"
                                     "#nospace is text\n"
                                     "\n"
                                     "Setext One\n"
                                     "==========\n"
                                     "Setext\n"
                                     "Two\n"
                                     "---\n"
                                     "body\n"),
                 0, "%s", dq_last_error());
    cr_assert_str_eq(doc.format, "md");
    assert_render("p1:#1 Title|intro line|#2 第二章 违约责任|#6 six|####### seven is text/"
                  "#nospace is text|#1 Setext One|#2 Setext Two|body");
}

Test(textfile, markdown_inline_markup)
{
    cr_assert_eq(extract_str("i.md",
                             "Some **bold**, *em*, _under_ and `code` with snake_case and 2 * 3.\n"
                             "A [link text](http://x.com/a_(b)) and ![logo](logo.png) here.\n"
                             "Ref [label][1], auto <https://example.com>, tag <b>x</b>, a < b.\n"
                             "合同**必须**履行，\\*不是强调\\*。\n"
                             "[1]: http://example.com\n"),
                 0, "%s", dq_last_error());
    assert_render("p1:Some bold, em, under and code with snake_case and 2 * 3./"
                  "A link text and here./"
                  "Ref label, auto https://example.com, tag x, a < b./"
                  "合同必须履行，*不是强调*。");
}

Test(textfile, markdown_lists_quotes_rules)
{
    cr_assert_eq(extract_str("l.md", "* first item\n"
                                     "- second item\n"
                                     "1. numbered\n"
                                     "\n"
                                     "> quoted **words**\n"
                                     "\n"
                                     "***\n"
                                     "after rule\n"),
                 0);
    assert_render("p1:* first item/- second item/1. numbered|quoted words|after rule");
}

Test(textfile, markdown_code_fences_kept_without_fences)
{
    cr_assert_eq(extract_str("c.md", "Before:\n"
                                     "```c\n"
                                     "int *p = **q; // # not a heading\n"
                                     "\n"
                                     "return [a](b);\n"
                                     "```\n"
                                     "~~~~\n"
                                     "tilde code\n"
                                     "~~~~\n"
                                     "After.\n"),
                 0);
    assert_render("p1:Before:|int *p = **q; // # not a heading|return [a](b);|tilde code|After.");
}

Test(textfile, markdown_front_matter_and_comments)
{
    cr_assert_eq(extract_str("f.markdown", "---\n"
                                           "title: Hidden\n"
                                           "tags: [a, b]\n"
                                           "---\n"
                                           "# Visible\n"
                                           "text <!-- inline note --> continues\n"
                                           "<!-- a comment\n"
                                           "over lines -->\n"
                                           "last line\n"),
                 0);
    cr_assert_str_eq(doc.format, "md");
    assert_render("p1:#1 Visible|text continues/last line");
}

Test(textfile, markdown_thematic_break_not_front_matter_later)
{
    cr_assert_eq(extract_str("t.md", "intro\n\n---\nkey: value\n---\n"), 0);
    /* "---" after a blank line is a rule; "key: value" then "---" is a setext heading. */
    assert_render("p1:intro|#2 key: value");
}

Test(textfile, markdown_crlf_and_form_feed)
{
    cr_assert_eq(extract_str("p.md", "# One\r\nbody\r\n\f# Two\r\nmore\r\n"), 0);
    assert_render("p1:#1 One|body p2:#1 Two|more");
}

/* Regression: every '[' and '<' used to scan to the end of its line for its
 * partner, so a long line of unclosed brackets took quadratic time (200 KB of
 * '[' took 9 s). Links after the junk must still resolve, nested link text
 * too. */
Test(textfile, markdown_unclosed_brackets_linear, .timeout = 20)
{
    size_t junk = 190000; /* under --max-page-chars, quadratic would still take seconds */
    const char *tail = " see [the [inner] text](http://x.com/(a)) and <https://y.org> <b>z</b>\n";
    dq_buf b = DQ_BUF_INIT;
    for (size_t i = 0; i < junk; i++)
        dq_buf_puts(&b, i % 2 ? "[" : "<");
    dq_buf_puts(&b, tail);
    dq_buf_puts(&b, "\n(((( [a](b\n");
    double t0 = dq_now();
    cr_assert_eq(extract_bytes("junk.md", b.data, b.len), 0, "%s", dq_last_error());
    cr_expect_lt(dq_now() - t0, 5.0, "took %.1f s", dq_now() - t0);
    cr_assert_eq(doc.pages[0].n_blocks, 2);
    const char *line = doc.pages[0].blocks[0].lines[0].text;
    cr_assert_eq(strncmp(line, "<[<[", 4), 0);
    cr_expect_str_eq(line + junk, " see the [inner] text and https://y.org z");
    /* An unclosed link target is text; the '(' runs stay as written. */
    cr_expect_str_eq(doc.pages[0].blocks[1].lines[0].text, "(((( [a](b");
    dq_buf_free(&b);
}

/* Regression: a FIFO (or device) named like a text file used to be opened
 * and read, which blocks forever with no writer. */
Test(textfile, fifo_refused_not_read, .timeout = 10)
{
    char path[256];
    snprintf(path, sizeof path, "%s/pipe.txt", dir);
    cr_assert_eq(mkfifo(path, 0644), 0);
    cr_assert_eq(ingest_extract(path, NULL, &doc), -1);
    cr_expect_str_eq(dq_last_error(), "not a regular file");
}

Test(textfile, page_limits_hold_for_text_files)
{
    /* 10,003 form-feed pages against the default 10,000 */
    size_t n = 10003;
    char *pages = dq_malloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++) {
        pages[2 * i] = 'a';
        pages[2 * i + 1] = '\f';
    }
    pages[2 * n - 1] = '\n';
    cr_expect_eq(extract_bytes("pages.txt", pages, 2 * n), -1);
    cr_expect_str_eq(dq_last_error(),
                     "10003 pages, over the limit of 10000 pages per document (--max-pages)");
    free(pages);

    /* one page of 300,000 characters against the default 200,000 */
    size_t m = 300000;
    char *page = dq_malloc(m + 2);
    for (size_t i = 0; i < m; i++)
        page[i] = i % 10 == 9 ? ' ' : 'x';
    page[m] = '\n';
    cr_expect_eq(extract_bytes("page.md", page, m + 1), -1);
    cr_expect_str_eq(dq_last_error(), "page 1 has 270000 characters, over the limit of 200000 "
                                      "per page (--max-page-chars)");
    free(page);
}
