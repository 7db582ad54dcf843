/* gguf.c - maps a GGUF file read-only and validates all of it before use.
 *
 * The layout (little-endian): "GGUF", u32 version, u64 tensor count, u64
 * key/value count; each key/value is a string key (u64 length + bytes), a u32
 * value type and the value (arrays: u32 element type, u64 count, elements);
 * each tensor description is a string name, u32 n_dims, n_dims u64 dims, u32
 * ggml type and a u64 offset into the data area, which starts at the next
 * multiple of general.alignment (32 by default) after the descriptions.
 *
 * Every count comes from a downloaded file, so each one is checked against
 * the bytes that remain before anything is allocated for it: what the parser
 * allocates is bounded by a small multiple of the file's size.
 */
#include "embed/gguf.h"

#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "GGUF is little-endian; this reader assumes a little-endian host"
#endif

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_NAME 1024u /* tensor name bytes; ggml itself keeps 64 */

typedef struct {
    char *key;           /* NUL-terminated copy */
    gguf_val_type type;
    const unsigned char *val; /* the value in the mapping (arrays: the elements) */
    uint64_t n;               /* array element count; 1 for scalars */
    gguf_val_type elem;       /* array element type */
    char *str;                /* STRING: NUL-terminated copy */
    uint64_t str_len;
    uint64_t *str_offsets;    /* string arrays: (n) offsets of each u64 length */
} gguf_kv;

struct gguf_file {
    char *path;
    unsigned char *map;
    size_t map_size;
    uint32_t version;
    uint32_t alignment;
    gguf_kv *kvs; /* (n_kv) */
    size_t n_kv;
    size_t *kv_sorted; /* (n_kv) indices ordered by key */
    gguf_tensor *tensors; /* (n_tensors) */
    size_t n_tensors;
    size_t *t_sorted; /* (n_tensors) indices ordered by name */
    /* A split model's other parts (gguf_open_split), owned: their tensors
     * are in tensors too, pointing into their mappings. */
    gguf_file **parts; /* (n_parts) */
    size_t n_parts;
};

static const struct {
    int type;
    const char *name;
    int block_elems, block_bytes;
} type_table[] = {
    {GGUF_TYPE_F32, "F32", 1, 4},          {GGUF_TYPE_F16, "F16", 1, 2},
    {GGUF_TYPE_Q4_0, "Q4_0", 32, 18},      {GGUF_TYPE_Q4_1, "Q4_1", 32, 20},
    {GGUF_TYPE_Q5_0, "Q5_0", 32, 22},      {GGUF_TYPE_Q5_1, "Q5_1", 32, 24},
    {GGUF_TYPE_Q8_0, "Q8_0", 32, 34},      {GGUF_TYPE_Q8_1, "Q8_1", 32, 36},
    {GGUF_TYPE_Q2_K, "Q2_K", 256, 84},     {GGUF_TYPE_Q3_K, "Q3_K", 256, 110},
    {GGUF_TYPE_Q4_K, "Q4_K", 256, 144},    {GGUF_TYPE_Q5_K, "Q5_K", 256, 176},
    {GGUF_TYPE_Q6_K, "Q6_K", 256, 210},    {GGUF_TYPE_Q8_K, "Q8_K", 256, 292},
    {GGUF_TYPE_IQ2_XXS, "IQ2_XXS", 256, 66}, {GGUF_TYPE_IQ2_XS, "IQ2_XS", 256, 74},
    {GGUF_TYPE_IQ3_XXS, "IQ3_XXS", 256, 98}, {GGUF_TYPE_IQ1_S, "IQ1_S", 256, 50},
    {GGUF_TYPE_IQ4_NL, "IQ4_NL", 32, 18},  {GGUF_TYPE_IQ3_S, "IQ3_S", 256, 110},
    {GGUF_TYPE_IQ2_S, "IQ2_S", 256, 82},   {GGUF_TYPE_IQ4_XS, "IQ4_XS", 256, 136},
    {GGUF_TYPE_I8, "I8", 1, 1},            {GGUF_TYPE_I16, "I16", 1, 2},
    {GGUF_TYPE_I32, "I32", 1, 4},          {GGUF_TYPE_I64, "I64", 1, 8},
    {GGUF_TYPE_F64, "F64", 1, 8},          {GGUF_TYPE_IQ1_M, "IQ1_M", 256, 56},
    {GGUF_TYPE_BF16, "BF16", 1, 2},        {GGUF_TYPE_TQ1_0, "TQ1_0", 256, 54},
    {GGUF_TYPE_TQ2_0, "TQ2_0", 256, 66},   {GGUF_TYPE_MXFP4, "MXFP4", 32, 17},
};

