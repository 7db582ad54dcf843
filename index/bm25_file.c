/* bm25_file.c - reads the BM25 file (format in bm25.h) and walks its postings.
 *
 * The file is mapped, never copied: a query touches the term entries it
 * looks up and the blocks of postings it does not skip, so a large store's
 * file costs the query process only what its queries read. Nothing in the
 * file is trusted: the sections are checked once against the size, each
 * term entry when it is looked up and each posting as it is decoded, and
 * anything out of place makes the search fall back to FTS5.
 */
#include "index/bm25.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t bm25_checksum(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    for (; n; n--, p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

int64_t bm25_find_id(const int64_t *ids, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == id)
            return (int64_t)mid;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static bool section_fits(uint64_t off, uint64_t n, uint64_t unit, uint64_t end)
{
    return off % 8 == 0 && off <= end && n <= (end - off) / unit;
}

_Static_assert(offsetof(bm25_header, log_seq) + sizeof(uint64_t) == BM25_V1_HEADER_BYTES,
               "version 1's header is version 2's without log_seq and schema");

/* A version 1 header in f->v1 as version 2's, log_seq and schema 0 (no
 * update starts from it: bm25_update.c then builds from FTS5). */
static const bm25_header *v1_header(bm25_file *f)
{
    size_t head = offsetof(bm25_header, log_seq);
    memcpy(&f->v1, f->data, head);
    memcpy(&f->v1.checksum, f->data + head, sizeof f->v1.checksum);
    f->v1.log_seq = 0;
    f->v1.schema = 0;
    f->header_bytes = BM25_V1_HEADER_BYTES;
    return &f->v1;
}

static bm25_file *check(bm25_file *f)
{
    const bm25_header *h = (const bm25_header *)f->data;
    if (f->size < BM25_V1_HEADER_BYTES || memcmp(h->magic, BM25_MAGIC, 8) != 0) {
        dq_set_error("not a docqa BM25 file");
        return NULL;
    }
    bool v1 = h->version == 1;
    if (h->bom != BM25_BOM || (h->version != BM25_VERSION && !v1) ||
        (!v1 && f->size < sizeof *h)) {
        dq_set_error("BM25 file of another version or byte order");
        return NULL;
    }
    f->header_bytes = sizeof *h;
    if (v1)
        h = v1_header(f);
    uint64_t rows_bytes = h->n_rows * 20; /* two int64 and a uint32 a row */
    bool ok = h->size == f->size && h->n_rows > 0 && h->n_rows < UINT32_MAX &&
              h->n_tokens > 0 && h->n_tokens <= INT64_MAX && h->off_rows == f->header_bytes &&
              section_fits(h->off_rows, h->n_rows, 20, h->off_postings) &&
              h->off_rows + rows_bytes <= h->off_postings && h->off_postings % 8 == 0 &&
              h->off_postings <= h->off_terms &&
              section_fits(h->off_terms, h->n_terms, sizeof(bm25_term), h->off_strings) &&
              h->off_strings <= h->size && h->weight[0] >= 0 && h->weight[0] < 1e300 &&
              h->weight[1] >= 0 && h->weight[1] < 1e300;
    if (!ok) {
        dq_set_error("BM25 file is truncated or damaged");
        return NULL;
    }
    f->h = h;
    f->chunk_ids = (const int64_t *)(f->data + h->off_rows);
    f->doc_ids = f->chunk_ids + h->n_rows;
    f->lengths = (const uint32_t *)(f->doc_ids + h->n_rows);
    f->terms = (const bm25_term *)(f->data + h->off_terms);
    f->avgdl = (double)(int64_t)h->n_tokens / (double)(int64_t)h->n_rows;
    return f;
}

bm25_file *bm25_file_from_memory(const void *data, size_t size)
{
    bm25_file *f = dq_calloc(1, sizeof *f);
    f->data = data;
    f->size = size;
    if (((uintptr_t)data % 8) != 0 || !check(f)) {
        if (((uintptr_t)data % 8) != 0)
            dq_set_error("BM25 file is not aligned in memory");
        free(f);
        return NULL;
    }
    return f;
}

/* One mapping of a file per process, however many connections search it
 * (the server keeps a pool): pages the searches touch count once in the
 * process's memory, not once a connection. A mapped file is never written
 * (a writer renames a new one into place), so it is shared read-only. */
typedef struct shared_map {
    dev_t dev;
    ino_t ino;
    bm25_file *f;
    int refs;
    struct shared_map *next;
} shared_map;

static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static shared_map *maps; /* guarded by maps_lock */

static bm25_file *map_file(int fd, const struct stat *sb, const char *path)
{
    void *p = mmap(NULL, (size_t)sb->st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        dq_set_error("cannot map '%s': %s", path, strerror(errno));
        return NULL;
    }
    bm25_file *f = dq_calloc(1, sizeof *f);
    f->data = p;
    f->size = (size_t)sb->st_size;
    f->mapped = true;
    if (!check(f)) {
        munmap(p, f->size);
        free(f);
        return NULL;
    }
    return f;
}

