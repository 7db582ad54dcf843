/* lm_gemv.c - decode's matrix-vector product: one token of int8 activations
 * against a quantized matrix, AVX-512 VNNI, one kernel per weight type
 * reading the GGUF blocks where they lie in the mapping (lm_quant.c gives the
 * layouts), and lm_matvec_many, which slices one token's products into the
 * pool's tasks. Chosen by lm_matmul for one token; tested against
 * lm_dot_ref.
 *
 * Decode reads every weight once per token, so a kernel must get through
 * its bytes well faster than memory delivers them. Each kernel therefore:
 *   - runs GEMV_ROWS rows per pass, which share the activation loads and the
 *     activation's per-block scales and sums, each row with two
 *     accumulators so that no add waits for the one before (Q4_K: one, which
 *     takes a single add per super-block);
 *   - makes the codes with one or two vector operations per 64 of them: a
 *     Q4_K byte's high nibble is used in place, as 16 times its value (its
 *     sub-block's scale carries the 1/16), Q5_K's and Q6_K's high bits are
 *     rotated into place with one vprold and merged with one vpternlog;
 *   - applies a block's offset (Q4_0's -8, Q8_0's -128 after making its codes
 *     unsigned, the K-quants' mins, Q6_K's -32) once per block to the
 *     activation's sums, not to the codes;
 *   - unpacks the 6-bit scales of Q4_K in general registers, Q5_K's with
 *     byte shuffles;
 *   - asks for the bytes GEMV_PREFETCH ahead of each row.
 * Products of 64 codes (two blocks of 32) go through one vpdpbusd, one
 * conversion and one fused multiply-add with the pair's scales; Q4_K's 256
 * codes of a super-block through four vpdpbusd into one vector, then one
 * conversion and one multiply-add (gemv_q4k). What bounds these loops on
 * this CPU is their vector instructions per byte, above all the shuffles:
 * Q4_K's scale unpacking with byte shuffles took a third of its kernel's
 * time, the shuffles alone a sixth (bench/README.md).
 */
#include "embed/lm_impl.h"

#include <immintrin.h>
#include <string.h>

#define GEMV_TARGET                                                                        \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define GEMV_INLINE static inline __attribute__((always_inline)) GEMV_TARGET

/* Rows per pass. The rows of a pass lie far apart (two halves of a task's
 * rows side by side): on this Zen 4, two rows next to each other in memory
 * read together streamed 30-40% slower from memory than one at a time,
 * while rows in different pages kept one row's speed. */
enum { GEMV_ROWS = 2 };
/* Bytes ahead of the current block asked for with a prefetch, per row
 * stream: the hardware prefetcher keeps too few misses in flight to reach
 * the memory's bandwidth from one thread. */
enum { GEMV_PREFETCH = 2048 };

bool lm_gemv_fits(const lm_mat *W)
{
    switch (W->type) {
    case GGUF_TYPE_Q8_0:
    case GGUF_TYPE_Q4_0:
        return W->K % 64 == 0;
    case GGUF_TYPE_Q4_K:
    case GGUF_TYPE_Q5_K:
    case GGUF_TYPE_Q6_K:
        return W->K % 256 == 0;
    default:
        return false;
    }
}

GEMV_INLINE float half_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* The sums of R accumulator pairs into y[0], y[ys], ... */
GEMV_INLINE void store_sums(const __m512 *acc, const __m512 *acc2, const int R, float *y, size_t ys)
{
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        y[r * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], acc2[r]));
}

/* Lanes 0-7 from element i of v, lanes 8-15 from element i + 1: a pair of
 * blocks' scales. */
GEMV_INLINE __m512i pair_index(int i)
{
    return _mm512_set_epi32(i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i, i, i, i, i, i,
                            i, i);
}

/* A pair's product, codes q against the activation's 64 bytes xv, times
 * the pair's scales: into acc for an even pair p, acc2 for an odd one, so
 * that no add waits for the one before. */
GEMV_INLINE void add_pair(__m512 *acc, __m512 *acc2, int p, __m512i q, __m512i xv, __m512 sc)
{
    __m512 f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, xv));
    if (p % 2)
        *acc2 = _mm512_fmadd_ps(f, sc, *acc2);
    else
        *acc = _mm512_fmadd_ps(f, sc, *acc);
}

/* ---- Q8_0 and Q4_0: blocks of 32 with a binary16 scale ------------------------- */

