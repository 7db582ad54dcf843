/* test_bert.c - the BERT forward pass: fast path against the scalar reference,
 * int8 against FP32, the kernels against naive loops, and golden outputs from
 * the independent PyTorch reference (tests/fixtures/bert-tiny-*).
 */
#include <criterion/criterion.h>

#include "common/common.h"
#include "embed/bert_impl.h"
#include "embed/embed.h"
#include "embed/kernels.h"
#include "support/bertgen.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A padded batch: 4 sequences of 13 slots with 13, 5, 1 and 9 real tokens. */
enum { BATCH = 4, SEQ = 13 };
static const int batch_lens[BATCH] = {13, 5, 1, 9};

static void batch_ids(int32_t *ids)
{
    for (int b = 0; b < BATCH; b++)
        for (int t = 0; t < SEQ; t++)
            ids[b * SEQ + t] = t < batch_lens[b] ? (b * 7 + t * 3 + 1) % 50 : 0;
}

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(a[i]) && isfinite(b[i]), "non-finite value at %zu", i);
        float d = fabsf(a[i] - b[i]);
        m = d > m ? d : m;
    }
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

static void fini_isa(void)
{
    bert_isa_set(bert_isa_detect());
}

TestSuite(bert, .fini = fini_isa);

/* Fast path (at the given ISA level) against the reference on one model. */
static void check_fast_vs_reference(int hidden, int layers, int heads, int inter,
                                    bert_pooling pool, int isa)
{
    bertgen_model *m = bertgen_new(50, 32, hidden, layers, heads, inter, pool, 42 + (uint64_t)hidden);
    int32_t ids[BATCH * SEQ];
    batch_ids(ids);
    size_t nh = (size_t)BATCH * SEQ * hidden;
    float *h_ref = dq_malloc(nh * sizeof(float)), *h_fast = dq_malloc(nh * sizeof(float));
    float *p_ref = dq_malloc((size_t)BATCH * hidden * sizeof(float));
    float *p_fast = dq_malloc((size_t)BATCH * hidden * sizeof(float));
    cr_assert_eq(bert_forward(&m->cfg, &m->w, NULL, ids, batch_lens, BATCH, SEQ, h_ref, p_ref,
                              true),
                 0, "%s", dq_last_error());
    bert_isa_set(isa);
    bert_run *run = bert_run_new(&m->cfg, 6, 16, 2, NULL);
    cr_assert_not_null(run, "%s", dq_last_error());
    cr_assert_eq(bert_forward(&m->cfg, &m->w, run, ids, batch_lens, BATCH, SEQ, h_fast, p_fast,
                              false),
                 0, "%s", dq_last_error());
    float dh = max_abs_diff(h_ref, h_fast, nh);
    float dp = max_abs_diff(p_ref, p_fast, (size_t)BATCH * hidden);
    cr_assert_lt(dh, 1e-4f, "hidden differs by %g (isa %d)", dh, isa);
    cr_assert_lt(dp, 1e-4f, "pooled differs by %g (isa %d)", dp, isa);
    /* the pooled vector really is what the pooling mode says */
    for (int b = 0; b < BATCH; b++) {
        const float *pb = p_ref + (size_t)b * hidden;
        if (pool == BERT_POOL_CLS) {
            double n = 0;
            for (int i = 0; i < hidden; i++)
                n += (double)pb[i] * pb[i];
            cr_assert_float_eq(n, 1.0, 1e-5);
            cr_assert_gt(cosine(pb, h_ref + (size_t)b * SEQ * hidden, hidden), 0.99999);
        } else {
            for (int i = 0; i < hidden; i += 7) {
                double s = 0;
                for (int t = 0; t < batch_lens[b]; t++)
                    s += h_ref[((size_t)b * SEQ + t) * hidden + i];
                cr_assert_float_eq(pb[i], s / batch_lens[b], 1e-5);
            }
        }
    }
    /* a second run on the same scratch gives the same answer */
    cr_assert_eq(bert_forward(&m->cfg, &m->w, run, ids, batch_lens, BATCH, SEQ, h_fast, p_fast,
                              false),
                 0);
    cr_assert_lt(max_abs_diff(p_ref, p_fast, (size_t)BATCH * hidden), 1e-4f);
    bert_run_free(run);
    free(h_ref);
    free(h_fast);
    free(p_ref);
    free(p_fast);
    bertgen_free(m);
}