const char *gguf_type_name(int type)
{
    for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
        if (type_table[i].type == type)
            return type_table[i].name;
    return NULL;
}

bool gguf_type_block(int type, int *block_elems, int *block_bytes)
{
    for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++) {
        if (type_table[i].type == type) {
            *block_elems = type_table[i].block_elems;
            *block_bytes = type_table[i].block_bytes;
            return true;
        }
    }
    return false;
}

size_t gguf_row_bytes(int type, int64_t n)
{
    int be, bb;
    if (n < 0 || !gguf_type_block(type, &be, &bb) || n % be)
        return 0;
    return (size_t)(n / be) * (size_t)bb;
}

/* Bytes of one scalar value; 0 for STRING and ARRAY, -1 for an unknown type. */
static int val_size(uint32_t t)
{
    switch (t) {
    case GGUF_VAL_U8: case GGUF_VAL_I8: case GGUF_VAL_BOOL: return 1;
    case GGUF_VAL_U16: case GGUF_VAL_I16: return 2;
    case GGUF_VAL_U32: case GGUF_VAL_I32: case GGUF_VAL_F32: return 4;
    case GGUF_VAL_U64: case GGUF_VAL_I64: case GGUF_VAL_F64: return 8;
    case GGUF_VAL_STRING: case GGUF_VAL_ARRAY: return 0;
    default: return -1;
    }
}

const char *gguf_val_type_name(int type)
{
    static const char *const names[] = {"u8",  "i8",   "u16",    "i16",   "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return type >= 0 && type <= GGUF_VAL_F64 ? names[type] : "?";
}

/* ---- a bounds-checked cursor over the mapping ----------------------------- */

typedef struct {
    const gguf_file *f;
    size_t pos;
    const char *what; /* what is being read, for the message */
} cursor;

static int short_read(cursor *c, uint64_t need)
{
    dq_set_error("'%s': truncated file: %s needs %llu bytes at offset %zu but the file has %zu",
                 c->f->path, c->what, (unsigned long long)need, c->pos, c->f->map_size);
    return -1;
}

static int take(cursor *c, uint64_t n, const unsigned char **out)
{
    if (n > c->f->map_size - c->pos)
        return short_read(c, n);
    *out = c->f->map + c->pos;
    c->pos += (size_t)n;
    return 0;
}

static int read_u32(cursor *c, uint32_t *v)
{
    const unsigned char *p;
    if (take(c, 4, &p) < 0)
        return -1;
    memcpy(v, p, 4);
    return 0;
}

static int read_u64(cursor *c, uint64_t *v)
{
    const unsigned char *p;
    if (take(c, 8, &p) < 0)
        return -1;
    memcpy(v, p, 8);
    return 0;
}

/* A string: u64 length then bytes; *s points at the bytes. */
static int read_str(cursor *c, const unsigned char **s, uint64_t *len)
{
    if (read_u64(c, len) < 0)
        return -1;
    return take(c, *len, s);
}

static char *copy_str(const unsigned char *s, uint64_t len)
{
    char *out = dq_malloc((size_t)len + 1);
    memcpy(out, s, (size_t)len);
    out[len] = '\0';
    return out;
}

static bool has_nul(const unsigned char *s, uint64_t len)
{
    return memchr(s, '\0', (size_t)len) != NULL;
}

/* ---- parsing -------------------------------------------------------------- */

static int parse_value(cursor *c, gguf_kv *kv)
{
    const gguf_file *f = c->f;
    int size = val_size((uint32_t)kv->type);
    if (size < 0) {
        dq_set_error("'%s': metadata '%s' has unknown value type %u", f->path, kv->key,
                     (unsigned)kv->type);
        return -1;
    }
    if (kv->type == GGUF_VAL_STRING) {
        const unsigned char *s;
        if (read_str(c, &s, &kv->str_len) < 0)
            return -1;
        kv->val = s;
        kv->n = 1;
        kv->str = copy_str(s, kv->str_len);
        return 0;
    }
    if (kv->type != GGUF_VAL_ARRAY) {
        kv->n = 1;
        return take(c, (uint64_t)size, &kv->val);
    }
    uint32_t elem;
    if (read_u32(c, &elem) < 0 || read_u64(c, &kv->n) < 0)
        return -1;
    int esize = val_size(elem);
    if (esize < 0 || elem == GGUF_VAL_ARRAY) {
        dq_set_error("'%s': metadata '%s' is an array of %s, which is not supported",
                     f->path, kv->key, esize < 0 ? "an unknown type" : "arrays");
        return -1;
    }
    kv->elem = (gguf_val_type)elem;
    size_t left = f->map_size - c->pos;
    /* each string takes at least its 8-byte length */
    if (kv->n > left / (size_t)(esize ? esize : 8)) {
        dq_set_error("'%s': truncated file: metadata '%s' claims %llu elements, more than the "
                     "%zu bytes left can hold",
                     f->path, kv->key, (unsigned long long)kv->n, left);
        return -1;
    }
    if (elem != GGUF_VAL_STRING)
        return take(c, kv->n * (uint64_t)esize, &kv->val);
    kv->val = f->map + c->pos;
    kv->str_offsets = dq_malloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->str_offsets);
    for (uint64_t i = 0; i < kv->n; i++) {
        kv->str_offsets[i] = c->pos;
        const unsigned char *s;
        uint64_t len;
        if (read_str(c, &s, &len) < 0)
            return -1;
    }
    return 0;
}

