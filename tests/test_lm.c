/* test_lm.c - the LLM engine against scripts/lm_reference.py, an independent
 * float64 forward pass over the same random-weight GGUF files, for each
 * architecture and tensor type; the fast kernels against the scalar
 * reference; the cache, sampling and every refusal. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "embed/lm.h"
#include "embed/lm_impl.h"

#define SCRIPT DQ_SOURCE_DIR "/scripts/lm_reference.py"

static char tmpdir[64];

static void make_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dq_lm_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void clean_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(lm, .init = make_tmp, .fini = clean_tmp, .timeout = 300);

/* Runs the script's make with args into tmpdir; returns the model path. */
static const char *make_model(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s make %s %s", SCRIPT, args, tmpdir);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    static char path[256];
    snprintf(path, sizeof path, "%s/model.gguf", tmpdir);
    return path;
}

static int read_ints(const char *name, int32_t *out, int cap)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    int n = 0;
    while (n < cap && fscanf(f, "%d", &out[n]) == 1)
        n++;
    fclose(f);
    return n;
}

static float *read_floats(const char *name, size_t *n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &b), 0, "%s", dq_last_error());
    *n = b.len / sizeof(float);
    float *v = dq_malloc(b.len);
    memcpy(v, b.data, b.len);
    dq_buf_free(&b);
    return v;
}

