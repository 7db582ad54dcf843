/* lm_attn.c - causal grouped-query attention of a micro-batch over the KV
 * cache (lm_forward.c stores the batch's keys and values first).
 *
 * One fused kernel, as flash attention does it, at LM_ISA_VNNI (AVX-512)
 * and LM_ISA_AVX2. A tile is one KV head's ATT_COLS (query, head) pairs of
 * its group, t-major, so a decode step's heads of a group share one tile
 * and a prefill's tiles see nearly the same keys; a task takes ATT_TILES
 * neighbouring tiles, which share each block of keys and values read from
 * the cache. The queries lie across the vector lanes (Q^T), so the online
 * softmax (running max and sum per query) is all vertical: for each block
 * of ATT_KEYS keys, converted from the cache into a small buffer,
 * S^T = K Q^T with the block's max taken as the scores leave the
 * registers, the mask only on blocks that cross a query's last key,
 * P = 2^(S - max) with log2(e) / sqrt(d) folded into Q (exp2_512: four
 * instructions fewer than e^x, and a masked key's -inf gives exactly 0),
 * O^T = O^T alpha + V^T P^T. No score row outlives its block, keys past the
 * last query's are never read, and each tile's sums run in one fixed order,
 * so the result does not depend on the number of threads. It replaced
 * OpenBLAS SGEMMs over F16 tiles converted to float, which were slower at
 * both levels (bench/README.md).
 *
 * Where the time goes (lm_bench --attention: AVX-512, F16 cache, one
 * thread, a 2,000-token prefill's layer at the Qwen2.5-0.5B and 1.5B
 * shapes): 48-50 GMAC per CPU second on a quiet machine, 85-88% of this
 * CPU's float FMA peak (57: one zmm FMA a cycle), from 44-46 before the
 * tiles shared their blocks, the softmax ran in powers of 2 and Q^T and
 * the output moved by gathers. A product's register block alone, in L1,
 * runs at the peak; the rest is the softmax (about 4%), converting the
 * blocks, filling Q^T and storing the output (2-3% each), and a task's
 * buffers (100 KB at head_dim 64: two tiles' Q^T and O^T, 64 KB, and the
 * shared blocks and S^T) passing through the 32 KB L1 (tried and
 * no faster: blocks of 24, 72 and 96 keys, 1 or 4 tiles a task, the
 * values' products in two halves of a tile). No float kernel can beat
 * that peak, a quarter of the int8 one, so attention stays the prefill's
 * slowest part per multiply-add.
 *
 * On an F16 or float cache the products stay in float. On a BF16 cache
 * (lm_ctx_params.kv_type, not the default) at LM_ISA_BF16 both run in
 * vdpbf16ps, twice the FMA's rate on this CPU: Q^T as pairs of dimensions
 * rounded to BF16, each key's pair a broadcast straight from the cache, P
 * rounded to BF16 in the softmax (so l sums the weights the products use)
 * and packed into key pairs, a block's values interleaved by key pairs;
 * sums, softmax and rescaling in float. It takes about a third off the
 * float kernel's time in a 2,000-token prefill (bench/README.md; 36-40%
 * before that kernel's tiles shared their blocks). Why it is not the default:
 * BF16 keys and values (8 mantissa bits to F16's 11), not the rounding of
 * Q and P, take test_lm's Q5_K model from a cosine of 0.99949 to the
 * reference down to 0.9985-0.9990, below the goal of 0.999 (the scalar
 * path on a BF16 cache measures the same: the int8 activations amplify the
 * perturbation); and BF16 products took an F16 model's logits to 5e-3 from
 * the reference (goal 1e-3). Other levels read a BF16 cache as float (a
 * 16-bit shift) into the float kernels.
 *
 * The scalar reference, one query and head at a time with its softmax in
 * double, runs at LM_ISA_SCALAR and for a head_dim that is not a multiple
 * of 16 (none of the supported architectures' models has one).
 */
#include "embed/lm_impl.h"
#include "embed/simd512.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* (query, head) pairs of one tile: 4 vectors of 16 lanes. */
enum { ATT_COLS = 64 };
/* Tiles of one fused task, which share each block of keys and values read
 * from the cache. */
enum { ATT_TILES = 2 };
/* Keys of one block of the fused kernel: a multiple of each key group of
 * qk_block (8, 6, 4). */
enum { ATT_KEYS = 48 };

/* One tile's Q^T and O^T, (head_dim, ATT_COLS), running max, sum and key
 * count, (ATT_COLS). */
static size_t tile_floats(int head_dim)
{
    return 2 * (size_t)head_dim * ATT_COLS + 3 * ATT_COLS;
}

static size_t fused_floats(int head_dim)
{
    /* K and V, (ATT_KEYS, head_dim); S^T, (ATT_KEYS, ATT_COLS); the tiles */
    return 2 * (size_t)ATT_KEYS * head_dim + (size_t)ATT_KEYS * ATT_COLS +
           ATT_TILES * tile_floats(head_dim);
}

size_t lm_attn_scratch_floats(int n_ctx, int head_dim)
{
    size_t fused = fused_floats(head_dim);
    /* + 16: room to align to 64 bytes; the reference keeps a query's scores */
    return (fused > (size_t)n_ctx ? fused : (size_t)n_ctx) + 16;
}

