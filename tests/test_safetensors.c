/* test_safetensors.c - the safetensors reader on good and hostile files, and
 * bert_load on the tiny fixtures and on broken copies of them. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "embed/bert_impl.h"
#include "embed/embed.h"
#include "support/tmpdir.h"

#define FIXTURES DQ_SOURCE_DIR "/tests/fixtures"

static char tmpdir[64];

static void make_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dq_st_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void clean_tmp(void)
{
    tmpdir_remove(tmpdir);
}

static char *tmp_path(const char *name)
{
    return tmpdir_path(tmpdir, name);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    if (n)
        cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* hlen (as written in the first 8 bytes), then header, then data. */
static void write_st_raw(const char *path, uint64_t hlen, const char *header, size_t header_n,
                         const void *data, size_t data_n)
{
    dq_buf b = DQ_BUF_INIT;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(hlen >> (8 * i));
    dq_buf_append(&b, (const char *)le, 8);
    dq_buf_append(&b, header, header_n);
    if (data_n)
        dq_buf_append(&b, data, data_n);
    write_bytes(path, b.data, b.len);
    dq_buf_free(&b);
}

static void write_st(const char *path, const char *header, const void *data, size_t data_n)
{
    write_st_raw(path, strlen(header), header, strlen(header), data, data_n);
}

/* st_open must fail, leave the struct empty, and say what it should. */
static void expect_st_error(const char *path, const char *reason)
{
    st_file f;
    memset(&f, 0x5a, sizeof f);
    cr_assert_eq(st_open(path, &f), -1, "st_open accepted a bad file (%s)", reason);
    cr_assert_null(f.map);
    cr_assert_null(f.tensors);
    cr_assert_eq(f.n_tensors, 0);
    const char *e = dq_last_error();
    cr_assert(strstr(e, path), "error does not name the file: %s", e);
    cr_assert(strstr(e, reason), "error lacks '%s': %s", reason, e);
    st_close(&f); /* harmless after a failure */
}

static float data16[16];

static void fill_data(void)
{
    for (int i = 0; i < 16; i++)
        data16[i] = (float)i * 0.5f;
}

/* ---- the reader ------------------------------------------------------------ */

Test(safetensors, good_file, .init = make_tmp, .fini = clean_tmp)
{
    fill_data();
    /* a: F32 [2, 3] at [0, 24); b: F16 [4] at [24, 32); c: U8 [0] empty; the
     * header is padded with spaces as real writers do */
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                    "\"c\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[32,32]}}     ";
    unsigned char data[32];
    memcpy(data, data16, 24);
    uint16_t halves[4] = {0x3c00, 0xc000, 0x0001, 0x7c00}; /* 1, -2, 2^-24, inf */
    memcpy(data + 24, halves, 8);
    const char *p = tmp_path("good.safetensors");
    write_st(p, h, data, sizeof data);

    st_file f;
    cr_assert_eq(st_open(p, &f), 0, "%s", dq_last_error());
    cr_assert_eq(f.n_tensors, 3);
    const st_tensor *a = st_find(&f, "a"), *b = st_find(&f, "b"), *c = st_find(&f, "c");
    cr_assert(a && b && c);
    cr_assert_null(st_find(&f, "__metadata__"));
    cr_assert_null(st_find(&f, "d"));
    cr_assert_eq(a->dtype, ST_F32);
    cr_assert_str_eq(a->dtype_name, "F32");
    cr_assert_eq(a->n_dims, 2);
    cr_assert_eq(a->shape[0], 2);
    cr_assert_eq(a->shape[1], 3);
    cr_assert_eq(a->n_bytes, 24);
    cr_assert_eq((const char *)a->data, (const char *)f.map + 8 + strlen(h));
    float a5; /* the header length is not a multiple of 4: read unaligned */
    memcpy(&a5, (const char *)a->data + 20, 4);
    cr_assert_float_eq(a5, 2.5f, 0);
    cr_assert_eq(b->dtype, ST_F16);
    cr_assert_eq(b->n_bytes, 8);
    uint16_t b3;
    memcpy(&b3, (const char *)b->data + 6, 2);
    cr_assert_eq(b3, 0x7c00);
    cr_assert_eq(c->dtype, ST_OTHER);
    cr_assert_str_eq(c->dtype_name, "U8");
    cr_assert_eq(c->n_bytes, 0);
    st_close(&f);
    cr_assert_null(f.map);
    st_close(&f); /* twice is fine */
}

