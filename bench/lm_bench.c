/* lm_bench.c - the LLM engine's decode and prefill speed, and the two bounds
 * they are measured against: this machine's read bandwidth and int8 peak.
 *
 * lm_bench --bandwidth THREADS
 *     Read bandwidth: THREADS threads each sum their share of a 1 GiB buffer
 *     (in 2 MB pages where the kernel gives them) with AVX2 loads (8
 *     independent accumulators); best of 5 passes, in GB/s.
 * lm_bench --peak THREADS
 *     int8 peak: every thread runs 12 independent chains of AVX-512 VNNI
 *     vpdpbusd on zmm registers (64 multiply-adds each); GMAC/s, per wall
 *     second and per CPU second (the second is what a loaded machine leaves
 *     comparable).
 * lm_bench --epilogue
 *     The packed product's arithmetic bound: one thread, 12 vpdpbusd chains
 *     and, per block of each, the float work of each weight type (registers
 *     only); GMAC/s per CPU second and the share of the chains alone.
 * lm_bench --kernel THREADS [TYPE [TOKENS [ROWS]]]
 *     The quantized product alone: a ROWS x 1024 matrix (default 512 rows,
 *     cache-resident; 65536 rows of Q8_0 are 71 MB, read from memory) of
 *     TYPE (default Q8_0) times TOKENS tokens (default 64; 1 is decode's
 *     matrix-vector product), 2560 x 512 / (TOKENS x ROWS) times (at least
 *     4): GMAC/s per wall and CPU second, and of the fastest product (on a
 *     shared machine the steadiest figure); then the same as GB of weights
 *     per second (the fastest product) and per CPU second.
 * lm_bench --attention THREADS HEADS KV_HEADS HEAD_DIM [TOKENS [BATCH]]
 *     Attention alone (LM_KV=BF16 for the BF16 cache): the layers' work of
 *     a causal prefill of TOKENS tokens (default 2000) in micro-batches of
 *     about BATCH (default 512) over an F16 cache of random keys and values,
 *     best of 3; GMAC/s per wall and CPU second (QK^T's and PV's, as the
 *     model's count has them), beside one thread's float FMA peak (12 zmm
 *     vfmadd231ps chains), the bound of a kernel that multiplies in float.
 * lm_bench MODEL.gguf decode TOKENS THREADS
 *     A 16-token prompt, then TOKENS single-token steps (greedy): tokens/s
 *     (the mean; the median step, the typical one; the fastest, the
 *     statistic --bandwidth reports; the slowest), the bytes of weights one
 *     step reads (every matrix once, the embedding's row, and the embedding
 *     again when it is also the output head), and the CPU seconds of the
 *     leanest and the median step (all threads; on a loaded machine the
 *     steadiest figures for comparing two builds). LM_BENCH_STEPS=1 also
 *     prints each step's wall and CPU milliseconds, in order.
 * lm_bench MODEL.gguf prefill TOKENS THREADS    (LM_ISA=0|1|2|3 picks the kernels,
 *                                               LM_KV=BF16 the BF16 KV cache)
 *     One lm_eval of TOKENS tokens (logits of the last only): tokens/s, the
 *     multiply-adds per second (wall and CPU) of the matrix products in it,
 *     and of all the model's multiply-adds, attention's included (its share
 *     of them printed too).
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/common.h"
#include "embed/lm.h"
#include "embed/lm_impl.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of all the process's threads: on a shared machine, work per
 * CPU second is the figure the load does not change. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- bandwidth ------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n;
    long long sink;
} bw_arg;

__attribute__((target("avx2"))) static void *bw_thread(void *arg)
{
    bw_arg *a = arg;
    __m256i acc[8];
    for (int i = 0; i < 8; i++)
        acc[i] = _mm256_setzero_si256();
    for (size_t i = 0; i + 256 <= a->n; i += 256)
        for (int j = 0; j < 8; j++)
            acc[j] = _mm256_add_epi64(acc[j], _mm256_loadu_si256((const __m256i *)(a->p + i + 32 * j)));
    long long s = 0;
    for (int j = 0; j < 8; j++) {
        long long v[4];
        _mm256_storeu_si256((__m256i *)v, acc[j]);
        s += v[0] + v[1] + v[2] + v[3];
    }
    a->sink = s;
    return NULL;
}

static int run_bandwidth(int threads)
{
    size_t n = (size_t)1 << 30;
    /* in 2 MB pages, as the engine maps a model read cold: with 4 KB pages
     * the test read slower than decode then streams its weights */
    uint8_t *buf = aligned_alloc((size_t)2 << 20, n);
    if (!buf)
        abort();