static int cmp_kv_index(const void *a, const void *b, void *ctx)
{
    const gguf_kv *kvs = ctx;
    return strcmp(kvs[*(const size_t *)a].key, kvs[*(const size_t *)b].key);
}

static int cmp_tensor_index(const void *a, const void *b, void *ctx)
{
    const gguf_tensor *ts = ctx;
    return strcmp(ts[*(const size_t *)a].name, ts[*(const size_t *)b].name);
}

static int parse_kvs(cursor *c, gguf_file *f, uint64_t n_kv)
{
    /* each key/value takes at least 8 (key length) + 4 (type) + 1 bytes */
    if (n_kv > (f->map_size - c->pos) / 13) {
        dq_set_error("'%s': header claims %llu metadata entries, more than the file can hold",
                     f->path, (unsigned long long)n_kv);
        return -1;
    }
    f->kvs = dq_calloc((size_t)(n_kv ? n_kv : 1), sizeof *f->kvs);
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &f->kvs[i];
        const unsigned char *k;
        uint64_t klen;
        uint32_t type;
        c->what = "a metadata key";
        if (read_str(c, &k, &klen) < 0)
            return -1;
        if (klen == 0 || has_nul(k, klen)) {
            dq_set_error("'%s': metadata entry %llu has an empty key or one holding a NUL byte",
                         f->path, (unsigned long long)i);
            return -1;
        }
        kv->key = copy_str(k, klen);
        f->n_kv++;
        c->what = "a metadata value";
        if (read_u32(c, &type) < 0)
            return -1;
        kv->type = (gguf_val_type)type;
        if (parse_value(c, kv) < 0)
            return -1;
    }
    f->kv_sorted = dq_malloc((f->n_kv ? f->n_kv : 1) * sizeof *f->kv_sorted);
    for (size_t i = 0; i < f->n_kv; i++)
        f->kv_sorted[i] = i;
    qsort_r(f->kv_sorted, f->n_kv, sizeof *f->kv_sorted, cmp_kv_index, f->kvs);
    for (size_t i = 1; i < f->n_kv; i++) {
        if (strcmp(f->kvs[f->kv_sorted[i]].key, f->kvs[f->kv_sorted[i - 1]].key) == 0) {
            dq_set_error("'%s': metadata key '%s' appears twice", f->path,
                         f->kvs[f->kv_sorted[i]].key);
            return -1;
        }
    }
    return 0;
}