Test(bert, fast_matches_reference_cls)
{
    check_fast_vs_reference(64, 2, 4, 128, BERT_POOL_CLS, bert_isa_detect());
}

Test(bert, fast_matches_reference_mean)
{
    check_fast_vs_reference(64, 2, 4, 128, BERT_POOL_MEAN, bert_isa_detect());
}

Test(bert, fast_matches_reference_odd_shape)
{
    /* hidden 40 (vector tails), head size 8, intermediate 72 */
    check_fast_vs_reference(40, 2, 5, 72, BERT_POOL_MEAN, bert_isa_detect());
    check_fast_vs_reference(40, 1, 5, 72, BERT_POOL_CLS, bert_isa_detect());
}

Test(bert, scalar_kernels_match_reference)
{
    check_fast_vs_reference(64, 2, 4, 128, BERT_POOL_MEAN, BERT_ISA_SCALAR);
    check_fast_vs_reference(40, 1, 5, 72, BERT_POOL_CLS, BERT_ISA_SCALAR);
}

/* Batches past the short-input threshold (64 rows) go through the packed-W
 * SGEMM with fused epilogues, the path a real ingest takes: 9 x 30 = 270
 * rows, ragged lengths, weights packed as the loader packs them. */
static void check_packed_large_batch(bert_pooling pool, int isa)
{
    enum { B = 9, S = 30 };
    bertgen_model *m = bertgen_new(50, 32, 96, 2, 4, 200, pool, 7);
    bert_pack_weights(&m->cfg, &m->w);
    int32_t ids[B * S];
    int lens[B];
    for (int b = 0; b < B; b++) {
        lens[b] = b == 0 ? S : 1 + (b * 11) % S;
        for (int t = 0; t < S; t++)
            ids[b * S + t] = t < lens[b] ? (b * 13 + t * 7 + 3) % 50 : 0;
    }
    size_t nh = (size_t)B * S * 96;
    float *h_ref = dq_malloc(nh * sizeof(float)), *h_fast = dq_malloc(nh * sizeof(float));
    float *p_ref = dq_malloc((size_t)B * 96 * sizeof(float));
    float *p_fast = dq_malloc((size_t)B * 96 * sizeof(float));
    cr_assert_eq(bert_forward(&m->cfg, &m->w, NULL, ids, lens, B, S, h_ref, p_ref, true), 0);
    bert_isa_set(isa);
    bert_run *run = bert_run_new(&m->cfg, B, S, 2, NULL);
    cr_assert_not_null(run, "%s", dq_last_error());
    cr_assert_eq(bert_forward(&m->cfg, &m->w, run, ids, lens, B, S, h_fast, p_fast, false), 0,
                 "%s", dq_last_error());
    float dh = 0;
    for (int b = 0; b < B; b++) /* padding rows are nobody's output */
        for (int t = 0; t < lens[b]; t++) {
            size_t off = ((size_t)b * S + t) * 96;
            float d = max_abs_diff(h_ref + off, h_fast + off, 96);
            dh = d > dh ? d : dh;
        }
    cr_assert_lt(dh, 1e-4f, "hidden differs by %g (isa %d)", dh, isa);
    float dp = max_abs_diff(p_ref, p_fast, (size_t)B * 96);
    cr_assert_lt(dp, 1e-4f, "pooled differs by %g (isa %d)", dp, isa);
    bert_run_free(run);
    bert_weights_free_pack(&m->cfg, &m->w);
    free(h_ref);
    free(h_fast);
    free(p_ref);
    free(p_fast);
    bertgen_free(m);
}

Test(bert, packed_large_batch_matches_reference)
{
    check_packed_large_batch(BERT_POOL_MEAN, bert_isa_detect());
    check_packed_large_batch(BERT_POOL_CLS, bert_isa_detect());
    check_packed_large_batch(BERT_POOL_MEAN, BERT_ISA_SCALAR);
}

