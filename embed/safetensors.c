/* safetensors.c - maps a .safetensors file read-only and validates its header.
 *
 * The format: an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype", "shape", "data_offsets": [begin, end)}, "__metadata__"}),
 * then the data area that the offsets are relative to. Everything in the
 * header is checked before any tensor is handed out, because the offsets come
 * straight from a downloaded file: a bad one must be an error here, not a
 * read past the mapping in the forward pass.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "embed/embed.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

#define ST_MAX_HEADER (100u * 1000u * 1000u) /* the reference implementation's limit */

static const struct {
    const char *name;
    st_dtype dtype;
    int size;
} st_dtypes[] = {
    {"F32", ST_F32, 4},    {"F16", ST_F16, 2},      {"BF16", ST_BF16, 2},    {"I64", ST_I64, 8},
    {"I32", ST_I32, 4},    {"F64", ST_OTHER, 8},    {"I16", ST_OTHER, 2},    {"I8", ST_OTHER, 1},
    {"U64", ST_OTHER, 8},  {"U32", ST_OTHER, 4},    {"U16", ST_OTHER, 2},    {"U8", ST_OTHER, 1},
    {"BOOL", ST_OTHER, 1}, {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
};

/* A header entry on its way to becoming an st_tensor. */
typedef struct {
    uint64_t begin, end;
    size_t index; /* into f->tensors */
} st_span;

/* A JSON number that is a whole, non-negative value a double holds exactly. */
static bool json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d)
        return false;
    *out = (uint64_t)d;
    return true;
}

static int cmp_span(const void *a, const void *b)
{
    const st_span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name(const void *a, const void *b)
{
    const st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static void shape_str(const st_tensor *t, char *out, size_t n)
{
    size_t len = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < t->n_dims && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%lld", i ? ", " : "",
                                (long long)t->shape[i]);
    if (len < n)
        snprintf(out + len, n - len, "]");
}

/* Fills t from one header entry, or sets the error. data/n_bytes checked by
 * the caller against the data area. */
static int parse_entry(const char *path, const cJSON *e, st_tensor *t, uint64_t *begin,
                       uint64_t *end)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e)) {
        dq_set_error("'%s': tensor '%s' is not a JSON object", path, name);
        return -1;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs)) {
        dq_set_error("'%s': tensor '%s' lacks dtype, shape or data_offsets", path, name);
        return -1;
    }
    int elem = 0;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++) {
        if (strcmp(dt->valuestring, st_dtypes[i].name) == 0) {
            t->dtype = st_dtypes[i].dtype;
            elem = st_dtypes[i].size;
            snprintf(t->dtype_name, sizeof t->dtype_name, "%s", st_dtypes[i].name);
        }
    }
    if (!elem) {
        dq_set_error("'%s': tensor '%s' has unknown dtype '%.32s'", path, name,
                     dt->valuestring);
        return -1;
    }
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > 4) {
        dq_set_error("'%s': tensor '%s' has %d dimensions (at most 4 supported)", path, name,
                     n_dims);
        return -1;
    }
    t->n_dims = n_dims;
    /* The product of the dims is kept below 2^62 so the byte count can't wrap. */
    uint64_t count = 1;
    bool overflow = false;
    for (int i = 0; i < n_dims; i++) {
        uint64_t d;
        if (!json_uint(cJSON_GetArrayItem(shape, i), &d)) {
            dq_set_error("'%s': tensor '%s' has a shape that is not a list of non-negative "
                         "integers",
                         path, name);
            return -1;
        }
        t->shape[i] = (int64_t)d;
        if (d && count > ((uint64_t)1 << 62) / d)
            overflow = true;
        else
            count *= d;
    }
    if (cJSON_GetArraySize(offs) != 2 || !json_uint(cJSON_GetArrayItem(offs, 0), begin) ||
        !json_uint(cJSON_GetArrayItem(offs, 1), end) || *end < *begin) {
        dq_set_error("'%s': tensor '%s' has invalid data_offsets (need [begin, end) with "
                     "begin <= end)",
                     path, name);
        return -1;
    }
    if (overflow || count * (uint64_t)elem != *end - *begin) {
        char s[96], need[32] = "too many";
        shape_str(t, s, sizeof s);
        if (!overflow)
            snprintf(need, sizeof need, "%llu", (unsigned long long)(count * (uint64_t)elem));
        dq_set_error("'%s': tensor '%s' of shape %s and dtype %s needs %s bytes but "
                     "data_offsets [%llu, %llu) hold %llu",
                     path, name, s, t->dtype_name, need, (unsigned long long)*begin,
                     (unsigned long long)*end, (unsigned long long)(*end - *begin));
        return -1;
    }
    return 0;
}

