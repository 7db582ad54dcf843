/* raw.c - ingest_supported(), ingest_raw_doc_free() and the builders both extractors use. */
#include "ingest/raw.h"

#include "common/common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Grows arr (holding n elements of size bytes) so element n fits. */
static void *grow(void *arr, size_t n, size_t size)
{
    if (n == 0)
        return dq_malloc(4 * size);
    if (n >= 4 && (n & (n - 1)) == 0)
        return dq_realloc(arr, 2 * n * size);
    return arr;
}

ingest_raw_page *raw_add_page(ingest_raw_doc *doc, int number)
{
    doc->pages = grow(doc->pages, doc->n_pages, sizeof *doc->pages);
    ingest_raw_page *p = &doc->pages[doc->n_pages++];
    memset(p, 0, sizeof *p);
    p->number = number;
    return p;
}

ingest_block *raw_add_block(ingest_raw_page *page)
{
    page->blocks = grow(page->blocks, page->n_blocks, sizeof *page->blocks);
    ingest_block *b = &page->blocks[page->n_blocks++];
    memset(b, 0, sizeof *b);
    return b;
}

ingest_line *raw_add_line(ingest_block *block, char *text)
{
    block->lines = grow(block->lines, block->n_lines, sizeof *block->lines);
    ingest_line *l = &block->lines[block->n_lines++];
    memset(l, 0, sizeof *l);
    l->text = text;
    return l;
}

void raw_move_pages(ingest_raw_doc *dst, ingest_raw_doc *src)
{
    for (size_t i = 0; i < src->n_pages; i++)
        *raw_add_page(dst, 0) = src->pages[i];
    free(src->pages);
    src->pages = NULL;
    src->n_pages = 0;
}

void raw_drop_empty_block(ingest_raw_page *page)
{
    if (page->n_blocks > 0 && page->blocks[page->n_blocks - 1].n_lines == 0) {
        page->n_blocks--;
        free(page->blocks[page->n_blocks].lines);
        if (page->n_blocks == 0) {
            free(page->blocks);
            page->blocks = NULL;
        }
    }
}

void raw_extension(const char *path, char *ext, size_t size)
{
    ext[0] = '\0';
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        return;
    size_t n = strlen(dot + 1);
    if (n + 1 > size)
        return;
    for (size_t i = 0; i <= n; i++)
        ext[i] = (char)tolower((unsigned char)dot[1 + i]);
}

bool ingest_supported(const char *path)
{
    static const char *const exts[] = {
        "pdf",  "epub", "xps",  "oxps", "cbz",  "fb2",  "xhtml", "html", "htm",
        "txt",  "md",   "markdown", "docx", "docm", "xlsx", "xlsm", "pptx", "pptm",
        "odt",  "ods",  "odp",  "doc",  "xls",  "ppt"};
    char ext[16];
    raw_extension(path, ext, sizeof ext);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcmp(ext, exts[i]) == 0)
            return true;
    return false;
}

void ingest_raw_doc_free(ingest_raw_doc *doc)
{
    if (!doc)
        return;
    for (size_t p = 0; p < doc->n_pages; p++) {
        raw_clear_page(&doc->pages[p]);
        free(doc->pages[p].label);
    }
    free(doc->pages);
    free(doc->format);
    free(doc->title);
    memset(doc, 0, sizeof *doc);
}

void raw_clear_page(ingest_raw_page *page)
{
    for (size_t b = 0; b < page->n_blocks; b++) {
        for (size_t l = 0; l < page->blocks[b].n_lines; l++)
            free(page->blocks[b].lines[l].text);
        free(page->blocks[b].lines);
        free(page->blocks[b].header);
    }
    free(page->blocks);
    page->blocks = NULL;
    page->n_blocks = 0;
}