Test(safetensors, real_fixture_with_i64_and_prefix)
{
    st_file f;
    const char *p = FIXTURES "/bert-tiny-mean/model.safetensors";
    cr_assert_eq(st_open(p, &f), 0, "%s", dq_last_error());
    cr_assert_eq(f.n_tensors, 40);
    const st_tensor *t = st_find(&f, "bert.embeddings.position_ids");
    cr_assert_not_null(t);
    cr_assert_eq(t->dtype, ST_I64);
    cr_assert_eq(t->n_dims, 2);
    cr_assert_eq(t->shape[1], 40);
    cr_assert_eq(((const int64_t *)t->data)[39], 39);
    t = st_find(&f, "bert.encoder.layer.1.intermediate.dense.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->dtype, ST_F16);
    cr_assert_eq(t->shape[0], 128);
    cr_assert_eq(t->shape[1], 64);
    st_close(&f);
}

Test(safetensors, header_length_errors, .init = make_tmp, .fini = clean_tmp)
{
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    const char *p = tmp_path("x.safetensors");
    float one = 1;
    write_st_raw(p, 4096, h, strlen(h), &one, 4);
    expect_st_error(p, "header length 4096 past end of file");
    write_st_raw(p, 0, h, strlen(h), &one, 4);
    expect_st_error(p, "header length is 0");
    write_st_raw(p, (uint64_t)1 << 40, h, strlen(h), &one, 4);
    expect_st_error(p, "absurd");
    write_st_raw(p, UINT64_MAX, h, strlen(h), &one, 4);
    expect_st_error(p, "absurd");
    write_bytes(p, "", 0);
    expect_st_error(p, "empty file");
    write_bytes(p, "\x08\0\0\0", 4);
    expect_st_error(p, "too short");
}

Test(safetensors, missing_file)
{
    st_file f;
    cr_assert_eq(st_open("/nonexistent/dq.safetensors", &f), -1);
    cr_assert(strstr(dq_last_error(), "cannot open '/nonexistent/dq.safetensors'"));
}

Test(safetensors, bad_json, .init = make_tmp, .fini = clean_tmp)
{
    const char *p = tmp_path("x.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",", NULL, 0);
    expect_st_error(p, "not valid JSON");
    write_st(p, "[1,2,3]", NULL, 0);
    expect_st_error(p, "not a JSON object");
    write_st(p, "{\"a\":[1]}", NULL, 0);
    expect_st_error(p, "tensor 'a' is not a JSON object");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", NULL, 0);
    expect_st_error(p, "lacks dtype, shape or data_offsets");
    /* only whitespace may follow the JSON: a NUL or a second value may not */
    write_st_raw(p, 4, "{}\0 ", 4, NULL, 0);
    expect_st_error(p, "unexpected bytes after the JSON header (at byte 10)");
    write_st(p, "{} {}", NULL, 0);
    expect_st_error(p, "unexpected bytes after the JSON header");
    write_st(p, "{}  \n ", NULL, 0);
    st_file f;
    cr_assert_eq(st_open(p, &f), 0, "an empty object with padding is a valid file: %s",
                 dq_last_error());
    cr_assert_eq(f.n_tensors, 0);
    st_close(&f);
}

Test(safetensors, offsets_past_end, .init = make_tmp, .fini = clean_tmp)
{
    fill_data();
    const char *p = tmp_path("x.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[60,76]}}", data16,
             64);
    expect_st_error(p, "tensor 'a' data_offsets [60, 76) past end of file");
    /* truncated: the header promises 64 bytes, the file holds 40 */
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}}", data16,
             40);
    expect_st_error(p, "past end of file");
    /* offsets near 2^53 must not wrap */
    write_st(p,
             "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],"
             "\"data_offsets\":[9007199254740976,9007199254740992]}}",
             data16, 64);
    expect_st_error(p, "past end of file");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", data16,
             64);
    expect_st_error(p, "invalid data_offsets");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", data16,
             64);
    expect_st_error(p, "invalid data_offsets");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", data16,
             64);
    expect_st_error(p, "invalid data_offsets");
}

Test(safetensors, overlapping_tensors, .init = make_tmp, .fini = clean_tmp)
{
    fill_data();
    const char *p = tmp_path("x.safetensors");
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[32,48]},"
             "\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
             data16, 64);
    expect_st_error(p, "tensors 'a' and 'c' overlap");
    /* one tensor inside another's span */
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[60,64]}}",
             data16, 64);
    expect_st_error(p, "overlap");
    /* adjacent is fine */
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[32,64]}}",
             data16, 64);
    st_file f;
    cr_assert_eq(st_open(p, &f), 0, "%s", dq_last_error());
    st_close(&f);
}