/* This thread's scratch, 64-byte aligned. */
static float *thread_scratch(const lm_attn_batch *b, int thread)
{
    float *s = b->scratch + (size_t)thread * lm_attn_scratch_floats(b->n_ctx, b->head_dim);
    return s + (16 - ((uintptr_t)s / sizeof(float)) % 16) % 16;
}

/* ---- one fused task's queries and buffers ------------------------------------------ */

/* One tile of a fused task: a KV head g and nc (query, head) pairs of its
 * group from pair c0 (t-major), in NV vectors of 16 lanes; its buffers in
 * the thread's scratch, each row ATT_COLS floats apart, Kf, Vf and St
 * shared by the task's tiles. */
typedef struct {
    int g, c0, nc, NV;
    int n_first, n_last; /* keys the first and the last query see */
    size_t off;          /* the KV head's first element in a cache row */
    float *Qt, *Ot;      /* (head_dim, ATT_COLS): Q^T scaled by log2(e) / sqrt(d), O^T */
    float *Kf, *Vf;      /* (ATT_KEYS, head_dim): a block of keys, of values */
    float *St;           /* (ATT_KEYS, ATT_COLS): S^T, then P^T */
    float *mx, *l, *nvis; /* (ATT_COLS): running max and sum, keys each query sees */
} fused_tile;

/* Tiles of each KV head: its group's m * G (query, head) pairs. */
static int fused_tiles(const lm_attn_batch *b)
{
    return (b->m * (b->n_head / b->n_head_kv) + ATT_COLS - 1) / ATT_COLS;
}

static int fused_tasks(const lm_attn_batch *b)
{
    return b->n_head_kv * ((fused_tiles(b) + ATT_TILES - 1) / ATT_TILES);
}

/* How a kernel takes Q^T: floats, filled by the AVX-512 gathers or not, or
 * BF16 pairs. */
typedef enum { Q_FLOAT, Q_FLOAT512, Q_BF16 } q_form;

/* Q^T (scaled) of tile f by 16-lane gathers, one row of a vector at a time:
 * all 16 loads in flight at once (a query row at a time waited on each). */
AVX512 static void q_gather512(const lm_attn_batch *b, const fused_tile *f, float scale)
{
    int G = b->n_head / b->n_head_kv, d = b->head_dim, q_dim = b->n_head * d, t0 = f->c0 / G;
    const float *q = b->q + (size_t)t0 * q_dim; /* offsets within the tile's tokens */
    for (int v = 0; v < f->NV; v++) {
        int at[16];
        for (int k = 0; k < 16; k++) {
            int c = 16 * v + k, cc = c < f->nc ? f->c0 + c : f->c0 + f->nc - 1;
            at[k] = (cc / G - t0) * q_dim + (f->g * G + cc % G) * d;
        }
        __m512i idx = _mm512_loadu_si512(at);
        __mmask16 live = f->nc - 16 * v >= 16 ? 0xffff : (__mmask16)((1u << (f->nc - 16 * v)) - 1);
        for (int i = 0; i < d; i++)
            _mm512_store_ps(f->Qt + (size_t)i * ATT_COLS + 16 * v,
                            _mm512_mul_ps(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx,
                                                                   q + i, 4),
                                          _mm512_set1_ps(scale)));
    }
}

/* Tile c0 / ATT_COLS of KV head g in buf (tile_floats), with Q^T filled and
 * O^T zeroed. */
static void tile_setup(const lm_attn_batch *b, int g, int c0, float *buf, q_form form,
                       fused_tile *t)
{
    int G = b->n_head / b->n_head_kv, d = b->head_dim, q_dim = b->n_head * d;
    fused_tile f = *t;
    f.g = g;
    f.c0 = c0;
    f.nc = b->m * G - f.c0 < ATT_COLS ? b->m * G - f.c0 : ATT_COLS;
    f.NV = (f.nc + 15) / 16;
    f.off = (size_t)f.g * d;
    f.Qt = buf;
    f.Ot = f.Qt + (size_t)d * ATT_COLS;
    f.mx = f.Ot + (size_t)d * ATT_COLS;
    f.l = f.mx + ATT_COLS;
    f.nvis = f.l + ATT_COLS;
    /* scores in units of log2: the softmax's exponentials are powers of 2 */
    float scale = 1.44269504088896341f / sqrtf((float)d);
    for (int c = 0; c < f.NV * 16; c++) {
        /* padding lanes repeat the last pair's keys with Q zero: finite
         * values, never stored, and no key past the tile's last is read */
        int cc = c < f.nc ? f.c0 + c : f.c0 + f.nc - 1;
        int t = cc / G, h = f.g * G + cc % G;
        const float *q = b->q + (size_t)t * q_dim + (size_t)h * d;
        if (form == Q_BF16) {
            uint32_t *qp = (uint32_t *)f.Qt; /* (head_dim / 2, ATT_COLS) BF16 pairs */
            for (int i = 0; i < d; i += 2)
                qp[(size_t)(i / 2) * ATT_COLS + c] =
                    c < f.nc ? lm_f32_to_bf16(q[i] * scale) |
                                   (uint32_t)lm_f32_to_bf16(q[i + 1] * scale) << 16
                             : 0;
        } else if (form == Q_FLOAT) {
            for (int i = 0; i < d; i++)
                f.Qt[(size_t)i * ATT_COLS + c] = c < f.nc ? q[i] * scale : 0.0f;
        }
        f.nvis[c] = (float)(b->p0 + t + 1);
        f.mx[c] = -INFINITY;
        f.l[c] = 0;
    }
    for (int i = 0; i < d; i++)
        memset(f.Ot + (size_t)i * ATT_COLS, 0, (size_t)f.NV * 16 * sizeof(float));
    if (form == Q_FLOAT512)
        q_gather512(b, &f, scale);
    f.n_first = (int)f.nvis[0];
    f.n_last = (int)f.nvis[f.nc - 1];
    *t = f;
}

