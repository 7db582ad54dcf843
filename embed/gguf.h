/* gguf.h - a read-only GGUF (v2, v3) reader over mmap: metadata and tensors.
 *
 * GGUF is the file format of llama.cpp, Ollama and LM Studio models: a
 * header, typed key/value metadata, tensor descriptions, then the aligned
 * tensor data. gguf_open checks every count, length, type, offset, size and
 * alignment before it hands anything out, so a hostile or truncated file is an
 * error here and never a read past the mapping later. Tensor data and array
 * elements point into the read-only mapping (never copied); they live until
 * gguf_close.
 *
 * Dimensions are in ggml's order: ne[0] is the contiguous one (a weight
 * matrix of n_out rows of n_in values has ne = {n_in, n_out}).
 */
#ifndef DQ_EMBED_GGUF_H
#define DQ_EMBED_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, numbered as in the file. */
typedef enum {
    GGUF_VAL_U8 = 0,
    GGUF_VAL_I8 = 1,
    GGUF_VAL_U16 = 2,
    GGUF_VAL_I16 = 3,
    GGUF_VAL_U32 = 4,
    GGUF_VAL_I32 = 5,
    GGUF_VAL_F32 = 6,
    GGUF_VAL_BOOL = 7,
    GGUF_VAL_STRING = 8,
    GGUF_VAL_ARRAY = 9,
    GGUF_VAL_U64 = 10,
    GGUF_VAL_I64 = 11,
    GGUF_VAL_F64 = 12,
} gguf_val_type;

/* Tensor types, numbered as ggml numbers them. The reader knows the block
 * layout of these (to size and validate every tensor); the LLM engine
 * computes with a subset and refuses the rest by name. */
typedef enum {
    GGUF_TYPE_F32 = 0,
    GGUF_TYPE_F16 = 1,
    GGUF_TYPE_Q4_0 = 2,
    GGUF_TYPE_Q4_1 = 3,
    GGUF_TYPE_Q5_0 = 6,
    GGUF_TYPE_Q5_1 = 7,
    GGUF_TYPE_Q8_0 = 8,
    GGUF_TYPE_Q8_1 = 9,
    GGUF_TYPE_Q2_K = 10,
    GGUF_TYPE_Q3_K = 11,
    GGUF_TYPE_Q4_K = 12,
    GGUF_TYPE_Q5_K = 13,
    GGUF_TYPE_Q6_K = 14,
    GGUF_TYPE_Q8_K = 15,
    GGUF_TYPE_IQ2_XXS = 16,
    GGUF_TYPE_IQ2_XS = 17,
    GGUF_TYPE_IQ3_XXS = 18,
    GGUF_TYPE_IQ1_S = 19,
    GGUF_TYPE_IQ4_NL = 20,
    GGUF_TYPE_IQ3_S = 21,
    GGUF_TYPE_IQ2_S = 22,
    GGUF_TYPE_IQ4_XS = 23,
    GGUF_TYPE_I8 = 24,
    GGUF_TYPE_I16 = 25,
    GGUF_TYPE_I32 = 26,
    GGUF_TYPE_I64 = 27,
    GGUF_TYPE_F64 = 28,
    GGUF_TYPE_IQ1_M = 29,
    GGUF_TYPE_BF16 = 30,
    GGUF_TYPE_TQ1_0 = 34,
    GGUF_TYPE_TQ2_0 = 35,
    GGUF_TYPE_MXFP4 = 39,
} gguf_type;

enum { GGUF_MAX_DIMS = 4 };

typedef struct {
    const char *name; /* NUL-terminated, owned by the file */
    gguf_type type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] contiguous; unused dims are 1 */
    uint64_t n_elems;
    const void *data; /* inside the mapping, aligned to the file's alignment */
    size_t n_bytes;
} gguf_tensor;

/* One metadata array. For numeric arrays data points at n elements of type
 * in the mapping, possibly unaligned (read them with memcpy or gguf_arr_*);
 * for string arrays use gguf_arr_str. */
