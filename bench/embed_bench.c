/* embed_bench.c - throughput of the C BERT encoder, and this CPU's FP32 peak.
 *
 * embed_bench --peak
 *     Measures FP32 peak: every thread runs 16 independent chains of AVX-512
 *     FMAs (enough to cover the FMA latency on two ports) and the FLOPs of
 *     all threads are divided by the wall time; best of 3.
 * embed_bench --gemm M N K [THREADS]
 *     Times the FP32 linear-layer GEMM alone (C = A W^T + bias, what each
 *     layer runs on batch x seq rows), best of 5 after a warm-up.
 * embed_bench --gpu
 *     Says whether a CUDA device can run the encoder ("gpu_name NAME") or
 *     why not ("gpu_none REASON").
 * embed_bench MODEL_DIR BATCH SEQ REPS [fp32|int8|cuda] [THREADS]
 *     Loads the model with bert_load (fp32 and int8 on the CPU, cuda on the
 *     GPU with FP16 weights), runs bert_forward_ids on BATCH full sequences
 *     of SEQ tokens (one warm-up, then REPS timed runs) and prints tokens/s
 *     and the GEMM-model GFLOP/s achieved.
 * Output lines are "key value" pairs that bench/embed turns into a table.
 */
#include "common/common.h"
#include "embed/embed.h"
#include "embed/gpu.h"
#include "embed/kernels.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEAK_ITERS 100000000L

__attribute__((target("avx512f,fma"))) static float fma_chains(long iters)
{
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    /* distinct starting values, or the compiler merges identical chains */
    __m512 a0 = _mm512_set1_ps(1.0f), a1 = _mm512_set1_ps(1.01f), a2 = _mm512_set1_ps(1.02f),
           a3 = _mm512_set1_ps(1.03f), a4 = _mm512_set1_ps(1.04f), a5 = _mm512_set1_ps(1.05f),
           a6 = _mm512_set1_ps(1.06f), a7 = _mm512_set1_ps(1.07f), a8 = _mm512_set1_ps(1.08f),
           a9 = _mm512_set1_ps(1.09f), a10 = _mm512_set1_ps(1.10f), a11 = _mm512_set1_ps(1.11f),
           a12 = _mm512_set1_ps(1.12f), a13 = _mm512_set1_ps(1.13f), a14 = _mm512_set1_ps(1.14f),
           a15 = _mm512_set1_ps(1.15f);
    for (long i = 0; i < iters; i++) {
#define F(x) x = _mm512_fmadd_ps(x, b, c)
        F(a0); F(a1); F(a2); F(a3); F(a4); F(a5); F(a6); F(a7);
        F(a8); F(a9); F(a10); F(a11); F(a12); F(a13); F(a14); F(a15);
#undef F
        /* keep the compiler from collapsing the loop */
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),
                         "+v"(a6), "+v"(a7));
        __asm__ volatile("" : "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11), "+v"(a12), "+v"(a13),
                         "+v"(a14), "+v"(a15));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)),
                             _mm512_add_ps(_mm512_add_ps(a12, a13), _mm512_add_ps(a14, a15)));
    s = _mm512_add_ps(s, t);
    return _mm512_reduce_add_ps(s);
}

static void *peak_thread(void *arg)
{
    *(float *)arg = fma_chains(PEAK_ITERS);
    return NULL;
}

static int run_peak(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {
        printf("peak_gflops 0\npeak_how no AVX-512 on this CPU\n");
        return 0;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = n > 0 ? (int)n : 1;
    pthread_t tid[256];
    float sink[256];
    if (threads > 256)
        threads = 256;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = dq_now();
        for (int i = 0; i < threads; i++)
            pthread_create(&tid[i], NULL, peak_thread, &sink[i]);
        for (int i = 0; i < threads; i++)
            pthread_join(tid[i], NULL);
        double dt = dq_now() - t0;
        double gflops = (double)threads * PEAK_ITERS * 16 * 16 * 2 / dt / 1e9;
        best = gflops > best ? gflops : best;
    }
    printf("peak_gflops %.1f\n", best);
    printf("peak_how %d threads x 16 independent zmm FMA chains, %ld iterations, best of 3\n",
           threads, PEAK_ITERS);
    return 0;
}