/* The tiles of task (ATT_TILES or fewer) into f, each set up; returns how
 * many. Tasks hand out the last tiles, which see the most keys, first so
 * that the pool's threads finish together; f[0] sees the most keys. */
static int fused_setup(const lm_attn_batch *b, int task, int thread, q_form form, fused_tile *f)
{
    int d = b->head_dim, first = fused_tiles(b) - 1 - task / b->n_head_kv * ATT_TILES;
    int nt = first + 1 < ATT_TILES ? first + 1 : ATT_TILES;
    float *Kf = thread_scratch(b, thread), *Vf = Kf + (size_t)ATT_KEYS * d;
    float *St = Vf + (size_t)ATT_KEYS * d, *buf = St + (size_t)ATT_KEYS * ATT_COLS;
    /* a task has a tile: said so that an optimizing compiler, which cannot
     * tell nt >= 1, does not see f[0] read uninitialized (Release -Werror) */
    int i = 0;
    do {
        f[i] = (fused_tile){.Kf = Kf, .Vf = Vf, .St = St};
        tile_setup(b, task % b->n_head_kv, (first - i) * ATT_COLS,
                   buf + (size_t)i * tile_floats(d), form, &f[i]);
    } while (++i < nt);
    return nt;
}

/* out = O^T / l for the tile's pairs. */
static void fused_store(const lm_attn_batch *b, const fused_tile *f)
{
    int G = b->n_head / b->n_head_kv, d = b->head_dim, q_dim = b->n_head * d;
    for (int c = 0; c < f->nc; c++) {
        int t = (f->c0 + c) / G, h = f->g * G + (f->c0 + c) % G;
        float *out = b->out + (size_t)t * q_dim + (size_t)h * d, inv = 1.0f / f->l[c];
        for (int i = 0; i < d; i++)
            out[i] = f->Ot[(size_t)i * ATT_COLS + c] * inv;
    }
}

/* kn rows of the cache (keys or values of the tile's KV head) from row k0
 * as float into tile (kn, d), zero rows up to kr. */
static void load_block(const lm_attn_batch *b, const void *cache, size_t off, int k0, int kn,
                      int kr, float *tile)
{
    int d = b->head_dim;
    size_t at = off + (size_t)k0 * b->kv_dim;
    if (b->kv == GGUF_TYPE_F32) {
        for (int k = 0; k < kn; k++)
            memcpy(tile + (size_t)k * d, (const float *)cache + at + (size_t)k * b->kv_dim,
                   (size_t)d * sizeof(float));
    } else if (b->kv == GGUF_TYPE_BF16) {
        lm_bf16_load_rows((const uint16_t *)cache + at, (size_t)b->kv_dim, kn, d, tile);
    } else {
        lm_f16_load_rows((const uint16_t *)cache + at, (size_t)b->kv_dim, kn, d, tile);
    }
    memset(tile + (size_t)kn * d, 0, (size_t)(kr - kn) * d * sizeof(float));
}

/* ---- the fused kernel, AVX-512 ------------------------------------------------- */

#define INLINE AVX512 static inline __attribute__((always_inline))

/* KG rows of scores, keys k0.., into St, and their maxima into bm; when
 * masked, the lanes of a key past a query's last (key >= nvis) are -inf. */
INLINE void store_scores(int NV, int KG, __m512 (*acc)[4], float *St, bool masked, int k0,
                         const float *nvis, __m512 *bm)
{
    _Pragma("GCC unroll 16")
    for (int j = 0; j < KG; j++) {
        __m512 key = _mm512_set1_ps((float)(k0 + j));
        _Pragma("GCC unroll 16")
        for (int v = 0; v < NV; v++) {
            __m512 s = acc[j][v];
            if (masked) {
                __mmask16 seen = _mm512_cmp_ps_mask(key, _mm512_load_ps(nvis + 16 * v),
                                                    _CMP_LT_OQ);
                s = _mm512_mask_blend_ps(seen, _mm512_set1_ps(-INFINITY), s);
            }
            bm[v] = _mm512_max_ps(bm[v], s);
            _mm512_store_ps(St + (size_t)j * ATT_COLS + 16 * v, s);
        }
    }
}

/* S^T (kr, NV * 16) = K (kr, d) Q^T, kr a multiple of KG, and its maxima
 * bm (store_scores). */
INLINE void qk_block(int NV, int KG, const float *Kf, int kr, int d, const float *Qt,
                     float *St, bool masked, int k0, const float *nvis, __m512 *bm)
{
    for (int k = 0; k < kr; k += KG) {
        __m512 acc[8][4];
        _Pragma("GCC unroll 16")
        for (int j = 0; j < KG; j++)
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                acc[j][v] = _mm512_setzero_ps();
        const float *kp = Kf + (size_t)k * d;
        for (int i = 0; i < d; i++) {
            __m512 q[4];
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                q[v] = _mm512_load_ps(Qt + (size_t)i * ATT_COLS + 16 * v);
            _Pragma("GCC unroll 16")
            for (int j = 0; j < KG; j++) {
                __m512 kb = _mm512_set1_ps(kp[(size_t)j * d + i]);
                _Pragma("GCC unroll 16")
                for (int v = 0; v < NV; v++)
                    acc[j][v] = _mm512_fmadd_ps(kb, q[v], acc[j][v]);
            }
        }
        store_scores(NV, KG, acc, St + (size_t)k * ATT_COLS, masked, k0 + k, nvis, bm);
    }
}