static void check_int8(int isa)
{
    bertgen_model *m = bertgen_new(50, 32, 64, 2, 4, 128, BERT_POOL_MEAN, 7);
    int32_t ids[BATCH * SEQ];
    batch_ids(ids);
    float p_ref[BATCH * 64], p_q[BATCH * 64];
    cr_assert_eq(bert_forward(&m->cfg, &m->w, NULL, ids, batch_lens, BATCH, SEQ, NULL, p_ref,
                              true),
                 0);
    cr_assert_eq(bert_quantize(&m->cfg, &m->w), 0, "%s", dq_last_error());
    cr_assert_not_null(m->w.layers[1].ff_out.q);
    bert_isa_set(isa);
    bert_run *run = bert_run_new(&m->cfg, BATCH, SEQ, 2, NULL);
    cr_assert_eq(bert_forward(&m->cfg, &m->w, run, ids, batch_lens, BATCH, SEQ, NULL, p_q,
                              false),
                 0, "%s", dq_last_error());
    float d = 0;
    for (int b = 0; b < BATCH; b++) {
        double c = cosine(p_ref + b * 64, p_q + b * 64, 64);
        cr_assert_gt(c, 0.999, "sequence %d: cosine %f (isa %d)", b, c, isa);
        d += fabsf(p_ref[b * 64] - p_q[b * 64]);
    }
    cr_assert_gt(d, 0.0f, "int8 should not be bit-identical to FP32: was q used?");
    bert_run_free(run);
    bertgen_free(m);
}

Test(bert, int8_close_to_fp32)
{
    check_int8(bert_isa_detect());
}

Test(bert, int8_plain_close_to_fp32)
{
    check_int8(BERT_ISA_SCALAR);
}

/* 255 * 127 per input summed in int32 wraps past 66311 inputs: such a layer
 * (intermediate_size 66312 here) must be refused, and what was already
 * quantised released, rather than computing wrapped sums. */
Test(bert, quantize_refuses_overflowing_width)
{
    bertgen_model *m = bertgen_new(50, 32, 4, 2, 1, 66312, BERT_POOL_CLS, 9);
    cr_assert_eq(bert_quantize(&m->cfg, &m->w), -1);
    cr_assert(strstr(dq_last_error(), "cannot quantise layer 0 'ff_out': 66312 inputs would "
                                      "overflow"),
              "%s", dq_last_error());
    cr_assert_null(m->w.layers[0].q.q);
    cr_assert_null(m->w.layers[0].ff_in.q_pack);
    bertgen_free(m);
}

Test(bert, quantize_per_channel)
{
    bertgen_model *m = bertgen_new(50, 32, 16, 1, 2, 32, BERT_POOL_CLS, 3);
    cr_assert_eq(bert_quantize(&m->cfg, &m->w), 0);
    const bert_linear *l = &m->w.layers[0].ff_in;
    for (int n = 0; n < l->n_out; n++) {
        float amax = 0;
        int32_t sum = 0, qmax = 0;
        for (int k = 0; k < l->n_in; k++) {
            float a = fabsf(l->w[n * l->n_in + k]);
            amax = a > amax ? a : amax;
            int q = l->q[n * l->n_in + k];
            sum += q;
            qmax = abs(q) > qmax ? abs(q) : qmax;
            cr_assert_leq(fabsf(q * l->q_scale[n] - l->w[n * l->n_in + k]),
                          l->q_scale[n] * 0.5f + 1e-7f);
        }
        cr_assert_float_eq(l->q_scale[n], amax / 127, 1e-9);
        cr_assert_eq(qmax, 127);
        cr_assert_eq(sum, l->q_colsum[n]);
    }
    bertgen_free(m);
}