static int parse_alignment(gguf_file *f)
{
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!gguf_has_key(f, "general.alignment"))
        return 0;
    uint32_t a = 0;
    if (gguf_get_u32(f, "general.alignment", &a) < 0 || a == 0 || (a & (a - 1)) ||
        a > 1u << 16) {
        dq_set_error("'%s': general.alignment must be a power of two up to 65536", f->path);
        return -1;
    }
    f->alignment = a;
    return 0;
}

/* One tensor description; data pointers are set once the data area is known. */
static int parse_tensor(cursor *c, gguf_file *f, gguf_tensor *t, uint64_t *offset)
{
    const unsigned char *s;
    uint64_t len;
    c->what = "a tensor name";
    if (read_str(c, &s, &len) < 0)
        return -1;
    if (len == 0 || len > GGUF_MAX_NAME || has_nul(s, len)) {
        dq_set_error("'%s': tensor %zu has an empty name, one over %u bytes or one holding a "
                     "NUL byte",
                     f->path, f->n_tensors, GGUF_MAX_NAME);
        return -1;
    }
    t->name = copy_str(s, len);
    f->n_tensors++;
    uint32_t n_dims, type;
    c->what = "a tensor description";
    if (read_u32(c, &n_dims) < 0)
        return -1;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) {
        dq_set_error("'%s': tensor '%s' has %u dimensions (1 to %d supported)", f->path,
                     t->name, n_dims, GGUF_MAX_DIMS);
        return -1;
    }
    t->n_dims = (int)n_dims;
    uint64_t count = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < (int)n_dims && read_u64(c, &ne) < 0)
            return -1;
        /* the element count stays below 2^62 so byte counts cannot wrap */
        if (ne > INT64_MAX || (ne && count > ((uint64_t)1 << 62) / ne)) {
            dq_set_error("'%s': tensor '%s' has absurd dimensions", f->path, t->name);
            return -1;
        }
        t->ne[d] = (int64_t)ne;
        count *= ne;
    }
    t->n_elems = count;
    if (read_u32(c, &type) < 0 || read_u64(c, offset) < 0)
        return -1;
    int be, bb;
    if (!gguf_type_block((int)type, &be, &bb)) {
        dq_set_error("'%s': tensor '%s' has unknown type %u", f->path, t->name, type);
        return -1;
    }
    t->type = (gguf_type)type;
    if (t->ne[0] % be) {
        dq_set_error("'%s': tensor '%s' of type %s has a row of %lld values, not a multiple of "
                     "its block of %d",
                     f->path, t->name, gguf_type_name((int)type), (long long)t->ne[0], be);
        return -1;
    }
    t->n_bytes = (size_t)(count / (uint64_t)be * (uint64_t)bb);
    if (*offset % f->alignment) {
        dq_set_error("'%s': tensor '%s' data offset %llu is not a multiple of the alignment %u",
                     f->path, t->name, (unsigned long long)*offset, f->alignment);
        return -1;
    }
    return 0;
}

typedef struct {
    uint64_t begin, end;
    size_t index;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The index gguf_find_tensor searches; -1 when a name repeats. */
static int sort_tensors(gguf_file *f)
{
    size_t n = f->n_tensors;
    free(f->t_sorted);
    f->t_sorted = dq_malloc((n ? n : 1) * sizeof *f->t_sorted);
    for (size_t i = 0; i < n; i++)
        f->t_sorted[i] = i;
    qsort_r(f->t_sorted, n, sizeof *f->t_sorted, cmp_tensor_index, f->tensors);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(f->tensors[f->t_sorted[i]].name, f->tensors[f->t_sorted[i - 1]].name) == 0) {
            dq_set_error("'%s': tensor '%s' appears twice", f->path,
                         f->tensors[f->t_sorted[i]].name);
            return -1;
        }
    }
    return 0;
}

