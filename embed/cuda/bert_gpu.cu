/* bert_gpu.cu - the BERT forward pass on an NVIDIA GPU: cuBLAS FP16 GEMMs
 * with FP32 accumulation and our own kernels for everything between them.
 *
 * Built as libdocqa_cuda.so and opened by embed/gpu.c (see cuda_abi.h for
 * why); errors are written into the caller's buffer.
 *
 * Per layer: the FP32 hidden state is rounded to FP16 once, multiplied by
 * FP16 Q/K/V weights into FP32, biases added; attention runs per sequence as
 * strided-batched FP32 GEMMs over the heads (scores are small and this is
 * where precision matters most), a kernel applies the scale, the padding mask
 * and the softmax; the output projection and feed-forward are FP16 GEMMs
 * again, and bias + residual + LayerNorm is one fused kernel. Padding rows
 * are computed and ignored, as on the CPU, so a batch is one launch sequence.
 * All scratch is allocated once for max_batch x max_len.
 */
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "embed/cuda/cuda_abi.h"
}

/* The caller's error buffer for the call in progress (one call at a time
 * per model, as on the CPU path). */
typedef struct {
    char *buf;
    size_t cap;
} errbuf;

static int set_err(errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set_err(errbuf *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (e->cap)
        vsnprintf(e->buf, e->cap, fmt, ap);
    va_end(ap);
    return -1;
}

#define THREADS 256

/* ---- kernels -------------------------------------------------------------- */

/* Block-wide sum of v over THREADS threads. */
__device__ static float block_sum(float v, float *shared)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
        shared[warp] = v;
    __syncthreads();
    v = threadIdx.x < blockDim.x / 32 ? shared[threadIdx.x] : 0.0f;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0)
        shared[0] = v;
    __syncthreads();
    v = shared[0];
    __syncthreads();
    return v;
}

/* LayerNorm of row (H) in place, statistics in two passes as the CPU does. */
__device__ static void layer_norm_row(float *row, int H, const float *gamma, const float *beta,
                                      float eps, float *shared)
{
    float s = 0;
    for (int i = threadIdx.x; i < H; i += blockDim.x)
        s += row[i];
    float mean = block_sum(s, shared) / H;
    float v = 0;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        float d = row[i] - mean;
        v += d * d;
    }
    float inv = rsqrtf(block_sum(v, shared) / H + eps);
    for (int i = threadIdx.x; i < H; i += blockDim.x)
        row[i] = (row[i] - mean) * inv * gamma[i] + beta[i];
}

/* One block per token: word + position + type-0 embeddings, then LayerNorm. */
__global__ static void k_embed(const int32_t *ids, int seq, int pos_offset, int H,
                               const float *word, const float *pos, const float *type,
                               const float *gamma, const float *beta, float eps, float *x)
{
    __shared__ float shared[32];
    int row = blockIdx.x, t = row % seq + pos_offset; /* XLM-R counts from padding_idx + 1 */
    const float *we = word + (size_t)ids[row] * H, *pe = pos + (size_t)t * H;
    float *out = x + (size_t)row * H;
    for (int i = threadIdx.x; i < H; i += blockDim.x)
        out[i] = we[i] + pe[i] + type[i];
    __syncthreads();
    layer_norm_row(out, H, gamma, beta, eps, shared);
}

__global__ static void k_to_half(const float *in, __half *out, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2half(in[i]);
}

/* y (rows, n) += b; with gelu, y = gelu(y + b) (erf form, as BERT's "gelu"). */
__global__ static void k_bias(float *y, const float *b, size_t rows, int n, int gelu)
{
    size_t total = rows * (size_t)n;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = y[i] + b[i % n];
        if (gelu)
            v = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        y[i] = v;
    }
}