Test(bert, rejects_bad_inputs)
{
    bertgen_model *m = bertgen_new(50, 32, 16, 1, 2, 32, BERT_POOL_CLS, 5);
    bert_run *run = bert_run_new(&m->cfg, 2, 8, 2, NULL);
    int32_t ids[3 * 9] = {0};
    int lens[3] = {3, 3, 3};
    float pooled[3 * 16];
    cr_assert_eq(bert_forward(&m->cfg, &m->w, run, ids, lens, 3, 8, NULL, pooled, false), -1);
    cr_assert(strstr(dq_last_error(), "capacity"), "%s", dq_last_error());
    cr_assert_eq(bert_forward(&m->cfg, &m->w, run, ids, lens, 1, 9, NULL, pooled, false), -1);
    ids[1] = 50;
    cr_assert_eq(bert_forward(&m->cfg, &m->w, run, ids, lens, 1, 8, NULL, pooled, false), -1);
    cr_assert(strstr(dq_last_error(), "vocabulary"), "%s", dq_last_error());
    ids[1] = 49;
    lens[0] = 0;
    cr_assert_eq(bert_forward(&m->cfg, &m->w, run, ids, lens, 1, 8, NULL, pooled, false), -1);
    lens[0] = 3;
    cr_assert_eq(bert_forward(&m->cfg, &m->w, run, ids, lens, 2, 8, NULL, pooled, false), 0);
    cr_assert_eq(bert_forward(&m->cfg, &m->w, NULL, ids, lens, 2, 8, NULL, pooled, false), -1);
    bert_run_free(run);
    bert_run_free(NULL);
    bertgen_free(m);
}

/* A config.json claiming 2^20 positions (backed by a 4 MB position table
 * when hidden is 1) must be refused with a message, not abort in dq_malloc
 * asking for terabytes of attention scores. */
Test(bert, run_refuses_absurd_scratch)
{
    bert_config cfg = {0};
    cfg.hidden = 1;
    cfg.n_heads = 1;
    cfg.n_layers = 1;
    cfg.intermediate = 1;
    cfg.max_pos = 1 << 20;
    cfg.vocab_size = 8;
    bert_run *run = bert_run_new(&cfg, 32, 1 << 20, 2, NULL);
    cr_assert_null(run);
    cr_assert(strstr(dq_last_error(), "scratch for batch 32 x length 1048576 needs"), "%s",
              dq_last_error());
    cfg.hidden = 0;
    cr_assert_null(bert_run_new(&cfg, 1, 8, 1, NULL));
    cr_assert(strstr(dq_last_error(), "bad shape (hidden 0"), "%s", dq_last_error());
    /* a sane size still works */
    cfg.hidden = 16;
    cfg.n_heads = 2;
    cfg.intermediate = 32;
    run = bert_run_new(&cfg, 4, 64, 1, NULL);
    cr_assert_not_null(run, "%s", dq_last_error());
    bert_run_free(run);
}

/* ---- kernels alone -------------------------------------------------------- */

/* M, N, K: not multiples of the 12 x 32 tiles, 256-deep K blocks or the
 * 1024-wide W panels; small M splits columns across threads, large M rows */
static const int shapes[][3] = {{1, 1, 1},    {17, 33, 65},  {3, 100, 7},    {70, 20, 64},
                                {130, 47, 33}, {200, 1100, 300}, {25, 64, 600}};

Test(bert, gemm_f32_matches_naive)
{
    bert_pool *pool = bert_pool_new(2);
    bertgen_seed(11);
    /* our AVX-512 kernel, then OpenBLAS (what CPUs without AVX-512 get) */
    const int isas[2] = {bert_isa_detect(), BERT_ISA_SCALAR};
    for (int ii = 0; ii < 2; ii++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int epi = GEMM_PLAIN; epi <= GEMM_BIAS_GELU; epi++) {
            int isa = isas[ii];
            bert_isa_set(isa);
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], lda = K + 3, ldc = N + 5;
            float *A = bertgen_rand_array((size_t)M * lda, -1, 1), *W = bertgen_rand_array((size_t)N * K, -1, 1);
            float *bias = bertgen_rand_array((size_t)N, -1, 1);
            float *C = bertgen_rand_array((size_t)M * ldc, -1, 1), *R = dq_malloc((size_t)M * ldc * 4);
            memcpy(R, C, (size_t)M * ldc * 4);
            gemm_f32(pool, M, N, K, A, lda, W, bias, C, ldc, (gemm_epilogue)epi);
            gemm_f32_naive(M, N, K, A, lda, W, bias, R, ldc, (gemm_epilogue)epi);
            /* the padding between rows (ldc > N) is left alone */
            float d = max_abs_diff(C, R, (size_t)M * ldc);
            cr_assert_lt(d, 1e-4f * sqrtf((float)K), "%dx%dx%d epi %d isa %d: %g", M, N, K, epi,
                         isa, d);
            free(A);
            free(W);
            free(bias);
            free(C);
            free(R);
        }
    bert_pool_free(pool);
}