/* R rows from row, rs bytes apart, into y[0], y[ys], ...: a pair of blocks
 * at a time, its two scales read as one 32-bit word (a gather of a group's
 * scales waits for all its cache lines: from memory it stalled the loop). */
GEMV_INLINE void gemv_q32(const lm_mat *W, const uint8_t *row, size_t rs, const lm_qrow *x, float *y,
                          size_t ys, const int R, const bool q8)
{
    const int bytes = q8 ? 34 : 18;
    const int nb = W->K / 32;
    const __m512i halves = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    /* Q4_0: each 16-byte half of a pair's codes twice, then the low nibbles
     * in the first copy and the high in the second */
    const __m512i q4_dup = _mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0);
    const __m512i q4_shift = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
    __m512 acc[GEMV_ROWS], acc2[GEMV_ROWS];
    __m128 off[GEMV_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        acc[r] = acc2[r] = _mm512_setzero_ps();
        off[r] = _mm_setzero_ps();
    }
    for (int b = 0; b < nb; b += 2) {
        __m512i xv = _mm512_loadu_si512(x->q + 32 * b);
        /* the two blocks' activation scales and sums of codes times scale */
        /* two floats as one 64-bit load (__m128i may alias them; a double
         * read of float storage would not) */
        __m128 dx = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(x->d + b)));
        __m128 sums = _mm_hadd_ps(_mm_loadu_ps(x->dsx + 2 * b), _mm_setzero_ps());
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const uint8_t *p = row + r * rs + (size_t)b * bytes;
            _mm_prefetch((const char *)p + GEMV_PREFETCH, _MM_HINT_T0);
            uint16_t h0, h1;
            memcpy(&h0, p, 2);
            memcpy(&h1, p + bytes, 2);
            __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(h0 | (uint32_t)h1 << 16)));
            off[r] = _mm_fmadd_ps(dw, sums, off[r]);
            __m512i q;
            if (q8) {
                q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p + 2))),
                                       _mm256_loadu_si256((const __m256i *)(p + bytes + 2)), 1);
                q = _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80)); /* q + 128 */
            } else {
                __m256i c = _mm256_loadu2_m128i((const __m128i *)(p + bytes + 2), (const __m128i *)(p + 2));
                q = _mm512_permutexvar_epi64(q4_dup, _mm512_castsi256_si512(c));
                q = _mm512_and_si512(_mm512_srlv_epi64(q, q4_shift), _mm512_set1_epi8(0xF));
            }
            __m512 f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, xv));
            __m512 sc = _mm512_permutexvar_ps(halves, _mm512_castps128_ps512(_mm_mul_ps(dw, dx)));
            /* pairs alternate between two accumulators: each add waits
             * for the one two pairs back */
            __m512 older = acc2[r];
            acc2[r] = acc[r];
            acc[r] = _mm512_fmadd_ps(f, sc, older);
        }
    }
    /* the offsets: Q8_0's codes went in as q + 128, Q4_0's are q + 8 */
    const float c = q8 ? -128.0f : -8.0f;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        __m128 o = _mm_mul_ps(off[r], _mm_set1_ps(c));
        acc[r] = _mm512_add_ps(acc[r], _mm512_zextps128_ps512(o));
    }
    store_sums(acc, acc2, R, y, ys);
}

/* The super-block of `bytes` bytes at p, after asking for the bytes
 * GEMV_PREFETCH ahead of it. */
GEMV_INLINE const uint8_t *super_block_ahead(const uint8_t *p, const int bytes)
{
#pragma GCC unroll 8
    for (int o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + GEMV_PREFETCH + o, _MM_HINT_T0);
    return p;
}

/* The activation's 256 codes of super-block s, 64 to a vector. */
GEMV_INLINE void super_block_codes(const lm_qrow *x, int s, __m512i xv[4])
{
#pragma GCC unroll 8
    for (int p = 0; p < 4; p++)
        xv[p] = _mm512_loadu_si512(x->q + 256 * s + 64 * p);
}

/* ---- Q4_K and Q5_K: super-blocks of 256, eight sub-blocks with 6-bit scales
 * and mins ---------------------------------------------------------------------- */

/* The eight scales and eight mins of the super-block at sup as floats (see
 * k4_scale_min in lm_quant.c): lanes 0-7 d sc, 8-15 dmin m. */