Test(safetensors, shape_size_mismatch, .init = make_tmp, .fini = clean_tmp)
{
    fill_data();
    const char *p = tmp_path("x.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,40]}}", data16,
             64);
    expect_st_error(p, "tensor 'w' of shape [3, 4] and dtype F32 needs 48 bytes but "
                       "data_offsets [0, 40) hold 40");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,16]}}", data16,
             64);
    expect_st_error(p, "not a list of non-negative integers");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", data16,
             64);
    expect_st_error(p, "not a list of non-negative integers");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}",
             data16, 64);
    expect_st_error(p, "5 dimensions");
    /* a product that overflows 64 bits must not wrap around to a match */
    write_st(p,
             "{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,1],"
             "\"data_offsets\":[0,0]}}",
             data16, 64);
    expect_st_error(p, "needs too many bytes");
}

Test(safetensors, unknown_dtype, .init = make_tmp, .fini = clean_tmp)
{
    fill_data();
    const char *p = tmp_path("x.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F42\",\"shape\":[4],\"data_offsets\":[0,16]}}", data16,
             64);
    expect_st_error(p, "tensor 'w' has unknown dtype 'F42'");
    write_st(p, "{\"w\":{\"dtype\":7,\"shape\":[4],\"data_offsets\":[0,16]}}", data16, 64);
    expect_st_error(p, "lacks dtype");
}

Test(safetensors, duplicate_names, .init = make_tmp, .fini = clean_tmp)
{
    fill_data();
    const char *p = tmp_path("x.safetensors");
    write_st(p,
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"v\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]},"
             "\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[32,48]}}",
             data16, 64);
    expect_st_error(p, "tensor 'w' appears twice");
}

/* ---- half-precision widening -------------------------------------------- */

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

Test(widen, f16_known_values)
{
    cr_assert_eq(bert_f16_to_f32(0x3c00), 1.0f);
    cr_assert_eq(bert_f16_to_f32(0xc000), -2.0f);
    cr_assert_eq(bert_f16_to_f32(0x3555), 0.333251953125f);
    cr_assert_eq(bert_f16_to_f32(0x7bff), 65504.0f);                    /* max normal */
    cr_assert_eq(bert_f16_to_f32(0x0400), ldexpf(1, -14));              /* min normal */
    cr_assert_eq(bert_f16_to_f32(0x0001), ldexpf(1, -24));              /* min subnormal */
    cr_assert_eq(bert_f16_to_f32(0x03ff), ldexpf(1023, -24));           /* max subnormal */
    cr_assert_eq(bert_f16_to_f32(0x8001), -ldexpf(1, -24));
    cr_assert_eq(bits(bert_f16_to_f32(0x0000)), 0x00000000u);
    cr_assert_eq(bits(bert_f16_to_f32(0x8000)), 0x80000000u);           /* -0 */
    cr_assert_eq(bits(bert_f16_to_f32(0x7c00)), 0x7f800000u);           /* inf */
    cr_assert_eq(bits(bert_f16_to_f32(0xfc00)), 0xff800000u);           /* -inf */
    cr_assert(isnan(bert_f16_to_f32(0x7e00)));
    cr_assert(isnan(bert_f16_to_f32(0x7c01)));                          /* signalling */
    cr_assert_eq(bits(bert_f16_to_f32(0x7c01)), 0x7f802000u);           /* payload kept */
    /* every finite half round-trips through the hardware conversion */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        float f = bert_f16_to_f32((uint16_t)h);
        _Float16 back = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &back, 2);
        cr_assert_eq(hb, h, "half 0x%04x widened to %a", h, (double)f);
    }
}

Test(widen, bf16_known_values)
{
    cr_assert_eq(bert_bf16_to_f32(0x3f80), 1.0f);
    cr_assert_eq(bert_bf16_to_f32(0xc040), -3.0f);
    cr_assert_eq(bert_bf16_to_f32(0x3eaa), 0.33203125f);
    cr_assert_eq(bert_bf16_to_f32(0x0001), ldexpf(1, -133)); /* subnormal */
    cr_assert_eq(bits(bert_bf16_to_f32(0x8000)), 0x80000000u);
    cr_assert_eq(bits(bert_bf16_to_f32(0x7f80)), 0x7f800000u);
    cr_assert_eq(bits(bert_bf16_to_f32(0xff80)), 0xff800000u);
    cr_assert(isnan(bert_bf16_to_f32(0x7fc0)));
    cr_assert_eq(bert_bf16_to_f32(0x7f7f), 3.3895313892515355e38f);
}

