/* gemm.c - FP32 linear layers: dispatch, and OpenBLAS sgemm sliced across our pool.
 *
 * With AVX-512 our own kernel (gemm_avx512.c) does the work; otherwise, or
 * with no pool, OpenBLAS. nn.Linear stores W as (n_out, n_in), so a layer is
 * C = A * W^T, which sgemm takes directly (TransB) without copying W. OpenBLAS runs
 * single-threaded inside each slice (bert_run_new sets that) so its threads
 * never compete with ours for the cores; each slice applies its own bias and
 * GELU while the rows are still in cache.
 */
#include "embed/kernels.h"

#include <cblas.h>
#include <math.h>

typedef struct {
    int M, N, K;
    const float *A;
    int lda;
    const float *W, *bias;
    float *C;
    int ldc;
    gemm_epilogue epi;
    int n_slices;
    bool split_rows; /* else split columns */
} gemm_job;

static void epilogue(float *C, int ldc, int m, int n, const float *bias, gemm_epilogue epi)
{
    if (epi == GEMM_PLAIN)
        return;
    for (int i = 0; i < m; i++) {
        float *row = C + (size_t)i * ldc;
        vec_add(row, bias, n);
        if (epi == GEMM_BIAS_GELU)
            vec_gelu(row, n);
    }
}

void gemm_slice_bounds(int M, int N, bool split_rows, int task, int n_slices, int *m0, int *m1,
                       int *n0, int *n1)
{
    *m0 = 0, *m1 = M, *n0 = 0, *n1 = N;
    if (split_rows) {
        *m0 = (int)((long)M * task / n_slices);
        *m1 = (int)((long)M * (task + 1) / n_slices);
    } else {
        /* column slices on 16-float boundaries keep the stores aligned */
        int blocks = (N + 15) / 16;
        *n0 = blocks * task / n_slices * 16;
        *n1 = blocks * (task + 1) / n_slices * 16;
        if (*n1 > N)
            *n1 = N;
    }
}

static void gemm_slice(void *ctx, int task, int thread)
{
    (void)thread;
    const gemm_job *j = ctx;
    int m0, m1, n0, n1;
    gemm_slice_bounds(j->M, j->N, j->split_rows, task, j->n_slices, &m0, &m1, &n0, &n1);
    if (m1 <= m0 || n1 <= n0)
        return;
    float *C = j->C + (size_t)m0 * j->ldc + n0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m1 - m0, n1 - n0, j->K, 1.0f,
                j->A + (size_t)m0 * j->lda, j->lda, j->W + (size_t)n0 * j->K, j->K, 0.0f, C,
                j->ldc);
    epilogue(C, j->ldc, m1 - m0, n1 - n0, j->bias ? j->bias + n0 : NULL, j->epi);
}

void gemm_f32(bert_pool *p, int M, int N, int K, const float *A, int lda, const float *W,
              const float *bias, float *C, int ldc, gemm_epilogue epi)
{
    if (M <= 0 || N <= 0)
        return;
    if (p && bert_isa_get() >= BERT_ISA_AVX512) {
        gemm_f32_avx512(p, M, N, K, A, lda, W, bias, C, ldc, epi);
        return;
    }
    int threads = bert_pool_size(p);
    gemm_job j = {M, N, K, A, lda, W, bias, C, ldc, epi, threads, true};
    /* Rows when there are enough of them: every slice then streams all of W
     * once, which is cheap next to its M/threads x N x K multiply. */
    if (M < 32 * threads) {
        j.split_rows = false;
        int blocks = (N + 15) / 16;
        j.n_slices = blocks < threads ? blocks : threads;
    }
    bert_pool_run(p, gemm_slice, &j, j.n_slices);
}

void gemm_f32_naive(int M, int N, int K, const float *A, int lda, const float *W,
                    const float *bias, float *C, int ldc, gemm_epilogue epi)
{
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)A[(size_t)i * lda + k] * W[(size_t)n * K + k];
            if (epi != GEMM_PLAIN)
                acc += bias[n];
            if (epi == GEMM_BIAS_GELU)
                acc = 0.5 * acc * (1.0 + erf(acc / sqrt(2.0)));
            C[(size_t)i * ldc + n] = (float)acc;
        }
}