/* One block per row: x = LayerNorm(y + b + x). */
__global__ static void k_residual_norm(const float *y, const float *b, float *x, int H,
                                       const float *gamma, const float *beta, float eps)
{
    __shared__ float shared[32];
    float *row = x + (size_t)blockIdx.x * H;
    const float *yr = y + (size_t)blockIdx.x * H;
    for (int i = threadIdx.x; i < H; i += blockDim.x)
        row[i] += yr[i] + b[i];
    __syncthreads();
    layer_norm_row(row, H, gamma, beta, eps, shared);
}

/* One block per score row (head, query): scale, mask keys at or past len,
 * softmax. Rows are (n_heads * seq) of seq scores each. */
__global__ static void k_softmax(float *scores, int seq, int len, float scale)
{
    __shared__ float shared[32];
    float *row = scores + (size_t)blockIdx.x * seq;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < len; j += blockDim.x)
        mx = fmaxf(mx, row[j] * scale);
    /* block max through the sum helper's shared memory pattern */
    for (int o = 16; o > 0; o >>= 1)
        mx = fmaxf(mx, __shfl_down_sync(0xffffffffu, mx, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
        shared[warp] = mx;
    __syncthreads();
    if (threadIdx.x == 0) {
        float m = shared[0];
        for (int w = 1; w < (int)blockDim.x / 32; w++)
            m = fmaxf(m, shared[w]);
        shared[0] = m;
    }
    __syncthreads();
    mx = shared[0];
    __syncthreads();
    float s = 0;
    for (int j = threadIdx.x; j < seq; j += blockDim.x) {
        float e = j < len ? expf(row[j] * scale - mx) : 0.0f;
        row[j] = e;
        s += e;
    }
    float inv = 1.0f / block_sum(s, shared);
    for (int j = threadIdx.x; j < seq; j += blockDim.x)
        row[j] *= inv;
}

/* One block per sequence: [CLS] or the mean over real tokens. */
__global__ static void k_pool(const float *x, const int *lens, int seq, int H, int mean,
                              float *out)
{
    int b = blockIdx.x;
    const float *base = x + (size_t)b * seq * H;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        if (!mean) {
            out[(size_t)b * H + i] = base[i];
            continue;
        }
        float s = 0;
        for (int t = 0; t < lens[b]; t++)
            s += base[(size_t)t * H + i];
        out[(size_t)b * H + i] = s / lens[b];
    }
}

/* ---- the model on the device ----------------------------------------------- */

typedef struct {
    __half *w; /* (n_out, n_in) */
    float *b;  /* (n_out) */
    int n_out, n_in;
} gpu_linear;

typedef struct {
    float *gamma, *beta;
} gpu_norm;

typedef struct {
    gpu_linear q, k, v, o, ff_in, ff_out;
    gpu_norm ln_attn, ln_ff;
} gpu_layer;

typedef struct {
    bert_config cfg;
    int max_batch, max_len;
    cublasHandle_t blas;
    cudaStream_t stream;
    float *word, *pos, *type;
    gpu_norm ln_emb;
    gpu_layer *layers; /* (n_layers), host array of device pointers */
    /* scratch, (max_batch * max_len) rows */
    int32_t *ids;
    int *lens;
    float *x, *q, *k, *v, *ctx, *y; /* (rows, hidden) */
    float *ff;                      /* (rows, intermediate) */
    __half *xh;                     /* (rows, max(hidden, intermediate)) */
    float *scores;                  /* (n_heads, max_len, max_len) */
    float *pooled;                  /* (max_batch, hidden) */
    void **allocs;                  /* every cudaMalloc, freed together */
    size_t n_allocs, cap_allocs, bytes;
    errbuf err;                     /* where the call in progress reports */
} bert_gpu;

static const char *blas_status(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "out of GPU memory";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "GPU architecture not supported";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    default: return "cuBLAS error";
    }
}

static int cuda_ok(bert_gpu *g, cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return 0;
    return set_err(&g->err, "GPU: %s: %s", what, cudaGetErrorString(e));
}

static int blas_ok(bert_gpu *g, cublasStatus_t s, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS)
        return 0;
    return set_err(&g->err, "GPU: %s: %s", what, blas_status(s));
}