/* ---- model folders ----------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(from, &b), 0, "%s", dq_last_error());
    write_bytes(to, b.data, b.len);
    dq_buf_free(&b);
}

/* Copies fixture `name` into tmpdir/m and returns that folder. */
static const char *copy_fixture(const char *name)
{
    static const char *const files[] = {"config.json", "vocab.txt", "tokenizer_config.json",
                                        "model.safetensors", "modules.json",
                                        "1_Pooling/config.json"};
    const char *dst = tmp_path("m");
    mkdir(dst, 0755);
    char d1[600];
    snprintf(d1, sizeof d1, "%s/1_Pooling", dst);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char from[600], to[600];
        snprintf(from, sizeof from, "%s/%s/%s", FIXTURES, name, files[i]);
        snprintf(to, sizeof to, "%s/%s", dst, files[i]);
        if (access(from, R_OK) != 0)
            continue;
        if (strchr(files[i], '/'))
            mkdir(d1, 0755);
        copy_file(from, to);
    }
    return dst;
}

/* Rewrites dir/model.safetensors' header through edit(); the data area is
 * kept byte for byte. */
static void edit_header_pad(const char *dir, void (*edit)(cJSON *root), size_t extra_pad);

static void edit_header(const char *dir, void (*edit)(cJSON *root))
{
    edit_header_pad(dir, edit, 0);
}

/* extra_pad spaces after the 8-byte padding shift the whole data area. */
static void edit_header_pad(const char *dir, void (*edit)(cJSON *root), size_t extra_pad)
{
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &b), 0);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | (unsigned char)b.data[i];
    cJSON *root = cJSON_ParseWithLength(b.data + 8, hlen);
    cr_assert_not_null(root);
    edit(root);
    char *h = cJSON_PrintUnformatted(root);
    dq_buf hb = DQ_BUF_INIT;
    dq_buf_puts(&hb, h);
    while (hb.len % 8)
        dq_buf_putc(&hb, ' ');
    for (size_t i = 0; i < extra_pad; i++)
        dq_buf_putc(&hb, ' ');
    write_st_raw(path, hb.len, hb.data, hb.len, b.data + 8 + hlen, b.len - 8 - hlen);
    free(h);
    dq_buf_free(&hb);
    cJSON_Delete(root);
    dq_buf_free(&b);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_bytes(path, text, strlen(text));
}

static bert_params small_params(void)
{
    bert_params p = bert_default_params();
    p.n_threads = 1;
    p.max_batch = 4;
    return p;
}

static void expect_load_error(const char *dir, const char *needle)
{
    bert_params p = small_params();
    bert_model *m = bert_load(dir, &p);
    cr_assert_null(m, "bert_load accepted a bad folder (expected '%s')", needle);
    cr_assert(strstr(dq_last_error(), needle), "error lacks '%s': %s", needle, dq_last_error());
}

Test(model, missing_config, .init = make_tmp, .fini = clean_tmp)
{
    const char *d = copy_fixture("bert-tiny-cls");
    unlink(tmp_path("m/config.json"));
    expect_load_error(d, "no config.json");
    cr_assert(strstr(dq_last_error(), d));
    expect_load_error("/nonexistent/model", "cannot open model folder '/nonexistent/model'");
}

Test(model, pytorch_bin_only, .init = make_tmp, .fini = clean_tmp)
{
    const char *d = copy_fixture("bert-tiny-cls");
    char from[600], to[600];
    snprintf(from, sizeof from, "%s/model.safetensors", d);
    snprintf(to, sizeof to, "%s/pytorch_model.bin", d);
    cr_assert_eq(rename(from, to), 0);
    expect_load_error(d, "only pytorch_model.bin found");
    cr_assert(strstr(dq_last_error(), "safetensors.torch import save_file"), "%s",
              dq_last_error());
    cr_assert(strstr(dq_last_error(), to), "%s", dq_last_error());
    unlink(to);
    expect_load_error(d, "no model.safetensors");
}

Test(model, unsupported_architectures, .init = make_tmp, .fini = clean_tmp)
{
    const char *d = copy_fixture("bert-tiny-cls");
    char want[700];
    write_text(d, "config.json",
               "{\"architectures\":[\"RobertaModel\"],\"model_type\":\"roberta\","
               "\"hidden_size\":64}");
    snprintf(want, sizeof want,
             "'%s/config.json': model type 'roberta' is not supported yet (only BERT: m3e, "
             "text2vec, bge-*-zh/en; and XLM-RoBERTa)",
             d);
    expect_load_error(d, want);
    cr_assert_str_eq(dq_last_error(), want);
    write_text(d, "config.json", "{\"architectures\":[\"GPT2Model\"]}");
    expect_load_error(d, "model type 'GPT2Model' is not supported yet");
    write_text(d, "config.json", "{\"model_type\":\"bert\",");
    expect_load_error(d, "config.json': not a JSON object");
}