/* The online softmax of one block of kn keys whose scores (log2 units)
 * have the maxima bm: the running max mx and sum l move on, S^T becomes
 * P^T, and alpha receives each query's rescaling. A masked key's -inf
 * gives exp2_512's exact 0. With bf16, P is rounded to BF16 (to nearest
 * even; P is finite and >= 0) before it is summed, so the products'
 * weights are the weights l adds up. */
INLINE void softmax_block(int NV, float *St, int kn, const __m512 *bm, float *mx, float *l,
                          __m512 *alpha, bool bf16)
{
    _Pragma("GCC unroll 16")
    for (int v = 0; v < NV; v++) {
        __m512 m0 = _mm512_load_ps(mx + 16 * v), m1 = _mm512_max_ps(m0, bm[v]);
        alpha[v] = exp2_512(_mm512_sub_ps(m0, m1));
        __m512 sum = _mm512_setzero_ps();
        for (int k = 0; k < kn; k++) {
            float *s = St + (size_t)k * ATT_COLS + 16 * v;
            __m512 p = exp2_512(_mm512_sub_ps(_mm512_load_ps(s), m1));
            if (bf16) {
                __m512i u = _mm512_castps_si512(p);
                __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
                u = _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff)));
                p = _mm512_castsi512_ps(_mm512_and_si512(u, _mm512_set1_epi32((int)0xffff0000u)));
            }
            sum = _mm512_add_ps(sum, p);
            _mm512_store_ps(s, p);
        }
        _mm512_store_ps(l + 16 * v, _mm512_fmadd_ps(_mm512_load_ps(l + 16 * v), alpha[v], sum));
        _mm512_store_ps(mx + 16 * v, m1);
    }
}

/* acc = DG rows of O^T times alpha, and back. */
INLINE void load_scaled(int NV, int DG, const float *Ot, const __m512 *alpha, __m512 (*acc)[4])
{
    _Pragma("GCC unroll 16")
    for (int j = 0; j < DG; j++)
        _Pragma("GCC unroll 16")
        for (int v = 0; v < NV; v++)
            acc[j][v] = _mm512_mul_ps(_mm512_load_ps(Ot + (size_t)j * ATT_COLS + 16 * v), alpha[v]);
}

INLINE void store_rows(int NV, int DG, __m512 (*acc)[4], float *Ot)
{
    _Pragma("GCC unroll 16")
    for (int j = 0; j < DG; j++)
        _Pragma("GCC unroll 16")
        for (int v = 0; v < NV; v++)
            _mm512_store_ps(Ot + (size_t)j * ATT_COLS + 16 * v, acc[j][v]);
}

/* O^T (d, NV * 16) = O^T alpha + V^T (d, kn) P^T (kn, NV * 16). */
INLINE void pv_block(int NV, int DG, const float *Vf, int kn, int d, const float *Pt, float *Ot,
                     const __m512 *alpha)
{
    for (int i = 0; i < d; i += DG) {
        __m512 acc[16][4];
        load_scaled(NV, DG, Ot + (size_t)i * ATT_COLS, alpha, acc);
        for (int k = 0; k < kn; k++) {
            __m512 p[4];
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                p[v] = _mm512_load_ps(Pt + (size_t)k * ATT_COLS + 16 * v);
            const float *vp = Vf + (size_t)k * d + i;
            _Pragma("GCC unroll 16")
            for (int j = 0; j < DG; j++) {
                __m512 vb = _mm512_set1_ps(vp[j]);
                _Pragma("GCC unroll 16")
                for (int v = 0; v < NV; v++)
                    acc[j][v] = _mm512_fmadd_ps(vb, p[v], acc[j][v]);
            }
        }
        store_rows(NV, DG, acc, Ot + (size_t)i * ATT_COLS);
    }
}

/* fused_store with each query's output made by gathers from its column
 * of O^T, and stored 16 floats at a time. */
INLINE void fused_store512(const lm_attn_batch *b, const fused_tile *f)
{
    int G = b->n_head / b->n_head_kv, d = b->head_dim, q_dim = b->n_head * d;
    __m512i col = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                       13, 14, 15),
                                     _mm512_set1_epi32(ATT_COLS));
    for (int c = 0; c < f->nc; c++) {
        int t = (f->c0 + c) / G, h = f->g * G + (f->c0 + c) % G;
        float *out = b->out + (size_t)t * q_dim + (size_t)h * d;
        __m512 inv = _mm512_set1_ps(1.0f / f->l[c]);
        for (int i = 0; i < d; i += 16)
            _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_i32gather_ps(
                                                        col, f->Ot + (size_t)i * ATT_COLS + c, 4),
                                                    inv));
    }
}

/* kn rows of an F16 cache from row k0 (the tile's KV head) as float into
 * tile (kn, d), d a multiple of 16, zero rows up to kr; load_block's other
 * cases. */