static void *gpu_alloc(bert_gpu *g, size_t bytes)
{
    void *p = NULL;
    if (cuda_ok(g, cudaMalloc(&p, bytes ? bytes : 1), "cannot allocate device memory") < 0)
        return NULL;
    if (g->n_allocs == g->cap_allocs) {
        size_t cap = g->cap_allocs ? 2 * g->cap_allocs : 64;
        void **a = (void **)realloc(g->allocs, cap * sizeof *a);
        if (!a) {
            cudaFree(p);
            set_err(&g->err, "GPU: out of host memory");
            return NULL;
        }
        g->allocs = a;
        g->cap_allocs = cap;
    }
    g->allocs[g->n_allocs++] = p;
    g->bytes += bytes;
    return p;
}

static float *upload_f32(bert_gpu *g, const float *src, size_t n)
{
    float *d = (float *)gpu_alloc(g, n * sizeof *d);
    if (d && cuda_ok(g, cudaMemcpy(d, src, n * sizeof *d, cudaMemcpyHostToDevice), "upload") < 0)
        return NULL;
    return d;
}

static int upload_linear(bert_gpu *g, const bert_linear *l, gpu_linear *out)
{
    size_t n = (size_t)l->n_out * l->n_in;
    __half *tmp = (__half *)malloc(n * sizeof *tmp);
    if (!tmp)
        return set_err(&g->err, "GPU: out of host memory");
    for (size_t i = 0; i < n; i++)
        tmp[i] = __float2half(l->w[i]);
    out->w = (__half *)gpu_alloc(g, n * sizeof *tmp);
    int rc = out->w ? cuda_ok(g, cudaMemcpy(out->w, tmp, n * sizeof *tmp, cudaMemcpyHostToDevice),
                              "upload")
                    : -1;
    free(tmp);
    out->b = rc == 0 ? upload_f32(g, l->b, (size_t)l->n_out) : NULL;
    out->n_out = l->n_out;
    out->n_in = l->n_in;
    return out->b ? 0 : -1;
}

static int upload_norm(bert_gpu *g, const bert_norm *n, int H, gpu_norm *out)
{
    out->gamma = upload_f32(g, n->gamma, (size_t)H);
    out->beta = out->gamma ? upload_f32(g, n->beta, (size_t)H) : NULL;
    return out->beta ? 0 : -1;
}

static int gpu_probe(char *name, size_t name_cap, char *why, size_t why_cap)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (name_cap)
        name[0] = '\0';
    if (e != cudaSuccess || n == 0) {
        snprintf(why, why_cap, "no CUDA device (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return 0;
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        snprintf(why, why_cap, "no CUDA device (cannot read device 0's properties)");
        return 0;
    }
    snprintf(name, name_cap, "%s", prop.name);
    return 1;
}

/* Bytes of scratch for batch x len tokens (the upload is counted apart). */
static double scratch_bytes(const bert_config *c, int batch, int len)
{
    double T = (double)batch * len;
    int wide = c->hidden > c->intermediate ? c->hidden : c->intermediate;
    return T * (4.0 * (6.0 * c->hidden + c->intermediate) + 2.0 * wide + 8.0) +
           4.0 * c->n_heads * (double)len * len + 4.0 * batch * c->hidden;
}

static void gpu_destroy(void *p);