/* config.json of the tiny fixtures with one field replaced */
static void write_config(const char *d, const char *key, const char *json_value)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, "bert-tiny-cls/config.json");
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &b), 0);
    cJSON *j = cJSON_Parse(b.data);
    cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    if (json_value)
        cJSON_AddItemToObject(j, key, cJSON_Parse(json_value));
    char *s = cJSON_Print(j);
    write_text(d, "config.json", s);
    free(s);
    cJSON_Delete(j);
    dq_buf_free(&b);
}

Test(model, bad_config_fields, .init = make_tmp, .fini = clean_tmp)
{
    const char *d = copy_fixture("bert-tiny-cls");
    write_config(d, "hidden_act", "\"relu\"");
    expect_load_error(d, "hidden_act 'relu' is not supported (only 'gelu')");
    write_config(d, "hidden_act", "\"gelu_new\"");
    expect_load_error(d, "hidden_act 'gelu_new'");
    write_config(d, "num_attention_heads", "5");
    expect_load_error(d, "hidden_size 64 is not a multiple of num_attention_heads 5");
    write_config(d, "hidden_size", NULL);
    expect_load_error(d, "missing 'hidden_size'");
    write_config(d, "num_hidden_layers", "-2");
    expect_load_error(d, "'num_hidden_layers' must be an integer");
    write_config(d, "vocab_size", "100");
    expect_load_error(d, "vocab.txt': 256 tokens but config.json says vocab_size 100");
    /* absurd sizes are refused by the config alone, before any allocation */
    write_config(d, "hidden_size", "0");
    expect_load_error(d, "'hidden_size' must be an integer from 1 to 65536");
    write_config(d, "hidden_size", "64.5");
    expect_load_error(d, "'hidden_size' must be an integer from 1 to 65536");
    write_config(d, "hidden_size", "\"64\"");
    expect_load_error(d, "'hidden_size' must be an integer from 1 to 65536");
    write_config(d, "hidden_size", "1e300");
    expect_load_error(d, "'hidden_size' must be an integer from 1 to 65536");
    write_config(d, "num_hidden_layers", "1e9");
    expect_load_error(d, "'num_hidden_layers' must be an integer from 1 to 1024");
    write_config(d, "intermediate_size", "[256]");
    expect_load_error(d, "'intermediate_size' must be an integer");
    write_config(d, "vocab_size", "-30522");
    expect_load_error(d, "'vocab_size' must be an integer");
    /* one position cannot hold [CLS] and [SEP]: said at load, not at the
     * first encode */
    write_config(d, "max_position_embeddings", "1");
    expect_load_error(d, "'max_position_embeddings' must be at least 2");
    write_config(d, "position_embedding_type", "\"relative_key\"");
    expect_load_error(d, "position_embedding_type 'relative_key'");
    /* a config that only grows max positions finds the embedding too small */
    write_config(d, "max_position_embeddings", "512");
    expect_load_error(d, "tensor 'embeddings.position_embeddings.weight': [512, 64] expected, "
                         "found [40, 64]");
}

static const char *drop_name;

static void drop_tensor(cJSON *root)
{
    cJSON_DeleteItemFromObjectCaseSensitive(root, drop_name);
}

static void transpose_ff(cJSON *root)
{
    cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "encoder.layer.0.intermediate.dense.weight");
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(64));
    cJSON_ReplaceItemInArray(shape, 1, cJSON_CreateNumber(128));
}

static void make_i32(cJSON *root)
{
    cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "embeddings.LayerNorm.bias");
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("I32"));
}

Test(model, missing_and_misshapen_tensors, .init = make_tmp, .fini = clean_tmp)
{
    const char *d = copy_fixture("bert-tiny-cls");
    char want[700];
    drop_name = "encoder.layer.1.attention.self.query.weight";
    edit_header(d, drop_tensor);
    snprintf(want, sizeof want,
             "'%s/model.safetensors': missing tensor 'encoder.layer.1.attention.self.query.weight'",
             d);
    expect_load_error(d, want);
    cr_assert_str_eq(dq_last_error(), want);

    d = copy_fixture("bert-tiny-cls");
    edit_header(d, transpose_ff);
    expect_load_error(d, "tensor 'encoder.layer.0.intermediate.dense.weight': [128, 64] "
                         "expected, found [64, 128]");

    d = copy_fixture("bert-tiny-cls");
    edit_header(d, make_i32);
    expect_load_error(d, "tensor 'embeddings.LayerNorm.bias' has dtype I32 (expected F32, F16 "
                         "or BF16)");

    /* the prefixed fixture names the tensor without its prefix when missing */
    d = copy_fixture("bert-tiny-mean");
    drop_name = "bert.encoder.layer.0.output.LayerNorm.bias";
    edit_header(d, drop_tensor);
    expect_load_error(d, "missing tensor 'encoder.layer.0.output.LayerNorm.bias'");
}