static int parse_tensors(cursor *c, gguf_file *f, uint64_t n_tensors)
{
    /* each description takes at least 8 + 1 (name) + 4 + 8 + 4 + 8 bytes */
    if (n_tensors > (f->map_size - c->pos) / 33) {
        dq_set_error("'%s': header claims %llu tensors, more than the file can hold", f->path,
                     (unsigned long long)n_tensors);
        return -1;
    }
    size_t n = (size_t)n_tensors;
    f->tensors = dq_calloc(n ? n : 1, sizeof *f->tensors);
    span *spans = dq_calloc(n ? n : 1, sizeof *spans);
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t off;
        if (parse_tensor(c, f, &f->tensors[i], &off) < 0)
            goto out;
        spans[i] = (span){off, off + f->tensors[i].n_bytes, i};
    }
    uint64_t data_start = ((uint64_t)c->pos + f->alignment - 1) / f->alignment * f->alignment;
    uint64_t data_size = data_start <= f->map_size ? f->map_size - data_start : 0;
    for (size_t i = 0; i < n; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (spans[i].begin > data_size || t->n_bytes > data_size - spans[i].begin) {
            dq_set_error("'%s': truncated file: tensor '%s' (%zu bytes at data offset %llu) "
                         "ends past the end of the file (%zu bytes)",
                         f->path, t->name, t->n_bytes, (unsigned long long)spans[i].begin,
                         f->map_size);
            goto out;
        }
        t->data = f->map + data_start + spans[i].begin;
    }
    qsort(spans, n, sizeof *spans, cmp_span);
    uint64_t reach = 0;
    size_t reach_i = 0;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].begin == spans[i].end)
            continue;
        if (spans[i].begin < reach) {
            dq_set_error("'%s': tensors '%s' and '%s' overlap", f->path,
                         f->tensors[reach_i].name, f->tensors[spans[i].index].name);
            goto out;
        }
        reach = spans[i].end;
        reach_i = spans[i].index;
    }
    rc = sort_tensors(f);
out:
    free(spans);
    return rc;
}

static int gguf_parse(gguf_file *f)
{
    cursor c = {f, 0, "the header"};
    uint32_t magic;
    uint64_t n_tensors, n_kv;
    if (f->map_size < 4 || (memcpy(&magic, f->map, 4), magic != GGUF_MAGIC)) {
        dq_set_error("'%s': not a GGUF file (no GGUF magic)", f->path);
        return -1;
    }
    c.pos = 4;
    if (read_u32(&c, &f->version) < 0)
        return -1;
    if (f->version == 1) {
        dq_set_error("'%s': GGUF version 1 is not supported (convert the model again)",
                     f->path);
        return -1;
    }
    if (f->version != 2 && f->version != 3) {
        /* a big-endian file reads its version byte-swapped */
        dq_set_error("'%s': GGUF version %u is not supported (2 and 3 are)%s", f->path,
                     f->version, (f->version & 0xffff) == 0 ? "; big-endian files are not" : "");
        return -1;
    }
    if (read_u64(&c, &n_tensors) < 0 || read_u64(&c, &n_kv) < 0)
        return -1;
    if (parse_kvs(&c, f, n_kv) < 0 || parse_alignment(f) < 0)
        return -1;
    return parse_tensors(&c, f, n_tensors);
}

static gguf_file *parse_or_close(gguf_file *f)
{
    if (gguf_parse(f) < 0) {
        gguf_close(f); /* keeps the message */
        return NULL;
    }
    return f;
}

