/* fuzz_textfile.c - libFuzzer harness: bytes as a .txt or .md file through decoding, cleanup and splitting.
 *
 * The first byte picks Markdown (odd) or plain text (even) and is not part
 * of the file; the rest goes through textfile_parse() (BOM sniffing, UTF-16
 * and GB18030 conversion, control stripping, Markdown reading), then
 * ingest_clean() and split_document(), whose chunks must be valid UTF-8 with
 * sane page spans.
 */
#include "common/common.h"
#include "ingest/ingest.h"
#include "ingest/raw.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    bool markdown = data[0] & 1;
    ingest_raw_doc raw = {0};
    if (textfile_parse((const char *)data + 1, size - 1, markdown, &raw) == 0) {
        for (size_t p = 0; p < raw.n_pages; p++)
            for (size_t b = 0; b < raw.pages[p].n_blocks; b++)
                for (size_t l = 0; l < raw.pages[p].blocks[b].n_lines; l++) {
                    const char *t = raw.pages[p].blocks[b].lines[l].text;
                    if (!utf8_valid(t, strlen(t)) || strchr(t, '\n'))
                        abort();
                }
        ingest_doc doc = {0};
        if (ingest_clean(&raw, &doc) == 0) {
            split_params sp = split_default_params();
            sp.chunk_cjk = 20 + data[0] % 64; /* small chunks reach the overlap paths */
            sp.chunk_words = 15 + data[0] % 32;
            chunk_list chunks = {0};
            if (split_document(&doc, &sp, &chunks) == 0) {
                for (size_t i = 0; i < chunks.n; i++) {
                    const chunk *c = &chunks.items[i];
                    if (!utf8_valid(c->text, strlen(c->text)) || c->page_start > c->page_end ||
                        c->page_start < 1 || (size_t)c->ordinal != i)
                        abort();
                }
            }
            chunk_list_free(&chunks);
            for (size_t p = 0; p < doc.n_pages; p++)
                free(ingest_page_text(&doc.pages[p]));
        }
        ingest_doc_free(&doc);
    }
    ingest_raw_doc_free(&raw);
    return 0;
}