#ifdef MADV_HUGEPAGE
    madvise(buf, n, MADV_HUGEPAGE);
#endif
    memset(buf, 1, n);
    double best = 0, best_cpu = 0;
    for (int pass = 0; pass < 5; pass++) {
        pthread_t tid[64];
        bw_arg args[64];
        double t0 = now(), c0 = cpu_now();
        for (int i = 0; i < threads; i++) {
            args[i] = (bw_arg){buf + n / threads * i, n / threads, 0};
            pthread_create(&tid[i], NULL, bw_thread, &args[i]);
        }
        for (int i = 0; i < threads; i++)
            pthread_join(tid[i], NULL);
        double gbs = (double)n / (now() - t0) / 1e9, gc = (double)n / (cpu_now() - c0) / 1e9;
        best = gbs > best ? gbs : best;
        best_cpu = gc > best_cpu ? gc : best_cpu;
    }
    free(buf);
    printf("bandwidth_gbs %.2f\n", best);
    printf("bandwidth_gbs_per_cpu_s %.2f\n", best_cpu);
    printf("bandwidth_how %d threads sum 1 GiB in 2 MB pages with AVX2 loads, best of 5\n", threads);
    return 0;
}

/* ---- int8 peak --------------------------------------------------------------------- */

enum { PEAK_ITERS = 20 * 1000 * 1000 };

__attribute__((target("avx512f,avx512vnni"))) static void *peak_thread(void *arg)
{
    __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(2);
    __m512i c[12];
    for (int i = 0; i < 12; i++)
        c[i] = _mm512_set1_epi32(i);
    for (long it = 0; it < PEAK_ITERS; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            c[i] = _mm512_dpbusd_epi32(c[i], a, b);
        __asm__ volatile("" : "+v"(a), "+v"(b));
    }
    __m512i s = c[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_epi32(s, c[i]);
    *(int *)arg = _mm512_reduce_add_epi32(s);
    return NULL;
}

/* ---- the block epilogue's bound ----------------------------------------------------- */

/* The packed product's arithmetic with no memory: 12 chains of `dp`
 * vpdpbusd, then for each chain the work that turns a block's int32 sums
 * into floats: a convert, then a multiply by the weights' scale and a
 * multiply-add with the activations' (EPI_EXACT), plus one more multiply-add
 * for a K-quant's mins (EPI_KQUANT), or, with power-of-two activation
 * scales, vscalefps in place of the multiply (EPI_POW2). On Zen 4 a
 * vpdpbusd and a float multiply or FMA do not issue in the same cycle, while
 * the convert and vscalefps do; this is the share of the int8 peak the
 * kernel can reach at best. */
enum { EPI_NONE, EPI_EXACT, EPI_KQUANT, EPI_POW2 };

__attribute__((target("avx512f,avx512vnni"))) static double epilogue_gdp(int dp, int kind)
{
    enum { ITERS = 2 * 1000 * 1000 };
    __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(2);
    __m512 w = _mm512_set1_ps(1e-9f), x = _mm512_set1_ps(1e-9f);
    __m512i s[12];
    __m512 acc[8];
    for (int i = 0; i < 12; i++)
        s[i] = _mm512_set1_epi32(i);
    for (int i = 0; i < 8; i++)
        acc[i] = _mm512_setzero_ps();
    double c0 = cpu_now();
    for (long it = 0; it < ITERS; it++) {
        for (int g = 0; g < dp; g++) {
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++)
                s[i] = _mm512_dpbusd_epi32(s[i], a, b);
        }
        if (kind != EPI_NONE) {
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++) {
                __m512 f = _mm512_cvtepi32_ps(s[i]);
                f = kind == EPI_POW2 ? _mm512_scalef_ps(f, w) : _mm512_mul_ps(f, w);
                acc[i % 8] = _mm512_fmadd_ps(f, x, acc[i % 8]);
                if (kind == EPI_KQUANT)
                    acc[i % 8] = _mm512_fmadd_ps(w, x, acc[i % 8]);
            }
        }
        __asm__ volatile("" : "+v"(a), "+v"(b), "+v"(w), "+v"(x));
    }
    double dt = cpu_now() - c0;
    /* the sums wrap around; they only have to look used */
    for (int i = 0; i < 12; i++)
        __asm__ volatile("" : : "v"(s[i]), "v"(acc[i % 8]));
    return (double)ITERS * 12 * dp / dt / 1e9;
}