gguf_file *gguf_open(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dq_set_error("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) < 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_size == 0)
        why = "empty file";
    if (why) {
        dq_set_error("'%s': %s", path, why);
        close(fd);
        return NULL;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) {
        dq_set_error("cannot map '%s': %s", path, strerror(err));
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    /* A file that is not yet in the page cache is then read into 2 MB
     * pages and mapped with them: an LLM's decode streams every weight
     * once a token, and with 4 KB pages a 0.5B model's step took about 8%
     * more CPU (bench/README.md). Advice only: a failure changes nothing. */
    madvise(map, (size_t)st.st_size, MADV_HUGEPAGE);
#endif
    gguf_file *f = dq_calloc(1, sizeof *f);
    f->path = dq_strdup(path);
    f->map = map;
    f->map_size = (size_t)st.st_size;
    return parse_or_close(f);
}

/* ---- split models (llama.cpp's gguf-split) ---------------------------------- */

/* "-00001-of-00003.gguf": what gguf-split appends to the model's name. */
enum { SPLIT_SUFFIX = 20 };

static int split_key(const gguf_file *f, const char *key, uint32_t *v)
{
    if (gguf_get_u32(f, key, v) == 0)
        return 0;
    char why[512];
    snprintf(why, sizeof why, "%s", dq_last_error());
    dq_set_error("%s (a part of a split model)", why);
    return -1;
}

/* Opens part no (from 0) of count beside the first part's path and moves a
 * copy of its tensor table into f. */
static int adopt_part(gguf_file *f, uint32_t no, uint32_t count)
{
    size_t len = strlen(f->path) - SPLIT_SUFFIX;
    char *path = dq_malloc(len + 48);
    memcpy(path, f->path, len);
    snprintf(path + len, 48, "-%05u-of-%05u.gguf", no + 1, count);
    gguf_file *p = gguf_open(path);
    free(path);
    if (!p)
        return -1;
    f->parts[f->n_parts++] = p;
    uint32_t p_no = 0, p_count = 0;
    if (split_key(p, "split.no", &p_no) < 0 || split_key(p, "split.count", &p_count) < 0)
        return -1;
    if (p_no != no || p_count != count) {
        dq_set_error("'%s': says it is part %u of %u, not %u of %u", p->path, p_no + 1, p_count,
                     no + 1, count);
        return -1;
    }
    f->tensors = dq_realloc(f->tensors, (f->n_tensors + p->n_tensors) * sizeof *f->tensors);
    for (size_t i = 0; i < p->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[f->n_tensors++];
        *t = p->tensors[i];
        t->name = dq_strdup(p->tensors[i].name);
    }
    return 0;
}

gguf_file *gguf_open_split(const char *path)
{
    gguf_file *f = gguf_open(path);
    if (!f || !gguf_has_key(f, "split.count"))
        return f;
    uint32_t no = 0, count = 0, first = 0, of = 0;
    if (split_key(f, "split.no", &no) < 0 || split_key(f, "split.count", &count) < 0)
        goto fail;
    if (count < 1 || count > 99999 || no >= count) { /* gguf-split numbers parts in 5 digits */
        dq_set_error("'%s': split.no %u of split.count %u", path, no, count);
        goto fail;
    }
    size_t len = strlen(path);
    if (count > 1 && (no != 0 || len <= SPLIT_SUFFIX ||
                      sscanf(path + len - SPLIT_SUFFIX, "-%5u-of-%5u.gguf", &first, &of) != 2 ||
                      first != 1 || of != count)) {
        dq_set_error("'%s': part %u of a model split in %u; open its first part, "
                     "NAME-00001-of-%05u.gguf",
                     path, no + 1, count, count);
        goto fail;
    }
    if (count > 1) {
        f->parts = dq_calloc(count, sizeof *f->parts);
        for (uint32_t i = 1; i < count; i++)
            if (adopt_part(f, i, count) < 0)
                goto fail;
        if (sort_tensors(f) < 0)
            goto fail;
    }
    if (gguf_has_key(f, "split.tensors.count")) {
        uint32_t total = 0;
        if (split_key(f, "split.tensors.count", &total) < 0)
            goto fail;
        if (total != f->n_tensors) {
            dq_set_error("'%s': the split model should hold %u tensors but its %u parts hold %zu",
                         path, total, count, f->n_tensors);
            goto fail;
        }
    }
    return f;
fail:
    gguf_close(f); /* keeps the message */
    return NULL;
}

gguf_file *gguf_open_memory(const void *data, size_t n, const char *name)
{
    if (n == 0) {
        dq_set_error("'%s': empty file", name);
        return NULL;
    }
    /* a private read-only copy, so a stray write through a pointer faults
     * as it would on a mapped file */
    void *map = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        dq_set_error("cannot map '%s': %s", name, strerror(errno));
        return NULL;
    }
    memcpy(map, data, n);
    mprotect(map, n, PROT_READ);
    gguf_file *f = dq_calloc(1, sizeof *f);
    f->path = dq_strdup(name);
    f->map = map;
    f->map_size = n;
    return parse_or_close(f);
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_kv; i++) {
        free(f->kvs[i].key);
        free(f->kvs[i].str);
        free(f->kvs[i].str_offsets);
    }
    free(f->kvs);
    free(f->kv_sorted);
    for (size_t i = 0; i < f->n_tensors; i++)
        free((char *)f->tensors[i].name);
    free(f->tensors);
    free(f->t_sorted);
    for (size_t i = 0; i < f->n_parts; i++)
        gguf_close(f->parts[i]);
    free(f->parts);
    if (f->map)
        munmap(f->map, f->map_size);
    free(f->path);
    free(f);
}