static void *gpu_create(const bert_config *cfg, const bert_weights *w, int *max_batch,
                        int max_len, char *err, size_t err_cap)
{
    errbuf e = {err, err_cap};
    char name[256], why[256];
    if (!gpu_probe(name, sizeof name, why, sizeof why)) {
        set_err(&e, "cannot use the GPU: %s", why);
        return NULL;
    }
    bert_gpu *g = (bert_gpu *)calloc(1, sizeof *g);
    if (!g) {
        set_err(&e, "GPU: out of host memory");
        return NULL;
    }
    g->err = e;
    g->cfg = *cfg;
    g->max_len = max_len;
    const bert_config *c = cfg;
    int H = c->hidden;
    if (cuda_ok(g, cudaSetDevice(0), "cannot select device 0") < 0 ||
        cuda_ok(g, cudaStreamCreate(&g->stream), "cannot create a stream") < 0 ||
        blas_ok(g, cublasCreate(&g->blas), "cannot start cuBLAS") < 0 ||
        blas_ok(g, cublasSetStream(g->blas, g->stream), "cannot set the cuBLAS stream") < 0)
        goto fail;

    g->word = upload_f32(g, w->word_emb, (size_t)c->vocab_size * H);
    g->pos = g->word ? upload_f32(g, w->pos_emb, (size_t)c->max_pos * H) : NULL;
    g->type = g->pos ? upload_f32(g, w->type_emb, (size_t)H) : NULL;
    if (!g->type || upload_norm(g, &w->ln_emb, H, &g->ln_emb) < 0)
        goto fail;
    g->layers = (gpu_layer *)calloc((size_t)c->n_layers, sizeof *g->layers);
    if (!g->layers) {
        set_err(&g->err, "GPU: out of host memory");
        goto fail;
    }
    for (int l = 0; l < c->n_layers; l++) {
        const bert_layer *s = &w->layers[l];
        gpu_layer *d = &g->layers[l];
        if (upload_linear(g, &s->q, &d->q) < 0 || upload_linear(g, &s->k, &d->k) < 0 ||
            upload_linear(g, &s->v, &d->v) < 0 || upload_linear(g, &s->o, &d->o) < 0 ||
            upload_linear(g, &s->ff_in, &d->ff_in) < 0 ||
            upload_linear(g, &s->ff_out, &d->ff_out) < 0 ||
            upload_norm(g, &s->ln_attn, H, &d->ln_attn) < 0 ||
            upload_norm(g, &s->ln_ff, H, &d->ln_ff) < 0)
            goto fail;
    }

    {
        /* Batches are sized to what is free after the weights, keeping a
         * quarter back for cuBLAS's workspace and other processes. */
        size_t free_b = 0, total_b = 0;
        if (cuda_ok(g, cudaMemGetInfo(&free_b, &total_b), "cannot read free memory") < 0)
            goto fail;
        int mb = *max_batch;
        while (mb > 1 && scratch_bytes(c, mb, max_len) > 0.75 * (double)free_b)
            mb /= 2;
        if (scratch_bytes(c, mb, max_len) > 0.75 * (double)free_b) {
            set_err(&g->err, "cannot use the GPU: %.0f MB free, one sequence of %d tokens "
                             "needs %.0f MB",
                    free_b / 1e6, max_len, scratch_bytes(c, 1, max_len) / 1e6);
            goto fail;
        }
        *max_batch = g->max_batch = mb;
    }
    {
        size_t rows = (size_t)g->max_batch * max_len;
        int wide = H > c->intermediate ? H : c->intermediate;
        g->ids = (int32_t *)gpu_alloc(g, rows * sizeof(int32_t));
        g->lens = (int *)gpu_alloc(g, (size_t)g->max_batch * sizeof(int));
        g->x = (float *)gpu_alloc(g, rows * H * sizeof(float));
        g->q = (float *)gpu_alloc(g, rows * H * sizeof(float));
        g->k = (float *)gpu_alloc(g, rows * H * sizeof(float));
        g->v = (float *)gpu_alloc(g, rows * H * sizeof(float));
        g->ctx = (float *)gpu_alloc(g, rows * H * sizeof(float));
        g->y = (float *)gpu_alloc(g, rows * H * sizeof(float));
        g->ff = (float *)gpu_alloc(g, rows * c->intermediate * sizeof(float));
        g->xh = (__half *)gpu_alloc(g, rows * wide * sizeof(__half));
        g->scores = (float *)gpu_alloc(g, (size_t)c->n_heads * max_len * max_len * sizeof(float));
        g->pooled = (float *)gpu_alloc(g, (size_t)g->max_batch * H * sizeof(float));
        if (!g->ids || !g->lens || !g->x || !g->q || !g->k || !g->v || !g->ctx || !g->y ||
            !g->ff || !g->xh || !g->scores || !g->pooled)
            goto fail;
    }
    return g;
fail:
    gpu_destroy(g);
    return NULL;
}

