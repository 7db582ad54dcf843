/* fuzz_clean.c - libFuzzer harness: a raw document as MuPDF might report it, through cleanup and splitting.
 *
 * The input describes pages of lines: each line is a control byte (font size
 * from its low 5 bits, bold from bit 5, "new block" from bit 6, "new page"
 * from bit 7) followed by text up to the next '\n'. Text is sanitised to
 * UTF-8 as the extractor would. This reaches what text files cannot: font-size
 * headings, running headers and footers repeated across pages, page numbers,
 * hyphenation across lines and CJK line joins.
 */
#include "common/common.h"
#include "ingest/ingest.h"
#include "ingest/raw.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *page = raw_add_page(&raw, 1);
    ingest_block *block = NULL;
    size_t i = 0;
    int y = 0;
    while (i < size && raw.n_pages < 64) {
        unsigned ctl = data[i++];
        const unsigned char *nl = memchr(data + i, '\n', size - i);
        size_t end = nl ? (size_t)(nl - data) : size;
        if ((ctl & 0x80) && page->n_blocks) {
            page = raw_add_page(&raw, (int)raw.n_pages + 1);
            page->width = 595;
            page->height = 842;
            block = NULL;
            y = 0;
        }
        if (!block || (ctl & 0x40))
            block = raw_add_block(page);
        ingest_line *line = raw_add_line(block, utf8_sanitize((const char *)data + i, end - i));
        line->size = (float)(6 + (ctl & 0x1f));
        line->bold = ctl & 0x20;
        line->x0 = 72;
        line->x1 = 72 + (float)(end - i) * 5;
        line->y0 = (float)(y += 14);
        line->y1 = line->y0 + line->size;
        i = end + 1;
    }
    raw.format = dq_strdup("pdf");
    ingest_doc doc = {0};
    if (ingest_clean(&raw, &doc) == 0) {
        split_params sp = split_default_params();
        sp.chunk_cjk = 20 + (int)(size % 100);
        sp.chunk_words = 15 + (int)(size % 50);
        chunk_list chunks = {0};
        if (split_document(&doc, &sp, &chunks) == 0) {
            for (size_t k = 0; k < chunks.n; k++) {
                const chunk *c = &chunks.items[k];
                if (!utf8_valid(c->text, strlen(c->text)) ||
                    !utf8_valid(c->section, strlen(c->section)) || c->page_start > c->page_end)
                    abort();
            }
        }
        chunk_list_free(&chunks);
    }
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
    return 0;
}