INLINE void load_block512(const lm_attn_batch *b, const void *cache, size_t off, int k0, int kn,
                          int kr, float *tile)
{
    if (b->kv != GGUF_TYPE_F16) {
        load_block(b, cache, off, k0, kn, kr, tile);
        return;
    }
    int d = b->head_dim;
    const uint16_t *h = (const uint16_t *)cache + off + (size_t)k0 * b->kv_dim;
    for (int k = 0; k < kn; k++)
        for (int i = 0; i < d; i += 16)
            _mm512_store_ps(tile + (size_t)k * d + i,
                            _mm512_cvtph_ps(_mm256_loadu_si256(
                                (const __m256i *)(h + (size_t)k * b->kv_dim + i))));
    memset(tile + (size_t)kn * d, 0, (size_t)(kr - kn) * d * sizeof(float));
}

/* Block k0 of tile f of NV vectors of queries, its keys and values in Kf and
 * Vf: keys up to n_last, masking from key n_first on. */
INLINE void tile_block(int NV, const lm_attn_batch *b, const fused_tile *f, int k0)
{
    int d = b->head_dim, KG = NV == 1 ? 8 : NV == 3 ? 4 : 6, DG = NV == 1 ? 16 : NV == 2 ? 8 : 4;
    int kn = f->n_last - k0 < ATT_KEYS ? f->n_last - k0 : ATT_KEYS;
    int kr = (kn + KG - 1) / KG * KG;
    /* the keys up to kr count (padding, or keys past n_last that another
     * tile of the task sees): their -inf keeps them out of bm */
    bool masked = k0 + kr > f->n_first;
    __m512 alpha[4], bm[4];
    _Pragma("GCC unroll 4")
    for (int v = 0; v < NV; v++)
        bm[v] = _mm512_set1_ps(-INFINITY);
    qk_block(NV, KG, f->Kf, kr, d, f->Qt, f->St, masked, k0, f->nvis, bm);
    softmax_block(NV, f->St, kn, bm, f->mx, f->l, alpha, false);
    pv_block(NV, DG, f->Vf, kn, d, f->St, f->Ot, alpha);
}

AVX512 static void fused_task(void *ctx, int task, int thread)
{
    const lm_attn_batch *b = ctx;
    fused_tile f[ATT_TILES];
    int nt = fused_setup(b, task, thread, Q_FLOAT512, f);
    for (int k0 = 0; k0 < f[0].n_last; k0 += ATT_KEYS) {
        int kn = f[0].n_last - k0 < ATT_KEYS ? f[0].n_last - k0 : ATT_KEYS;
        /* zero rows up to a multiple of every key group (24 <= ATT_KEYS) */
        load_block512(b, b->k, f[0].off, k0, kn, (kn + 23) / 24 * 24, f[0].Kf);
        load_block512(b, b->v, f[0].off, k0, kn, kn, f[0].Vf);
        for (int i = 0; i < nt && k0 < f[i].n_last; i++) {
            switch (f[i].NV) {
            case 1: tile_block(1, b, &f[i], k0); break;
            case 2: tile_block(2, b, &f[i], k0); break;
            case 3: tile_block(3, b, &f[i], k0); break;
            default: tile_block(4, b, &f[i], k0); break;
            }
        }
    }
    for (int i = 0; i < nt; i++)
        fused_store512(b, &f[i]);
}

/* ---- the fused kernel, AVX-512 BF16 --------------------------------------------- */

/* tile_block's steps with both products in vdpbf16ps (each lane adds two
 * BF16 products, exact in float, to a float sum) on a BF16 cache: Q^T holds
 * pairs of dimensions, (head_dim / 2, ATT_COLS), so a key's pair is one
 * 32-bit broadcast straight from its cache row; P^T becomes pairs of keys
 * in place, so a block's values are interleaved by key pairs first. */

#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx512bf16")))
#define INLINE_BF16 AVX512BF16 static inline __attribute__((always_inline))

/* qk_block from the cache: rows ld apart from key k0's, rows past last
 * (padding up to kr) read as last, whose scores are never used. */
INLINE_BF16 void qk_block_bf16(int NV, int KG, const uint16_t *K, size_t ld, int last, int kr,
                               int d, const uint32_t *Qp, float *St, bool masked, int k0,
                               const float *nvis, __m512 *bm)
{
    for (int k = 0; k < kr; k += KG) {
        __m512 acc[8][4];
        const uint16_t *kp[8];
        _Pragma("GCC unroll 16")
        for (int j = 0; j < KG; j++) {
            kp[j] = K + (size_t)(k + j < last ? k + j : last) * ld;
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                acc[j][v] = _mm512_setzero_ps();
        }
        for (int i = 0; i < d / 2; i++) {
            __m512i q[4];
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                q[v] = _mm512_load_si512(Qp + (size_t)i * ATT_COLS + 16 * v);
            _Pragma("GCC unroll 16")
            for (int j = 0; j < KG; j++) {
                uint32_t pair;
                memcpy(&pair, kp[j] + 2 * i, sizeof pair);
                __m512i kb = _mm512_set1_epi32((int)pair);
                _Pragma("GCC unroll 16")
                for (int v = 0; v < NV; v++)
                    acc[j][v] = _mm512_dpbf16_ps(acc[j][v], (__m512bh)kb, (__m512bh)q[v]);
            }
        }
        store_scores(NV, KG, acc, St + (size_t)k * ATT_COLS, masked, k0 + k, nvis, bm);
    }
}

/* P^T (kn, ATT_COLS), already BF16 values, into key pairs in place: row k2
 * holds (P[2 k2], P[2 k2 + 1]) per pair, 0 past kn. Row k2 is written after
 * rows 2 k2 and 2 k2 + 1 are read, and no earlier row is read again. */
