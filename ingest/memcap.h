/* memcap.h - private: MuPDF's allocations for one document, counted against ingest_params.max_doc_bytes.
 *
 * Every reader that opens a fz_context for one document (extract.c for PDF,
 * EPUB, XPS, HTML...; office.c for DOCX, XLSX...) gives it this allocator, so
 * a compressed bomb or a layout of millions of boxes fails at the cap
 * (MuPDF throws "out of memory") instead of taking the machine, and the
 * reason names the one limit (--max-doc-memory) whatever the format.
 *
 * Small blocks (up to 1 KB) are handed out zeroed. MuPDF 1.21's
 * pdf_mark_list_push() (the page-tree walk's cycle check) moves its list
 * from a local array of 8 to a heap block of 16 (64 bytes) without copying
 * it, then compares object numbers against the new block's first entries:
 * with recycled memory they hold stale numbers, and a sound page tree more
 * than 8 levels deep fails as "cycle in page tree". Zeroed memory holds no
 * object number (they start at 1). Larger blocks are left as malloc gives
 * them, as MuPDF's own allocator does: clearing every block (calloc) was
 * clearing each stream buffer and every block fz_calloc() clears again.
 */
#ifndef DQ_INGEST_MEMCAP_H
#define DQ_INGEST_MEMCAP_H

#include <mupdf/fitz.h>

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    size_t used, cap; /* bytes MuPDF holds now; cap 0: no limit */
    bool hit;         /* an allocation was refused: the cap, or the process's own limit */
} memcap;

/* A cap of cap_bytes (<= 0: none), nothing used. */
memcap memcap_make(long long cap_bytes);
/* The allocator to pass fz_new_context(); m outlives the context. */
fz_alloc_context memcap_allocator(memcap *m);
/* fz_new_context() on m's allocator with a store of store_bytes; m outlives
 * it. NULL with the error set when MuPDF cannot start. */
fz_context *memcap_new_context(memcap *m, size_t store_bytes);
/* Sets the error for a document stopped at the cap: the limit's name and size. */
void memcap_set_error(const memcap *m);

#endif
