/* test_gguf.c - the GGUF reader on files written by scripts/gguf_write.py and
 * on hand-built hostile ones: every value type, string arrays, alignment,
 * and one clear error for each kind of damage. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "embed/gguf.h"

static char tmpdir[64];

static void make_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dq_gguf_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void clean_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(gguf, .init = make_tmp, .fini = clean_tmp);

/* ---- a little-endian byte builder for hand-made files --------------------- */

static void put(dq_buf *b, const void *p, size_t n) { dq_buf_append(b, p, n); }
static void put_u32(dq_buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(dq_buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(dq_buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void header(dq_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}

static void kv_u32(dq_buf *b, const char *key, uint32_t v)
{
    put_str(b, key);
    put_u32(b, GGUF_VAL_U32);
    put_u32(b, v);
}

static void tensor_info(dq_buf *b, const char *name, int n_dims, const uint64_t *ne,
                        uint32_t type, uint64_t offset)
{
    put_str(b, name);
    put_u32(b, (uint32_t)n_dims);
    for (int i = 0; i < n_dims; i++)
        put_u64(b, ne[i]);
    put_u32(b, type);
    put_u64(b, offset);
}

static void pad_to(dq_buf *b, size_t align)
{
    while (b->len % align)
        dq_buf_putc(b, 0);
}

/* A valid file: one u32 key and two F32 tensors of 4 values. */
static void good_file(dq_buf *b)
{
    header(b, 3, 2, 1);
    kv_u32(b, "llama.block_count", 2);
    uint64_t ne[1] = {4};
    tensor_info(b, "a", 1, ne, GGUF_TYPE_F32, 0);
    tensor_info(b, "b", 1, ne, GGUF_TYPE_F32, 32);
    pad_to(b, 32);
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    put(b, v, 16);
    pad_to(b, 32);
    put(b, v + 4, 16);
}

static gguf_file *open_bytes(const dq_buf *b)
{
    return gguf_open_memory(b->data, b->len, "t.gguf");
}

/* Opens b, expects failure with a message containing want. */
static void expect_error(const dq_buf *b, const char *want)
{
    gguf_file *f = open_bytes(b);
    cr_assert_null(f, "accepted a file that should fail with '%s'", want);
    cr_assert(strstr(dq_last_error(), want), "error '%s' lacks '%s'", dq_last_error(), want);
    cr_assert(strstr(dq_last_error(), "t.gguf"), "error '%s' does not name the file",
              dq_last_error());
    cr_assert_null(strchr(dq_last_error(), '\n'), "error is not one line");
}

Test(gguf, hand_made_file_reads_back)
{
    dq_buf b = DQ_BUF_INIT;
    good_file(&b);
    gguf_file *f = open_bytes(&b);
    cr_assert_not_null(f, "%s", dq_last_error());
    cr_assert_eq(gguf_version(f), 3);
    cr_assert_eq(gguf_n_tensors(f), 2);
    const gguf_tensor *t = gguf_find_tensor(f, "b");
    cr_assert_not_null(t);
    cr_assert_eq(t->type, GGUF_TYPE_F32);
    cr_assert_eq(t->n_bytes, 16);
    cr_assert_eq(t->ne[0], 4);
    cr_assert_eq(t->ne[1], 1);
    float v[4];
    memcpy(v, t->data, 16);
    cr_assert_float_eq(v[0], 5.0f, 0);
    cr_assert_eq(((uintptr_t)t->data - (uintptr_t)gguf_map(f)) % 32, 0);
    cr_assert_null(gguf_find_tensor(f, "c"));
    uint32_t n;
    cr_assert_eq(gguf_get_u32(f, "llama.block_count", &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(gguf_get_u32(f, "llama.nope", &n), GGUF_ERR_MISSING);
    cr_assert(strstr(dq_last_error(), "llama.nope"));
    float x;
    cr_assert_eq(gguf_get_f32(f, "llama.block_count", &x), GGUF_ERR_TYPE);
    cr_assert(strstr(dq_last_error(), "is u32, expected a float"), "%s", dq_last_error());
    cr_assert_null(gguf_get_str(f, "llama.block_count", NULL));
    gguf_close(f);
    gguf_close(NULL);
    dq_buf_free(&b);
}

/* The Python writer's files (the fuzz seeds) read back value for value. */
Test(gguf, python_writer_round_trip)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/scripts/gguf_write.py --seeds %s",
             DQ_SOURCE_DIR, tmpdir);
    cr_assert_eq(system(cmd), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/all-types.gguf", tmpdir);
    gguf_file *f = gguf_open(path);
    cr_assert_not_null(f, "%s", dq_last_error());
    size_t len;
    cr_assert_str_eq(gguf_get_str(f, "general.architecture", &len), "llama");
    cr_assert_eq(len, 5);
    int32_t i32;
    int64_t i64;
    uint64_t u64;
    uint32_t u32;
    double f64;
    float f32;
    bool bl;
    cr_assert_eq(gguf_get_i32(f, "t.i8", &i32), 0);
    cr_assert_eq(i32, -5);
    cr_assert_eq(gguf_get_u32(f, "t.u8", &u32), 0);
    cr_assert_eq(u32, 200);
    cr_assert_eq(gguf_get_u32(f, "t.u16", &u32), 0);
    cr_assert_eq(u32, 60000);
    cr_assert_eq(gguf_get_i32(f, "t.i16", &i32), 0);
    cr_assert_eq(i32, -300);
    cr_assert_eq(gguf_get_i64(f, "t.i32", &i64), 0);
    cr_assert_eq(i64, -7);
    cr_assert_eq(gguf_get_u32(f, "t.i32", &u32), GGUF_ERR_TYPE, "negative into u32");
    cr_assert_eq(gguf_get_u64(f, "t.u64", &u64), 0);
    cr_assert_eq(u64, 1ull << 40);
    cr_assert_eq(gguf_get_u32(f, "t.u64", &u32), GGUF_ERR_TYPE, "2^40 into u32");
    cr_assert_eq(gguf_get_i64(f, "t.i64", &i64), 0);
    cr_assert_eq(i64, -(1ll << 40));
    cr_assert_eq(gguf_get_f32(f, "t.f32", &f32), 0);
    cr_assert_float_eq(f32, 0.5f, 0);
    cr_assert_eq(gguf_get_f64(f, "t.f64", &f64), 0);
    cr_assert_float_eq(f64, 1e-6, 0);
    cr_assert_eq(gguf_get_bool(f, "t.bool", &bl), 0);
    cr_assert(bl);

    gguf_arr a;
    cr_assert_eq(gguf_get_arr(f, "tokenizer.ggml.tokens", &a), 0);
    cr_assert_eq(a.type, GGUF_VAL_STRING);
    cr_assert_eq(a.n, 4);
    const char *s = gguf_arr_str(&a, 2, &len);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(s, "\xe4\xb8\xad", 3), 0);
    gguf_arr_str(&a, 3, &len);
    cr_assert_eq(len, 0);
    cr_assert_null(gguf_arr_str(&a, 4, &len));
    cr_assert_eq(gguf_get_arr(f, "tokenizer.ggml.scores", &a), 0);
    cr_assert_eq(a.type, GGUF_VAL_F32);
    cr_assert_float_eq(gguf_arr_f64(&a, 3), 3.5, 0);
    float raw;
    memcpy(&raw, (const char *)a.data + 4, 4);
    cr_assert_float_eq(raw, -1.0f, 0);
    cr_assert_eq(gguf_get_arr(f, "tokenizer.ggml.token_type", &a), 0);
    cr_assert_eq(gguf_arr_int(&a, 3), 3);

    const gguf_tensor *t = gguf_find_tensor(f, "f32");
    cr_assert_not_null(t);
    cr_assert_eq(t->n_dims, 2);
    cr_assert_eq(t->ne[0], 4);
    cr_assert_eq(t->ne[1], 2);
    t = gguf_find_tensor(f, "q4_k");
    cr_assert_not_null(t);
    cr_assert_str_eq(gguf_type_name(t->type), "Q4_K");
    cr_assert_eq(t->n_bytes, 144);
    t = gguf_find_tensor(f, "q8_0");
    cr_assert_eq(t->n_bytes, 34);
    gguf_close(f);

    snprintf(path, sizeof path, "%s/v2-align64.gguf", tmpdir);
    f = gguf_open(path);
    cr_assert_not_null(f, "%s", dq_last_error());
    cr_assert_eq(gguf_version(f), 2);
    cr_assert_eq(gguf_alignment(f), 64);
    t = gguf_find_tensor(f, "b");
    cr_assert_eq(((uintptr_t)t->data - (uintptr_t)gguf_map(f)) % 64, 0);
    cr_assert_eq(t->n_bytes, 210);
    gguf_close(f);
}

Test(gguf, every_truncation_is_one_clear_error)
{
    dq_buf b = DQ_BUF_INIT;
    good_file(&b);
    for (size_t n = 1; n < b.len; n++) {
        gguf_file *f = gguf_open_memory(b.data, n, "t.gguf");
        cr_assert_null(f, "accepted the file cut at %zu of %zu bytes", n, b.len);
        const char *e = dq_last_error();
        cr_assert(strstr(e, "t.gguf") && !strchr(e, '\n'), "%s", e);
        cr_assert(strstr(e, "truncated") || strstr(e, "not a GGUF") || strstr(e, "more than"),
                  "cut at %zu: %s", n, e);
    }
    dq_buf_free(&b);
}

Test(gguf, bad_headers)
{
    dq_buf b = DQ_BUF_INIT;
    put(&b, "GGML", 4);
    put_u32(&b, 3);
    expect_error(&b, "not a GGUF file");
    dq_buf_clear(&b);
    header(&b, 1, 0, 0);
    expect_error(&b, "version 1 is not supported");
    dq_buf_clear(&b);
    header(&b, 0x03000000, 0, 0);
    expect_error(&b, "big-endian");
    dq_buf_clear(&b);
    header(&b, 3, 0, 1ull << 60);
    expect_error(&b, "more than the file can hold");
    dq_buf_clear(&b);
    header(&b, 3, 1ull << 60, 0);
    expect_error(&b, "more than the file can hold");
    dq_buf_free(&b);
}

Test(gguf, bad_metadata)
{
    dq_buf b = DQ_BUF_INIT;
    header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, 77);
    put_u32(&b, 0);
    expect_error(&b, "unknown value type 77");

    dq_buf_clear(&b);
    header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, GGUF_VAL_ARRAY);
    put_u32(&b, GGUF_VAL_U32);
    put_u64(&b, 1ull << 62);
    put_u32(&b, 0);
    expect_error(&b, "claims 4611686018427387904 elements");

    dq_buf_clear(&b);
    header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, GGUF_VAL_ARRAY);
    put_u32(&b, GGUF_VAL_ARRAY);
    put_u64(&b, 0);
    expect_error(&b, "array of arrays");

    dq_buf_clear(&b);
    header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, GGUF_VAL_STRING);
    put_u64(&b, 1000);
    put(&b, "short", 5);
    expect_error(&b, "truncated");

    dq_buf_clear(&b);
    header(&b, 3, 0, 2);
    kv_u32(&b, "k", 1);
    kv_u32(&b, "k", 2);
    expect_error(&b, "'k' appears twice");

    dq_buf_clear(&b);
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 48);
    expect_error(&b, "power of two");
    dq_buf_free(&b);
}

