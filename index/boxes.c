/* boxes.c - chunk boxes (where a chunk's text lies on its pages) and
 * looking documents up by id, for showing citations on rendered pages.
 * store_put_document() writes a chunk's boxes with the chunk. */
#include "index/store_impl.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

/* A chunk's boxes are one BLOB of BOX_BYTES per box, in reading order:
 * the page as a little-endian int32, then x0, y0, x1, y1 as little-endian
 * float32 (store_box's own precision). A row per box cost the writer a
 * B-tree insert and a foreign-key check each, a quarter of its CPU (a chunk
 * has a box per line), and the store 2.5 times the bytes. */
enum { BOX_BYTES = 20 };

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_box(unsigned char *p, const store_box *b)
{
    const float xy[4] = {b->x0, b->y0, b->x1, b->y1};
    put_u32(p, (uint32_t)b->page);
    for (int i = 0; i < 4; i++) {
        uint32_t bits;
        memcpy(&bits, &xy[i], sizeof bits);
        put_u32(p + 4 + 4 * i, bits);
    }
}

static store_box get_box(const unsigned char *p)
{
    float xy[4];
    for (int i = 0; i < 4; i++) {
        uint32_t bits = get_u32(p + 4 + 4 * i);
        memcpy(&xy[i], &bits, sizeof bits);
    }
    return (store_box){(int)(int32_t)get_u32(p), xy[0], xy[1], xy[2], xy[3]};
}

void store_boxes_encode(const store_box *boxes, size_t n, dq_buf *out)
{
    dq_buf_clear(out);
    dq_buf_reserve(out, n * BOX_BYTES);
    unsigned char one[BOX_BYTES];
    for (size_t i = 0; i < n; i++) {
        put_box(one, &boxes[i]);
        dq_buf_append(out, (const char *)one, sizeof one);
    }
}

int store_get_chunk_boxes(store *st, int64_t chunk_id, int page, store_box **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s =
        store_stmt(st, SLOT_BOX_GET, "SELECT boxes FROM chunk_boxes WHERE chunk_id = ?1");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, chunk_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_blob(s, 0);
        size_t len = (size_t)sqlite3_column_bytes(s, 0);
        size_t total = len / BOX_BYTES;
        if (len % BOX_BYTES) {
            /* A torn or foreign BLOB: its boxes would be shifted, so none
             * of them can be trusted to point at the chunk's text. */
            sqlite3_reset(s);
            dq_set_error("cannot read chunk %lld's boxes: the store is corrupt (%zu bytes, "
                         "not a multiple of %d)",
                         (long long)chunk_id, len, BOX_BYTES);
            return -1;
        }
        if (total)
            *out = dq_malloc(total * sizeof **out);
        for (size_t i = 0; i < total; i++) {
            store_box b = get_box(p + i * BOX_BYTES);
            if (page == 0 || b.page == page)
                (*out)[(*n)++] = b;
        }
        rc = SQLITE_DONE;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return store_fail(st, "cannot read chunk boxes");
    }
    return 0;
}

/* ---- docqa_pack_boxes(seq, page, x0, y0, x1, y1): schema 11's migration --- */

/* The aggregate packs a chunk's old box rows into its BLOB. It sorts by seq
 * itself: SQLite 3.40 has no ORDER BY inside an aggregate call, and the order
 * rows reach it in is not promised. */
typedef struct {
    int64_t seq;
    store_box box;
} seq_box;

typedef struct {
    seq_box *items; /* (n) */
    size_t n, cap;
} pack_state;

static void pack_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    pack_state *ps = sqlite3_aggregate_context(ctx, sizeof *ps);
    if (!ps) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    DQ_GROW(ps->items, ps->cap, ps->n + 1);
    ps->items[ps->n++] = (seq_box){sqlite3_value_int64(argv[0]),
                                   {sqlite3_value_int(argv[1]),
                                    (float)sqlite3_value_double(argv[2]),
                                    (float)sqlite3_value_double(argv[3]),
                                    (float)sqlite3_value_double(argv[4]),
                                    (float)sqlite3_value_double(argv[5])}};
}

static int cmp_seq(const void *a, const void *b)
{
    int64_t x = ((const seq_box *)a)->seq, y = ((const seq_box *)b)->seq;
    return (x > y) - (x < y);
}

static void pack_final(sqlite3_context *ctx)
{
    pack_state *ps = sqlite3_aggregate_context(ctx, 0);
    size_t n = ps ? ps->n : 0;
    if (n)
        qsort(ps->items, n, sizeof *ps->items, cmp_seq);
    unsigned char *blob = dq_malloc(n ? n * BOX_BYTES : 1);
    for (size_t i = 0; i < n; i++)
        put_box(blob + i * BOX_BYTES, &ps->items[i].box);
    sqlite3_result_blob(ctx, blob, (int)(n * BOX_BYTES), free);
    if (ps)
        free(ps->items);
}

int store_register_boxes(sqlite3 *db)
{
    if (sqlite3_create_function(db, "docqa_pack_boxes", 6, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                NULL, NULL, pack_step, pack_final) != SQLITE_OK) {
        dq_set_error("cannot register docqa_pack_boxes: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

void store_document_free(store_document *d)
{
    if (!d)
        return;
    free(d->format);
    free(d->title);
    free(d->path);
    memset(d, 0, sizeof *d);
}

int store_get_document(store *st, int64_t doc_id, store_document *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, SLOT_DOC_GET,
                                 "SELECT d.id, d.format, d.title, d.pages,"
                                 " (SELECT min(f.path) FROM files f"
                                 "  WHERE f.doc_id = d.id AND f.status = 'ok')"
                                 " FROM documents d WHERE d.id = ?1");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, doc_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->format = store_column_dup(s, 1);
        out->title = store_column_dup(s, 2);
        out->n_pages = sqlite3_column_int(s, 3);
        out->path = store_column_dup(s, 4);
    } else if (rc != SQLITE_DONE) {
        store_fail(st, "cannot read a document");
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