static void rename_layernorm(cJSON *root)
{
    /* old TF-converted checkpoints: LayerNorm.gamma / LayerNorm.beta */
    for (cJSON *e = root->child; e; e = e->next) {
        if (!e->string)
            continue;
        char *dot = strstr(e->string, "LayerNorm.");
        if (!dot)
            continue;
        dq_buf b = DQ_BUF_INIT;
        dq_buf_append(&b, e->string, (size_t)(dot - e->string) + 10);
        dq_buf_puts(&b, strcmp(dot + 10, "weight") == 0 ? "gamma" : "beta");
        free(e->string);
        e->string = dq_buf_take(&b);
    }
}

/* The golden pooled vectors of a fixture, for checking that the loader
 * wired every tensor where the forward pass expects it. */
static void check_against_golden(bert_model *m, const char *fixture, float tol)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s/golden.json", FIXTURES, fixture);
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &b), 0);
    cJSON *g = cJSON_Parse(b.data);
    cr_assert_not_null(g);
    int H = bert_dim(m);
    const cJSON *seqs = cJSON_GetObjectItem(g, "sequences");
    const cJSON *pooled = cJSON_GetObjectItem(g, "pooled");
    int n = cJSON_GetArraySize(seqs), S = 0;
    for (int i = 0; i < n; i++)
        if (cJSON_GetArraySize(cJSON_GetArrayItem(seqs, i)) > S)
            S = cJSON_GetArraySize(cJSON_GetArrayItem(seqs, i));
    int32_t *ids = dq_calloc((size_t)n * S, sizeof *ids);
    int *lens = dq_calloc((size_t)n, sizeof *lens);
    float *out = dq_calloc((size_t)n * H, sizeof *out);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_GetArrayItem(seqs, i);
        lens[i] = cJSON_GetArraySize(s);
        for (int t = 0; t < lens[i]; t++)
            ids[i * S + t] = cJSON_GetArrayItem(s, t)->valueint;
    }
    cr_assert_eq(bert_forward_ids(m, ids, lens, n, S, NULL, out), 0, "%s", dq_last_error());
    for (int i = 0; i < n; i++)
        for (int k = 0; k < H; k++) {
            double want = cJSON_GetArrayItem(cJSON_GetArrayItem(pooled, i), k)->valuedouble;
            cr_assert(fabs(out[i * H + k] - want) <= tol, "%s seq %d dim %d: %g vs %g", fixture,
                      i, k, (double)out[i * H + k], want);
        }
    /* texts through the tokenizer and the batching in bert_encode */
    const cJSON *texts = cJSON_GetObjectItem(g, "texts");
    const cJSON *tpooled = cJSON_GetObjectItem(g, "text_pooled");
    int nt = cJSON_GetArraySize(texts);
    const char **tv = dq_calloc((size_t)nt, sizeof *tv);
    float *tout = dq_calloc((size_t)nt * H, sizeof *tout);
    for (int i = 0; i < nt; i++)
        tv[i] = cJSON_GetArrayItem(texts, i)->valuestring;
    cr_assert_eq(bert_encode(m, tv, (size_t)nt, tout), 0, "%s", dq_last_error());
    for (int i = 0; i < nt; i++)
        for (int k = 0; k < H; k++) {
            double want = cJSON_GetArrayItem(cJSON_GetArrayItem(tpooled, i), k)->valuedouble;
            cr_assert(fabs(tout[i * H + k] - want) <= tol, "%s text %d dim %d: %g vs %g",
                      fixture, i, k, (double)tout[i * H + k], want);
        }
    free(tv);
    free(tout);
    free(ids);
    free(lens);
    free(out);
    cJSON_Delete(g);
    dq_buf_free(&b);
}

Test(model, gamma_beta_names, .init = make_tmp, .fini = clean_tmp)
{
    const char *d = copy_fixture("bert-tiny-cls");
    edit_header(d, rename_layernorm);
    bert_params p = small_params();
    bert_model *m = bert_load(d, &p);
    cr_assert_not_null(m, "%s", dq_last_error());
    check_against_golden(m, "bert-tiny-cls", 2e-5f);
    bert_free(m);
}

static void no_edit(cJSON *root)
{
    (void)root;
}

Test(model, misaligned_f32_is_copied, .init = make_tmp, .fini = clean_tmp)
{
    const char *d = copy_fixture("bert-tiny-cls");
    edit_header_pad(d, no_edit, 2); /* every F32 tensor now starts 2 bytes off */
    bert_params p = small_params();
    bert_model *m = bert_load(d, &p);
    cr_assert_not_null(m, "%s", dq_last_error());
    char *s = bert_describe(m);
    cr_assert(strstr(s, "(0.0 MB mapped, 0.3 MB owned)"), "%s", s);
    free(s);
    check_against_golden(m, "bert-tiny-cls", 2e-5f);
    bert_free(m);
}