INLINE_BF16 void pack_p(int NV, float *St, int kn)
{
    for (int k2 = 0; 2 * k2 < kn; k2++) {
        _Pragma("GCC unroll 16")
        for (int v = 0; v < NV; v++) {
            __m512i a = _mm512_load_si512(St + (size_t)(2 * k2) * ATT_COLS + 16 * v);
            __m512i b = 2 * k2 + 1 < kn
                            ? _mm512_load_si512(St + (size_t)(2 * k2 + 1) * ATT_COLS + 16 * v)
                            : _mm512_setzero_si512();
            /* the even halves from a's top halves, the odd from b's */
            __m512i pair = _mm512_mask_blend_epi16(0xaaaaaaaau, _mm512_srli_epi32(a, 16), b);
            _mm512_store_si512(St + (size_t)k2 * ATT_COLS + 16 * v, pair);
        }
    }
}

/* kn rows of values from V (rows ld apart) as key pairs, Vp (kn / 2
 * rounded up, d): element i of pair k2 is (V[2 k2][i], V[2 k2 + 1][i]),
 * 0 past kn. */
INLINE_BF16 void pack_v(const uint16_t *V, size_t ld, int kn, int d, uint32_t *Vp)
{
    __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                  39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    for (int k2 = 0; 2 * k2 < kn; k2++) {
        const uint16_t *r0 = V + (size_t)(2 * k2) * ld, *r1 = r0 + ld;
        for (int i = 0; i < d; i += 32) {
            __mmask32 m = d - i >= 32 ? 0xffffffffu : 0xffffu; /* d is a multiple of 16 */
            __m512i a = _mm512_maskz_loadu_epi16(m, r0 + i);
            __m512i b = 2 * k2 + 1 < kn ? _mm512_maskz_loadu_epi16(m, r1 + i)
                                        : _mm512_setzero_si512();
            _mm512_storeu_si512(Vp + (size_t)k2 * d + i, _mm512_permutex2var_epi16(a, lo, b));
            if (d - i > 16)
                _mm512_storeu_si512(Vp + (size_t)k2 * d + i + 16,
                                    _mm512_permutex2var_epi16(a, hi, b));
        }
    }
}

/* pv_block over kn2 key pairs: O^T = O^T alpha + V^T P^T. */
INLINE_BF16 void pv_block_bf16(int NV, int DG, const uint32_t *Vp, int kn2, int d,
                               const float *Pp, float *Ot, const __m512 *alpha)
{
    for (int i = 0; i < d; i += DG) {
        __m512 acc[16][4];
        load_scaled(NV, DG, Ot + (size_t)i * ATT_COLS, alpha, acc);
        for (int k2 = 0; k2 < kn2; k2++) {
            __m512i p[4];
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                p[v] = _mm512_load_si512(Pp + (size_t)k2 * ATT_COLS + 16 * v);
            const uint32_t *vp = Vp + (size_t)k2 * d + i;
            _Pragma("GCC unroll 16")
            for (int j = 0; j < DG; j++) {
                __m512i vb = _mm512_set1_epi32((int)vp[j]);
                _Pragma("GCC unroll 16")
                for (int v = 0; v < NV; v++)
                    acc[j][v] = _mm512_dpbf16_ps(acc[j][v], (__m512bh)vb, (__m512bh)p[v]);
            }
        }
        store_rows(NV, DG, acc, Ot + (size_t)i * ATT_COLS);
    }
}

/* tile_block's steps on a BF16 cache, the block's values packed in Vf
 * (pack_v; a key past this tile's n_last that the task's first tile sees
 * is paired with a weight of 0). */
INLINE_BF16 void tile_block_bf16(int NV, const lm_attn_batch *b, const fused_tile *f, int k0)
{
    int d = b->head_dim, KG = NV == 1 ? 8 : NV == 3 ? 4 : 6, DG = NV == 1 ? 16 : NV == 2 ? 8 : 4;
    size_t ld = (size_t)b->kv_dim;
    int kn = f->n_last - k0 < ATT_KEYS ? f->n_last - k0 : ATT_KEYS;
    int kr = (kn + KG - 1) / KG * KG;
    bool masked = k0 + kr > f->n_first;
    __m512 alpha[4], bm[4];
    _Pragma("GCC unroll 4")
    for (int v = 0; v < NV; v++)
        bm[v] = _mm512_set1_ps(-INFINITY);
    qk_block_bf16(NV, KG, (const uint16_t *)b->k + f->off + (size_t)k0 * ld, ld, kn - 1, kr, d,
                  (const uint32_t *)f->Qt, f->St, masked, k0, f->nvis, bm);
    softmax_block(NV, f->St, kn, bm, f->mx, f->l, alpha, true);
    pack_p(NV, f->St, kn);
    pv_block_bf16(NV, DG, (const uint32_t *)f->Vf, (kn + 1) / 2, d, f->St, f->Ot, alpha);
}