static void check_gemm_q8(int isa)
{
    bert_pool *pool = bert_pool_new(2);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], lda = K + 1, ldc = N + 2;
        /* bert_quantize works on whole models: a one-layer model whose
         * linear layers are all this shape's W */
        bert_config cfg = {.n_layers = 1};
        bert_layer layer = {0};
        bert_weights w = {.layers = &layer};
        bertgen_seed(100 + (uint64_t)s);
        float *W = bertgen_rand_array((size_t)N * K, -1, 1), *bias = bertgen_rand_array((size_t)N, -1, 1);
        bert_linear l = {.w = W, .b = bias, .n_out = N, .n_in = K};
        layer.q = layer.k = layer.v = layer.o = layer.ff_in = layer.ff_out = l;
        cr_assert_eq(bert_quantize(&cfg, &w), 0, "%s", dq_last_error());
        float *A = bertgen_rand_array((size_t)M * lda, -2, 2);
        uint8_t *aq = dq_malloc((size_t)M * q8_stride(K));
        float *ascale = dq_malloc((size_t)M * sizeof(float));
        float *C = dq_calloc((size_t)M * ldc, sizeof(float));
        float *R = dq_calloc((size_t)M * ldc, sizeof(float));
        float *F = dq_calloc((size_t)M * ldc, sizeof(float));
        for (int epi = GEMM_PLAIN; epi <= GEMM_BIAS_GELU; epi++) {
            bert_isa_set(isa);
            gemm_q8(pool, M, A, lda, &layer.v, aq, ascale, C, ldc, (gemm_epilogue)epi);
            gemm_q8_naive(M, A, lda, &layer.v, R, ldc, (gemm_epilogue)epi);
            gemm_f32_naive(M, N, K, A, lda, W, bias, F, ldc, (gemm_epilogue)epi);
            for (int i = 0; i < M; i++)
                for (int n = 0; n < N; n++) {
                    float c = C[i * ldc + n], r = R[i * ldc + n], f = F[i * ldc + n];
                    cr_assert_float_eq(c, r, 1e-4f * (1 + fabsf(r)), "%dx%dx%d (%d,%d) isa %d",
                                       M, N, K, i, n, isa);
                    /* and int8 really approximates the FP32 product */
                    cr_assert_float_eq(c, f, 0.02f * sqrtf((float)K) + 0.02f * fabsf(f),
                                       "%dx%dx%d (%d,%d): %g vs %g", M, N, K, i, n, c, f);
                }
        }
        bert_weights_free_quant(&cfg, &w);
        cr_assert_null(layer.q.q);
        free(W);
        free(bias);
        free(A);
        free(aq);
        free(ascale);
        free(C);
        free(R);
        free(F);
    }
    bert_pool_free(pool);
}

Test(bert, gemm_q8_matches_naive)
{
    check_gemm_q8(bert_isa_detect());
}

Test(bert, gemm_q8_plain_matches_naive)
{
    check_gemm_q8(BERT_ISA_SCALAR);
}

