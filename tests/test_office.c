/* test_office.c - DOCX, XLSX, PPTX, ODT, ODS, ODP through ingest_extract(), clean and split.
 *
 * The well-formed files are tests/fixtures/office/ (scripts/make_office_fixtures.py
 * writes them with python-docx and openpyxl, and by hand where Debian has no
 * writer). Hostile archives are built here with MuPDF's ZIP writer.
 */
#include "common/common.h"
#include "ingest/ingest.h"
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
    cr_expect(strstr(in.paras, "\nFirst bullet item\n"), "%s", in.paras);
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