AVX512BF16 static void fused_task_bf16(void *ctx, int task, int thread)
{
    const lm_attn_batch *b = ctx;
    fused_tile f[ATT_TILES];
    int nt = fused_setup(b, task, thread, Q_BF16, f);
    const uint16_t *V = (const uint16_t *)b->v + f[0].off;
    size_t ld = (size_t)b->kv_dim;
    for (int k0 = 0; k0 < f[0].n_last; k0 += ATT_KEYS) {
        int kn = f[0].n_last - k0 < ATT_KEYS ? f[0].n_last - k0 : ATT_KEYS;
        pack_v(V + (size_t)k0 * ld, ld, kn, b->head_dim, (uint32_t *)f[0].Vf);
        for (int i = 0; i < nt && k0 < f[i].n_last; i++) {
            switch (f[i].NV) {
            case 1: tile_block_bf16(1, b, &f[i], k0); break;
            case 2: tile_block_bf16(2, b, &f[i], k0); break;
            case 3: tile_block_bf16(3, b, &f[i], k0); break;
            default: tile_block_bf16(4, b, &f[i], k0); break;
            }
        }
    }
    for (int i = 0; i < nt; i++)
        fused_store512(b, &f[i]);
}

/* ---- the fused kernel, AVX2 ------------------------------------------------------ */

/* The same steps over 8 lanes: the tile's 16-pair groups one at a time
 * (two ymm of queries; AVX2 has 16 registers), keys in groups of 4. */

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE2 AVX2 static inline __attribute__((always_inline))

/* exp2_512 on 8 lanes, x <= 0; 2^n made in the exponent bits, which
 * hold 0 at n = -127, so that x = -inf (clamped to -127) gives 0. */
INLINE2 __m256 exp2_256(__m256 x)
{
    x = _mm256_max_ps(x, _mm256_set1_ps(-127.0f));
    __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_sub_ps(x, n);
    __m256 q = _mm256_set1_ps(EXP2_Q[0]);
#pragma GCC unroll 8
    for (int i = 1; i < EXP2_Q_TERMS; i++)
        q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(EXP2_Q[i]));
    __m256 p = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
}

/* S^T = K Q^T for the 16 pairs from column c, kr a multiple of 4. */
INLINE2 void qk_group2(const float *Kf, int kr, int d, const float *Qt, float *St, bool masked,
                       int k0, const float *nvis)
{
    for (int k = 0; k < kr; k += 4) {
        __m256 acc[4][2];
        _Pragma("GCC unroll 4")
        for (int j = 0; j < 4; j++)
            acc[j][0] = acc[j][1] = _mm256_setzero_ps();
        const float *kp = Kf + (size_t)k * d;
        for (int i = 0; i < d; i++) {
            __m256 q0 = _mm256_load_ps(Qt + (size_t)i * ATT_COLS);
            __m256 q1 = _mm256_load_ps(Qt + (size_t)i * ATT_COLS + 8);
            _Pragma("GCC unroll 4")
            for (int j = 0; j < 4; j++) {
                __m256 kb = _mm256_broadcast_ss(kp + (size_t)j * d + i);
                acc[j][0] = _mm256_fmadd_ps(kb, q0, acc[j][0]);
                acc[j][1] = _mm256_fmadd_ps(kb, q1, acc[j][1]);
            }
        }
        _Pragma("GCC unroll 4")
        for (int j = 0; j < 4; j++) {
            __m256 key = _mm256_set1_ps((float)(k0 + k + j));
            for (int v = 0; v < 2; v++) {
                __m256 s = acc[j][v];
                if (masked) {
                    __m256 seen = _mm256_cmp_ps(key, _mm256_load_ps(nvis + 8 * v), _CMP_LT_OQ);
                    s = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), s, seen);
                }
                _mm256_store_ps(St + (size_t)(k + j) * ATT_COLS + 8 * v, s);
            }
        }
    }
}

/* softmax_block for one 8-lane vector of pairs from column c. */
INLINE2 __m256 softmax_lane8(float *St, int kn, float *mx, float *l)
{
    __m256 bm = _mm256_set1_ps(-INFINITY);
    for (int k = 0; k < kn; k++)
        bm = _mm256_max_ps(bm, _mm256_load_ps(St + (size_t)k * ATT_COLS));
    __m256 m0 = _mm256_load_ps(mx), m1 = _mm256_max_ps(m0, bm);
    __m256 alpha = exp2_256(_mm256_sub_ps(m0, m1)), sum = _mm256_setzero_ps();
    for (int k = 0; k < kn; k++) {
        float *s = St + (size_t)k * ATT_COLS;
        __m256 p = exp2_256(_mm256_sub_ps(_mm256_load_ps(s), m1));
        sum = _mm256_add_ps(sum, p);
        _mm256_store_ps(s, p);
    }
    _mm256_store_ps(l, _mm256_fmadd_ps(_mm256_load_ps(l), alpha, sum));
    _mm256_store_ps(mx, m1);
    return alpha;
}

/* O^T = O^T alpha + V^T P^T for the 16 pairs from column c. */
INLINE2 void pv_group2(const float *Vf, int kn, int d, const float *Pt, float *Ot, __m256 a0,
                       __m256 a1)
{
    for (int i = 0; i < d; i += 4) {
        __m256 acc[4][2];
        _Pragma("GCC unroll 4")
        for (int j = 0; j < 4; j++) {
            acc[j][0] = _mm256_mul_ps(_mm256_load_ps(Ot + (size_t)(i + j) * ATT_COLS), a0);
            acc[j][1] = _mm256_mul_ps(_mm256_load_ps(Ot + (size_t)(i + j) * ATT_COLS + 8), a1);
        }
        for (int k = 0; k < kn; k++) {
            __m256 p0 = _mm256_load_ps(Pt + (size_t)k * ATT_COLS);
            __m256 p1 = _mm256_load_ps(Pt + (size_t)k * ATT_COLS + 8);
            const float *vp = Vf + (size_t)k * d + i;
            _Pragma("GCC unroll 4")
            for (int j = 0; j < 4; j++) {
                __m256 vb = _mm256_broadcast_ss(vp + j);
                acc[j][0] = _mm256_fmadd_ps(vb, p0, acc[j][0]);
                acc[j][1] = _mm256_fmadd_ps(vb, p1, acc[j][1]);
            }
        }
        _Pragma("GCC unroll 4")
        for (int j = 0; j < 4; j++) {
            _mm256_store_ps(Ot + (size_t)(i + j) * ATT_COLS, acc[j][0]);
            _mm256_store_ps(Ot + (size_t)(i + j) * ATT_COLS + 8, acc[j][1]);
        }
    }
}