const char *gguf_path(const gguf_file *f) { return f->path; }
uint32_t gguf_version(const gguf_file *f) { return f->version; }
size_t gguf_file_size(const gguf_file *f) { return f->map_size; }
const void *gguf_map(const gguf_file *f) { return f->map; }
uint32_t gguf_alignment(const gguf_file *f) { return f->alignment; }

/* ---- metadata lookups ----------------------------------------------------- */

size_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }
const char *gguf_kv_key(const gguf_file *f, size_t i) { return i < f->n_kv ? f->kvs[i].key : NULL; }

gguf_val_type gguf_kv_type(const gguf_file *f, size_t i)
{
    return i < f->n_kv ? f->kvs[i].type : (gguf_val_type)-1;
}

long gguf_find_key(const gguf_file *f, const char *key)
{
    size_t lo = 0, hi = f->kv_sorted ? f->n_kv : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, f->kvs[f->kv_sorted[mid]].key);
        if (c == 0)
            return (long)f->kv_sorted[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

bool gguf_has_key(const gguf_file *f, const char *key) { return gguf_find_key(f, key) >= 0; }

static const gguf_kv *lookup(const gguf_file *f, const char *key)
{
    long i = gguf_find_key(f, key);
    if (i < 0) {
        dq_set_error("'%s': metadata '%s' is missing", f->path, key);
        return NULL;
    }
    return &f->kvs[i];
}

static int wrong_type(const gguf_file *f, const gguf_kv *kv, const char *want)
{
    dq_set_error("'%s': metadata '%s' is %s, expected %s", f->path, kv->key,
                 gguf_val_type_name(kv->type), want);
    return GGUF_ERR_TYPE;
}

/* An integer scalar or element as a sign and magnitude pair. */
static bool int_value(gguf_val_type t, const unsigned char *p, int64_t *s, uint64_t *u, bool *neg)
{
    int64_t v = 0;
    uint64_t uv = 0;
    switch (t) {
    case GGUF_VAL_U8: { uint8_t x; memcpy(&x, p, 1); uv = x; break; }
    case GGUF_VAL_I8: { int8_t x; memcpy(&x, p, 1); v = x; break; }
    case GGUF_VAL_U16: { uint16_t x; memcpy(&x, p, 2); uv = x; break; }
    case GGUF_VAL_I16: { int16_t x; memcpy(&x, p, 2); v = x; break; }
    case GGUF_VAL_U32: { uint32_t x; memcpy(&x, p, 4); uv = x; break; }
    case GGUF_VAL_I32: { int32_t x; memcpy(&x, p, 4); v = x; break; }
    case GGUF_VAL_U64: memcpy(&uv, p, 8); break;
    case GGUF_VAL_I64: memcpy(&v, p, 8); break;
    default: return false;
    }
    bool is_signed = t == GGUF_VAL_I8 || t == GGUF_VAL_I16 || t == GGUF_VAL_I32 ||
                     t == GGUF_VAL_I64;
    if (is_signed) {
        *neg = v < 0;
        uv = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    } else {
        *neg = false;
    }
    *u = uv;
    *s = *neg ? (uv == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)uv)
              : (uv > INT64_MAX ? INT64_MAX : (int64_t)uv);
    return true;
}

/* The integer at key within [lo, hi] (hi as unsigned when lo >= 0). */
static int get_int(const gguf_file *f, const char *key, bool want_signed, uint64_t max_mag,
                   int64_t *s, uint64_t *u, const char *want)
{
    const gguf_kv *kv = lookup(f, key);
    if (!kv)
        return GGUF_ERR_MISSING;
    bool neg;
    if (kv->type == GGUF_VAL_ARRAY || kv->type == GGUF_VAL_STRING ||
        !int_value(kv->type, kv->val, s, u, &neg))
        return wrong_type(f, kv, want);
    bool fits = want_signed ? (neg ? *u <= max_mag + 1 : *u <= max_mag) : (!neg && *u <= max_mag);
    if (!fits) {
        dq_set_error("'%s': metadata '%s' is out of range for %s", f->path, key, want);
        return GGUF_ERR_TYPE;
    }
    return 0;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(f, key, false, UINT32_MAX, &s, &u, "u32");
    if (rc == 0)
        *out = (uint32_t)u;
    return rc;
}