GEMV_INLINE __m512 k4_scales(const uint8_t *sup)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(sup + 4)); /* the 12 bytes and 4 codes */
    /* low bits: scales 0-3 and mins 0-3 in bytes 0-7 (6 bits), scales 4-7 in
     * the low nibbles of bytes 8-11, mins 4-7 in their high nibbles */
    __m128i lo = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    __m128i hi_nib = _mm_and_si128(_mm_srli_epi16(lo, 4), _mm_set1_epi8(0xF));
    lo = _mm_and_si128(lo, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0));
    lo = _mm_mask_blend_epi8((__mmask16)0xF000, lo, hi_nib);
    /* the top 2 bits of scales 4-7 and mins 4-7: bits 6-7 of bytes 0-3 and 4-7 */
    __m128i top = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    top = _mm_and_si128(_mm_srli_epi16(top, 2), _mm_set1_epi8(0x30));
    __m512 sm = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_or_si128(lo, top)));
    uint32_t dd;
    memcpy(&dd, sup, 4);
    __m512 dm = _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                      _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)dd))));
    return _mm512_mul_ps(sm, dm);
}

GEMV_INLINE void gemv_k4(const lm_mat *W, const uint8_t *row, size_t rs, const lm_qrow *x, float *y,
                         size_t ys, const int R, const bool five)
{
    const int bytes = five ? 176 : 144, qs = five ? 48 : 16;
    const __m512i even = _mm512_set_epi32(14, 12, 10, 8, 6, 4, 2, 0, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    /* Q4_K: low nibbles of 32 bytes, then the high ones in place (16 q) */
    const __m512i nibbles = _mm512_inserti64x4(_mm512_set1_epi8(0xF), _mm256_set1_epi8((char)0xF0), 1);
    /* 1 for an even sub-block, 1/16 for an odd one (Q4_K's in-place high
     * nibbles); 1 for the mins */
    const __m512 sixteenth = _mm512_set_ps(1, 1, 1, 1, 1, 1, 1, 1, 0.0625f, 1, 0.0625f, 1, 0.0625f, 1,
                                           0.0625f, 1);
    const __m512i shift4 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    __m512 acc[GEMV_ROWS], acc2[GEMV_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        acc[r] = acc2[r] = _mm512_setzero_ps();
    for (int s = 0; s < W->K / 256; s++) {
        /* the activation's block scales (lanes 0-7) and block sums (8-15) */
        __m512 dsx = _mm512_loadu_ps(x->dsx + 16 * s);
        __m512 sums = _mm512_add_ps(_mm512_permutexvar_ps(even, dsx), _mm512_permutexvar_ps(odd, dsx));
        __m512 xd = _mm512_insertf32x8(sums, _mm256_loadu_ps(x->d + 8 * s), 0);
        if (!five)
            xd = _mm512_mul_ps(xd, sixteenth);
        __m512i xv[4];
        super_block_codes(x, s, xv);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const uint8_t *sup = super_block_ahead(row + r * rs + (size_t)s * bytes, bytes);
            __m512 v = _mm512_mul_ps(k4_scales(sup), xd);
            /* the mins, against the activation's sums */
            acc2[r] = _mm512_mask_sub_ps(acc2[r], (__mmask16)0xFF00, acc2[r], v);
            __m512i qh = five ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(sup + 16)))
                              : _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int p = 0; p < 4; p++) {
                __m512i c = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(sup + qs + 32 * p)));
                __m512i q;
                if (five) {
                    /* bit 2p (first half) or 2p + 1 (second) of each qh byte
                     * to bit 4 of the code */
                    __m512i rot = _mm512_inserti64x4(_mm512_set1_epi32((4 - 2 * p) & 31),
                                                     _mm256_set1_epi32((3 - 2 * p) & 31), 1);
                    q = _mm512_and_si512(_mm512_srlv_epi16(c, shift4), _mm512_set1_epi8(0xF));
                    q = _mm512_ternarylogic_epi32(q, _mm512_rolv_epi32(qh, rot), _mm512_set1_epi8(0x10),
                                                  0xF8); /* q | (rot & 0x10) */
                } else {
                    q = _mm512_and_si512(c, nibbles);
                }
                add_pair(&acc[r], &acc2[r], p, q, xv[p], _mm512_permutexvar_ps(pair_index(2 * p), v));
            }
        }
    }
    store_sums(acc, acc2, R, y, ys);
}