AVX2 static void fused_task_avx2(void *ctx, int task, int thread)
{
    const lm_attn_batch *b = ctx;
    fused_tile f[ATT_TILES];
    int nt = fused_setup(b, task, thread, Q_FLOAT, f), d = b->head_dim;
    for (int k0 = 0; k0 < f[0].n_last; k0 += ATT_KEYS) {
        int kn0 = f[0].n_last - k0 < ATT_KEYS ? f[0].n_last - k0 : ATT_KEYS;
        load_block(b, b->k, f[0].off, k0, kn0, (kn0 + 3) / 4 * 4, f[0].Kf);
        load_block(b, b->v, f[0].off, k0, kn0, kn0, f[0].Vf);
        for (int i = 0; i < nt && k0 < f[i].n_last; i++) {
            const fused_tile *t = &f[i];
            int kn = t->n_last - k0 < ATT_KEYS ? t->n_last - k0 : ATT_KEYS, kr = (kn + 3) / 4 * 4;
            bool masked = k0 + kn > t->n_first;
            for (int c = 0; c < 16 * t->NV; c += 16) {
                qk_group2(t->Kf, kr, d, t->Qt + c, t->St + c, masked, k0, t->nvis + c);
                __m256 a0 = softmax_lane8(t->St + c, kn, t->mx + c, t->l + c);
                __m256 a1 = softmax_lane8(t->St + c + 8, kn, t->mx + c + 8, t->l + c + 8);
                pv_group2(t->Vf, kn, d, t->St + c, t->Ot + c, a0, a1);
            }
        }
    }
    for (int i = 0; i < nt; i++)
        fused_store(b, &f[i]);
}

/* ---- the scalar reference ------------------------------------------------ */

static float cache_value(const lm_attn_batch *b, const void *cache, size_t at)
{
    if (b->kv == GGUF_TYPE_F32)
        return ((const float *)cache)[at];
    uint16_t h = ((const uint16_t *)cache)[at];
    return b->kv == GGUF_TYPE_BF16 ? lm_bf16_to_f32(h) : lm_f16_to_f32(h);
}

enum { REF_SLICE = 64 };

/* One query head over its visible keys, task = head * m + query. */
static void ref_task(void *ctx, int task, int thread)
{
    const lm_attn_batch *b = ctx;
    int h = task / b->m, t = task % b->m, d = b->head_dim, q_dim = b->n_head * d;
    int g = h / (b->n_head / b->n_head_kv), n = b->p0 + t + 1;
    const float *q = b->q + (size_t)t * q_dim + (size_t)h * d;
    float *out = b->out + (size_t)t * q_dim + (size_t)h * d;
    float *s = thread_scratch(b, thread); /* (n) */
    float scale = 1.0f / sqrtf((float)d), mx = -INFINITY;
    for (int i = 0; i < n; i++) {
        double dot = 0;
        for (int k = 0; k < d; k++)
            dot += (double)q[k] * cache_value(b, b->k, (size_t)i * b->kv_dim + (size_t)g * d + k);
        s[i] = (float)dot * scale;
        mx = s[i] > mx ? s[i] : mx;
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
        s[i] = expf(s[i] - mx);
        sum += s[i];
    }
    /* Values a slice of REF_SLICE columns at a time, each summed over the
     * keys in key order: a key's row is read once per slice, not once per
     * column (CPUs without AVX2 run this, so it must not stride the cache
     * at every term). */
    for (int k0 = 0; k0 < d; k0 += REF_SLICE) {
        int w = d - k0 < REF_SLICE ? d - k0 : REF_SLICE;
        double acc[REF_SLICE] = {0};
        for (int i = 0; i < n; i++) {
            size_t row = (size_t)i * b->kv_dim + (size_t)g * d + (size_t)k0;
            for (int k = 0; k < w; k++)
                acc[k] += (double)s[i] * cache_value(b, b->v, row + (size_t)k);
        }
        for (int k = 0; k < w; k++)
            out[k0 + k] = (float)(acc[k] / sum);
    }
}

void lm_attention(bert_pool *p, const lm_attn_batch *b)
{
    int isa = lm_isa_get();
    if (isa >= LM_ISA_AVX2 && b->head_dim % 16 == 0) {
        void (*task)(void *, int, int) = isa >= LM_ISA_BF16 && b->kv == GGUF_TYPE_BF16
                                             ? fused_task_bf16
                                         : isa >= LM_ISA_VNNI ? fused_task
                                                              : fused_task_avx2;
        bert_pool_run(p, task, (void *)b, fused_tasks(b));
    } else {
        bert_pool_run(p, ref_task, (void *)b, b->n_head * b->m);
    }
}
