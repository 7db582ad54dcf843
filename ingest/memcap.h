/* memcap.h - private: MuPDF's allocations for one document, counted against ingest_params.max_doc_bytes.
 *
 * Every reader that opens a fz_context for one document (extract.c for PDF,
 * EPUB, XPS, HTML...; office.c for DOCX, XLSX...) gives it this allocator, so
 * a compressed bomb or a layout of millions of boxes fails at the cap
 * (MuPDF throws "out of memory") instead of taking the machine, and the
 * reason names the one limit (--max-doc-memory) whatever the format.
 *
 * Blocks up to 512 bytes come from slabs of 64 KB that the memcap owns, one
 * free list per size class of 16 bytes, until memcap_drop_context() (or memcap_free()): MuPDF's
 * interpreter makes and drops several small objects for every glyph (a TJ
 * array's strings and numbers, a text span), and glibc's bins spent more
 * time on them than on the glyphs. A document's slabs peak at what its small
 * blocks peak at, per class, and cost more than the bytes asked for (the
 * header, the class's rounding): they stop at twice the cap, as the
 * process's data limit (isolate.c) bounds them with the rest.
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

enum { MEMCAP_SMALL_CLASSES = 32 }; /* small blocks: 16, 32, ... 512 bytes */

typedef struct memcap_slab memcap_slab;

/* Owns the slabs of small blocks; must not move once a context uses it. */
typedef struct {
    size_t used, cap;   /* bytes MuPDF holds now; cap 0: no limit */
    bool hit;           /* an allocation was refused: the cap, or the process's own limit */
    memcap_slab *slabs; /* every slab, newest first */
    size_t slab_bytes;  /* theirs together: at most twice cap (cap > 0) */
    char *bump, *bump_end;                    /* the newest slab's part not yet handed out */
    void *free_list[MEMCAP_SMALL_CLASSES];    /* (class) freed small blocks, linked */
} memcap;

/* A cap of cap_bytes (<= 0: none), nothing used. */
memcap memcap_make(long long cap_bytes);
/* Frees m's slabs, once the context on it is dropped; NULL is a no-op. */
void memcap_free(memcap *m);
/* The allocator to pass fz_new_context(); m outlives the context. */
fz_alloc_context memcap_allocator(memcap *m);
/* fz_new_context() on m's allocator with a store of store_bytes; m outlives
 * it. NULL with the error set (and m's slabs freed) when MuPDF cannot start. */
fz_context *memcap_new_context(memcap *m, size_t store_bytes);
/* Drops ctx (NULL: none), made by memcap_new_context() on m, then frees m's
 * slabs, which held the context's small blocks. */
void memcap_drop_context(memcap *m, fz_context *ctx);
/* Sets the error for a document stopped at the cap: the limit's name and size. */
void memcap_set_error(const memcap *m);

#endif