static void gpu_destroy(void *p)
{
    bert_gpu *g = (bert_gpu *)p;
    if (!g)
        return;
    for (size_t i = 0; i < g->n_allocs; i++)
        cudaFree(g->allocs[i]);
    if (g->blas)
        cublasDestroy(g->blas);
    if (g->stream)
        cudaStreamDestroy(g->stream);
    free(g->allocs);
    free(g->layers);
    free(g);
}

static size_t gpu_bytes(const void *p)
{
    return p ? ((const bert_gpu *)p)->bytes : 0;
}

static unsigned grid_for(size_t n)
{
    size_t blocks = (n + THREADS - 1) / THREADS;
    return (unsigned)(blocks < 4096 ? (blocks ? blocks : 1) : 4096);
}

/* out (rows, l->n_out) FP32 = in_h (rows, l->n_in) FP16 . W^T, then bias
 * (and GELU). cuBLAS is column-major: out^T = W . in^T with W read as the
 * transpose of its row-major storage. */
static int linear(bert_gpu *g, const gpu_linear *l, const __half *in_h, int rows, float *out,
                  int gelu, bool add_bias)
{
    const float one = 1.0f, zero = 0.0f;
    if (blas_ok(g, cublasGemmEx(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, l->n_out, rows, l->n_in, &one,
                             l->w, CUDA_R_16F, l->n_in, in_h, CUDA_R_16F, l->n_in, &zero, out,
                             CUDA_R_32F, l->n_out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                "linear layer") < 0)
        return -1;
    if (add_bias) {
        size_t n = (size_t)rows * l->n_out;
        k_bias<<<grid_for(n), THREADS, 0, g->stream>>>(out, l->b, (size_t)rows, l->n_out, gelu);
    }
    return 0;
}

static void to_half(bert_gpu *g, const float *in, __half *out, size_t n)
{
    k_to_half<<<grid_for(n), THREADS, 0, g->stream>>>(in, out, n);
}

/* Self-attention for sequence b: ctx rows of b = softmax(Q K^T / sqrt(d)) V
 * per head, keys past lens[b] masked. */
static int attention(bert_gpu *g, int b, int seq, int len)
{
    const bert_config *c = &g->cfg;
    int H = c->hidden, nh = c->n_heads, dh = H / nh;
    size_t off = (size_t)b * seq * H;
    const float one = 1.0f, zero = 0.0f;
    /* scores[h] (row-major seq x seq) = Q_h K_h^T; column-major that is
     * K_h^T(op T) . Q_h, with heads dh apart inside each row of Q and K. */
    if (blas_ok(g, cublasSgemmStridedBatched(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, seq, seq, dh, &one,
                                          g->k + off, H, dh, g->q + off, H, dh, &zero, g->scores,
                                          seq, (long long)seq * seq, nh),
                "attention scores") < 0)
        return -1;
    k_softmax<<<nh * seq, THREADS, 0, g->stream>>>(g->scores, seq, len, 1.0f / sqrtf((float)dh));
    /* ctx_h (row-major seq x dh, row stride H) = P_h V_h: column-major
     * V_h . P_h. */
    return blas_ok(g, cublasSgemmStridedBatched(g->blas, CUBLAS_OP_N, CUBLAS_OP_N, dh, seq, seq, &one,
                                             g->v + off, H, dh, g->scores, seq,
                                             (long long)seq * seq, &zero, g->ctx + off, H, dh, nh),
                   "attention context");
}

static int gpu_forward(void *p, const int32_t *ids, const int *lens, int batch, int seq,
                       float *hidden, float *pooled, char *err, size_t err_cap)
{
    bert_gpu *g = (bert_gpu *)p;
    g->err = (errbuf){err, err_cap};
    const bert_config *c = &g->cfg;
    int H = c->hidden, I = c->intermediate;
    if (batch < 1 || batch > g->max_batch || seq < 1 || seq > g->max_len) {
        return set_err(&g->err, "GPU: batch %d x %d tokens outside %d x %d", batch, seq,
                       g->max_batch, g->max_len);
    }
    int rows = batch * seq;
    if (cuda_ok(g, cudaMemcpyAsync(g->ids, ids, (size_t)rows * sizeof *ids, cudaMemcpyHostToDevice,
                                g->stream),
                "upload token ids") < 0 ||
        cuda_ok(g, cudaMemcpyAsync(g->lens, lens, (size_t)batch * sizeof *lens,
                                cudaMemcpyHostToDevice, g->stream),
                "upload lengths") < 0)
        return -1;
    k_embed<<<rows, THREADS, 0, g->stream>>>(g->ids, seq, c->pos_offset, H, g->word, g->pos,
                                             g->type, g->ln_emb.gamma, g->ln_emb.beta, c->ln_eps,
                                             g->x);
    for (int l = 0; l < c->n_layers; l++) {
        const gpu_layer *L = &g->layers[l];
        to_half(g, g->x, g->xh, (size_t)rows * H);
        if (linear(g, &L->q, g->xh, rows, g->q, 0, true) < 0 ||
            linear(g, &L->k, g->xh, rows, g->k, 0, true) < 0 ||
            linear(g, &L->v, g->xh, rows, g->v, 0, true) < 0)
            return -1;
        for (int b = 0; b < batch; b++)
            if (attention(g, b, seq, lens[b]) < 0)
                return -1;
        to_half(g, g->ctx, g->xh, (size_t)rows * H);
        if (linear(g, &L->o, g->xh, rows, g->y, 0, false) < 0)
            return -1;
        k_residual_norm<<<rows, THREADS, 0, g->stream>>>(g->y, L->o.b, g->x, H,
                                                         L->ln_attn.gamma, L->ln_attn.beta,
                                                         c->ln_eps);
        to_half(g, g->x, g->xh, (size_t)rows * H);
        if (linear(g, &L->ff_in, g->xh, rows, g->ff, 1, true) < 0)
            return -1;
        to_half(g, g->ff, g->xh, (size_t)rows * I);
        if (linear(g, &L->ff_out, g->xh, rows, g->y, 0, false) < 0)
            return -1;
        k_residual_norm<<<rows, THREADS, 0, g->stream>>>(g->y, L->ff_out.b, g->x, H,
                                                         L->ln_ff.gamma, L->ln_ff.beta,
                                                         c->ln_eps);
    }
    if (cuda_ok(g, cudaGetLastError(), "kernel launch") < 0)
        return -1;
    if (pooled) {
        k_pool<<<batch, THREADS, 0, g->stream>>>(g->x, g->lens, seq, H,
                                                 c->pooling == BERT_POOL_MEAN, g->pooled);
        if (cuda_ok(g, cudaMemcpyAsync(pooled, g->pooled, (size_t)batch * H * sizeof *pooled,
                                    cudaMemcpyDeviceToHost, g->stream),
                    "download pooled vectors") < 0)
            return -1;
    }
    if (hidden && cuda_ok(g, cudaMemcpyAsync(hidden, g->x, (size_t)rows * H * sizeof *hidden,
                                          cudaMemcpyDeviceToHost, g->stream),
                          "download hidden states") < 0)
        return -1;
    return cuda_ok(g, cudaStreamSynchronize(g->stream), "forward pass");
}

static const dq_cuda_api api = {
    DQ_CUDA_ABI, gpu_probe, gpu_create, gpu_destroy, gpu_bytes, gpu_forward,
};

extern "C" __attribute__((visibility("default"))) const dq_cuda_api *dq_cuda_entry(void)
{
    return &api;
}