static int run_epilogue(void)
{
    if (lm_isa_detect() < LM_ISA_VNNI) {
        printf("epilogue_how no AVX-512 VNNI on this CPU\n");
        return 0;
    }
    static const struct {
        const char *name;
        int dp, kind;
    } pat[] = {
        {"none", 8, EPI_NONE},      /* the chains alone: the peak */
        {"q8_0", 8, EPI_EXACT},     /* Q8_0, Q4_0: a block of 32 */
        {"q4_k", 8, EPI_KQUANT},    /* Q4_K, Q5_K: and the block's min */
        {"q6_k", 4, EPI_EXACT},     /* Q6_K: a scale per 16 */
        {"q8_0_pow2", 8, EPI_POW2}, /* power-of-two activation scales */
    };
    double none = 0;
    for (size_t i = 0; i < sizeof pat / sizeof *pat; i++) {
        double best = 0;
        for (int pass = 0; pass < 3; pass++) {
            double g = epilogue_gdp(pat[i].dp, pat[i].kind);
            best = g > best ? g : best;
        }
        if (i == 0)
            none = best;
        printf("epilogue_%s_gmacs %.1f (%.1f%% of the chains alone)\n", pat[i].name, 64 * best,
               100 * best / none);
    }
    printf("epilogue_how 1 thread, 12 chains of vpdpbusd and each chain's float work per block, "
           "registers only, per CPU second, best of 3\n");
    return 0;
}

static int run_peak(int threads)
{
    if (lm_isa_detect() < LM_ISA_VNNI) {
        printf("peak_gmacs 0\npeak_how no AVX-512 VNNI on this CPU\n");
        return 0;
    }
    double best = 0, best_cpu = 0;
    for (int pass = 0; pass < 3; pass++) {
        pthread_t tid[64];
        int sink[64];
        double t0 = now(), c0 = cpu_now();
        for (int i = 0; i < threads; i++)
            pthread_create(&tid[i], NULL, peak_thread, &sink[i]);
        for (int i = 0; i < threads; i++)
            pthread_join(tid[i], NULL);
        double macs = (double)threads * PEAK_ITERS * 12 * 64 / 1e9;
        double g = macs / (now() - t0), gc = macs / (cpu_now() - c0);
        best = g > best ? g : best;
        best_cpu = gc > best_cpu ? gc : best_cpu;
    }
    printf("peak_gmacs %.1f\n", best);
    printf("peak_gmacs_per_cpu_s %.1f\n", best_cpu);
    printf("peak_how %d threads x 12 independent zmm vpdpbusd chains (64 int8 MACs each), best "
           "of 3\n",
           threads);
    return 0;
}

/* ---- attention alone ------------------------------------------------------------- */

__attribute__((target("avx512f"))) static double fma_peak_per_cpu_s(void)
{
    enum { ITERS = 50 * 1000 * 1000 };
    __m512 c[12], m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        c[i] = _mm512_set1_ps((float)i);
    double c0 = cpu_now();
    for (long it = 0; it < ITERS; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            c[i] = _mm512_fmadd_ps(c[i], m, a);
        __asm__ volatile("" : "+v"(m), "+v"(a));
    }
    double dt = cpu_now() - c0;
    for (int i = 0; i < 12; i++)
        __asm__ volatile("" : : "v"(c[i]));
    return (double)ITERS * 12 * 16 / dt / 1e9;
}