typedef struct {
    gguf_val_type type; /* the element type; never GGUF_VAL_ARRAY */
    uint64_t n;
    const void *data;
    const uint64_t *str_offsets; /* (n) for string arrays, else NULL; private */
    const unsigned char *base;   /* private */
} gguf_arr;

typedef struct gguf_file gguf_file;

/* Errors a caller may act on (the message says more). */
enum { GGUF_ERR_MISSING = -1, GGUF_ERR_TYPE = -2 };

/* Maps and validates path; NULL with a one-line error naming the file. */
gguf_file *gguf_open(const char *path);
/* gguf_open, and for a model gguf-split cut into NAME-00001-of-0000N.gguf
 * and its siblings (split.no, split.count), every part: the first part's
 * metadata, all parts' tensors, as one file. path must be the first part. */
gguf_file *gguf_open_split(const char *path);
/* The same checks over a private copy of data (fuzzing, tests). */
gguf_file *gguf_open_memory(const void *data, size_t n, const char *name);
void gguf_close(gguf_file *f); /* NULL-safe */

const char *gguf_path(const gguf_file *f);
uint32_t gguf_version(const gguf_file *f);
size_t gguf_file_size(const gguf_file *f);
/* The whole mapping, gguf_file_size bytes (for madvise and bounds checks). */
const void *gguf_map(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);

/* ---- metadata ----------------------------------------------------------- */

size_t gguf_n_kv(const gguf_file *f);
const char *gguf_kv_key(const gguf_file *f, size_t i);
gguf_val_type gguf_kv_type(const gguf_file *f, size_t i);
/* Index of key, or -1. */
long gguf_find_key(const gguf_file *f, const char *key);
bool gguf_has_key(const gguf_file *f, const char *key);

/* Typed getters: 0 and *out set, GGUF_ERR_MISSING when the key is absent,
 * GGUF_ERR_TYPE when it holds another type or a value out of the target's
 * range (both with the error set). The integer getters accept any integer
 * type whose value fits, since converters differ (u32 vs i32); gguf_get_f32
 * and gguf_get_f64 accept F32 and F64. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out);
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
int gguf_get_f32(const gguf_file *f, const char *key, float *out);
int gguf_get_f64(const gguf_file *f, const char *key, double *out);
int gguf_get_bool(const gguf_file *f, const char *key, bool *out);
/* A string value, NUL-terminated (owned by the file; a string holding a NUL
 * byte reads shorter than *len). len may be NULL. NULL when missing or not a
 * string, with the error set. */
const char *gguf_get_str(const gguf_file *f, const char *key, size_t *len);
int gguf_get_arr(const gguf_file *f, const char *key, gguf_arr *out);

/* Elements of an array; i < a->n. A string is not NUL-terminated: use len. */
const char *gguf_arr_str(const gguf_arr *a, uint64_t i, size_t *len);
/* Numeric elements converted: any integer type for gguf_arr_int (u64 above
 * INT64_MAX saturates), any numeric type for gguf_arr_f64. */
int64_t gguf_arr_int(const gguf_arr *a, uint64_t i);
double gguf_arr_f64(const gguf_arr *a, uint64_t i);

/* "u32", "string", "array", ... ("?" for an unknown value) */
const char *gguf_val_type_name(int type);

/* ---- tensors ------------------------------------------------------------ */

size_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i);
/* NULL when absent (no error set: callers decide whether it is optional). */
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* "F32", "Q4_K", ...; NULL for a number the reader does not know. */
const char *gguf_type_name(int type);
/* Elements per block and bytes per block; false for an unknown type. */
bool gguf_type_block(int type, int *block_elems, int *block_bytes);
/* Bytes of a row of n elements (n a multiple of the block), 0 if unknown. */
size_t gguf_row_bytes(int type, int64_t n);

#endif