Test(bert, vector_kernels)
{
    for (int isa = BERT_ISA_SCALAR; isa <= bert_isa_detect(); isa++) {
        bert_isa_set(isa);
        float x[203];
        for (int i = 0; i < 203; i++)
            x[i] = -12.0f + 24.0f * i / 202;
        float g[203];
        memcpy(g, x, sizeof x);
        vec_gelu(g, 203);
        for (int i = 0; i < 203; i++) {
            double want = 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0)));
            cr_assert_float_eq(g[i], want, 2e-6, "gelu(%g) = %g, want %g (isa %d)", x[i], g[i],
                               want, isa);
        }
        /* SwiGLU, out to gates whose e^-g overflows a float */
        float gate[203], up[203];
        for (int i = 0; i < 203; i++) {
            gate[i] = -100.0f + 200.0f * i / 202;
            up[i] = 0.5f + (float)(i % 7) / 4;
        }
        float gate0[203];
        memcpy(gate0, gate, sizeof gate);
        vec_swiglu(gate, up, 203);
        for (int i = 0; i < 203; i++) {
            double want = gate0[i] / (1 + exp(-(double)gate0[i])) * up[i];
            cr_assert(fabs(gate[i] - want) <= 1e-6 * fabs(want) + 1e-30,
                      "swiglu(%g, %g) = %g, want %g (isa %d)", gate0[i], up[i], gate[i], want, isa);
        }
        float s[37];
        double sum = 0;
        for (int i = 0; i < 37; i++) {
            s[i] = (float)i / 3 - 80.0f * (i == 5);
            sum += exp(s[i] - 12.0);
        }
        float s0[37];
        memcpy(s0, s, sizeof s);
        vec_softmax(s, 37, 1.0f);
        for (int i = 0; i < 37; i++)
            cr_assert_float_eq(s[i], exp(s0[i] - 12.0) / sum, 1e-6);
        /* scaled: softmax(x / 4) */
        memcpy(s, s0, sizeof s);
        vec_softmax(s, 37, 0.25f);
        double sum4 = 0;
        for (int i = 0; i < 37; i++)
            sum4 += exp((s0[i] - 12.0) / 4);
        for (int i = 0; i < 37; i++)
            cr_assert_float_eq(s[i], exp((s0[i] - 12.0) / 4) / sum4, 1e-6);
        float ln[37], gamma[37], beta[37], res[37];
        for (int i = 0; i < 37; i++) {
            ln[i] = (float)(i % 5) + 3;
            res[i] = 1;
            gamma[i] = 2;
            beta[i] = 0.5f;
        }
        vec_layernorm(ln, res, gamma, beta, 37, 1e-12f);
        double mean = 0, var = 0;
        for (int i = 0; i < 37; i++)
            mean += ln[i];
        mean /= 37;
        for (int i = 0; i < 37; i++)
            var += (ln[i] - mean) * (ln[i] - mean);
        cr_assert_float_eq(mean, 0.5, 1e-5);
        cr_assert_float_eq(var / 37, 4.0, 1e-4);
        /* RMSNorm over a length that leaves a tail, in place */
        float rn[37], rw[37];
        double ss = 0;
        for (int i = 0; i < 37; i++) {
            rn[i] = (float)(i % 9) - 3.5f;
            rw[i] = 0.25f + (float)i / 8;
            ss += (double)rn[i] * rn[i];
        }
        float rn0[37];
        memcpy(rn0, rn, sizeof rn);
        vec_rmsnorm(rn, rw, 37, 1e-6f, rn);
        for (int i = 0; i < 37; i++) {
            double want = rn0[i] / sqrt(ss / 37 + 1e-6) * rw[i];
            cr_assert_float_eq(rn[i], want, 1e-6, "rmsnorm[%d] = %g, want %g (isa %d)", i, rn[i],
                               want, isa);
        }
    }
}

/* vec_rope at every level gives the plain loop's bits, in both layouts,
 * with and without a partial vector at the end. */