static int run_attention(int threads, int n_head, int n_head_kv, int d, int n, int batch)
{
    if (n_head < 1 || n_head_kv < 1 || n_head % n_head_kv || d < 1 || n < 1 || batch < 1) {
        fprintf(stderr, "lm_bench: bad attention shape\n");
        return 2;
    }
    bool bf16 = getenv("LM_KV") && strcmp(getenv("LM_KV"), "BF16") == 0;
    int kv_dim = n_head_kv * d, q_dim = n_head * d, nbat = (n + batch - 1) / batch;
    size_t nkv = (size_t)n * kv_dim, nq = (size_t)n * q_dim;
    float *x = dq_malloc((nq > nkv ? nq : nkv) * sizeof(float));
    float *q = dq_malloc(nq * sizeof(float)), *out = dq_malloc(nq * sizeof(float));
    uint16_t *k = dq_malloc(nkv * sizeof(uint16_t)), *v = dq_malloc(nkv * sizeof(uint16_t));
    unsigned seed = 1;
    for (int pass = 0; pass < 3; pass++) {
        size_t len = pass == 0 ? nq : nkv;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            x[i] = (float)(seed >> 8) / (1u << 24) * 3.0f - 1.5f;
        }
        if (pass == 0)
            memcpy(q, x, nq * sizeof(float));
        else if (bf16)
            lm_bf16_store(x, pass == 1 ? k : v, (int)nkv);
        else
            lm_f16_store(x, pass == 1 ? k : v, (int)nkv);
    }
    free(x);
    bert_pool *pool = bert_pool_new(threads);
    float *scratch = dq_malloc((size_t)bert_pool_size(pool) * lm_attn_scratch_floats(n, d) *
                               sizeof(float));
    double macs = 0, best = 1e30, best_cpu = 1e30;
    for (int t = 0; t < n; t++)
        macs += 2.0 * (t + 1) * d * n_head;
    for (int pass = 0; pass < 3; pass++) {
        double t0 = now(), c0 = cpu_now();
        for (int b = 0; b < nbat; b++) {
            int b0 = (int)((long long)b * n / nbat), b1 = (int)((long long)(b + 1) * n / nbat);
            lm_attn_batch ab = {.k = k, .v = v, .kv = bf16 ? GGUF_TYPE_BF16 : GGUF_TYPE_F16,
                                .q = q + (size_t)b0 * q_dim, .out = out + (size_t)b0 * q_dim,
                                .m = b1 - b0, .p0 = b0, .n_ctx = n, .n_head = n_head,
                                .n_head_kv = n_head_kv, .head_dim = d, .kv_dim = kv_dim,
                                .scratch = scratch};
            lm_attention(pool, &ab);
        }
        double dt = now() - t0, dc = cpu_now() - c0;
        best = dt < best ? dt : best;
        best_cpu = dc < best_cpu ? dc : best_cpu;
    }
    printf("attention_ms %.2f\n", 1e3 * best);
    printf("attention_gmacs %.1f\n", macs / best / 1e9);
    printf("attention_gmacs_per_cpu_s %.1f\n", macs / best_cpu / 1e9);
    if (lm_isa_detect() >= LM_ISA_VNNI && !bf16) { /* vdpbf16ps is not bound by it */
        double peak = fma_peak_per_cpu_s();
        printf("fma_peak_gmacs_per_cpu_s %.1f\n", peak);
        printf("attention_fma_peak_share %.1f\n", 100 * macs / best_cpu / 1e9 / peak);
    }
    printf("attention_how %d threads, %d heads, %d KV heads, head_dim %d, %d tokens in %d "
           "micro-batches, %s cache, best of 3\n",
           threads, n_head, n_head_kv, d, n, nbat, bf16 ? "BF16" : "F16");
    free(scratch);
    bert_pool_free(pool);
    free(q);
    free(out);
    free(k);
    free(v);
    return 0;
}

/* ---- the product alone ------------------------------------------------------------ */

/* A (N, K) matrix of random codes of type `type` (scales 2^-10) times M
 * tokens: with the weights resident in cache, what the kernel does without
 * memory traffic; with more rows than the caches hold, what it gets through
 * from memory. */