/* Q4_K with the products of a super-block's eight sub-blocks summed in one
 * vector: four vpdpbusd, each over 8 codes of every sub-block (a 64-bit
 * chunk per sub-block, two lanes), so that one conversion and one
 * multiply-add take the whole super-block, mins included: the two lanes of
 * a sub-block are added into the even one, and the odd one takes the sum of
 * the activation's codes of that block (made once per call), which meets
 * -dmin times the min there.
 *
 * The codes' chunks: 64-bit element 4p + i of the super-block's 128 bytes
 * of codes is chunk i of pair p, whose low nibbles are sub-block 2p and high
 * ones 2p + 1. The two halves' in-lane unpacks (lo, hi), and both with
 * their 128-bit lanes swapped, hold in chunk c the chunks Q4K_CHUNK[k][c] of
 * pairs 0 2 0 2 1 3 1 3; masked to the low nibble in chunks 0, 1, 4, 5 and
 * the high in 2, 3, 6, 7, each is one chunk of every sub-block, sub-block
 * Q4K_SUB[c] in chunk c. Cross-lane two-source permutes instead cost an
 * eighth more time. The activation's chunks are arranged to match once per
 * call (q4k_arrange), at most GEMV_ARRANGED_MAX codes (longer rows take
 * gemv_k4). */
enum { GEMV_ARRANGED_MAX = 32768 };

/* x's codes in the order gemv_q4k takes them: for super-block s and
 * k = 0..3, 64 bytes at 256 s + 64 k, in chunk c bytes 8 Q4K_CHUNK[k][c] to
 * 8 Q4K_CHUNK[k][c] + 7 of sub-block Q4K_SUB[c]; and in the odd lanes of
 * sums[16 s ...], the sum of each chunk's sub-block's codes. */
typedef struct {
    int8_t q[GEMV_ARRANGED_MAX] __attribute__((aligned(64)));
    int32_t sums[GEMV_ARRANGED_MAX / 16] __attribute__((aligned(64)));
} q4k_arranged;

/* Which sub-block each 64-bit chunk of gemv_q4k's products holds, and which
 * of its four 8-byte chunks product k takes there (see above). */
static const int Q4K_SUB[8] = {0, 4, 1, 5, 2, 6, 3, 7};
static const int Q4K_CHUNK[4][8] = {
    {0, 0, 2, 2, 0, 0, 2, 2}, {1, 1, 3, 3, 1, 1, 3, 3}, {2, 2, 0, 0, 2, 2, 0, 0}, {3, 3, 1, 1, 3, 3, 1, 1}};

GEMV_INLINE void q4k_arrange(const lm_qrow *x, int K, q4k_arranged *a)
{
    for (int s = 0; s < K / 256; s++) {
        __m512i xv[4];
        super_block_codes(x, s, xv);
        __m512i sum = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            /* chunk c: sub-block Q4K_SUB[c]'s 8 codes Q4K_CHUNK[k][c], the
             * super-block's 64-bit element 4 Q4K_SUB[c] + Q4K_CHUNK[k][c]:
             * of xv[0..1] for even c, xv[2..3] for odd */
            long long g[8];
            for (int c = 0; c < 8; c++)
                g[c] = 4 * Q4K_SUB[c] + Q4K_CHUNK[k][c] - (c % 2) * 16;
            __m512i idx = _mm512_set_epi64(g[7], g[6], g[5], g[4], g[3], g[2], g[1], g[0]);
            __m512i lo = _mm512_permutex2var_epi64(xv[0], idx, xv[1]);
            __m512i hi = _mm512_permutex2var_epi64(xv[2], idx, xv[3]);
            __m512i c = _mm512_mask_blend_epi64((__mmask8)0xAA, lo, hi);
            _mm512_store_si512(a->q + 256 * s + 64 * k, c);
            /* each chunk's codes + 128, summed */
            sum = _mm512_add_epi64(sum, _mm512_sad_epu8(_mm512_xor_si512(c, _mm512_set1_epi8((char)0x80)),
                                                         _mm512_setzero_si512()));
        }
        sum = _mm512_sub_epi64(sum, _mm512_set1_epi64(32 * 128));
        _mm512_store_si512(a->sums + 16 * s, _mm512_slli_epi64(sum, 32));
    }
}