static int run_gemm(int M, int N, int K, int threads)
{
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    bert_pool *pool = bert_pool_new(threads);
    if (!pool) {
        fprintf(stderr, "embed_bench: %s\n", dq_last_error());
        return 1;
    }
    float *A = malloc((size_t)M * K * sizeof *A), *W = malloc((size_t)N * K * sizeof *W);
    float *bias = calloc((size_t)N, sizeof *bias), *C = malloc((size_t)M * N * sizeof *C);
    for (size_t i = 0; i < (size_t)M * K; i++)
        A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)N * K; i++)
        W[i] = (float)(i % 5) * 0.1f;
    gemm_f32(pool, M, N, K, A, K, W, bias, C, N, GEMM_BIAS);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = dq_now();
        gemm_f32(pool, M, N, K, A, K, W, bias, C, N, GEMM_BIAS);
        double dt = dq_now() - t0;
        best = dt < best ? dt : best;
    }
    printf("gemm_gflops %.1f\n", 2.0 * M * N * K / best / 1e9);
    printf("gemm_kernel %s\n", bert_isa_get() >= BERT_ISA_AVX512 ? "avx512" : "openblas");
    free(A);
    free(W);
    free(bias);
    free(C);
    bert_pool_free(pool);
    return 0;
}

static double forward_flops(const bert_config *c, int batch, int seq)
{
    double H = c->hidden, I = c->intermediate, tokens = (double)batch * seq;
    /* Q, K, V, output, two FFN GEMMs; scores and context per token */
    double per_token_layer = 2 * (4 * H * H + 2 * H * I) + 4.0 * seq * H;
    return tokens * c->n_layers * per_token_layer;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--peak") == 0)
        return run_peak();
    if (argc >= 5 && strcmp(argv[1], "--gemm") == 0)
        return run_gemm(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), argc > 5 ? atoi(argv[5]) : 0);
    if (argc == 2 && strcmp(argv[1], "--gpu") == 0) {
        char name[256], why[256];
        if (bert_gpu_probe(name, sizeof name, why, sizeof why))
            printf("gpu_name %s\n", name);
        else
            printf("gpu_none %s\n", why);
        return 0;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: embed_bench --peak\n"
                        "       embed_bench --gemm M N K [THREADS]\n"
                        "       embed_bench --gpu\n"
                        "       embed_bench MODEL_DIR BATCH SEQ REPS [fp32|int8|cuda] [THREADS]\n");
        return 2;
    }
    int batch = atoi(argv[2]), seq = atoi(argv[3]), reps = atoi(argv[4]);
    const char *mode = argc > 5 ? argv[5] : "fp32";
    bool int8 = strcmp(mode, "int8") == 0;
    bert_params params = bert_default_params();
    params.int8 = int8;
    params.device = strcmp(mode, "cuda") == 0 ? BERT_DEVICE_CUDA : BERT_DEVICE_CPU;
    params.max_batch = batch;
    params.n_threads = argc > 6 ? atoi(argv[6]) : 0;
    double t0 = dq_now();
    bert_model *m = bert_load(argv[1], &params);
    if (!m) {
        fprintf(stderr, "embed_bench: %s\n", dq_last_error());
        return 1;
    }
    double load_s = dq_now() - t0;
    const bert_config *c = bert_get_config(m);
    int32_t *ids = malloc((size_t)batch * seq * sizeof *ids);
    int *lens = malloc((size_t)batch * sizeof *lens);
    float *pooled = malloc((size_t)batch * c->hidden * sizeof *pooled);
    uint32_t r = 12345;
    for (int b = 0; b < batch; b++) {
        lens[b] = seq;
        for (int t = 0; t < seq; t++) {
            r = r * 1664525u + 1013904223u;
            ids[(size_t)b * seq + t] = (int32_t)(1 + (r >> 8) % (uint32_t)(c->vocab_size - 1));
        }
    }
    if (bert_forward_ids(m, ids, lens, batch, seq, NULL, pooled) < 0) {
        fprintf(stderr, "embed_bench: %s\n", dq_last_error());
        return 1;
    }
    double best = 1e30, total = 0;
    for (int i = 0; i < reps; i++) {
        double s = dq_now();
        bert_forward_ids(m, ids, lens, batch, seq, NULL, pooled);
        double dt = dq_now() - s;
        total += dt;
        best = dt < best ? dt : best;
    }
    double tokens = (double)batch * seq;
    printf("mode %s\n", mode);
    printf("load_s %.2f\n", load_s);
    printf("tokens_per_s %.1f\n", tokens * reps / total);
    printf("best_tokens_per_s %.1f\n", tokens / best);
    printf("gflops %.1f\n", forward_flops(c, batch, seq) * reps / total / 1e9);
    printf("pooled0 %.6f %.6f %.6f\n", pooled[0], pooled[1], pooled[2]);
    free(ids);
    free(lens);
    free(pooled);
    bert_free(m);
    return 0;
}