static int run_kernel(int threads, const char *type_name, int M, int N)
{
    enum { K = 1024 };
    int reps = (int)(2560.0 * 512 / M / N) > 4 ? (int)(2560.0 * 512 / M / N) : 4;
    static const gguf_type types[] = {GGUF_TYPE_Q8_0, GGUF_TYPE_Q4_0, GGUF_TYPE_Q4_K,
                                      GGUF_TYPE_Q5_K, GGUF_TYPE_Q6_K};
    size_t ti = 0;
    while (ti < 5 && strcmp(gguf_type_name((int)types[ti]), type_name) != 0)
        ti++;
    if (ti == 5) {
        fprintf(stderr, "lm_bench: '%s' is not one of Q8_0 Q4_0 Q4_K Q5_K Q6_K\n", type_name);
        return 2;
    }
    gguf_type type = types[ti];
    size_t row_bytes = gguf_row_bytes((int)type, K);
    bool kquant = type != GGUF_TYPE_Q8_0 && type != GGUF_TYPE_Q4_0;
    size_t block = gguf_row_bytes((int)type, kquant ? 256 : 32);
    /* where each block keeps its binary16 scales */
    size_t s0 = type == GGUF_TYPE_Q6_K ? 208 : 0;
    size_t ns = kquant && type != GGUF_TYPE_Q6_K ? 2 : 1;
    uint8_t *w = dq_malloc((size_t)N * row_bytes);
    unsigned seed = 1;
    for (size_t i = 0; i < (size_t)N * row_bytes; i++) {
        seed = seed * 1103515245u + 12345u;
        w[i] = (uint8_t)(seed >> 16);
    }
    for (size_t b = 0; b < (size_t)N * row_bytes / block; b++)
        for (size_t s = 0; s < ns; s++) {
            w[b * block + s0 + 2 * s] = 0x00;
            w[b * block + s0 + 2 * s + 1] = 0x14; /* 2^-10 as a half */
        }
    lm_mat W = {type, K, N, row_bytes, w};
    float *X = dq_malloc((size_t)M * K * sizeof *X), *Y = dq_malloc((size_t)M * N * sizeof *Y);
    for (int i = 0; i < M * K; i++)
        X[i] = (float)(i % 97) - 48.0f;
    lm_qrow *xq = dq_malloc((size_t)M * sizeof *xq);
    int8_t *q = dq_malloc((size_t)M * K);
    float *d = dq_malloc((size_t)M * K / 32 * sizeof *d), *s = dq_malloc((size_t)M * K / 16 * sizeof *s);
    for (int r = 0; r < M; r++) {
        xq[r] = (lm_qrow){q + (size_t)r * K, d + (size_t)r * K / 32, s + (size_t)r * K / 16};
        lm_quantize_row(X + (size_t)r * K, K, &xq[r]);
    }
    bert_pool *p = bert_pool_new(threads);
    lm_matmul(p, &W, M, X, xq, Y);
    double t0 = now(), c0 = cpu_now();
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        double r0 = now();
        lm_matmul(p, &W, M, X, xq, Y);
        best = now() - r0 < best ? now() - r0 : best;
    }
    double wall = now() - t0, cpu = cpu_now() - c0;
    double macs = (double)reps * N * K * M / 1e9;
    /* the weights' bytes each product reads once: decode's figure */
    double gb = (double)reps * N * row_bytes / 1e9;
    printf("kernel_best_gmacs %.1f\n", macs / reps / best);
    printf("kernel_gmacs %.1f\n", macs / wall);
    printf("kernel_gmacs_per_cpu_s %.1f\n", macs / cpu);
    printf("kernel_best_gbs %.1f\n", gb / reps / best);
    printf("kernel_gbs_per_cpu_s %.1f\n", gb / cpu);
    bert_pool_free(p);
    free(w);
    free(X);
    free(Y);
    free(q);
    free(d);
    free(s);
    free(xq);
    return 0;
}

/* ---- the model ------------------------------------------------------------------- */