/* The eight scales and mins of the Q4_K super-block at sup (k4_scale_min in
 * lm_quant.c) as floats in gemv_q4k's chunk order: lanes 2c and 2c + 1 d sc
 * and dmin m of sub-block Q4K_SUB[c]. The 6-bit fields are cut out in
 * general registers, which the vector loop leaves idle, not with byte
 * shuffles. */
GEMV_INLINE __m512 k4_scales_interleaved(const uint8_t *sup)
{
    uint64_t a;
    uint32_t b, dd;
    memcpy(&dd, sup, 4);
    memcpy(&a, sup + 4, 8);
    memcpy(&b, sup + 12, 4);
    uint32_t a0 = (uint32_t)a, a1 = (uint32_t)(a >> 32);
    /* scales 0-3 and mins 0-3; scales 4-7; mins 4-7 */
    uint64_t low = a & 0x3F3F3F3F3F3F3F3Full;
    uint32_t sc = (b & 0x0F0F0F0Fu) | (a0 >> 2 & 0x30303030u);
    uint32_t m = (b >> 4 & 0x0F0F0F0Fu) | (a1 >> 2 & 0x30303030u);
    __m128i v = _mm_set_epi64x((long long)(sc | (uint64_t)m << 32), (long long)low);
    /* bytes: scales 0-3, mins 0-3, scales 4-7, mins 4-7; to Q4K_SUB's order */
    v = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    __m512 dm = _mm512_cvtph_ps(_mm256_set1_epi32((int)dd)); /* d, dmin, d, dmin, ... */
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)), dm);
}

GEMV_INLINE void gemv_q4k(const lm_mat *W, const uint8_t *row, size_t rs, const q4k_arranged *xa,
                          const lm_qrow *x, float *y, size_t ys, const int R)
{
    /* lanes 2c and 2c + 1: sub-block Q4K_SUB[c]'s block */
    const __m512i dup = _mm512_set_epi32(7, 7, 3, 3, 6, 6, 2, 2, 5, 5, 1, 1, 4, 4, 0, 0);
    /* the high nibbles are used in place (16 q) */
    const long long lo4 = 0x0F0F0F0F0F0F0F0Fll, hi4 = (long long)0xF0F0F0F0F0F0F0F0ull;
    const __m512i nibbles = _mm512_set_epi64(hi4, hi4, lo4, lo4, hi4, hi4, lo4, lo4);
    /* per chunk: the scale's factor (1/16 for an odd sub-block's in-place
     * high nibbles), then the min's */
    const __m512 sign = _mm512_set_ps(-1, 0.0625f, -1, 0.0625f, -1, 1, -1, 1, -1, 0.0625f, -1, 0.0625f,
                                      -1, 1, -1, 1);
    __m512 acc[GEMV_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        acc[r] = _mm512_setzero_ps();
    for (int s = 0; s < W->K / 256; s++) {
        /* the activation's block scales, each twice */
        __m512 xd = _mm512_mul_ps(
            _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(x->d + 8 * s))), sign);
        __m512i sums = _mm512_load_si512(xa->sums + 16 * s);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const uint8_t *sup = super_block_ahead(row + r * rs + (size_t)s * 144, 144);
            __m512 v = _mm512_mul_ps(k4_scales_interleaved(sup), xd);
            __m512i z0 = _mm512_loadu_si512(sup + 16), z1 = _mm512_loadu_si512(sup + 80);
            __m512i lo = _mm512_unpacklo_epi64(z0, z1), hi = _mm512_unpackhi_epi64(z0, z1);
            __m512i ops[4] = {lo, hi, _mm512_shuffle_i64x2(lo, lo, 0xB1), _mm512_shuffle_i64x2(hi, hi, 0xB1)};
            __m512i d = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                d = _mm512_dpbusd_epi32(d, _mm512_and_si512(ops[k], nibbles),
                                        _mm512_load_si512(xa->q + 256 * s + 64 * k));
            /* even lanes: a sub-block's product; odd: its activation sum */
            d = _mm512_mask_add_epi32(sums, (__mmask16)0x5555, d, _mm512_srli_epi64(d, 32));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), v, acc[r]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        y[r * ys] = _mm512_reduce_add_ps(acc[r]);
}

/* ---- Q6_K: super-blocks of 256, sixteen int8 scales, codes - 32 ----------- */