/* The last stage of bert_load that can fail is the run state: a max_batch
 * whose scratch no machine holds is an error naming the folder (it used to
 * abort in dq_malloc), and bert_free then releases packed, widened (BF16)
 * and quantised weights alike (ASan checks). */
Test(model, absurd_batch_fails_at_load_cleanly)
{
    static const char *const names[] = {"bert-tiny-cls", "bert-tiny-bf16"};
    for (int i = 0; i < 2; i++)
        for (int int8 = 0; int8 < 2; int8++) {
            char dir[600];
            snprintf(dir, sizeof dir, "%s/%s", FIXTURES, names[i]);
            bert_params p = small_params();
            p.max_batch = 1 << 30;
            p.int8 = int8;
            cr_assert_null(bert_load(dir, &p));
            cr_assert(strstr(dq_last_error(), dir), "%s", dq_last_error());
            cr_assert(strstr(dq_last_error(), "scratch for batch 1073741824 x length"), "%s",
                      dq_last_error());
        }
    char dir[600];
    snprintf(dir, sizeof dir, "%s/bert-tiny-cls", FIXTURES);
    bert_params p = small_params();
    p.max_len = 1;
    cr_assert_null(bert_load(dir, &p));
    cr_assert(strstr(dq_last_error(), "bert-tiny-cls': max_len 1 is too small"), "%s",
              dq_last_error());
}

static bert_model *load_fixture(const char *name, const bert_params *p)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", FIXTURES, name);
    bert_model *m = bert_load(dir, p);
    cr_assert_not_null(m, "%s: %s", name, dq_last_error());
    return m;
}

static void check_identity(const char *id, const char *tail)
{
    cr_assert_eq(strncmp(id, "bert:", 5), 0, "%s", id);
    for (int i = 5; i < 21; i++)
        cr_assert(strchr("0123456789abcdef", id[i]) && id[i], "%s", id);
    cr_assert_str_eq(id + 21, tail);
}

Test(model, fixtures_load_with_pooling_and_identity)
{
    bert_params p = small_params();
    bert_model *cls = load_fixture("bert-tiny-cls", &p);
    bert_model *mean = load_fixture("bert-tiny-mean", &p);
    bert_model *bf = load_fixture("bert-tiny-bf16", &p);
    const bert_config *c = bert_get_config(cls);
    cr_assert_eq(c->pooling, BERT_POOL_CLS);
    cr_assert(c->normalize);
    cr_assert_eq(c->hidden, 64);
    cr_assert_eq(c->n_layers, 2);
    cr_assert_eq(c->n_heads, 4);
    cr_assert_eq(c->intermediate, 128);
    cr_assert_eq(c->max_pos, 40);
    cr_assert_eq(c->vocab_size, 256);
    cr_assert_eq(c->type_vocab, 2);
    cr_assert_float_eq(c->ln_eps, 1e-12f, 1e-18);
    cr_assert_str_eq(c->act, "gelu");
    cr_assert_str_eq(c->arch, "BertModel");
    cr_assert_eq(bert_dim(cls), 64);
    cr_assert_eq(bert_get_config(mean)->pooling, BERT_POOL_MEAN);
    cr_assert(bert_get_config(mean)->normalize, "vectors are always unit length");
    cr_assert_eq(bert_get_config(bf)->pooling, BERT_POOL_MEAN);
    cr_assert_eq(wp_vocab_size(bert_get_tokenizer(cls)), 256);
    cr_assert_eq(wp_token_id(bert_get_tokenizer(cls), "[CLS]"), 6);

    check_identity(bert_identity(cls), ":cls:64");
    check_identity(bert_identity(mean), ":mean:64");
    check_identity(bert_identity(bf), ":mean:64");
    cr_assert_str_neq(bert_identity(mean), bert_identity(bf));
    /* identity is a function of the files: loading again gives the same */
    bert_model *again = load_fixture("bert-tiny-cls", &p);
    cr_assert_str_eq(bert_identity(again), bert_identity(cls));
    bert_free(again);

    char *s = bert_describe(cls);
    cr_assert(strstr(s, "hidden 64, layers 2, heads 4, intermediate 128"), "%s", s);
    cr_assert(strstr(s, "positions: 40"), "%s", s);
    cr_assert(strstr(s, "vocabulary: 256 tokens"), "%s", s);
    cr_assert(strstr(s, "pooling: cls\n"), "%s", s);
    cr_assert(strstr(s, "normalize: yes (declared by the model)"), "%s", s);
    cr_assert(strstr(s, "dtype: F32\n"), "%s", s);
    cr_assert(strstr(s, "parameters: 86144\n"), "%s", s);
    cr_assert(strstr(s, "(0.3 MB mapped, 0.0 MB owned)"), "%s", s);
    cr_assert(strstr(s, "int8: no"), "%s", s);
    cr_assert(strstr(s, bert_identity(cls)), "%s", s);
    free(s);
    s = bert_describe(mean);
    cr_assert(strstr(s, "pooling: mean\n"), "%s", s);
    cr_assert(strstr(s, "the model declares none"), "%s", s);
    cr_assert(strstr(s, "dtype: I64+F16\n"), "%s", s);
    cr_assert(strstr(s, "parameters: 86144\n"), "%s", s);
    cr_assert(strstr(s, "(0.0 MB mapped, 0.3 MB owned)"), "%s", s);
    free(s);
    s = bert_describe(bf);
    cr_assert(strstr(s, "dtype: BF16\n"), "%s", s);
    free(s);
    bert_free(cls);
    bert_free(mean);
    bert_free(bf);
    bert_free(NULL);
}