Test(gguf, bad_tensors)
{
    dq_buf b = DQ_BUF_INIT;
    uint64_t ne[2] = {4, 1};
    /* unknown type */
    header(&b, 3, 1, 0);
    tensor_info(&b, "w", 1, ne, 99, 0);
    pad_to(&b, 32);
    put(&b, "0123456789abcdef", 16);
    expect_error(&b, "'w' has unknown type 99");

    /* too many dims */
    dq_buf_clear(&b);
    header(&b, 3, 1, 0);
    uint64_t ne5[5] = {1, 1, 1, 1, 1};
    tensor_info(&b, "w", 5, ne5, GGUF_TYPE_F32, 0);
    put(&b, "0123456789abcdef0123456789abcdef", 32);
    expect_error(&b, "5 dimensions");

    /* a row that is not a whole number of blocks */
    dq_buf_clear(&b);
    header(&b, 3, 1, 0);
    uint64_t ne33[1] = {33};
    tensor_info(&b, "q", 1, ne33, GGUF_TYPE_Q8_0, 0);
    pad_to(&b, 32);
    for (int i = 0; i < 4; i++)
        put(&b, "0123456789abcdef0123456789abcdef", 32);
    expect_error(&b, "not a multiple of its block of 32");

    /* a misaligned offset */
    dq_buf_clear(&b);
    header(&b, 3, 1, 0);
    tensor_info(&b, "w", 1, ne, GGUF_TYPE_F32, 4);
    pad_to(&b, 32);
    put(&b, "0123456789abcdef0123456789abcdef", 32);
    expect_error(&b, "not a multiple of the alignment 32");

    /* data past the end */
    dq_buf_clear(&b);
    header(&b, 3, 1, 0);
    tensor_info(&b, "w", 1, ne, GGUF_TYPE_F32, 32);
    pad_to(&b, 32);
    put(&b, "0123456789abcdef", 16);
    expect_error(&b, "'w' (16 bytes at data offset 32) ends past the end");

    /* overlap and duplicates */
    dq_buf_clear(&b);
    header(&b, 3, 2, 0);
    tensor_info(&b, "a", 1, ne, GGUF_TYPE_F32, 0);
    tensor_info(&b, "b", 1, ne, GGUF_TYPE_F32, 0);
    pad_to(&b, 32);
    put(&b, "0123456789abcdef", 16);
    expect_error(&b, "overlap");
    dq_buf_clear(&b);
    header(&b, 3, 2, 0);
    tensor_info(&b, "a", 1, ne, GGUF_TYPE_F32, 0);
    tensor_info(&b, "a", 1, ne, GGUF_TYPE_F32, 32);
    pad_to(&b, 32);
    put(&b, "0123456789abcdef0123456789abcdef0123456789abcdef", 48);
    expect_error(&b, "'a' appears twice");

    /* dims whose product overflows */
    dq_buf_clear(&b);
    header(&b, 3, 1, 0);
    uint64_t huge[2] = {1ull << 40, 1ull << 40};
    tensor_info(&b, "w", 2, huge, GGUF_TYPE_F32, 0);
    pad_to(&b, 32);
    expect_error(&b, "absurd dimensions");
    dq_buf_free(&b);
}