GEMV_INLINE void gemv_q6k(const lm_mat *W, const uint8_t *row, size_t rs, const lm_qrow *x, float *y,
                          size_t ys, const int R)
{
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    __m512 acc[GEMV_ROWS], acc2[GEMV_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        acc[r] = acc2[r] = _mm512_setzero_ps();
    for (int s = 0; s < W->K / 256; s++) {
        /* each scale's 16 values: the activation's block scale, and the sum
         * times -32 */
        __m512 xd = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(x->d + 8 * s)));
        __m512 xs = _mm512_mul_ps(_mm512_loadu_ps(x->dsx + 16 * s), _mm512_set1_ps(-32.0f));
        __m512i xv[4];
        super_block_codes(x, s, xv);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const uint8_t *sup = super_block_ahead(row + r * rs + (size_t)s * 210, 210);
            __m512 sc = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sup + 192)))),
                _mm512_set1_ps(half_at(sup + 208)));
            acc2[r] = _mm512_fmadd_ps(sc, xs, acc2[r]);
            __m512 v = _mm512_mul_ps(sc, xd);
#pragma GCC unroll 8
            for (int h = 0; h < 2; h++) {
                /* values 128 h + 32 g + l: low bits in ql[64 h + l + 32 (g & 1)],
                 * high nibble for g >= 2; top bits at bit 2 g of qh[32 h + l] */
                __m512i ql = _mm512_loadu_si512(sup + 64 * h);
                __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(sup + 128 + 32 * h)));
#pragma GCC unroll 8
                for (int g = 0; g < 4; g += 2) {
                    int p = 2 * h + g / 2;
                    __m512i lo = g ? _mm512_srli_epi16(ql, 4) : ql;
                    __m512i rot = _mm512_inserti64x4(_mm512_set1_epi32((4 - 2 * g) & 31),
                                                     _mm256_set1_epi32((2 - 2 * g) & 31), 1);
                    /* (lo & 0xF) | (rot & 0x30), per byte */
                    __m512i q = _mm512_ternarylogic_epi32(_mm512_and_si512(lo, _mm512_set1_epi8(0xF)),
                                                          _mm512_rolv_epi32(qh, rot),
                                                          _mm512_set1_epi8(0x30), 0xF8);
                    /* lanes 4 i .. 4 i + 3 from scale 4 p + i */
                    __m512i idx = _mm512_set_epi32(4 * p + 3, 4 * p + 3, 4 * p + 3, 4 * p + 3, 4 * p + 2,
                                                   4 * p + 2, 4 * p + 2, 4 * p + 2, 4 * p + 1, 4 * p + 1,
                                                   4 * p + 1, 4 * p + 1, 4 * p, 4 * p, 4 * p, 4 * p);
                    add_pair(&acc[r], &acc2[r], p, q, xv[p], _mm512_permutexvar_ps(idx, v));
                }
            }
        }
    }
    store_sums(acc, acc2, R, y, ys);
}

/* ---- dispatch ---------------------------------------------------------------- */

/* R rows from row, rs bytes apart, into y[0], y[ys], ...; R a constant in
 * each inlined copy. */
GEMV_INLINE void gemv_rows(const lm_mat *W, const uint8_t *row, size_t rs, const q4k_arranged *xa,
                           const lm_qrow *x, float *y, size_t ys, const int R)
{
    switch (W->type) {
    case GGUF_TYPE_Q8_0: gemv_q32(W, row, rs, x, y, ys, R, true); break;
    case GGUF_TYPE_Q4_0: gemv_q32(W, row, rs, x, y, ys, R, false); break;
    case GGUF_TYPE_Q4_K:
        if (xa)
            gemv_q4k(W, row, rs, xa, x, y, ys, R);
        else
            gemv_k4(W, row, rs, x, y, ys, R, false);
        break;
    case GGUF_TYPE_Q5_K: gemv_k4(W, row, rs, x, y, ys, R, true); break;
    default: gemv_q6k(W, row, rs, x, y, ys, R); break;
    }
}