Test(model, pooling_from_modules, .init = make_tmp, .fini = clean_tmp)
{
    const char *d = copy_fixture("bert-tiny-cls");
    write_text(d, "1_Pooling/config.json",
               "{\"pooling_mode_cls_token\":false,\"pooling_mode_mean_tokens\":true}");
    bert_params p = small_params();
    bert_model *m = bert_load(d, &p);
    cr_assert_not_null(m, "%s", dq_last_error());
    cr_assert_eq(bert_get_config(m)->pooling, BERT_POOL_MEAN);
    check_identity(bert_identity(m), ":mean:64");
    bert_free(m);
    write_text(d, "1_Pooling/config.json", "{\"pooling_mode_max_tokens\":true}");
    expect_load_error(d, "pooling_mode_max_tokens is not supported (only cls or mean pooling)");
    write_text(d, "1_Pooling/config.json", "{}");
    expect_load_error(d, "no pooling mode set");
    write_text(d, "modules.json",
               "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":"
               "\"sentence_transformers.models.Transformer\"},{\"idx\":1,\"name\":\"1\","
               "\"path\":\"2_Dense\",\"type\":\"sentence_transformers.models.Dense\"}]");
    expect_load_error(d, "module 'sentence_transformers.models.Dense' is not supported");
    write_text(d, "modules.json", "{\"oops\":1}");
    expect_load_error(d, "modules.json': not a JSON array of modules");
}

Test(model, tokenizer_config_caps_length, .init = make_tmp, .fini = clean_tmp)
{
    const char *d = copy_fixture("bert-tiny-cls");
    write_text(d, "tokenizer_config.json", "{\"do_lower_case\":true,\"model_max_length\":16}");
    bert_params p = small_params();
    bert_model *m = bert_load(d, &p);
    cr_assert_not_null(m, "%s", dq_last_error());
    char *s = bert_describe(m);
    cr_assert(strstr(s, "texts capped at 16 tokens"), "%s", s);
    free(s);
    int32_t ids[20] = {6, 20, 7};
    int len = 20;
    cr_assert_eq(bert_forward_ids(m, ids, &len, 1, 20, NULL, NULL), -1);
    len = 3;
    ids[1] = 256;
    cr_assert_eq(bert_forward_ids(m, ids, &len, 1, 3, NULL, NULL), -1);
    cr_assert(strstr(dq_last_error(), "token id 256 outside the vocabulary"), "%s",
              dq_last_error());
    bert_free(m);
    /* bert_params.max_len lowers it further; "no limit" (1e30) is ignored */
    write_text(d, "tokenizer_config.json", "{\"model_max_length\":1e30}");
    p.max_len = 8;
    m = bert_load(d, &p);
    cr_assert_not_null(m, "%s", dq_last_error());
    s = bert_describe(m);
    cr_assert(strstr(s, "texts capped at 8 tokens"), "%s", s);
    free(s);
    bert_free(m);
}

Test(model, int8_identity_and_describe)
{
    bert_params p = small_params();
    p.int8 = true;
    bert_model *m = load_fixture("bert-tiny-cls", &p);
    check_identity(bert_identity(m), ":cls:64:int8");
    char *s = bert_describe(m);
    cr_assert(strstr(s, "int8: yes"), "%s", s);
    free(s);
    bert_free(m);
}

Test(model, forward_matches_golden)
{
    static const char *const names[] = {"bert-tiny-cls", "bert-tiny-mean", "bert-tiny-bf16"};
    for (int i = 0; i < 3; i++) {
        bert_params p = small_params();
        bert_model *m = load_fixture(names[i], &p);
        check_against_golden(m, names[i], 2e-5f);
        bert_free(m);
    }
}