static int st_parse(const char *path, st_file *f)
{
    const unsigned char *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    if (hlen == 0) {
        dq_set_error("'%s': header length is 0", path);
        return -1;
    }
    if (hlen > ST_MAX_HEADER) {
        dq_set_error("'%s': header length %llu is absurd (over 100 MB; not a safetensors "
                     "file?)",
                     path, (unsigned long long)hlen);
        return -1;
    }
    if (hlen > f->map_size - 8) {
        dq_set_error("'%s': header length %llu past end of file (%zu bytes)", path,
                     (unsigned long long)hlen, f->map_size);
        return -1;
    }
    const char *json = (const char *)p + 8;
    size_t data_size = f->map_size - 8 - hlen;
    const unsigned char *data = p + 8 + hlen;

    const char *json_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, hlen, &json_end, false);
    if (root && json_end) {
        /* writers pad the header with spaces; anything else after the JSON
         * means the length or the JSON is wrong */
        for (const char *q = json_end; q < json + hlen; q++) {
            if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
                cJSON_Delete(root);
                dq_set_error("'%s': unexpected bytes after the JSON header (at byte %lld)",
                             path, (long long)(q - json) + 8);
                return -1;
            }
        }
    }
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        dq_set_error("'%s': header is not valid JSON (near byte %lld)", path,
                     at ? (long long)(at - json) + 8 : -1LL);
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        dq_set_error("'%s': header is not a JSON object", path);
        return -1;
    }
    size_t n = 0;
    for (cJSON *e = root->child; e; e = e->next)
        n++;
    f->tensors = dq_calloc(n ? n : 1, sizeof *f->tensors);
    st_span *spans = dq_calloc(n ? n : 1, sizeof *spans);
    int rc = -1;
    for (cJSON *e = root->child; e; e = e->next) {
        if (e->string && strcmp(e->string, "__metadata__") == 0)
            continue;
        st_tensor *t = &f->tensors[f->n_tensors];
        t->name = dq_strdup(e->string ? e->string : "");
        f->n_tensors++;
        uint64_t b, end;
        if (parse_entry(path, e, t, &b, &end) < 0)
            goto out;
        if (end > data_size) {
            dq_set_error("'%s': tensor '%s' data_offsets [%llu, %llu) past end of file "
                         "(%zu bytes)",
                         path, t->name, (unsigned long long)b, (unsigned long long)end,
                         f->map_size);
            goto out;
        }
        t->data = data + b;
        t->n_bytes = (size_t)(end - b);
        spans[f->n_tensors - 1] = (st_span){b, end, f->n_tensors - 1};
    }

    /* Overlaps: sorted by begin, each non-empty tensor must start at or after
     * the furthest end seen so far. Empty tensors occupy no bytes. */
    qsort(spans, f->n_tensors, sizeof *spans, cmp_span);
    uint64_t reach = 0;
    size_t reach_i = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        if (spans[i].begin == spans[i].end)
            continue;
        if (spans[i].begin < reach) {
            dq_set_error("'%s': tensors '%s' and '%s' overlap", path,
                         f->tensors[reach_i].name, f->tensors[spans[i].index].name);
            goto out;
        }
        reach = spans[i].end;
        reach_i = spans[i].index;
    }

    /* cJSON keeps duplicate keys as separate members; a duplicate would make
     * st_find's answer depend on header order. */
    if (f->n_tensors > 1) {
        const st_tensor **byname = dq_malloc(f->n_tensors * sizeof *byname);
        for (size_t i = 0; i < f->n_tensors; i++)
            byname[i] = &f->tensors[i];
        qsort(byname, f->n_tensors, sizeof *byname, cmp_name);
        for (size_t i = 1; i < f->n_tensors; i++) {
            if (strcmp(byname[i]->name, byname[i - 1]->name) == 0) {
                dq_set_error("'%s': tensor '%s' appears twice in the header", path,
                             byname[i]->name);
                free(byname);
                goto out;
            }
        }
        free(byname);
    }
    rc = 0;
out:
    free(spans);
    cJSON_Delete(root);
    return rc;
}

int st_open(const char *path, st_file *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dq_set_error("cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat stt;
    if (fstat(fd, &stt) < 0) {
        dq_set_error("cannot stat '%s': %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(stt.st_mode)) {
        dq_set_error("'%s': not a regular file", path);
        close(fd);
        return -1;
    }
    if (stt.st_size == 0) {
        dq_set_error("'%s': empty file", path);
        close(fd);
        return -1;
    }
    if (stt.st_size < 8) {
        dq_set_error("'%s': file too short for a safetensors header (%lld bytes)", path,
                     (long long)stt.st_size);
        close(fd);
        return -1;
    }
    void *map = mmap(NULL, (size_t)stt.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) {
        dq_set_error("cannot map '%s': %s", path, strerror(err));
        return -1;
    }
    out->map = map;
    out->map_size = (size_t)stt.st_size;
    if (st_parse(path, out) < 0) {
        /* keep the message st_parse set; st_close doesn't touch it */
        st_close(out);
        return -1;
    }
    return 0;
}

int st_open_memory(const void *data, size_t n, const char *name, st_file *out)
{
    memset(out, 0, sizeof *out);
    if (n < 8) {
        dq_set_error("'%s': file too short for a safetensors header (%zu bytes)", name, n);
        return -1;
    }
    /* A private read-only copy, so st_close() unmaps it as it would a file
     * and a stray write through a tensor pointer faults the same way. */
    void *map = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        dq_set_error("cannot map '%s': %s", name, strerror(errno));
        return -1;
    }
    memcpy(map, data, n);
    mprotect(map, n, PROT_READ);
    out->map = map;
    out->map_size = n;
    if (st_parse(name, out) < 0) {
        st_close(out);
        return -1;
    }
    return 0;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    if (f->map)
        munmap(f->map, f->map_size);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}