static uint64_t matrix_bytes(const lm_model *m, uint64_t *macs_per_token)
{
    const gguf_file *f = lm_model_gguf(m);
    uint64_t bytes = 0, macs = 0;
    for (size_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->n_dims == 2 && strcmp(t->name, "token_embd.weight") != 0) {
            bytes += t->n_bytes;
            if (strcmp(t->name, "output.weight") != 0)
                macs += t->n_elems;
        }
    }
    *macs_per_token = macs;
    return bytes;
}

/* Attention's multiply-adds in a causal prefill of n tokens from position 0:
 * token t's query meets t + 1 keys in every head of every layer, head_dim
 * each for the scores and again for the values (the accounting of PaLM's
 * model FLOPs utilization). */
static double attention_macs(const lm_hparams *hp, int n)
{
    double pairs = (double)n * (n + 1) / 2;
    return pairs * 2.0 * hp->head_dim * hp->n_head * hp->n_layer;
}

static int run_model(const char *path, const char *mode, int tokens, int threads)
{
    lm_load_params lp = lm_default_load_params();
    lp.n_threads = threads;
    lm_model *m = lm_load(path, &lp);
    if (!m) {
        fprintf(stderr, "lm_bench: %s\n", dq_last_error());
        return 1;
    }
    const lm_hparams *hp = lm_model_hparams(m);
    lm_ctx_params cp = lm_default_ctx_params();
    bool prefill = strcmp(mode, "prefill") == 0;
    cp.n_ctx = prefill ? tokens + 16 : tokens + 32;
    if (getenv("LM_KV") && strcmp(getenv("LM_KV"), "BF16") == 0)
        cp.kv_type = GGUF_TYPE_BF16;
    lm_ctx *c = lm_ctx_new(m, &cp);
    if (!c) {
        fprintf(stderr, "lm_bench: %s\n", dq_last_error());
        lm_free(m);
        return 1;
    }
    int32_t *toks = dq_malloc((size_t)(tokens + 16) * sizeof *toks);
    for (int i = 0; i < tokens + 16; i++)
        toks[i] = (int32_t)((i * 7919u + 13) % (unsigned)hp->n_vocab);
    uint64_t macs_tok;
    uint64_t bytes = matrix_bytes(m, &macs_tok);
    const gguf_tensor *emb = gguf_find_tensor(lm_model_gguf(m), "token_embd.weight");
    bytes += emb->n_bytes / (uint64_t)hp->n_vocab;
    if (hp->tied_output)
        bytes += emb->n_bytes;
    int rc = 0;
    if (prefill) {
        /* a short warm-up run pages the weights in */
        lm_eval(c, toks, 16, false);
        lm_ctx_truncate(c, 0);
        double t0 = now(), c0 = cpu_now();
        rc = lm_eval(c, toks, tokens, false);
        double dt = now() - t0, dc = cpu_now() - c0;
        double wm = (double)macs_tok * tokens, am = attention_macs(hp, tokens);
        printf("prefill_tokens_per_s %.1f\n", tokens / dt);
        printf("prefill_gmacs %.1f\n", wm / dt / 1e9);
        printf("prefill_gmacs_per_cpu_s %.1f\n", wm / dc / 1e9);
        printf("prefill_all_gmacs %.1f\n", (wm + am) / dt / 1e9);
        printf("prefill_all_gmacs_per_cpu_s %.1f\n", (wm + am) / dc / 1e9);
        printf("prefill_attention_share %.1f\n", 100 * am / (wm + am));
        printf("prefill_tokens_per_cpu_s %.2f\n", tokens / dc);
        printf("seconds %.2f\n", dt);
    } else {
        rc = lm_eval(c, toks, 16, false);
        lm_sampler_params sp = lm_default_sampler_params();
        sp.temperature = 0;
        lm_sampler *s = lm_sampler_new(&sp);
        int32_t t = lm_sample(s, lm_logits(c, -1), hp->n_vocab);
        /* two warm-up steps */
        for (int i = 0; i < 2 && rc == 0; i++) {
            rc = lm_eval(c, &t, 1, false);
            t = lm_sample(s, lm_logits(c, -1), hp->n_vocab);
        }
        double *step = dq_malloc((size_t)tokens * sizeof *step);
        double *step_cpu = dq_malloc((size_t)tokens * sizeof *step_cpu);
        double t0 = now(), c0 = cpu_now();
        int done = 0;
        for (; done < tokens && rc == 0; done++) {
            double s0 = now(), sc = cpu_now();
            rc = lm_eval(c, &t, 1, false);
            t = lm_sample(s, lm_logits(c, -1), hp->n_vocab);
            step[done] = now() - s0;
            step_cpu[done] = cpu_now() - sc;
        }
        double dt = now() - t0, dc = cpu_now() - c0;
        lm_sampler_free(s);
        if (getenv("LM_BENCH_STEPS")) {
            /* each step in order: wall and CPU milliseconds */
            for (int i = 0; i < done; i++)
                printf("step %d %.3f %.3f\n", i, step[i] * 1e3, step_cpu[i] * 1e3);
        }
        qsort(step, (size_t)done, sizeof *step, cmp_double);
        qsort(step_cpu, (size_t)done, sizeof *step_cpu, cmp_double);
        double fastest = done ? step[0] : 1e30, leanest = done ? step_cpu[0] : 1e30;
        double median = done ? step[done / 2] : 1e30, slowest = done ? step[done - 1] : 1e30;
        printf("decode_tokens_per_s %.2f\n", tokens / dt);
        printf("decode_best_tokens_per_s %.2f\n", 1 / fastest);
        printf("decode_median_tokens_per_s %.2f\n", 1 / median);
        printf("decode_slowest_tokens_per_s %.2f\n", 1 / slowest);
        printf("bytes_per_token %llu\n", (unsigned long long)bytes);
        printf("decode_gbs %.2f\n", (double)bytes * tokens / dt / 1e9);
        printf("decode_gbs_per_cpu_s %.2f\n", (double)bytes * tokens / dc / 1e9);
        printf("decode_best_cpu_s %.4f\n", leanest);
        printf("decode_median_cpu_s %.4f\n", done ? step_cpu[done / 2] : 0);
        free(step);
        free(step_cpu);
    }
    if (rc < 0)
        fprintf(stderr, "lm_bench: %s\n", dq_last_error());
    free(toks);
    lm_ctx_free(c);
    lm_free(m);
    return rc < 0;
}