Test(bert, rope_matches_the_plain_rotation)
{
    const int halves[] = {4, 8, 20, 32, 64};
    for (int isa = BERT_ISA_SCALAR; isa <= bert_isa_detect(); isa++) {
        bert_isa_set(isa);
        for (size_t hi = 0; hi < sizeof halves / sizeof halves[0]; hi++) {
            for (int neox = 0; neox < 2; neox++) {
                int half = halves[hi];
                float v[129], v0[129], cs[64], sn[64];
                for (int i = 0; i < 2 * half; i++)
                    v[i] = v0[i] = 3.0f * sinf(1.7f * (float)i + (float)half);
                for (int i = 0; i < half; i++) {
                    cs[i] = cosf(0.3f * (float)i + 1.0f);
                    sn[i] = sinf(0.3f * (float)i + 1.0f);
                }
                v[2 * half] = 42.0f;
                vec_rope(v, cs, sn, half, neox);
                cr_assert_eq(v[2 * half], 42.0f, "rope wrote past its %d pairs", half);
                for (int i = 0; i < half; i++) {
                    int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
                    /* volatile: each product rounded, as the kernel's */
                    volatile float ac = v0[i0] * cs[i], bs = v0[i1] * sn[i];
                    volatile float as = v0[i0] * sn[i], bc = v0[i1] * cs[i];
                    cr_assert_eq(v[i0], ac - bs, "pair %d of %d (neox %d, isa %d)", i, half, neox,
                                 isa);
                    cr_assert_eq(v[i1], as + bc, "pair %d of %d (neox %d, isa %d)", i, half, neox,
                                 isa);
                }
            }
        }
    }
    bert_isa_set(bert_isa_detect());
}

static void count_task(void *ctx, int task, int thread)
{
    int *hits = ctx;
    cr_assert(thread >= 0 && thread < 3);
    __atomic_fetch_add(&hits[task], 1, __ATOMIC_RELAXED);
}

static void mark_task(void *ctx, int task, int thread)
{
    (void)thread;
    __atomic_fetch_add((unsigned char *)ctx + task, 1, __ATOMIC_RELAXED);
}

Test(bert, pool_runs_every_task_once)
{
    bert_pool *p = bert_pool_new(3);
    cr_assert_eq(bert_pool_size(p), 3);
    int hits[100];
    for (int round = 0; round < 50; round++) {
        memset(hits, 0, sizeof hits);
        int n = 1 + round * 2;
        bert_pool_run(p, count_task, hits, n);
        for (int i = 0; i < n; i++)
            cr_assert_eq(hits[i], 1, "round %d task %d ran %d times", round, i, hits[i]);
    }
    /* more tasks than the pool's ticket counts (2^20 - 1): run as several
     * jobs, each task still once */
    int big = (1 << 20) + 3;
    unsigned char *once = dq_calloc((size_t)big, 1);
    bert_pool_run(p, mark_task, once, big);
    for (int i = 0; i < big; i++)
        cr_assert_eq(once[i], 1, "task %d of %d ran %d times", i, big, once[i]);
    free(once);
    bert_pool_free(p);
    bert_pool_free(NULL);
}

/* ---- golden outputs from scripts/bert_reference.py ------------------------ */

static cJSON *load_golden(const char *dir)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/golden.json", dir);
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &b), 0, "%s", dq_last_error());
    cJSON *j = cJSON_Parse(b.data);
    dq_buf_free(&b);
    cr_assert_not_null(j, "cannot parse %s", path);
    return j;
}

static void json_floats(const cJSON *arr, float *out, int n)
{
    cr_assert_eq(cJSON_GetArraySize(arr), n);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) out[i++] = (float)v->valuedouble;
}