bm25_file *bm25_file_open(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dq_set_error("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || sb.st_size < (off_t)BM25_V1_HEADER_BYTES) {
        dq_set_error("'%s' is not a docqa BM25 file", path);
        close(fd);
        return NULL;
    }
    pthread_mutex_lock(&maps_lock);
    shared_map *m = maps;
    while (m && !(m->dev == sb.st_dev && m->ino == sb.st_ino))
        m = m->next;
    bm25_file *f = NULL;
    if (m) {
        m->refs++;
        f = m->f;
    } else if ((f = map_file(fd, &sb, path))) {
        m = dq_calloc(1, sizeof *m);
        *m = (shared_map){sb.st_dev, sb.st_ino, f, 1, maps};
        maps = m;
    }
    pthread_mutex_unlock(&maps_lock);
    close(fd);
    return f;
}

void bm25_file_free(bm25_file *f)
{
    if (!f)
        return;
    if (!f->mapped) {
        free(f);
        return;
    }
    pthread_mutex_lock(&maps_lock);
    shared_map **pm = &maps;
    while (*pm && (*pm)->f != f)
        pm = &(*pm)->next;
    shared_map *m = *pm;
    bool last = m && --m->refs == 0;
    if (last)
        *pm = m->next;
    pthread_mutex_unlock(&maps_lock);
    if (last) {
        munmap((void *)f->data, f->size);
        free(f);
        free(m);
    }
}

const char *bm25_term_text(const bm25_file *f, const bm25_term *t)
{
    uint64_t n = f->h->size - f->h->off_strings;
    if (t->str_off > n || t->str_len > n - t->str_off)
        return NULL;
    return (const char *)f->data + f->h->off_strings + t->str_off;
}

const bm25_term *bm25_file_find(const bm25_file *f, const char *term, size_t len)
{
    size_t lo = 0, hi = f->h->n_terms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const bm25_term *t = &f->terms[mid];
        const char *s = bm25_term_text(f, t);
        if (!s)
            return NULL;
        int c = bm25_term_order(s, t->str_len, term, len);
        if (c == 0)
            return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Positions c at the start of block i. */
static void enter_block(bm25_cursor *c, size_t i)
{
    c->block = i;
    if (i >= c->n_blocks) {
        c->done = true;
        return;
    }
    uint32_t off = c->blocks[i].offset;
    uint64_t end = i + 1 < c->n_blocks ? c->blocks[i + 1].offset : c->n_bytes;
    if (off > end || end > c->n_bytes) {
        c->corrupt = c->done = true;
        return;
    }
    c->p = c->entries + off;
    c->end = c->entries + end;
    c->left = i + 1 < c->n_blocks ? BM25_BLOCK : c->n_post - (uint32_t)i * BM25_BLOCK;
    c->prev = i ? (int64_t)c->blocks[i - 1].last_row : -1;
}

/* Decodes the entry at c->p. */
static void decode(bm25_cursor *c)
{
    uint32_t gap, tf, tfs = 0;
    if (!bm25_varint_get(&c->p, c->end, &gap) || !bm25_varint_get(&c->p, c->end, &tf) ||
        ((tf & 1) && !bm25_varint_get(&c->p, c->end, &tfs))) {
        c->corrupt = c->done = true;
        return;
    }
    int64_t row = c->prev + 1 + (int64_t)gap;
    if (row >= (int64_t)c->f->h->n_rows) {
        c->corrupt = c->done = true;
        return;
    }
    c->row = (uint32_t)row;
    c->prev = row;
    c->tf_text = tf >> 1;
    c->tf_section = tfs;
    c->left--;
    if (c->left == 0 && (c->row != c->blocks[c->block].last_row || c->p != c->end))
        c->corrupt = c->done = true;
}

bool bm25_cursor_init(bm25_cursor *c, const bm25_file *f, const bm25_term *t)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    uint64_t avail = f->h->off_terms - f->h->off_postings;
    size_t n_blocks = (t->n_post + (size_t)BM25_BLOCK - 1) / BM25_BLOCK;
    uint64_t table = (uint64_t)n_blocks * sizeof(bm25_block);
    if (t->n_post == 0 || t->post_off % 4 != 0 || t->post_off > avail ||
        t->post_len > avail - t->post_off || table > t->post_len ||
        t->post_len - table > UINT32_MAX) {
        c->corrupt = c->done = true;
        return false;
    }
    const uint8_t *base = f->data + f->h->off_postings + t->post_off;
    c->blocks = (const bm25_block *)base;
    c->n_blocks = n_blocks;
    c->entries = base + table;
    c->n_bytes = (size_t)(t->post_len - table);
    c->n_post = t->n_post;
    enter_block(c, 0);
    bm25_cursor_next(c);
    return !c->corrupt;
}

void bm25_cursor_next(bm25_cursor *c)
{
    if (c->done)
        return;
    if (c->left == 0) {
        enter_block(c, c->block + 1);
        if (c->done)
            return;
    }
    decode(c);
}

void bm25_cursor_seek(bm25_cursor *c, uint32_t row)
{
    if (c->done || c->row >= row)
        return;
    if (c->blocks[c->block].last_row < row) {
        size_t i = c->block + 1;
        while (i < c->n_blocks && c->blocks[i].last_row < row)
            i++;
        enter_block(c, i);
        if (c->done)
            return;
        decode(c);
    }
    while (!c->done && c->row < row)
        bm25_cursor_next(c);
}