int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(f, key, true, INT32_MAX, &s, &u, "i32");
    if (rc == 0)
        *out = (int32_t)s;
    return rc;
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(f, key, false, UINT64_MAX, &s, &u, "u64");
    if (rc == 0)
        *out = u;
    return rc;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(f, key, true, INT64_MAX, &s, &u, "i64");
    if (rc == 0)
        *out = s;
    return rc;
}

int gguf_get_f64(const gguf_file *f, const char *key, double *out)
{
    const gguf_kv *kv = lookup(f, key);
    if (!kv)
        return GGUF_ERR_MISSING;
    if (kv->type == GGUF_VAL_F32) {
        float v;
        memcpy(&v, kv->val, 4);
        *out = v;
    } else if (kv->type == GGUF_VAL_F64) {
        memcpy(out, kv->val, 8);
    } else {
        return wrong_type(f, kv, "a float");
    }
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out)
{
    double d;
    int rc = gguf_get_f64(f, key, &d);
    if (rc == 0)
        *out = (float)d;
    return rc;
}

int gguf_get_bool(const gguf_file *f, const char *key, bool *out)
{
    const gguf_kv *kv = lookup(f, key);
    if (!kv)
        return GGUF_ERR_MISSING;
    if (kv->type != GGUF_VAL_BOOL)
        return wrong_type(f, kv, "bool");
    *out = kv->val[0] != 0;
    return 0;
}

const char *gguf_get_str(const gguf_file *f, const char *key, size_t *len)
{
    const gguf_kv *kv = lookup(f, key);
    if (!kv)
        return NULL;
    if (kv->type != GGUF_VAL_STRING) {
        wrong_type(f, kv, "string");
        return NULL;
    }
    if (len)
        *len = (size_t)kv->str_len;
    return kv->str;
}

int gguf_get_arr(const gguf_file *f, const char *key, gguf_arr *out)
{
    const gguf_kv *kv = lookup(f, key);
    if (!kv)
        return GGUF_ERR_MISSING;
    if (kv->type != GGUF_VAL_ARRAY)
        return wrong_type(f, kv, "array");
    *out = (gguf_arr){kv->elem, kv->n, kv->val, kv->str_offsets, f->map};
    return 0;
}

const char *gguf_arr_str(const gguf_arr *a, uint64_t i, size_t *len)
{
    if (a->type != GGUF_VAL_STRING || i >= a->n) {
        *len = 0;
        return NULL;
    }
    const unsigned char *p = a->base + a->str_offsets[i];
    uint64_t n;
    memcpy(&n, p, 8);
    *len = (size_t)n;
    return (const char *)p + 8;
}

int64_t gguf_arr_int(const gguf_arr *a, uint64_t i)
{
    int sz = val_size((uint32_t)a->type);
    int64_t s;
    uint64_t u;
    bool neg;
    if (i >= a->n || sz <= 0 ||
        !int_value(a->type, (const unsigned char *)a->data + i * (uint64_t)sz, &s, &u, &neg))
        return 0;
    return s;
}

double gguf_arr_f64(const gguf_arr *a, uint64_t i)
{
    int sz = val_size((uint32_t)a->type);
    if (i >= a->n || sz <= 0)
        return 0;
    const unsigned char *p = (const unsigned char *)a->data + i * (uint64_t)sz;
    if (a->type == GGUF_VAL_F32) {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    if (a->type == GGUF_VAL_F64) {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    if (a->type == GGUF_VAL_BOOL)
        return p[0] != 0;
    int64_t s;
    uint64_t u;
    bool neg;
    if (!int_value(a->type, p, &s, &u, &neg))
        return 0;
    return neg ? (double)s : (double)u;
}

/* ---- tensors -------------------------------------------------------------- */

size_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i)
{
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    size_t lo = 0, hi = f->t_sorted ? f->n_tensors : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->tensors[f->t_sorted[mid]].name);
        if (c == 0)
            return &f->tensors[f->t_sorted[mid]];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}