static void check_golden(const char *name, bool int8)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/%s", DQ_SOURCE_DIR, name);
    struct stat st;
    if (stat(dir, &st) != 0)
        cr_skip_test("fixture %s is missing (made by scripts/make_test_model.py)", dir);
    cJSON *g = load_golden(dir);
    bert_params params = bert_default_params();
    params.n_threads = 2;
    params.max_batch = 4; /* several batches in bert_forward_ids and bert_encode */
    params.int8 = int8;
    bert_model *m = bert_load(dir, &params);
    cr_assert_not_null(m, "%s", dq_last_error());
    int H = bert_dim(m);
    const cJSON *seqs = cJSON_GetObjectItem(g, "sequences");
    int n = cJSON_GetArraySize(seqs), seq = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, seqs) seq = cJSON_GetArraySize(s) > seq ? cJSON_GetArraySize(s) : seq;
    int32_t *ids = dq_calloc((size_t)n * seq, sizeof *ids);
    int *lens = dq_calloc((size_t)n, sizeof *lens);
    int b = 0;
    cJSON_ArrayForEach(s, seqs)
    {
        const cJSON *id;
        cJSON_ArrayForEach(id, s) ids[(size_t)b * seq + lens[b]++] = id->valueint;
        b++;
    }
    float *hidden = dq_malloc((size_t)n * seq * H * sizeof(float));
    float *pooled = dq_malloc((size_t)n * H * sizeof(float));
    float *want = dq_malloc((size_t)seq * H * sizeof(float));
    cr_assert_eq(bert_forward_ids(m, ids, lens, n, seq, hidden, pooled), 0, "%s",
                 dq_last_error());
    const cJSON *gh = cJSON_GetObjectItem(g, "hidden"), *gp = cJSON_GetObjectItem(g, "pooled");
    for (b = 0; b < n; b++) {
        json_floats(cJSON_GetArrayItem(gp, b), want, H);
        if (int8) {
            double c = cosine(pooled + (size_t)b * H, want, H);
            cr_assert_gt(c, 0.999, "%s int8 sequence %d: cosine %f", name, b, c);
            continue;
        }
        float d = max_abs_diff(pooled + (size_t)b * H, want, (size_t)H);
        cr_assert_lt(d, 1e-4f, "%s sequence %d: pooled differs by %g", name, b, d);
        const cJSON *rows = cJSON_GetArrayItem(gh, b);
        cr_assert_eq(cJSON_GetArraySize(rows), lens[b]);
        for (int t = 0; t < lens[b]; t++)
            json_floats(cJSON_GetArrayItem(rows, t), want + (size_t)t * H, H);
        d = max_abs_diff(hidden + (size_t)b * seq * H, want, (size_t)lens[b] * H);
        cr_assert_lt(d, 1e-4f, "%s sequence %d (length %d): hidden differs by %g", name, b,
                     lens[b], d);
    }

    const cJSON *texts = cJSON_GetObjectItem(g, "texts");
    const cJSON *tp = cJSON_GetObjectItem(g, "text_pooled");
    int nt = cJSON_GetArraySize(texts);
    const char **tv = dq_calloc((size_t)nt, sizeof *tv);
    for (int i = 0; i < nt; i++)
        tv[i] = cJSON_GetArrayItem(texts, i)->valuestring;
    float *enc = dq_malloc((size_t)nt * H * sizeof(float));
    cr_assert_eq(bert_encode(m, tv, (size_t)nt, enc), 0, "%s", dq_last_error());
    bool saw_long = false;
    for (int i = 0; i < nt; i++) {
        json_floats(cJSON_GetArrayItem(tp, i), want, H);
        if (strlen(tv[i]) > 100)
            saw_long = true;
        if (int8) {
            cr_assert_gt(cosine(enc + (size_t)i * H, want, H), 0.999, "%s int8 text %d", name, i);
            continue;
        }
        float d = max_abs_diff(enc + (size_t)i * H, want, (size_t)H);
        cr_assert_lt(d, 1e-4f, "%s text %d ('%.30s'): differs by %g", name, i, tv[i], d);
    }
    cr_assert(saw_long, "the golden texts should include one past the length cap");
    free(tv);
    free(enc);
    free(ids);
    free(lens);
    free(hidden);
    free(pooled);
    free(want);
    bert_free(m);
    cJSON_Delete(g);
}

Test(bert, golden_xlm_roberta)
{
    /* positions from 2, one token type, SentencePiece texts, 'roberta.' names */
    check_golden("xlmr-tiny-cls", false);
}

Test(bert, golden_cls)
{
    check_golden("bert-tiny-cls", false);
}

Test(bert, golden_mean_f16)
{
    check_golden("bert-tiny-mean", false);
}

Test(bert, golden_bf16)
{
    check_golden("bert-tiny-bf16", false);
}

Test(bert, golden_int8)
{
    check_golden("bert-tiny-cls", true);
    check_golden("bert-tiny-mean", true);
}