Test(gguf, open_errors_name_the_file)
{
    char path[256];
    snprintf(path, sizeof path, "%s/missing.gguf", tmpdir);
    cr_assert_null(gguf_open(path));
    cr_assert(strstr(dq_last_error(), "missing.gguf"));
    snprintf(path, sizeof path, "%s/empty.gguf", tmpdir);
    FILE *fp = fopen(path, "wb");
    fclose(fp);
    cr_assert_null(gguf_open(path));
    cr_assert(strstr(dq_last_error(), "empty file"), "%s", dq_last_error());
    cr_assert_null(gguf_open(tmpdir));
    cr_assert(strstr(dq_last_error(), "not a regular file"), "%s", dq_last_error());
}

Test(gguf, type_names_and_blocks)
{
    cr_assert_str_eq(gguf_type_name(GGUF_TYPE_Q6_K), "Q6_K");
    cr_assert_str_eq(gguf_type_name(GGUF_TYPE_BF16), "BF16");
    cr_assert_null(gguf_type_name(31));
    cr_assert_eq(gguf_row_bytes(GGUF_TYPE_Q4_K, 512), 288);
    cr_assert_eq(gguf_row_bytes(GGUF_TYPE_Q5_K, 256), 176);
    cr_assert_eq(gguf_row_bytes(GGUF_TYPE_Q4_0, 64), 36);
    cr_assert_eq(gguf_row_bytes(GGUF_TYPE_Q4_0, 65), 0);
    cr_assert_str_eq(gguf_val_type_name(GGUF_VAL_STRING), "string");
}