GEMV_TARGET void lm_gemv_vnni(const lm_mat *W, int n0, int n1, const lm_qrow *x, float *y)
{
    q4k_arranged xa;
    const q4k_arranged *arranged = NULL;
    if (W->type == GGUF_TYPE_Q4_K && W->K <= GEMV_ARRANGED_MAX) {
        q4k_arrange(x, W->K, &xa);
        arranged = &xa;
    }
    /* row n0 + i beside row n0 + half + i */
    int half = (n1 - n0) / 2;
    size_t rs = (size_t)half * W->row_bytes;
    for (int i = 0; i < half; i++)
        gemv_rows(W, W->data + (size_t)(n0 + i) * W->row_bytes, rs, arranged, x, y + n0 + i,
                  (size_t)half, 2);
    if ((n1 - n0) % 2)
        gemv_rows(W, W->data + (size_t)(n1 - 1) * W->row_bytes, 0, arranged, x, y + n1 - 1, 0, 1);
}

/* ---- the threaded products of one token ------------------------------------- */

/* Decode's task: a slice of a matrix of about this many bytes. Slices of
 * 32 rows (30 KB) cost a fifth more CPU per token than 256 KB ones: the
 * threads then ping-pong the task counter's cache line every few
 * microseconds, and each slice starts its row streams cold. */
enum { GEMV_TASK_BYTES = 256 * 1024 };
/* But a job's last n_threads x GEMV_TASK_BYTES go in slices GEMV_TAIL_SPLIT
 * times smaller: a thread that takes the last big slice leaves the others
 * that much to share, so the threads finish within a small slice of each
 * other instead of one waiting up to a big one (about 20 microseconds from
 * memory, of a job of a few hundred; a layer runs 4 or 5 jobs). */
enum { GEMV_TAIL_SPLIT = 8 };

/* Decode's products of one input with several matrices, as one job. Matrix
 * i's rows [0, cut[i]) are slices of rows[i] rows, tasks first[i] to
 * mid[i]; rows [cut[i], N) (the last matrix's tail) slices of small[i]
 * rows, tasks mid[i] to first[i + 1]. */
typedef struct {
    const lm_mat *const *W;
    float *const *Y;
    const lm_qrow *xq;
    int rows[LM_MATVEC_MAX], small[LM_MATVEC_MAX], cut[LM_MATVEC_MAX];
    int first[LM_MATVEC_MAX + 1], mid[LM_MATVEC_MAX];
} matvec_job;

static void matvec_task(void *ctx, int task, int thread)
{
    (void)thread;
    const matvec_job *j = ctx;
    int i = 0;
    while (task >= j->first[i + 1])
        i++;
    int n0, n1;
    if (task < j->mid[i]) {
        n0 = (task - j->first[i]) * j->rows[i];
        n1 = n0 + j->rows[i] < j->cut[i] ? n0 + j->rows[i] : j->cut[i];
    } else {
        n0 = j->cut[i] + (task - j->mid[i]) * j->small[i];
        n1 = n0 + j->small[i] < j->W[i]->N ? n0 + j->small[i] : j->W[i]->N;
    }
    lm_gemv_vnni(j->W[i], n0, n1, j->xq, j->Y[i]);
}

static int rows_of(size_t bytes, size_t row_bytes)
{
    size_t r = bytes / row_bytes;
    return r < 1 ? 1 : r > INT32_MAX ? INT32_MAX : (int)r;
}

void lm_matvec_many(bert_pool *p, const lm_mat *const *W, int n, const float *x, const lm_qrow *xq,
                    float *const *Y)
{
    matvec_job j = {.W = W, .Y = Y, .xq = xq};
    bool fast = lm_isa_get() >= LM_ISA_VNNI && n <= LM_MATVEC_MAX;
    for (int i = 0; i < n && fast; i++) {
        fast = lm_gemv_fits(W[i]);
        j.rows[i] = rows_of(GEMV_TASK_BYTES, W[i]->row_bytes);
        j.small[i] = rows_of(GEMV_TASK_BYTES / GEMV_TAIL_SPLIT, W[i]->row_bytes);
        int tail = i < n - 1 ? 0 : rows_of((size_t)bert_pool_size(p) * GEMV_TASK_BYTES, W[i]->row_bytes);
        j.cut[i] = W[i]->N > tail ? W[i]->N - tail : 0;
        j.mid[i] = j.first[i] + (j.cut[i] + j.rows[i] - 1) / j.rows[i];
        j.first[i + 1] = j.mid[i] + (W[i]->N - j.cut[i] + j.small[i] - 1) / j.small[i];
    }
    if (!fast) {
        for (int i = 0; i < n; i++)
            lm_matmul(p, W[i], 1, x, xq, Y[i]);
        return;
    }
    bert_pool_run(p, matvec_task, &j, j.first[n]);
}
