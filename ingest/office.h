/* office.h - private: the Office readers (DOCX, XLSX, PPTX, ODT, ODS, ODP) behind ingest_extract().
 *
 * Office files are ZIP archives of XML. MuPDF gives both halves: fz_archive
 * reads the ZIP and fz_xml parses the parts, so no new library is needed.
 * office.c owns what every reader shares: the archive opened under the
 * document limits (expanded bytes, memory through the counting allocator,
 * XML nesting checked before MuPDF parses), part names resolved inside the
 * archive only, and the builder that turns paragraphs and table rows into an
 * ingest_raw_doc. Each format's reader (office_docx.c, office_xlsx.c,
 * office_pptx.c, office_odf.c) walks its XML and calls the builder; readers
 * return 0 or -1 with r->err set, and never see a MuPDF exception.
 */
#ifndef DQ_INGEST_OFFICE_H
#define DQ_INGEST_OFFICE_H

#include "ingest/ingest.h"
#include "ingest/memcap.h"
#include "ingest/table.h"

#include "common/common.h"

#include <mupdf/fitz.h>

typedef enum {
    OFFICE_NONE = -1,
    OFFICE_DOCX,
    OFFICE_XLSX,
    OFFICE_PPTX,
    OFFICE_ODT,
    OFFICE_ODS,
    OFFICE_ODP,
} office_kind;

/* What one Office file may cost is the document limits every format obeys
 * (ingest_params): max_doc_bytes bounds MuPDF's memory (parsed XML), the
 * bytes the archive expands to and the text written out (repeated rows and
 * columns multiply a few bytes), max_seconds the time. The text is bounded by
 * the bytes expanded, so there is no limit per unit like max_page_chars: a
 * 3,000-row sheet or a reflowing 500-page contract is one unit and quite
 * normal. Two bounds are the parser's own, not resources: */
enum {
    OFFICE_MAX_DEPTH = 256,       /* XML element nesting (the readers recurse) */
    OFFICE_MAX_STRINGS = 2000000, /* entries of a shared-string table */
};

/* The Office kind of an extension ("docx"...), or OFFICE_NONE. */
office_kind office_kind_of(const char *ext);
/* "doc", "xls", "ppt" (and their template forms): the binary formats docqa
 * refuses with a way to convert them. */
bool office_is_legacy(const char *ext);

/* Reads path (already checked to be a readable regular file) as kind under
 * params' limits (NULL: ingest_default_params()). */
int office_extract(const char *path, office_kind kind, const ingest_params *params,
                   ingest_raw_doc *out);
/* The same on len bytes in memory (the fuzz harness's entry). */
int office_parse(const unsigned char *data, size_t len, office_kind kind,
                 const ingest_params *params, ingest_raw_doc *out);

/* ---- for the readers ------------------------------------------------------ */

typedef struct {
    fz_context *ctx;
    fz_archive *zip;
    const ingest_params *lim;
    const memcap *mem;  /* MuPDF's allocations, under lim->max_doc_bytes */
    long long expanded; /* bytes expanded so far */
    ingest_raw_doc *out;
    ingest_raw_page *page; /* the unit being filled */
    char err[256];         /* the reason a reader failed */
    double t0;             /* when reading began (dq_now) */
    size_t n_paras;        /* paragraphs so far, to look at the clock now and then */
    long long text_bytes;  /* text written so far */
    char **after;          /* (n_after) paragraphs held until the one being read is
                            * written: its notes and text boxes */
    size_t n_after, after_cap;
    char *rels_part;       /* the part whose relationships are cached in rels, or NULL */
    fz_xml *rels;          /* (a workbook's or deck's are asked for once per sheet/slide) */
} office_reader;

/* Sets r->err (printf-style) and returns -1. */
int office_fail(office_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses the part named name. NULL when it is absent (r->err "" unless
 * required, then "missing part NAME") or on error (r->err set). The tree
 * lives until office_drop_xml. */
fz_xml *office_read_xml(office_reader *r, const char *name, bool required);
void office_drop_xml(office_reader *r, fz_xml *xml);

/* Target of relationship rid (or the first of type suffix when rid is
 * NULL) in the relationships of part, resolved to a part name inside the
 * archive; NULL when none, external, or escaping the archive (no error).
 * Caller frees. */
char *office_rel_target(office_reader *r, const char *part, const char *rid, const char *type);
/* All targets of relationships of part whose type ends in suffix, in order;
 * *n set. Caller frees each and the array. */
char **office_rel_targets(office_reader *r, const char *part, const char *suffix, size_t *n);

/* XML helpers that ignore namespace prefixes ("w:p" is "p"). */
bool office_is(fz_xml *x, const char *local);
fz_xml *office_child(fz_xml *x, const char *local);
/* Attribute by local name ("w:val" for "val"), or NULL. */
const char *office_att(fz_xml *x, const char *local);

/* The main part the package's relationships name (type ending in
 * "/officeDocument"), else fallback; caller frees. */
char *office_main_part(office_reader *r, const char *fallback);

/* Holds text (taken over) to follow the paragraph being read. */
void office_defer(office_reader *r, char *text);
/* Writes the held paragraphs as body text (write false: drops them). */
int office_flush_deferred(office_reader *r, bool write);

/* Starts a new unit (raw page) numbered number with label (may be NULL). */
void office_unit(office_reader *r, int number, const char *label);
/* Adds one paragraph to the unit: text (trimmed, whitespace runs collapsed,
 * controls dropped; nothing when empty) at heading level (0 body) with loc.
 * -1 past max_seconds ("--time-limit") or max_text_bytes, else 0. */
int office_para(office_reader *r, const char *text, int heading, int loc);

/* A table being read: rows of cells, the first row (or rows the file marks
 * as headers) its header. */
typedef struct {
    table_header header;
    bool has_header;
} office_table;

/* Adds one table row of n cells (NULL cells are empty) at loc: the first
 * row with any text becomes t's header, the rest are written under it
 * (table_row_line). */
int office_table_row(office_reader *r, office_table *t, const char *const *cells, size_t n, int loc);
void office_table_free(office_table *t);

/* The children of a node named local, sorted by attribute att, for lookups
 * by id that stay O(log n) however many notes, lists or styles a hostile
 * file holds. */
typedef struct {
    const char *key;
    fz_xml *node;
} office_entry;

typedef struct {
    office_entry *items; /* (n) sorted by key */
    size_t n;
} office_index;

void office_index_build(office_index *ix, fz_xml *parent, const char *local, const char *att);
/* The position of key in ix->items, or -1. */
long office_index_find(const office_index *ix, const char *key);
void office_index_free(office_index *ix);

/* Appends the UTF-8 text of a text node to b (XML whitespace kept). */
void office_put_text(dq_buf *b, fz_xml *text_node);

int office_read_docx(office_reader *r);
int office_read_xlsx(office_reader *r);
int office_read_pptx(office_reader *r);
int office_read_odf(office_reader *r, office_kind kind);

/* Excel number formatting (office_numfmt.c): value v as the cell shows it
 * under format code (NULL or "General": shortest form); date1904 for
 * workbooks whose dates count from 1904. Caller frees. */
char *office_format_number(double v, const char *code, bool date1904);
/* The format code of Excel's built-in number format id (Chinese locale for
 * the East Asian ids 27-36 and 50-58), or NULL for General/unknown. */
const char *office_builtin_format(int id);

#endif