static double max_abs_diff(const float *a, const float *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

/* Prefill of 8 tokens, then 32 decode steps, each position's logits against
 * the reference's file ref_name: max |diff| < tol, or cosine >= min_cos when
 * tol is 0. Returns the context, holding the 40 tokens. */
static lm_ctx *check_positions(lm_model *m, const char *args, const char *ref_name, gguf_type kv,
                               double tol, double min_cos)
{
    int V = lm_model_hparams(m)->n_vocab;
    int32_t toks[40];
    cr_assert_eq(read_ints("tokens.txt", toks, 40), 40);
    size_t n_ref;
    float *ref = read_floats(ref_name, &n_ref);
    cr_assert_eq(n_ref, (size_t)40 * V);
    lm_ctx_params cp = lm_default_ctx_params();
    cp.n_ctx = 128;
    cp.kv_type = kv;
    lm_ctx *c = lm_ctx_new(m, &cp);
    cr_assert_not_null(c, "%s", dq_last_error());
    cr_assert_eq(lm_eval(c, toks, 8, true), 0, "%s", dq_last_error());
    for (int p = 0; p < 40; p++) {
        if (p >= 8)
            cr_assert_eq(lm_eval(c, &toks[p], 1, false), 0, "%s", dq_last_error());
        const float *lg = lm_logits(c, p < 8 ? p : -1);
        const float *r = ref + (size_t)p * V;
        if (tol > 0) {
            double d = max_abs_diff(lg, r, V);
            cr_assert(d < tol, "%s (%s cache): position %d: max |diff| %g >= %g", args,
                      gguf_type_name(kv), p, d, tol);
        } else {
            double cs = cosine(lg, r, V);
            cr_assert(cs >= min_cos, "%s: position %d: cosine %.6f < %g", args, p, cs, min_cos);
        }
    }
    cr_assert_eq(lm_ctx_pos(c), 40);
    free(ref);
    return c;
}

/* The reference's 64 greedy tokens after its 8-token prompt, token for token. */
static void check_greedy(lm_ctx *c, int V, const char *args)
{
    int32_t want[72];
    cr_assert_eq(read_ints("greedy.txt", want, 72), 72);
    cr_assert_eq(lm_ctx_truncate(c, 0), 0);
    lm_sampler_params sp = lm_default_sampler_params();
    sp.temperature = 0;
    lm_sampler *s = lm_sampler_new(&sp);
    cr_assert_eq(lm_eval(c, want, 8, false), 0);
    for (int i = 8; i < 72; i++) {
        int32_t t = lm_sample(s, lm_logits(c, -1), V);
        cr_assert_eq(t, want[i], "%s: greedy token %d is %d, reference %d", args, i - 8, t,
                     want[i]);
        if (i < 71)
            cr_assert_eq(lm_eval(c, &t, 1, false), 0);
    }
    lm_sampler_free(s);
}

/* The F16 cache against the reference that rounds K and V to F16 too. Not
 * 1e-4: our K is computed in float and the reference's in double, and where
 * they straddle a half-way point between two halves (about 1 in 2,000
 * values) they round one F16 step apart, up to 3e-4 on a logit here. */
#define KV_F16_TOL 1e-3

/* f32: float weights, whose goal is the model's arithmetic itself: the float
 * cache against the unrounded reference at tol with its greedy run, then the
 * default F16 cache at KV_F16_TOL. Otherwise the F16 cache at tol/min_cos. */
static void check_logits(const char *args, double tol, double min_cos, bool f32)
{
    const char *path = make_model(args);
    lm_model *m = lm_load(path, NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    if (f32) {
        lm_ctx *c = check_positions(m, args, "logits_kv32.f32", GGUF_TYPE_F32, tol, 0);
        check_greedy(c, lm_model_hparams(m)->n_vocab, args);
        lm_ctx_free(c);
        tol = KV_F16_TOL;
    }
    lm_ctx_free(check_positions(m, args, "logits.f32", GGUF_TYPE_F16, tol, min_cos));
    lm_free(m);
}

Test(lm, qwen2_f32_tied) { check_logits("--arch qwen2 --type F32 --tied", 1e-4, 0, true); }
Test(lm, qwen3_f32) { check_logits("--arch qwen3 --type F32", 1e-4, 0, true); }
Test(lm, llama3_f32_rope_freqs) { check_logits("--arch llama --type F32", 1e-4, 0, true); }
Test(lm, llama3_f32_rope_keys)
{
    check_logits("--arch llama --type F32 --rope-keys", 1e-4, 0, true);
}
Test(lm, qwen2_f16) { check_logits("--arch qwen2 --type F16 --greedy 0", 1e-3, 0, false); }
Test(lm, qwen3_bf16) { check_logits("--arch qwen3 --type BF16 --greedy 0", 1e-3, 0, false); }
Test(lm, llama_bf16) { check_logits("--arch llama --type BF16 --greedy 0", 1e-3, 0, false); }

/* The reference's 40 positions as one prefill with every position's logits
 * (owned, (40, n_vocab)): the per-token steps as pool jobs of 16 tokens (the
 * later ones starting mid-batch), two attention tiles per KV head, and a
 * batch that takes the packed product (lm_gemm.c) where the CPU has VNNI. */
static float *one_prefill(lm_model *m, gguf_type kv, int n_threads)
{
    int V = lm_model_hparams(m)->n_vocab;
    int32_t toks[40];
    cr_assert_eq(read_ints("tokens.txt", toks, 40), 40);
    lm_ctx_params cp = lm_default_ctx_params();
    cp.n_ctx = 128;
    cp.kv_type = kv;
    cp.n_threads = n_threads;
    lm_ctx *c = lm_ctx_new(m, &cp);
    cr_assert_not_null(c, "%s", dq_last_error());
    cr_assert_eq(lm_eval(c, toks, 40, true), 0, "%s", dq_last_error());
    float *lg = dq_malloc((size_t)40 * V * sizeof(float));
    for (int p = 0; p < 40; p++)
        memcpy(lg + (size_t)p * V, lm_logits(c, p), (size_t)V * sizeof(float));
    lm_ctx_free(c);
    return lg;
}

/* one_prefill with a cache of type kv against the reference, cosine >=
 * min_cos at each position. The model of the last make_model. */
static void check_one_prefill(const char *args, gguf_type kv, double min_cos)
{
    char path[256];
    snprintf(path, sizeof path, "%s/model.gguf", tmpdir);
    lm_model *m = lm_load(path, NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    int V = lm_model_hparams(m)->n_vocab;
    size_t n_ref;
    float *ref = read_floats("logits.f32", &n_ref);
    cr_assert_eq(n_ref, (size_t)40 * V);
    float *lg = one_prefill(m, kv, 0);
    for (int p = 0; p < 40; p++) {
        double cs = cosine(lg + (size_t)p * V, ref + (size_t)p * V, V);
        cr_assert(cs >= min_cos, "%s, one prefill: position %d: cosine %.6f < %g", args, p, cs,
                  min_cos);
    }
    free(lg);
    free(ref);
    lm_free(m);
}

/* Float weights and cache in one prefill: each position at 1e-4 from the
 * reference (check_positions prefills only 8 tokens, which run on the
 * caller alone), and the same bits on 1 and 3 threads. */
Test(lm, qwen3_f32_one_prefill_on_any_threads)
{
    lm_model *m = lm_load(make_model("--arch qwen3 --type F32"), NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    int V = lm_model_hparams(m)->n_vocab;
    size_t n_ref;
    float *ref = read_floats("logits_kv32.f32", &n_ref);
    cr_assert_eq(n_ref, (size_t)40 * V);
    float *one = one_prefill(m, GGUF_TYPE_F32, 1), *three = one_prefill(m, GGUF_TYPE_F32, 3);
    for (int p = 0; p < 40; p++) {
        double d = max_abs_diff(one + (size_t)p * V, ref + (size_t)p * V, V);
        cr_assert(d < 1e-4, "position %d: max |diff| %g", p, d);
    }
    cr_assert_eq(memcmp(one, three, (size_t)40 * V * sizeof(float)), 0);
    free(one);
    free(three);
    free(ref);
    lm_free(m);
}

/* Quantized: the reference runs on the file's dequantized weights, we on
 * int8 activations against the blocks, token by token after a short prompt
 * and as one prefill; and our dequantization of the first projection is
 * bit-identical to the reference's. */
static void check_quant(const char *args)
{
    char full[256];
    snprintf(full, sizeof full, "%s --greedy 0", args);
    check_logits(full, 0, 0.999, false);
    check_one_prefill(full, GGUF_TYPE_F16, 0.999);
    char path[256];
    snprintf(path, sizeof path, "%s/model.gguf", tmpdir);
    gguf_file *f = gguf_open(path);
    cr_assert_not_null(f);
    const gguf_tensor *t = gguf_find_tensor(f, "blk.0.attn_q.weight");
    cr_assert_not_null(t);
    size_t n;
    float *ref = read_floats("dequant.f32", &n);
    cr_assert_eq(n, t->n_elems);
    float *ours = dq_malloc(n * sizeof *ours);
    lm_dequant_row(t->type, t->data, ours, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        cr_assert(memcmp(&ours[i], &ref[i], 4) == 0, "%s: value %zu: %.9g vs reference %.9g",
                  gguf_type_name(t->type), i, ours[i], ref[i]);
    free(ours);
    free(ref);
    gguf_close(f);
}

Test(lm, qwen2_q8_0) { check_quant("--arch qwen2 --type Q8_0"); }
Test(lm, llama_q4_0) { check_quant("--arch llama --type Q4_0"); }
Test(lm, qwen3_q4_k) { check_quant("--arch qwen3 --type Q4_K"); }
Test(lm, qwen2_q5_k) { check_quant("--arch qwen2 --type Q5_K --tied"); }
Test(lm, llama_q6_k) { check_quant("--arch llama --type Q6_K"); }

/* W times M rows of X at every kernel level against the scalar reference. */
static void compare_levels(const lm_mat *W, const char *what, int M)
{
    int best = lm_isa_detect();
    float *X = dq_malloc((size_t)M * W->K * sizeof *X);
    unsigned seed = 7;
    for (int i = 0; i < M * W->K; i++) {
        seed = seed * 1103515245u + 12345u;
        X[i] = (float)((int)(seed >> 8 & 0xffff) - 32768) / 8192.0f;
    }
    lm_qrow *xq = dq_malloc((size_t)M * sizeof *xq);
    int8_t *qbuf = dq_malloc((size_t)M * W->K);
    float *dbuf = dq_malloc((size_t)M * (W->K / 32) * sizeof(float));
    float *sbuf = dq_malloc((size_t)M * (W->K / 16) * sizeof(float));
    for (int r = 0; r < M; r++) {
        xq[r] = (lm_qrow){qbuf + (size_t)r * W->K, dbuf + (size_t)r * (W->K / 32),
                          sbuf + (size_t)r * (W->K / 16)};
        lm_quantize_row(X + (size_t)r * W->K, W->K, &xq[r]);
    }
    float *ref = dq_malloc((size_t)M * W->N * sizeof *ref);
    float *got = dq_malloc((size_t)M * W->N * sizeof *got);
    /* the sum of |w x| of each product: the paths add the same terms in
     * other orders (and with other float scalings), so they may differ by
     * rounding, which scales with the terms, not with their sum */
    double *mag = dq_calloc((size_t)M * W->N, sizeof *mag);
    float *w = dq_malloc((size_t)W->K * sizeof *w);
    for (int n = 0; n < W->N; n++) {
        lm_dequant_row(W->type, W->data + (size_t)n * W->row_bytes, w, W->K);
        for (int t = 0; t < M; t++)
            for (int k = 0; k < W->K; k++)
                mag[(size_t)t * W->N + n] += fabs((double)w[k] * X[(size_t)t * W->K + k]);
    }
    lm_isa_set(LM_ISA_SCALAR);
    lm_matmul(NULL, W, M, X, xq, ref);
    for (int level = LM_ISA_AVX2; level <= best; level++) {
        lm_isa_set(level);
        bert_pool *p = bert_pool_new(2);
        for (int i = 0; i < M * W->N; i++)
            got[i] = NAN; /* a product left unwritten fails */
        lm_matmul(p, W, M, X, xq, got);
        bert_pool_free(p);
        for (int i = 0; i < M * W->N; i++)
            cr_assert(fabs((double)got[i] - ref[i]) <= 1e-5 * mag[i] + 1e-30,
                      "%s (K %d, N %d, M %d) at level %d: product %d is %.9g, reference %.9g "
                      "(sum of |terms| %g)",
                      what, W->K, W->N, M, level, i, got[i], ref[i], mag[i]);
    }
    free(mag);
    free(w);
    lm_isa_set(best);
    free(xq);
    free(X);
    free(qbuf);
    free(dbuf);
    free(sbuf);
    free(ref);
    free(got);
}

/* A binary16 of random sign and magnitude in [2^-12, 2^-4): a block scale. */
static uint16_t random_half(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    unsigned r = *seed >> 8;
    return (uint16_t)((r & 1) << 15 | (3 + (r >> 1) % 8) << 10 | (r >> 4 & 0x3ff));
}

/* N rows of K random values of type t: random bytes, then random scales
 * where the layout keeps its binary16s. */
static uint8_t *random_rows(gguf_type t, int K, int N, unsigned seed, lm_mat *W)
{
    size_t row_bytes = gguf_row_bytes(t, K);
    int block_vals = t == GGUF_TYPE_Q8_0 || t == GGUF_TYPE_Q4_0 ? 32 : 256;
    size_t block = gguf_row_bytes(t, block_vals);
    size_t first = t == GGUF_TYPE_Q6_K ? 208 : 0;
    int halves = t == GGUF_TYPE_Q4_K || t == GGUF_TYPE_Q5_K ? 2 : 1;
    uint8_t *w = dq_malloc((size_t)N * row_bytes);
    for (size_t i = 0; i < (size_t)N * row_bytes; i++) {
        seed = seed * 1103515245u + 12345u;
        w[i] = (uint8_t)(seed >> 16);
    }
    for (size_t b = 0; b < (size_t)N * row_bytes / block; b++)
        for (int h = 0; h < halves; h++) {
            uint16_t v = random_half(&seed);
            memcpy(w + b * block + first + 2 * h, &v, 2);
        }
    *W = (lm_mat){t, K, N, row_bytes, w};
    return w;
}

/* M rows of K random activations quantized into xq, their codes and scales
 * in *q and *d (the caller frees them); returns the generator's state. */
static unsigned random_qrows(int M, int K, unsigned seed, lm_qrow *xq, int8_t **q, float **d)
{
    float *X = dq_malloc((size_t)M * K * sizeof *X);
    for (int i = 0; i < M * K; i++) {
        seed = seed * 1103515245u + 12345u;
        X[i] = (float)((int)(seed >> 8 & 0xffff) - 32768) / 8192.0f;
    }
    *q = dq_malloc((size_t)M * K);
    *d = dq_malloc((size_t)M * (K / 32 + K / 16) * sizeof(float));
    for (int r = 0; r < M; r++) {
        xq[r] = (lm_qrow){*q + (size_t)r * K, *d + (size_t)r * (K / 32 + K / 16),
                          *d + (size_t)r * (K / 32 + K / 16) + K / 32};
        lm_quantize_row(X + (size_t)r * K, K, &xq[r]);
    }
    free(X);
    return seed;
}

/* The packed product over slices of K (lm_gemm.c: the FFN's down product in
 * a long prefill), packed beforehand or as it goes, adds up to the same bits
 * as the whole product: slices of LM_GEMM_SLICE activations and a shorter
 * last one, rows and tokens with tails. */
Test(lm, packed_slices_add_up_to_the_whole_product)
{
    if (lm_isa_detect() < LM_ISA_VNNI)
        cr_skip_test("the packed product needs AVX-512 VNNI");
    static const gguf_type types[] = {GGUF_TYPE_Q8_0, GGUF_TYPE_Q4_0, GGUF_TYPE_Q4_K,
                                      GGUF_TYPE_Q5_K, GGUF_TYPE_Q6_K};
    enum { K = 2 * LM_GEMM_SLICE + 512, N = 37, M = 23 };
    bert_pool *p = bert_pool_new(2);
    lm_qrow xq[M], part[M];
    int8_t *qbuf;
    float *dbuf;
    unsigned seed = random_qrows(M, K, 5, xq, &qbuf, &dbuf);
    float whole[M * N], sliced[M * N];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        lm_mat W;
        uint8_t *w = random_rows(types[ti], K, N, seed++, &W);
        cr_assert(lm_gemm_vnni(p, &W, M, xq, whole));
        for (int prepacked = 0; prepacked < 2; prepacked++) {
            for (int f0 = 0; f0 < K; f0 += LM_GEMM_SLICE) {
                int fw = K - f0 < LM_GEMM_SLICE ? K - f0 : LM_GEMM_SLICE;
                for (int r = 0; r < M; r++)
                    part[r] = (lm_qrow){xq[r].q + f0, xq[r].d + f0 / 32, xq[r].dsx + f0 / 16};
                size_t bytes = lm_gemm_packed_bytes(p, &W, f0 / 32, fw / 32);
                cr_assert_gt(bytes, 0);
                void *packed = prepacked ? aligned_alloc(64, bytes) : NULL;
                if (packed)
                    lm_gemm_pack(p, &W, f0 / 32, fw / 32, packed);
                cr_assert(lm_gemm_vnni_slice(p, &W, f0 / 32, fw / 32, packed, M, part, sliced,
                                             f0 > 0));
                free(packed);
            }
            cr_assert_eq(memcmp(whole, sliced, sizeof whole), 0, "type %d, prepacked %d",
                         (int)types[ti], prepacked);
        }
        free(w);
    }
    free(qbuf);
    free(dbuf);
    bert_pool_free(p);
}

/* Every kernel level against the scalar reference on random blocks of every
 * quantized type, at shapes with tails everywhere: rows not a multiple of a
 * task's 16 (decode's 32, split in two halves, odd or even) or a packed
 * panel's 32, tokens not a multiple of a tile's 8 or the packed product's 6
 * (and one, decode's own kernels; 23 and 40 take the packed product,
 * lm_gemm.c, at the VNNI level), rows of
 * an odd number of blocks (the 512-bit kernel wants pairs) or of groups of 8
 * blocks cut short (576, 704), and of an odd number of super-blocks. */
Test(lm, fast_kernels_match_the_scalar_reference_on_random_blocks)
{
    static const gguf_type types[] = {GGUF_TYPE_Q8_0, GGUF_TYPE_Q4_0, GGUF_TYPE_Q4_K,
                                      GGUF_TYPE_Q5_K, GGUF_TYPE_Q6_K};
    static const int small_k[] = {32, 96, 64, 576, 704}, super_k[] = {256, 768, 1280};
    static const int rows[] = {1, 2, 17, 37}, tokens[] = {1, 3, 8, 13, 23, 40};
    unsigned seed = 11;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        bool kq = types[ti] != GGUF_TYPE_Q8_0 && types[ti] != GGUF_TYPE_Q4_0;
        const int *ks = kq ? super_k : small_k;
        int n_k = kq ? 3 : 5;
        for (int ki = 0; ki < n_k; ki++)
            for (size_t ni = 0; ni < sizeof rows / sizeof rows[0]; ni++) {
                lm_mat W;
                uint8_t *w = random_rows(types[ti], ks[ki], rows[ni], seed++, &W);
                for (size_t mi = 0; mi < sizeof tokens / sizeof tokens[0]; mi++)
                    compare_levels(&W, gguf_type_name(types[ti]), tokens[mi]);
                free(w);
            }
    }
}

/* Decode splits a matrix into tasks of about 256 KB: matrices of several
 * tasks, the last one short and odd, against the scalar reference. */
Test(lm, decode_kernels_match_the_scalar_reference_across_tasks)
{
    static const gguf_type types[] = {GGUF_TYPE_Q8_0, GGUF_TYPE_Q4_K, GGUF_TYPE_Q6_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        lm_mat W;
        uint8_t *w = random_rows(types[ti], 2560, 333, 40u + (unsigned)ti, &W);
        compare_levels(&W, gguf_type_name(types[ti]), 1);
        free(w);
    }
}

/* Decode's Q4_K kernel arranges the activation for rows of up to 32768
 * values; a longer row takes the general one. Both against the reference. */
Test(lm, decode_q4_k_matches_the_scalar_reference_past_the_arranged_rows)
{
    static const int ks[] = {32768, 33024};
    for (int i = 0; i < 2; i++) {
        lm_mat W;
        uint8_t *w = random_rows(GGUF_TYPE_Q4_K, ks[i], 5, 60u + (unsigned)i, &W);
        compare_levels(&W, "Q4_K", 1);
        free(w);
    }
}

/* One token of PATTERN_K activations, ((k * mul) % mod - mod / 2) / scale,
 * and the same quantized. */
enum { PATTERN_K = 768 };
typedef struct {
    float x[PATTERN_K];
    int8_t q[PATTERN_K];
    float d[PATTERN_K / 32], dsx[PATTERN_K / 16];
    lm_qrow xq;
} pattern_row;

static void pattern_row_fill(pattern_row *r, int mul, int mod, float scale)
{
    for (int k = 0; k < PATTERN_K; k++)
        r->x[k] = (float)((k * mul) % mod - mod / 2) / scale;
    r->xq = (lm_qrow){r->q, r->d, r->dsx};
    lm_quantize_row(r->x, PATTERN_K, &r->xq);
}

/* Decode's products of one input with several matrices in one job give each
 * matrix's own product, bit for bit, whatever their types, at every level
 * (a float matrix among them takes the general path). */
Test(lm, matvec_many_matches_one_product_each)
{
    enum { K = PATTERN_K };
    static const gguf_type types[] = {GGUF_TYPE_Q4_K, GGUF_TYPE_Q6_K, GGUF_TYPE_Q8_0, GGUF_TYPE_F16};
    static const int rows[] = {37, 96, 65, 17};
    lm_mat W[4];
    uint8_t *w[4];
    float *got[4], *want[4];
    for (int i = 0; i < 4; i++) {
        w[i] = random_rows(types[i], K, rows[i], 100u + (unsigned)i, &W[i]);
        got[i] = dq_malloc((size_t)rows[i] * sizeof(float));
        want[i] = dq_malloc((size_t)rows[i] * sizeof(float));
    }
    pattern_row a;
    pattern_row_fill(&a, 37, 101, 16.0f);
    const float *x = a.x;
    lm_qrow xq = a.xq;
    bert_pool *p = bert_pool_new(2);
    const lm_mat *ws[4] = {&W[0], &W[1], &W[2], &W[3]};
    int best = lm_isa_detect();
    for (int level = LM_ISA_SCALAR; level <= best; level++) {
        lm_isa_set(level);
        for (int n = 1; n <= 4; n++) {
            for (int i = 0; i < n; i++)
                lm_matmul(p, &W[i], 1, x, &xq, want[i]);
            lm_matvec_many(p, ws, n, x, &xq, got);
            for (int i = 0; i < n; i++)
                cr_assert_arr_eq(got[i], want[i], (size_t)rows[i] * sizeof(float),
                                 "level %d, %d matrices: matrix %d (%s) differs", level, n, i,
                                 gguf_type_name(types[i]));
        }
    }
    lm_isa_set(best);
    bert_pool_free(p);
    for (int i = 0; i < 4; i++) {
        free(w[i]);
        free(got[i]);
        free(want[i]);
    }
}

/* Products of one input as one job (lm_gemm_vnni_many: Q, K and V; gate and
 * up) give each product's bits alone, on 2 threads as on 1: mixed types
 * whose token terms are shared (Q4_K with Q5_K, Q8_0 with Q8_0) or not
 * (Q6_K), some prepacked, rows and tokens with tails. */
Test(lm, products_of_one_input_as_one_job)
{
    if (lm_isa_detect() < LM_ISA_VNNI)
        cr_skip_test("the packed product needs AVX-512 VNNI");
    static const gguf_type sets[][3] = {{GGUF_TYPE_Q4_K, GGUF_TYPE_Q6_K, GGUF_TYPE_Q5_K},
                                        {GGUF_TYPE_Q8_0, GGUF_TYPE_Q8_0, GGUF_TYPE_Q4_0}};
    static const int rows[3] = {70, 37, 33};
    enum { K = 512, M = 29 };
    bert_pool *one = bert_pool_new(1), *two = bert_pool_new(2);
    lm_qrow xq[M];
    int8_t *qbuf;
    float *dbuf;
    unsigned seed = random_qrows(M, K, 11, xq, &qbuf, &dbuf);
    for (size_t si = 0; si < sizeof sets / sizeof sets[0]; si++) {
        for (int n = 2; n <= 3; n++) {
            lm_mat W[3];
            const lm_mat *Wp[3];
            uint8_t *w[3];
            void *packed[3] = {NULL};
            float *alone[3], *many[3];
            for (int i = 0; i < n; i++) {
                w[i] = random_rows(sets[si][i], K, rows[i], seed++, &W[i]);
                Wp[i] = &W[i];
                alone[i] = dq_malloc((size_t)M * rows[i] * sizeof(float));
                many[i] = dq_malloc((size_t)M * rows[i] * sizeof(float));
                cr_assert(lm_gemm_vnni(one, &W[i], M, xq, alone[i]));
                if (i != 1) { /* the middle one packs as it goes */
                    packed[i] = aligned_alloc(64, lm_gemm_packed_bytes(two, &W[i], 0, K / 32));
                    lm_gemm_pack(two, &W[i], 0, K / 32, packed[i]);
                }
            }
            cr_assert(lm_gemm_vnni_many(two, Wp, (const void *const *)packed, n, M, xq, many));
            for (int i = 0; i < n; i++) {
                cr_assert_eq(memcmp(alone[i], many[i], (size_t)M * rows[i] * sizeof(float)), 0,
                             "set %zu, %d products, product %d", si, n, i);
                free(alone[i]);
                free(many[i]);
                free(packed[i]);
                free(w[i]);
            }
        }
    }
    lm_mat short_k;
    uint8_t *ws = random_rows(GGUF_TYPE_Q8_0, K - 32, 8, seed, &short_k);
    const lm_mat *mixed[2] = {&short_k, &short_k};
    float *y[2] = {NULL, NULL};
    mixed[1] = &(lm_mat){GGUF_TYPE_Q8_0, K, 8, gguf_row_bytes(GGUF_TYPE_Q8_0, K), ws};
    cr_assert_not(lm_gemm_vnni_many(two, mixed, (const void *[]){NULL, NULL}, 2, M, xq, y),
                  "products of different K are refused");
    free(ws);
    free(qbuf);
    free(dbuf);
    bert_pool_free(one);
    bert_pool_free(two);
}

/* Matrices of thousands of rows, as decode's job slices them (big slices,
 * then the last matrix's tail in small ones), get every row's product
 * exactly once: the same bits as the kernel on that row alone. */
Test(lm, matvec_many_slices_cover_every_row)
{
    if (lm_isa_detect() < LM_ISA_VNNI)
        cr_skip_test("decode's kernel needs AVX-512 VNNI");
    enum { K = PATTERN_K };
    static const gguf_type types[] = {GGUF_TYPE_Q8_0, GGUF_TYPE_Q4_K, GGUF_TYPE_Q6_K};
    static const int rows[] = {1501, 3001, 2222};
    lm_mat W[3];
    uint8_t *w[3];
    float *got[3], *alone[3];
    for (int i = 0; i < 3; i++) {
        w[i] = random_rows(types[i], K, rows[i], 300u + (unsigned)i, &W[i]);
        got[i] = dq_malloc((size_t)rows[i] * sizeof(float));
        alone[i] = dq_malloc((size_t)rows[i] * sizeof(float));
        for (int n = 0; n < rows[i]; n++)
            got[i][n] = NAN;
    }
    pattern_row a;
    pattern_row_fill(&a, 53, 97, 8.0f);
    lm_qrow xq = a.xq;
    bert_pool *p = bert_pool_new(2);
    const lm_mat *ws[3] = {&W[0], &W[1], &W[2]};
    lm_matvec_many(p, ws, 3, a.x, &xq, got);
    for (int i = 0; i < 3; i++) {
        for (int n = 0; n < rows[i]; n++) {
            lm_gemv_vnni(&W[i], n, n + 1, &xq, alone[i]);
            cr_assert_eq(memcmp(&got[i][n], &alone[i][n], sizeof(float)), 0,
                         "%s row %d of %d: %g, alone %g", gguf_type_name(types[i]), n, rows[i],
                         (double)got[i][n], (double)alone[i][n]);
        }
    }
    bert_pool_free(p);
    for (int i = 0; i < 3; i++) {
        free(w[i]);
        free(got[i]);
        free(alone[i]);
    }
}

/* Every kernel level gives the scalar reference's products, for rows of
 * whole 64-value pairs (the 512-bit kernel) and of an odd number of blocks. */
Test(lm, fast_kernels_match_the_scalar_reference)
{
    static const char *types[] = {"Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K", "F16", "BF16", "F32"};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        char args[96];
        snprintf(args, sizeof args, "--arch qwen2 --type %s --greedy 0", types[ti]);
        const char *path = make_model(args);
        gguf_file *f = gguf_open(path);
        cr_assert_not_null(f, "%s", dq_last_error());
        const gguf_tensor *t = gguf_find_tensor(f, "blk.0.ffn_down.weight");
        lm_mat W = {t->type, (int)t->ne[0], (int)t->ne[1], gguf_row_bytes(t->type, t->ne[0]),
                    t->data};
        compare_levels(&W, types[ti], 11);
        if (t->type == GGUF_TYPE_Q8_0 || t->type == GGUF_TYPE_Q4_0 || t->type == GGUF_TYPE_F16) {
            /* the same blocks seen as rows of 96 values */
            lm_mat odd = {t->type, 96, 0, gguf_row_bytes(t->type, 96), t->data};
            odd.N = (int)(t->n_bytes / odd.row_bytes);
            compare_levels(&odd, types[ti], 11);
        }
        gguf_close(f);
    }
}

/* The cache's F16 rounding: the scalar reference and F16C give the same
 * bits on every half, every tie between two halves and the values beside
 * it, the subnormals and the overflow; every finite half reads back as
 * itself. */
static void store_at(int isa, const float *x, uint16_t *out, int n)
{
    lm_isa_set(isa);
    lm_f16_store(x, out, n);
    lm_isa_set(lm_isa_detect());
}

Test(lm, f16_cache_rounding)
{
    cr_assert_eq(lm_f32_to_f16(1.0f), 0x3c00);
    cr_assert_eq(lm_f32_to_f16(-2.0f), 0xc000);
    cr_assert_eq(lm_f32_to_f16(65504.0f), 0x7bff);
    cr_assert_eq(lm_f32_to_f16(65519.0f), 0x7bff);
    cr_assert_eq(lm_f32_to_f16(65520.0f), 0x7c00);  /* the tie goes to even: infinity */
    cr_assert_eq(lm_f32_to_f16(ldexpf(1, -24)), 0x0001);
    cr_assert_eq(lm_f32_to_f16(ldexpf(1, -25)), 0x0000);     /* tie to even */
    cr_assert_eq(lm_f32_to_f16(ldexpf(3, -26)), 0x0001);     /* 1.5 x 2^-25 */
    cr_assert_eq(lm_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00); /* tie to even */
    cr_assert_eq(lm_f32_to_f16(1.0f + ldexpf(3, -11)), 0x3c02); /* tie to even, up */
    cr_assert_eq(lm_f32_to_f16(NAN) & 0x7e00, 0x7e00);
    enum { N = 65536 * 4 };
    float *x = dq_malloc(N * sizeof(float));
    uint16_t *a = dq_malloc(N * sizeof(uint16_t)), *b = dq_malloc(N * sizeof(uint16_t));
    for (int h = 0; h < 65536; h++) {
        float v = lm_f16_to_f32((uint16_t)h), next = lm_f16_to_f32((uint16_t)(h + 1));
        bool finite = ((h >> 10) & 0x1f) != 0x1f && (((h + 1) >> 10) & 0x1f) != 0x1f;
        float mid = finite ? (float)(((double)v + next) / 2) : v;
        x[4 * h] = v;
        x[4 * h + 1] = mid;
        x[4 * h + 2] = nextafterf(mid, -INFINITY);
        x[4 * h + 3] = nextafterf(mid, INFINITY);
    }
    store_at(LM_ISA_SCALAR, x, a, N);
    store_at(LM_ISA_AVX2, x, b, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(a[i], b[i], "%a: scalar %04x, F16C %04x", (double)x[i], a[i], b[i]);
    for (int h = 0; h < 65536; h++) {
        if (((h >> 10) & 0x1f) == 0x1f)
            continue;
        cr_assert_eq(a[4 * h], h, "half %04x read back as %04x", h, a[4 * h]);
        float back[8];
        uint16_t row[8] = {(uint16_t)h, (uint16_t)h, (uint16_t)h, (uint16_t)h,
                           (uint16_t)h, (uint16_t)h, (uint16_t)h, (uint16_t)h};
        lm_f16_load_rows(row, 8, 1, 8, back);
        cr_assert(back[7] == x[4 * h] || (h & 0x7fff) == 0, "half %04x loads as %a", h,
                  (double)back[7]);
    }
    free(x);
    free(a);
    free(b);
}

/* Attention of m queries at p0.. over random keys and values, in a cache of
 * type kv, at one ISA level and pool size, into out (m, n_head * d). */
typedef struct {
    int n_head, n_head_kv, d, m, p0;
} attn_case;

static void attention_at(const attn_case *a, gguf_type kv, int isa, int threads, const float *q,
                         const void *k, const void *v, float *out)
{
    enum { N_CTX = 400 };
    bert_pool *pool = bert_pool_new(threads);
    float *scratch =
        dq_malloc((size_t)threads * lm_attn_scratch_floats(N_CTX, a->d) * sizeof(float));
    lm_attn_batch b = {k,         v,      kv,             q,           out,
                       a->m,      a->p0,  N_CTX,          a->n_head,   a->n_head_kv,
                       a->d,      a->n_head_kv * a->d,    scratch};
    lm_isa_set(isa);
    lm_attention(pool, &b);
    lm_isa_set(lm_isa_detect());
    free(scratch);
    bert_pool_free(pool);
}

/* The most the BF16 kernel may differ from the scalar reference at each of
 * the d outputs of query t, head h (into bound), from the rounding it adds
 * to the reference's, with u = 2^-8 (BF16's unit roundoff; float's is
 * 2^-24) and kf, vf the cache's values: q * scale is rounded to BF16 and
 * the exact products are summed in float, so a score moves by at most
 * D = scale sum_i |q_i k_i| (u + (d + 4) 2^-24), and a softmax weight by a
 * factor of at most e^(2 D); each weight is rounded to BF16 (u), and the
 * sum that divides them is of the rounded ones (2.01 u in all). Weights that
 * move by factors within e^(+-E) move an average of values by at most
 * (e^E - 1) times half their range (the moves sum to 0); the float sums over
 * n keys add n + d + 8 float roundings of the largest |v|. */
static void bf16_bound(const attn_case *a, const float *q, const float *kf, const float *vf,
                       int t, int h, double *bound)
{
    int d = a->d, kv_dim = a->n_head_kv * d, g = h / (a->n_head / a->n_head_kv);
    int n = a->p0 + t + 1;
    const float *qh = q + ((size_t)t * a->n_head + h) * d;
    const double u = ldexp(1, -8), f = ldexp(1, -24);
    double D = 0;
    for (int j = 0; j < n; j++) {
        double s = 0;
        for (int i = 0; i < d; i++)
            s += fabs((double)qh[i] * kf[(size_t)j * kv_dim + (size_t)g * d + i]);
        D = fmax(D, s / sqrt(d) * (u + (d + 4) * f));
    }
    double E = 2 * D + 2.01 * u + 8 * f;
    for (int i = 0; i < d; i++) {
        double lo = INFINITY, hi = -INFINITY, big = 0;
        for (int j = 0; j < n; j++) {
            double x = vf[(size_t)j * kv_dim + (size_t)g * d + i];
            lo = fmin(lo, x);
            hi = fmax(hi, x);
            big = fmax(big, fabs(x));
        }
        bound[i] = expm1(E) * (hi - lo) / 2 + (n + d + 8) * f * big;
    }
}

/* Every output of the BF16 kernel (out) within bf16_bound of the
 * reference's; returns the largest share of its bound a difference takes. */
static double check_bf16_bounds(const attn_case *a, const float *q, const uint16_t *kh,
                                const uint16_t *vh, const float *ref, const float *out, size_t ci)
{
    int L = a->p0 + a->m, kv_dim = a->n_head_kv * a->d;
    float *kf = dq_malloc((size_t)L * kv_dim * sizeof(float));
    float *vf = dq_malloc((size_t)L * kv_dim * sizeof(float));
    lm_bf16_load_rows(kh, (size_t)kv_dim, L, kv_dim, kf);
    lm_bf16_load_rows(vh, (size_t)kv_dim, L, kv_dim, vf);
    double *bound = dq_malloc((size_t)a->d * sizeof *bound), worst = 0;
    for (int t = 0; t < a->m; t++) {
        for (int h = 0; h < a->n_head; h++) {
            bf16_bound(a, q, kf, vf, t, h, bound);
            size_t at = ((size_t)t * a->n_head + h) * a->d;
            for (int i = 0; i < a->d; i++) {
                double diff = fabs((double)out[at + i] - ref[at + i]);
                cr_assert(diff <= bound[i], "case %zu, BF16: query %d head %d [%d]: %g from the "
                          "reference, bound %g", ci, t, h, i, diff, bound[i]);
                worst = fmax(worst, diff / bound[i]);
            }
        }
    }
    free(kf);
    free(vf);
    free(bound);
    return worst;
}

/* The fused attention kernels (AVX2, AVX-512, and AVX-512 BF16 on a BF16
 * cache) against the scalar reference: masks at the edges of key blocks
 * and query tiles, odd lengths, key counts of whole blocks (48, 96), GQA
 * ratios 1 to 7 and 64 and 128 (a tile inside one token), head_dim 16 to
 * 256 and the ones that are no multiple of 16 (the fused levels fall back
 * to the reference), each cache type; the same bits on 1, 2 and 3 threads.
 * The float kernels stay within 1e-6; the BF16 kernel within bf16_bound,
 * and within float rounding where every key of a head is the same, so
 * that each weight is exactly 1 and the result the values' mean: a key
 * missed, read twice or paired with the wrong value would show. */
Test(lm, attention_matches_the_scalar_reference)
{
    const attn_case cases[] = {
        {2, 2, 64, 1, 0},   {14, 2, 64, 1, 300}, {14, 2, 64, 73, 0},  {12, 2, 128, 64, 47},
        {8, 4, 64, 130, 95}, {6, 1, 128, 11, 200}, {4, 4, 128, 97, 1}, {7, 1, 64, 10, 48},
        {12, 2, 128, 1, 399}, {2, 1, 16, 33, 15}, {4, 2, 48, 20, 76}, {4, 2, 80, 17, 31},
        {2, 1, 256, 9, 87},  {4, 2, 40, 13, 50}, {3, 1, 24, 5, 0},    {64, 1, 32, 3, 45},
        {128, 1, 16, 2, 94}, {2, 2, 64, 48, 0},  {6, 2, 64, 16, 80},  {5, 5, 96, 100, 300},
        {2, 1, 2, 7, 3},
    };
    const gguf_type kvs[] = {GGUF_TYPE_F32, GGUF_TYPE_F16, GGUF_TYPE_BF16};
    double worst = 0;
    srand(17);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const attn_case *a = &cases[ci];
        int q_dim = a->n_head * a->d, kv_dim = a->n_head_kv * a->d, L = a->p0 + a->m;
        size_t nq = (size_t)a->m * q_dim, nkv = (size_t)L * kv_dim;
        float *q = dq_malloc(nq * sizeof(float)), *kf = dq_malloc(nkv * sizeof(float)),
              *vf = dq_malloc(nkv * sizeof(float));
        uint16_t *kh = dq_malloc(nkv * sizeof(uint16_t)), *vh = dq_malloc(nkv * sizeof(uint16_t));
        float *ref = dq_malloc(nq * sizeof(float)), *out = dq_malloc(nq * sizeof(float)),
              *more = dq_malloc(nq * sizeof(float));
        for (size_t i = 0; i < nq; i++)
            q[i] = 3.0f * ((float)rand() / RAND_MAX - 0.5f);
        for (size_t i = 0; i < nkv; i++) {
            kf[i] = 3.0f * ((float)rand() / RAND_MAX - 0.5f);
            vf[i] = (float)rand() / RAND_MAX - 0.5f;
        }
        for (int pass = 0; pass < 4; pass++) {
            gguf_type kv = kvs[pass < 3 ? pass : 2];
            bool same_keys = pass == 3;
            if (same_keys)
                for (int j = 1; j < L; j++)
                    memcpy(kf + (size_t)j * kv_dim, kf, (size_t)kv_dim * sizeof(float));
            if (kv == GGUF_TYPE_BF16) {
                lm_bf16_store(kf, kh, (int)nkv);
                lm_bf16_store(vf, vh, (int)nkv);
            } else {
                lm_f16_store(kf, kh, (int)nkv);
                lm_f16_store(vf, vh, (int)nkv);
            }
            const void *k = kv == GGUF_TYPE_F32 ? (const void *)kf : kh;
            const void *v = kv == GGUF_TYPE_F32 ? (const void *)vf : vh;
            attention_at(a, kv, LM_ISA_SCALAR, 2, q, k, v, ref);
            for (int isa = LM_ISA_AVX2; isa <= lm_isa_detect(); isa++) {
                attention_at(a, kv, isa, 1, q, k, v, out);
                if (isa >= LM_ISA_BF16 && kv == GGUF_TYPE_BF16 && a->d % 16 == 0 && !same_keys) {
                    worst = fmax(worst, check_bf16_bounds(a, q, kh, vh, ref, out, ci));
                } else {
                    /* the mean of up to 400 values of at most 0.5 in float */
                    double tol = same_keys ? (L + 8) * ldexp(0.5, -24) : 1e-6;
                    double dmax = max_abs_diff(ref, out, (int)nq);
                    cr_assert(dmax < tol, "case %zu, %s cache%s, level %d: %g from the reference",
                              ci, gguf_type_name(kv), same_keys ? " of one key" : "", isa, dmax);
                }
                for (int threads = 2; threads <= 3; threads++) {
                    attention_at(a, kv, isa, threads, q, k, v, more);
                    cr_assert(memcmp(out, more, nq * sizeof(float)) == 0,
                              "case %zu, %s cache, level %d: 1 and %d threads differ", ci,
                              gguf_type_name(kv), isa, threads);
                }
            }
        }
        free(q);
        free(kf);
        free(vf);
        free(kh);
        free(vh);
        free(ref);
        free(out);
        free(more);
    }
    fprintf(stderr, "BF16 attention: the largest difference is %.3f of its bound\n", worst);
}

/* The logits after the reference's 40 tokens in a fresh context (owned). */
static float *last_logits(lm_model *m)
{
    int32_t toks[40];
    cr_assert_eq(read_ints("tokens.txt", toks, 40), 40);
    int V = lm_model_hparams(m)->n_vocab;
    lm_ctx *c = lm_ctx_new(m, NULL);
    cr_assert_not_null(c, "%s", dq_last_error());
    cr_assert_eq(lm_eval(c, toks, 40, false), 0, "%s", dq_last_error());
    float *out = dq_malloc((size_t)V * sizeof(float));
    memcpy(out, lm_logits(c, -1), (size_t)V * sizeof(float));
    lm_ctx_free(c);
    return out;
}

/* The F16 cache at the scalar level gives the same logits as at the fast
 * one (the conversions agree bit for bit; only the products differ). */
Test(lm, f16_cache_scalar_path)
{
    const char *path = make_model("--arch qwen2 --type F32 --greedy 0");
    lm_model *m = lm_load(path, NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    int V = lm_model_hparams(m)->n_vocab;
    float *out[2];
    for (int pass = 0; pass < 2; pass++) {
        lm_isa_set(pass ? LM_ISA_SCALAR : lm_isa_detect());
        out[pass] = last_logits(m);
    }
    lm_isa_set(lm_isa_detect());
    double d = max_abs_diff(out[0], out[1], V);
    cr_assert(d < 1e-4, "scalar and fast F16 caches differ by %g", d);
    free(out[0]);
    free(out[1]);
    lm_free(m);
}

/* The BF16 cache's rounding: to nearest even (ties both ways), a carry
 * into the exponent, overflow to inf, nan kept quiet, subnormals kept;
 * every finite BF16 reads back as itself. */
Test(lm, bf16_cache_rounding)
{
    cr_assert_eq(lm_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(lm_f32_to_bf16(-3.0f), 0xc040);
    cr_assert_eq(lm_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80);      /* tie to even: down */
    cr_assert_eq(lm_f32_to_bf16(1.0f + ldexpf(3, -8)), 0x3f82);      /* tie to even: up */
    cr_assert_eq(lm_f32_to_bf16(nextafterf(1.0f + ldexpf(1, -8), 2)), 0x3f81);
    cr_assert_eq(lm_f32_to_bf16(2.0f - ldexpf(1, -9)), 0x4000);      /* carry into the exponent */
    cr_assert_eq(lm_f32_to_bf16(3.3895313892515355e38f), 0x7f7f);    /* the largest */
    cr_assert_eq(lm_f32_to_bf16(FLT_MAX), 0x7f80);                   /* rounds to inf */
    cr_assert_eq(lm_f32_to_bf16(-INFINITY), 0xff80);
    cr_assert_eq(lm_f32_to_bf16(ldexpf(1, -133)), 0x0001);           /* a subnormal */
    cr_assert_eq(lm_f32_to_bf16(NAN) & 0x7fc0, 0x7fc0);
    float nan_low;
    uint32_t bits = 0x7f800001u; /* signalling, payload only in the low half */
    memcpy(&nan_low, &bits, 4);
    cr_assert_eq(lm_f32_to_bf16(nan_low), 0x7fc0);
    uint16_t row[8];
    float back[8];
    for (int h = 0; h < 65536; h++) {
        if ((h & 0x7f80) == 0x7f80)
            continue;
        float v = lm_bf16_to_f32((uint16_t)h);
        cr_assert_eq(lm_f32_to_bf16(v), h, "bf16 %04x rounds to %04x", h, lm_f32_to_bf16(v));
        for (int i = 0; i < 8; i++)
            row[i] = (uint16_t)h;
        lm_bf16_load_rows(row, 8, 1, 8, back);
        cr_assert(memcmp(&back[7], &v, 4) == 0, "bf16 %04x loads as %a", h, (double)back[7]);
    }
}

/* The cache is F16 for every model unless asked for (BF16, F32), whatever
 * the weights; no other type is taken; all three 16-bit or float caches
 * are the size lm_kv_bytes says. */
Test(lm, cache_type_is_f16_unless_asked)
{
    const char *types[] = {"--type Q4_K", "--type F16"};
    for (int i = 0; i < 2; i++) {
        char args[64];
        snprintf(args, sizeof args, "--arch qwen2 %s --greedy 0", types[i]);
        lm_model *m = lm_load(make_model(args), NULL);
        cr_assert_not_null(m, "%s", dq_last_error());
        lm_ctx_params cp = lm_default_ctx_params();
        cp.n_ctx = 64;
        lm_ctx *c = lm_ctx_new(m, &cp);
        cr_assert_eq(lm_ctx_kv_type(c), GGUF_TYPE_F16, "%s", args);
        lm_ctx_free(c);
        cp.kv_type = GGUF_TYPE_BF16;
        c = lm_ctx_new(m, &cp);
        cr_assert_eq(lm_ctx_kv_type(c), GGUF_TYPE_BF16);
        lm_ctx_free(c);
        cp.kv_type = GGUF_TYPE_Q8_0;
        cr_assert_null(lm_ctx_new(m, &cp));
        cr_assert(strstr(dq_last_error(), "KV cache of type Q8_0"), "%s", dq_last_error());
        lm_free(m);
    }
}

/* A BF16 cache on a quantized model: one prefill gives the same bits on 1
 * and 2 threads and stays at the reference's cosine goal on this model
 * (Q8_0: 0.99988 at the BF16 level; the test model of Q5_K measured 0.9985
 * to 0.9990, which is why BF16 is not the default), and a truncated cache
 * continues exactly as a fresh run would. */
Test(lm, bf16_cache_on_a_quantized_model)
{
    const char *args = "--arch qwen2 --type Q8_0 --greedy 0";
    lm_model *m = lm_load(make_model(args), NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    check_one_prefill(args, GGUF_TYPE_BF16, 0.999);
    int V = lm_model_hparams(m)->n_vocab;
    float *one = one_prefill(m, GGUF_TYPE_BF16, 1), *two = one_prefill(m, GGUF_TYPE_BF16, 2);
    cr_assert_eq(memcmp(one, two, (size_t)40 * V * sizeof(float)), 0);
    free(one);
    free(two);
    int32_t toks[40];
    read_ints("tokens.txt", toks, 40);
    lm_ctx_params cp = lm_default_ctx_params();
    cp.n_ctx = 64;
    cp.kv_type = GGUF_TYPE_BF16;
    lm_ctx *c = lm_ctx_new(m, &cp);
    cr_assert_eq(lm_eval(c, toks, 30, false), 0, "%s", dq_last_error());
    float *first = dq_malloc((size_t)V * sizeof *first);
    memcpy(first, lm_logits(c, -1), (size_t)V * sizeof *first);
    cr_assert_eq(lm_ctx_truncate(c, 12), 0);
    cr_assert_eq(lm_eval(c, toks + 12, 18, false), 0);
    cr_assert_eq(memcmp(first, lm_logits(c, -1), (size_t)V * sizeof *first), 0);
    free(first);
    lm_ctx_free(c);
    lm_free(m);
}

/* A truncated cache continues exactly as a fresh run would. */
Test(lm, truncate_keeps_the_prefix)
{
    const char *path = make_model("--arch qwen3 --type Q4_K --greedy 0");
    lm_model *m = lm_load(path, NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    int V = lm_model_hparams(m)->n_vocab;
    int32_t toks[40];
    read_ints("tokens.txt", toks, 40);
    lm_ctx_params cp = lm_default_ctx_params();
    cp.n_ctx = 64;
    lm_ctx *c = lm_ctx_new(m, &cp);
    cr_assert_eq(lm_eval(c, toks, 30, false), 0);
    float *first = dq_malloc((size_t)V * sizeof *first);
    memcpy(first, lm_logits(c, -1), (size_t)V * sizeof *first);
    cr_assert_eq(lm_ctx_truncate(c, 12), 0);
    cr_assert_eq(lm_ctx_pos(c), 12);
    cr_assert_eq(lm_eval(c, toks + 12, 18, false), 0);
    cr_assert_eq(memcmp(first, lm_logits(c, -1), (size_t)V * sizeof *first), 0);
    cr_assert_eq(lm_ctx_truncate(c, 31), LM_ERR);
    /* overflow: refused whole, nothing appended */
    cr_assert_eq(lm_eval(c, toks, 40, false), LM_ERR_OVERFLOW);
    cr_assert(strstr(dq_last_error(), "do not fit in the context"), "%s", dq_last_error());
    cr_assert_eq(lm_ctx_pos(c), 30);
    int32_t bad = V;
    cr_assert_eq(lm_eval(c, &bad, 1, false), LM_ERR_TOKEN);
    free(first);
    lm_ctx_free(c);
    lm_free(m);
}

/* n token ids spread over a vocabulary of V: a long prompt. */
static int32_t *long_prompt(int V, int n)
{
    int32_t *toks = dq_malloc((size_t)n * sizeof *toks);
    for (int i = 0; i < n; i++)
        toks[i] = (int32_t)((i * 7919u + 13u) % (unsigned)V);
    return toks;
}

/* A prompt longer than a micro-batch (256 to 512 tokens, by model size)
 * ends on the same logits however it is split across calls: no result may
 * depend on how many tokens share a batch. */
Test(lm, long_prompt_same_logits_in_any_split)
{
    const char *path = make_model("--arch qwen2 --type Q8_0 --greedy 0");
    lm_model *m = lm_load(path, NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    int V = lm_model_hparams(m)->n_vocab;
    enum { N = 600 };
    int32_t *toks = long_prompt(V, N);
    lm_ctx_params cp = lm_default_ctx_params();
    cp.n_ctx = N;
    lm_ctx *c = lm_ctx_new(m, &cp);
    cr_assert_not_null(c, "%s", dq_last_error());
    cr_assert_eq(lm_eval(c, toks, N, false), 0, "%s", dq_last_error());
    float *whole = dq_malloc((size_t)V * sizeof *whole);
    memcpy(whole, lm_logits(c, -1), (size_t)V * sizeof *whole);
    cr_assert_eq(lm_ctx_truncate(c, 0), 0);
    cr_assert_eq(lm_eval(c, toks, 100, false), 0);
    cr_assert_eq(lm_eval(c, toks + 100, N - 100, false), 0, "%s", dq_last_error());
    cr_assert_eq(memcmp(whole, lm_logits(c, -1), (size_t)V * sizeof *whole), 0);
    free(whole);
    free(toks);
    lm_ctx_free(c);
    lm_free(m);
}

static int stop_after;
static bool stop_cb(void *user)
{
    (void)user;
    return --stop_after < 0;
}

Test(lm, stop_callback_stops_and_keeps_the_cache)
{
    const char *path = make_model("--arch llama --type Q8_0 --greedy 0");
    lm_model *m = lm_load(path, NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    lm_ctx_params cp = lm_default_ctx_params();
    cp.n_ctx = 64;
    cp.should_stop = stop_cb;
    stop_after = 1000;
    lm_ctx *c = lm_ctx_new(m, &cp);
    int32_t toks[40];
    read_ints("tokens.txt", toks, 40);
    cr_assert_eq(lm_eval(c, toks, 5, false), 0);
    stop_after = 1; /* the second layer's poll says stop */
    cr_assert_eq(lm_eval(c, toks + 5, 5, false), LM_ERR_STOPPED);
    cr_assert_eq(lm_ctx_pos(c), 5);
    lm_ctx_free(c);
    lm_free(m);
}

/* A prompt of several micro-batches runs layer by layer (lm_forward.c's
 * run_span, each matrix packed once; 2,500 tokens: two spans of three
 * batches): the same bits as the same prompt fed in pieces of one
 * micro-batch or less, on 1 or 2 threads, in its logits and in the cache
 * the next token reads; a stop in the middle of it, seen before each
 * micro-batch so that Ctrl-C stops at once, leaves lm_ctx_pos and the
 * usable cache as they were. */
Test(lm, layer_major_prefill_same_bits_and_stops_cleanly)
{
    const char *path = make_model("--arch qwen3 --type Q4_K --greedy 0");
    lm_model *m = lm_load(path, NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    int V = lm_model_hparams(m)->n_vocab;
    enum { N = 2500, PRE = 7 };
    int32_t *toks = long_prompt(V, N + 1);
    float *ref = dq_malloc(2 * (size_t)V * sizeof *ref);
    for (int run = 0; run < 3; run++) {
        lm_ctx_params cp = lm_default_ctx_params();
        cp.n_ctx = N + 1;
        cp.n_threads = run == 2 ? 1 : 2;
        cp.should_stop = stop_cb;
        stop_after = 1000;
        lm_ctx *c = lm_ctx_new(m, &cp);
        cr_assert_not_null(c, "%s", dq_last_error());
        if (run == 0) { /* pieces of at most a micro-batch, the reference */
            for (int d = 0; d < N; d += 400)
                cr_assert_eq(lm_eval(c, toks + d, N - d < 400 ? N - d : 400, false), 0);
        } else {
            cr_assert_eq(lm_eval(c, toks, PRE, false), 0);
            stop_after = 1; /* the second poll, before layer 0's second batch, says stop */
            cr_assert_eq(lm_eval(c, toks + PRE, N - PRE, true), LM_ERR_STOPPED);
            cr_assert_eq(lm_ctx_pos(c), PRE);
            stop_after = 1 << 20;
            cr_assert_eq(lm_eval(c, toks + PRE, N - PRE, false), 0, "%s", dq_last_error());
            /* polled before each micro-batch (at most 512 tokens) of a
             * layer, not once per layer of a span: seconds of a 7B's work */
            int polls = (1 << 20) - stop_after;
            cr_assert_geq(polls, lm_model_hparams(m)->n_layer * ((N - PRE + 511) / 512), "%d", polls);
        }
        for (int step = 0; step < 2; step++) {
            if (step == 1)
                cr_assert_eq(lm_eval(c, toks + N, 1, false), 0);
            if (run == 0)
                memcpy(ref + (size_t)step * V, lm_logits(c, -1), (size_t)V * sizeof *ref);
            else
                cr_assert_eq(memcmp(ref + (size_t)step * V, lm_logits(c, -1),
                                    (size_t)V * sizeof *ref), 0, "run %d, step %d", run, step);
        }
        cr_assert_eq(lm_ctx_pos(c), N + 1);
        lm_ctx_free(c);
    }
    free(ref);
    free(toks);
    lm_free(m);
}

Test(lm, metadata_and_memory)
{
    const char *path = make_model("--arch qwen3 --type Q6_K --greedy 0");
    lm_model *m = lm_load(path, NULL);
    cr_assert_not_null(m, "%s", dq_last_error());
    const lm_hparams *hp = lm_model_hparams(m);
    cr_assert_str_eq(hp->arch, "qwen3");
    cr_assert_eq(hp->n_layer, 2);
    cr_assert_eq(hp->n_embd, 256);
    cr_assert_eq(hp->head_dim, 128);
    cr_assert_eq(hp->n_head_kv, 2);
    cr_assert(hp->qk_norm && hp->rope_neox && !hp->tied_output);
    cr_assert_eq(hp->n_vocab, 320);
    cr_assert_float_eq(hp->rope_base, 10000.0f, 0);
    cr_assert_eq(lm_kv_bytes(m, 100), 2ull * 2 * 100 * 256 * 2); /* F16 */
    cr_assert(lm_memory_estimate(m, 100) > lm_weight_bytes(m) + lm_kv_bytes(m, 100));
    char types[128];
    lm_model_types(m, types, sizeof types);
    cr_assert_str_eq(types, "F32 x 9, Q6_K x 16");
    cr_assert_not_null(lm_model_gguf(m));
    lm_free(m);
    lm_free(NULL);
    lm_ctx_free(NULL);
}

/* ---- refusals: one line naming the file and the reason ------------------------ */

static void expect_load_error(const char *path, const char *want)
{
    lm_model *m = lm_load(path, NULL);
    cr_assert_null(m, "loaded a model that should fail with '%s'", want);
    const char *e = dq_last_error();
    cr_assert(strstr(e, want), "error '%s' lacks '%s'", e, want);
    cr_assert(strstr(e, "model.gguf") || strstr(e, "cut.gguf") || strstr(e, "huge.gguf"),
              "error '%s' does not name the file", e);
    cr_assert_null(strchr(e, '\n'));
}

Test(lm, refuses_other_architectures)
{
    expect_load_error(make_model("--arch qwen2 --type F32 --arch-name gpt2"),
                      "architecture 'gpt2' is not supported");
}

Test(lm, refuses_other_tensor_types)
{
    expect_load_error(make_model("--arch qwen2 --type Q5_0"), "has type Q5_0");
}

Test(lm, truncated_file_is_one_clear_line)
{
    const char *path = make_model("--arch qwen2 --type Q4_K --greedy 0");
    char cut[256];
    snprintf(cut, sizeof cut, "%s/cut.gguf", tmpdir);
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &b), 0);
    FILE *f = fopen(cut, "wb");
    fwrite(b.data, 1, b.len * 2 / 3, f);
    fclose(f);
    dq_buf_free(&b);
    expect_load_error(cut, "truncated file");
}

/* A sparse file whose embedding alone takes 256 GB. */
Test(lm, model_larger_than_memory)
{
    char path[256], cmd[512];
    snprintf(path, sizeof path, "%s/huge.gguf", tmpdir);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s huge %s", SCRIPT, path);
    cr_assert_eq(system(cmd), 0);
    expect_load_error(path, "GB of memory");
}

/* A model gguf-split cut in three loads as one: the same tensors, the same
 * logits to the bit as the whole file; a later part, a missing part and a
 * part that claims another place are refused by name. */
Test(lm, split_model_loads_as_one)
{
    make_model("--arch qwen2 --type Q8_0 --greedy 0 --split 3");
    char whole[256], first[256], second[256], third[256], moved[256];
    snprintf(whole, sizeof whole, "%s/model.gguf", tmpdir);
    snprintf(first, sizeof first, "%s/split-00001-of-00003.gguf", tmpdir);
    snprintf(second, sizeof second, "%s/split-00002-of-00003.gguf", tmpdir);
    snprintf(third, sizeof third, "%s/split-00003-of-00003.gguf", tmpdir);
    float *out[2];
    uint64_t bytes[2];
    const char *paths[2] = {whole, first};
    for (int k = 0; k < 2; k++) {
        lm_model *m = lm_load(paths[k], NULL);
        cr_assert_not_null(m, "%s", dq_last_error());
        /* the embedding, the final norm, the head and 12 per layer */
        cr_assert_eq(gguf_n_tensors(lm_model_gguf(m)), 3 + 2 * 12);
        bytes[k] = lm_weight_bytes(m);
        out[k] = last_logits(m);
        cr_assert_eq(memcmp(out[0], out[k], (size_t)lm_model_hparams(m)->n_vocab * sizeof(float)),
                     0);
        lm_free(m);
    }
    cr_expect_eq(bytes[0], bytes[1]);
    free(out[0]);
    free(out[1]);

    cr_assert_null(lm_load(second, NULL));
    cr_expect(strstr(dq_last_error(), "split-00002-of-00003.gguf': part 2 of a model split in 3; "
                                      "open its first part"),
              "%s", dq_last_error());
    snprintf(moved, sizeof moved, "%s/elsewhere.gguf", tmpdir);
    cr_assert_eq(rename(third, moved), 0);
    cr_assert_null(lm_load(first, NULL));
    cr_expect(strstr(dq_last_error(), "cannot open '") &&
                  strstr(dq_last_error(), "split-00003-of-00003.gguf'"),
              "%s", dq_last_error());
    /* the second part where the third should be */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", second, third);
    cr_assert_eq(system(cmd), 0);
    cr_assert_null(lm_load(first, NULL));
    cr_expect(strstr(dq_last_error(), "split-00003-of-00003.gguf': says it is part 2 of 3, not 3 of 3"),
              "%s", dq_last_error());
}

/* ---- sampling -------------------------------------------------------------------- */

Test(lm, sampling)
{
    float logits[6] = {1.0f, 3.0f, 2.9f, -1.0f, 0.5f, 2.0f};
    lm_sampler_params p = lm_default_sampler_params();
    p.temperature = 0;
    lm_sampler *s = lm_sampler_new(&p);
    cr_assert_eq(lm_sample(s, logits, 6), 1);
    lm_sampler_free(s);

    /* the penalty turns the greedy choice: 3.0 / 1.5 = 2.0 < 2.9 */
    p.repeat_penalty = 1.5f;
    s = lm_sampler_new(&p);
    lm_sampler_accept(s, 1);
    cr_assert_eq(lm_sample(s, logits, 6), 2);
    lm_sampler_free(s);

    /* top-k 1 is greedy whatever the temperature */
    p = lm_default_sampler_params();
    p.top_k = 1;
    p.temperature = 5;
    s = lm_sampler_new(&p);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(lm_sample(s, logits, 6), 1);
    lm_sampler_free(s);

    /* min-p 0.5 keeps only tokens within half the best probability: 1 and 2 */
    p = lm_default_sampler_params();
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0.5f;
    p.temperature = 1;
    p.seed = 42;
    s = lm_sampler_new(&p);
    int seen[6] = {0};
    for (int i = 0; i < 400; i++)
        seen[lm_sample(s, logits, 6)]++;
    cr_assert(seen[1] > 0 && seen[2] > 0);
    cr_assert_eq(seen[0] + seen[3] + seen[4] + seen[5], 0);
    lm_sampler_free(s);

    /* top-p 0.5: the single best token already holds half the mass */
    p.min_p = 0;
    p.top_p = 0.3f;
    s = lm_sampler_new(&p);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(lm_sample(s, logits, 6), 1);
    lm_sampler_free(s);

    /* the same seed gives the same draws; another seed other draws */
    p = lm_default_sampler_params();
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.temperature = 2;
    p.seed = 9;
    lm_sampler *a = lm_sampler_new(&p), *b = lm_sampler_new(&p);
    p.seed = 10;
    lm_sampler *o = lm_sampler_new(&p);
    int same = 0, differ = 0;
    for (int i = 0; i < 64; i++) {
        int x = lm_sample(a, logits, 6), y = lm_sample(b, logits, 6), z = lm_sample(o, logits, 6);
        same += x == y;
        differ += x != z;
    }
    cr_assert_eq(same, 64);
    cr_assert(differ > 0);
    lm_sampler_free(a);
    lm_sampler_free(b);
    lm_sampler_free(o);

    float lp = lm_logprob(logits, 6, 1);
    double sum = 0;
    for (int i = 0; i < 6; i++)
        sum += exp(logits[i]);
    cr_assert_float_eq(lp, (float)(3.0 - log(sum)), 1e-5);
}

enum { QUANT_MAX_BLOCKS = 37 };

/* x (K, at most QUANT_MAX_BLOCKS blocks) through the scalar quantizer and
 * the best one: the same bytes, and nothing written past the row's codes,
 * scales or sums (the AVX-512 form stores 16 blocks' under masks). */
static void check_quantize_paths(const float *x, int K)
{
    int8_t q[2][32 * QUANT_MAX_BLOCKS + 1];
    float d[2][QUANT_MAX_BLOCKS + 1], dsx[2][2 * QUANT_MAX_BLOCKS + 1];
    cr_assert_leq(K, 32 * QUANT_MAX_BLOCKS);
    int best = lm_isa_detect();
    for (int p = 0; p < 2; p++) {
        lm_isa_set(p ? best : LM_ISA_SCALAR);
        q[p][K] = 99;
        d[p][K / 32] = dsx[p][K / 16] = -7.0f;
        lm_qrow r = {q[p], d[p], dsx[p]};
        lm_quantize_row(x, K, &r);
    }
    lm_isa_set(best);
    cr_assert_eq(memcmp(q[0], q[1], (size_t)K), 0, "K %d", K);
    cr_assert_eq(memcmp(d[0], d[1], (size_t)K / 32 * sizeof(float)), 0, "K %d", K);
    cr_assert_eq(memcmp(dsx[0], dsx[1], (size_t)K / 16 * sizeof(float)), 0, "K %d", K);
    cr_assert(q[1][K] == 99 && d[1][K / 32] == -7.0f && dsx[1][K / 16] == -7.0f,
              "wrote past a row of %d", K);
}

/* The AVX-512 activation quantizer writes the scalar one's bytes, zero,
 * huge, tiny and non-finite blocks included. */
Test(lm, quantize_paths_agree)
{
    enum { K = 32 * 8 };
    float x[K];
    unsigned seed = 3;
    for (int i = 0; i < K; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((int)(seed >> 8 & 0xffff) - 32768) / 1000.0f;
    }
    for (int i = 32; i < 64; i++)
        x[i] = 0;
    x[64] = 1e30f;
    x[100] = 1e-30f;
    x[130] = INFINITY;
    x[170] = NAN;
    x[200] = 2.5f * (127.0f / 127.0f); /* halves round to even */
    check_quantize_paths(x, K);
}

/* Rows of every length up to two groups of 16 blocks and a partial one
 * (the AVX-512 form quantizes 16 blocks at a time: every tail, of 1 to 15
 * blocks, and its masked stores), special values in each group, and a block
 * whose only value is subnormal (127 over it is infinite). */
Test(lm, quantize_paths_agree_past_16_blocks)
{
    enum { K = 32 * QUANT_MAX_BLOCKS };
    float x[K];
    unsigned seed = 5;
    for (int i = 0; i < K; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((int)(seed >> 8 & 0xffff) - 32768) / (float)(1 + i % 1000);
    }
    for (int i = 32 * 17; i < 32 * 19; i++)
        x[i] = 0;
    x[32 * 18 + 7] = 1e-45f;
    x[32 * 3 + 5] = NAN;
    x[32 * 20 + 31] = INFINITY;
    x[32 * 36 + 1] = -1e30f;
    for (int blocks = 1; blocks <= QUANT_MAX_BLOCKS; blocks++)
        check_quantize_paths(x, 32 * blocks);
}