int main(int argc, char **argv)
{
    /* LM_ISA=0|1|2|3 (scalar, AVX2, AVX-512 VNNI, and BF16 attention)
     * compares the kernel levels */
    if (getenv("LM_ISA"))
        lm_isa_set(atoi(getenv("LM_ISA")));
    if (argc == 3 && strcmp(argv[1], "--bandwidth") == 0)
        return run_bandwidth(atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "--peak") == 0)
        return run_peak(atoi(argv[2]));
    if (argc == 2 && strcmp(argv[1], "--epilogue") == 0)
        return run_epilogue();
    if (argc >= 3 && argc <= 6 && strcmp(argv[1], "--kernel") == 0) {
        int m = argc >= 5 ? atoi(argv[4]) : 64;
        int rows = argc == 6 ? atoi(argv[5]) : 512;
        return run_kernel(atoi(argv[2]), argc >= 4 ? argv[3] : "Q8_0", m < 1 ? 1 : m > 2560 ? 2560 : m,
                          rows < 1 ? 1 : rows > (1 << 20) ? 1 << 20 : rows);
    }
    if (argc >= 6 && argc <= 8 && strcmp(argv[1], "--attention") == 0)
        return run_attention(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                             argc >= 7 ? atoi(argv[6]) : 2000, argc == 8 ? atoi(argv[7]) : 512);
    if (argc == 5 && (strcmp(argv[2], "decode") == 0 || strcmp(argv[2], "prefill") == 0))
        return run_model(argv[1], argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: lm_bench --bandwidth THREADS | --peak THREADS | --epilogue |\n"
                    "       lm_bench --kernel THREADS [TYPE [TOKENS [ROWS]]] |\n"
                    "       lm_bench --attention THREADS HEADS KV_HEADS HEAD_DIM\n"
                    "                [TOKENS [BATCH]] |\n"
                    "       lm_bench MODEL.gguf decode|prefill TOKENS THREADS\n");
    return 2;
}
