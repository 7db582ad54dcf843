/* lm_gemm.c - prefill's quantized matrix product on AVX-512 VNNI: Y (M, N) =
 * X (M, K) W^T for many tokens at once, as a packed, register-tiled GEMM.
 *
 * lm_qdot.c's kernels take one weight row at a time and reduce along K inside
 * each vector, so every vpdpbusd (64 multiply-adds) also pays a convert and a
 * multiply-add for its block's float scales; on this core a 512-bit vpdpbusd
 * and an FMA do not issue in the same cycle, which caps that design near half
 * the int8 peak. Here each task unpacks a panel of 32 weight rows once into
 * its pool thread's scratch, interleaved so that one zmm holds 4 consecutive
 * codes of 16 rows; the micro-kernel broadcasts 4 activation bytes of each of
 * up to 6 tokens and keeps a whole block of 32 (Q6_K: of 16, which have their
 * own scales) in int32 lanes, one lane per row, before one convert and two
 * float operations per 16 rows and token: the scale work comes once per 8
 * vpdpbusd (Q6_K: 4) instead of once per one.
 *
 * Weight codes go in unsigned (Q8_0's plus 128), activations signed, as
 * vpdpbusd wants them. The codes' offsets (Q8_0's 128, Q4_0's 8, Q6_K's 32)
 * times the activations' integer sums start each block's int32 sums; the
 * K-quants' mins meet the activations' scaled sums (lm_qrow.dsx) in one float
 * multiply-add per block.
 *
 * A call packs each panel into its thread's scratch, O(N K) against the
 * product's O(M N K), unless its caller packed the matrix before
 * (lm_gemm_pack): a prefill longer than one micro-batch packs each matrix
 * once for all its batches (lm_forward.c). A product may also take a slice
 * of K (blocks kb0 .. kb0 + nb - 1 of each row) and add to Y: the FFN's down
 * product runs in slices of n_ff, and as each slice is a whole number of
 * K_BLOCKS passes, the sums meet Y in the order the whole product would
 * take, so a sliced product gives the same bits as the whole.
 *
 * What comes from memory is asked for ahead of its use: a task asks for the
 * next packed panels a part per tile, and each tile for the next tile's
 * rows of Y, which a big output (the FFN's gate and up) keeps out of the
 * caches.
 *
 * A task is one panel against every token, except the last panels of a
 * product, which go in pieces of the tokens so that the threads finish
 * together; a token's sums do not depend on the tokens beside it, so the
 * bits do not depend on the split or the number of threads.
 */
#include "embed/lm_blocks.h"

#include "common/common.h"

#include <stdlib.h>

enum {
    PANEL = 32,  /* weight rows a task packs: two zmm of 16 lanes */
    TILE_T = 6,  /* tokens of the micro-kernel: 2 x 6 int32 and 2 x 6 float accumulators */
    GROUPS = 8,  /* groups of 4 codes in a block of 32 */
    /* Blocks of K a pass over the tokens takes: a micro-batch's activations
     * for them (256 or 512 tokens: 256 or 512 KiB) stay in L2 while the
     * panel's tiles go through. */
    K_BLOCKS = 32,
    BLOCK_BYTES = GROUPS * PANEL * 4,
    /* A product's last TAIL_PANELS panels a thread go in TAIL_CHUNKS
     * pieces of its tokens (gemm_task). */
    TAIL_PANELS = 2,
    TAIL_CHUNKS = 4,
};
_Static_assert(LM_GEMM_SLICE == 32 * K_BLOCKS, "a slice is whole K_BLOCKS passes");

/* One panel in a pool thread's scratch, 64-byte aligned. */
typedef struct {
    uint8_t *codes; /* (nb, GROUPS, PANEL, 4): codes 4g .. 4g + 3 of block b, row by row */
    float *a;       /* (nb, halves, PANEL): each row's scale of the block (Q6_K: of each 16) */
    float *c;       /* (nb, PANEL): a K-quant's offset, -dmin m; unused for the others */
} panel;

/* What a token brings to each block besides its codes and scale: the int32
 * that starts the block's sums (minus the code offset times the sum of the
 * codes; Q6_K: of each 16), or for a K-quant the block's dsx. */
typedef union {
    int32_t start;
    float dsx;
} token_term;

static bool k_quant4(gguf_type t) { return t == GGUF_TYPE_Q4_K || t == GGUF_TYPE_Q5_K; }
static int halves_of(gguf_type t) { return t == GGUF_TYPE_Q6_K ? 2 : 1; }

static size_t panel_bytes(int nb)
{
    return (size_t)nb * (BLOCK_BYTES + 3 * PANEL * sizeof(float));
}

static panel panel_at(void *scratch, int nb)
{
    uint8_t *p = scratch;
    panel pn = {p, (float *)(p + (size_t)nb * BLOCK_BYTES), NULL};
    pn.c = pn.a + (size_t)nb * 2 * PANEL;
    return pn;
}

/* ---- the tokens' terms --------------------------------------------------------- */

/* The starts of 8 blocks of codes q into o: -offset times the codes' sum
 * per half of 16 (halves) or per block, 64 codes a vector (a block at a
 * time, the loop below spends more on its four extracts than on psadbw). */
static inline VNNI_TARGET void eight_starts(const int8_t *q, int offset, bool halves,
                                            token_term *o)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    __m512i s[2]; /* the sums of 8 codes plus 128 each: blocks 0-3, 4-7 */
    for (int i = 0; i < 2; i++) {
        __m256i c[2];
        for (int k = 0; k < 2; k++) {
            /* psadbw sums unsigned bytes: the codes plus 128, 8 at a time */
            __m512i x = _mm512_loadu_si512(q + 128 * i + 64 * k);
            c[k] = _mm512_cvtepi64_epi32(_mm512_sad_epu8(
                _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80)), _mm512_setzero_si512()));
        }
        s[i] = _mm512_inserti64x4(_mm512_castsi256_si512(c[0]), c[1], 1);
    }
    __m512i h = _mm512_sub_epi32(_mm512_add_epi32(_mm512_permutex2var_epi32(s[0], even, s[1]),
                                                  _mm512_permutex2var_epi32(s[0], odd, s[1])),
                                 _mm512_set1_epi32(2048)); /* the 16 halves' sums */
    if (halves) {
        _mm512_storeu_si512(o, _mm512_mullo_epi32(h, _mm512_set1_epi32(-offset)));
        return;
    }
    /* the blocks' sums in the low dword of each 64-bit lane */
    __m256i blocks = _mm512_cvtepi64_epi32(_mm512_add_epi32(h, _mm512_srli_epi64(h, 32)));
    _mm256_storeu_si256((__m256i *)o, _mm256_mullo_epi32(blocks, _mm256_set1_epi32(-offset)));
}

static VNNI_TARGET void token_terms(gguf_type type, const lm_qrow *xq, int M, int K,
                                    token_term *out)
{
    const int nb = K / 32, stride = K / 16;
    const int offset = type == GGUF_TYPE_Q8_0 ? 128 : type == GGUF_TYPE_Q4_0 ? 8 : 32;
    for (int t = 0; t < M; t++) {
        token_term *o = out + (size_t)t * stride;
        if (k_quant4(type)) {
            for (int b = 0; b < nb; b++)
                o[b].dsx = xq[t].dsx[2 * b] + xq[t].dsx[2 * b + 1];
            continue;
        }
        int b = 0;
        for (; b + 8 <= nb; b += 8)
            eight_starts(xq[t].q + 32 * b, offset, type == GGUF_TYPE_Q6_K,
                         o + (type == GGUF_TYPE_Q6_K ? 2 * b : b));
        for (; b < nb; b++) {
            /* psadbw sums unsigned bytes: the codes plus 128, 8 at a time */
            __m256i x = _mm256_loadu_si256((const __m256i *)(xq[t].q + 32 * b));
            __m256i s = _mm256_sad_epu8(_mm256_xor_si256(x, _mm256_set1_epi8((char)0x80)),
                                        _mm256_setzero_si256());
            int32_t h0 = (int32_t)(_mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 1)) - 2048;
            int32_t h1 = (int32_t)(_mm256_extract_epi64(s, 2) + _mm256_extract_epi64(s, 3)) - 2048;
            if (type == GGUF_TYPE_Q6_K) {
                o[2 * b].start = -offset * h0;
                o[2 * b + 1].start = -offset * h1;
            } else {
                o[b].start = -offset * (h0 + h1);
            }
        }
    }
}

/* The terms of TERMS_TOKENS tokens, a pool task: in the caller they were
 * serial work (1% of a 2-thread prefill's samples) through which the other
 * thread spun. */
enum { TERMS_TOKENS = 64 };

typedef struct {
    gguf_type type;
    const lm_qrow *xq;
    int M, K;
    token_term *out; /* (M, K / 16) */
} terms_job;

static VNNI_TARGET void terms_task(void *ctx, int task, int thread)
{
    (void)thread;
    const terms_job *j = ctx;
    int t0 = task * TERMS_TOKENS, n = j->M - t0 < TERMS_TOKENS ? j->M - t0 : TERMS_TOKENS;
    token_terms(j->type, j->xq + t0, n, j->K, j->out + (size_t)t0 * (size_t)(j->K / 16));
}

/* ---- packing ------------------------------------------------------------------- */

/* The vpermt2d indices of stage s (0..2) of transpose16x8, for the output
 * that takes the pair's elements with the exchanged code bit o. */
static VNNI_TARGET __m512i stage_index(int s, int o)
{
    int32_t idx[16];
    for (int L = 0; L < 16; L++) {
        int b3 = L >> 3 & 1, b2 = L >> 2 & 1, b1 = L >> 1 & 1, b0 = L & 1;
        if (s == 0)
            idx[L] = b2 * 16 + b3 * 8 + o * 4 + b1 * 2 + b0;
        else if (s == 1)
            idx[L] = b1 * 16 + b3 * 8 + b2 * 4 + o * 2 + b0;
        else
            idx[L] = b1 * 16 + b0 * 8 + b3 * 4 + b2 * 2 + o;
    }
    return _mm512_loadu_si512(idx);
}

/* z[i] holds rows 2i (lanes 0-7) and 2i + 1 (8-15), 8 dwords of 4 codes
 * each; afterwards z[g] holds dword g of the 16 rows, row r in lane r. An
 * element (row r = r3 r2 r1 r0, dword g = g2 g1 g0) starts in register
 * r3 r2 r1, lane r0 g2 g1 g0; each stage pairs the registers that differ in
 * one row bit and trades it for one dword bit (lanes after stage one:
 * r0 r3 g1 g0, after two: r0 r3 r2 g0, after three: r3 r2 r1 r0). */
static inline __attribute__((always_inline)) VNNI_TARGET void transpose16x8(__m512i z[8],
                                                                             const __m512i ix[6])
{
    __m512i t[8];
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_permutex2var_epi32(z[i], ix[0], z[i + 4]);
        t[i + 4] = _mm512_permutex2var_epi32(z[i], ix[1], z[i + 4]);
    }
    static const int lo2[4] = {0, 1, 4, 5};
    for (int i = 0; i < 4; i++) {
        int k = lo2[i];
        z[k] = _mm512_permutex2var_epi32(t[k], ix[2], t[k + 2]);
        z[k + 2] = _mm512_permutex2var_epi32(t[k], ix[3], t[k + 2]);
    }
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm512_permutex2var_epi32(z[k], ix[4], z[k + 1]);
        t[k + 1] = _mm512_permutex2var_epi32(z[k], ix[5], z[k + 1]);
    }
    for (int g = 0; g < 8; g++)
        z[g] = t[g];
}

/* The 32 unsigned codes of block b0 + j of row (a K-quant's super-block
 * b0 / 8; j a constant in the unrolled loops, so that its shifts are). */
static inline __attribute__((always_inline)) VNNI_TARGET __m256i
row_codes(const uint8_t *row, size_t span8, int b0, int j, const gguf_type type)
{
    const uint8_t *sup = NULL;
    if (k_quant4(type) || type == GGUF_TYPE_Q6_K)
        sup = row + (size_t)(b0 / 8) * span8;
    __m256i q = block_codes(type, row, sup, b0 + j, j);
    if (type == GGUF_TYPE_Q8_0)
        q = _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80));
    return q;
}

/* Block b0 + j of the panel's rows into pn's codes: two sets of 16 rows,
 * each transposed to 8 zmm of 4 codes per row. */
static inline __attribute__((always_inline)) VNNI_TARGET void
pack_block(const panel *pn, const uint8_t *const rows[PANEL], size_t span8, int b0, int j,
           const __m512i ix[6], const gguf_type type)
{
    uint8_t *dst = pn->codes + (size_t)(b0 + j) * BLOCK_BYTES;
    for (int half = 0; half < 2; half++) {
        __m512i z[8];
        for (int i = 0; i < 8; i++) {
            const uint8_t *const *r = rows + 16 * half + 2 * i;
            z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(row_codes(r[0], span8, b0, j, type)),
                                      row_codes(r[1], span8, b0, j, type), 1);
        }
        transpose16x8(z, ix);
        for (int g = 0; g < GROUPS; g++)
            _mm512_store_si512(dst + g * PANEL * 4 + half * 64, z[g]);
    }
}

/* Blocks kb0 .. kb0 + nb - 1 (kb0 a multiple of 8) of rows n0 .. n0 +
 * PANEL - 1 of W into pn; past W's end the last row again, whose lanes are
 * never stored. */
static inline __attribute__((always_inline)) VNNI_TARGET void
pack_panel(const lm_mat *W, int n0, int kb0, int nb, const panel *pn, const gguf_type type)
{
    const int halves = halves_of(type);
    const size_t span8 = W->row_bytes * 256 / (size_t)W->K; /* bytes of 8 blocks */
    const size_t from = (size_t)(kb0 / 8) * span8, bytes = (size_t)(nb + 7) / 8 * span8;
    const uint8_t *rows[PANEL];
    for (int r = 0; r < PANEL; r++)
        rows[r] = W->data + (size_t)(n0 + r < W->N ? n0 + r : W->N - 1) * W->row_bytes + from;
    /* The passes below go across the 32 rows, a few bytes of each at a
     * time, which leaves the hardware prefetchers behind: each row's
     * lines are asked for first, so that their misses overlap. */
    for (int r = 0; r < PANEL; r++)
        for (size_t o = 0; o < bytes; o += 64)
            _mm_prefetch((const char *)rows[r] + o, _MM_HINT_T1);
    __m512i ix[6];
    for (int i = 0; i < 6; i++)
        ix[i] = stage_index(i / 2, i % 2);
    /* scales16 gives a row's 16 halves of 8 blocks, lane 2j + h; the even
     * (h = 0) and odd lanes of two rows make one transpose16x8 input */
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int b0 = 0; b0 < nb; b0 += 8) {
        int bn = nb - b0 < 8 ? nb - b0 : 8;
        for (int half = 0; half < 2; half++) {
            __m512i za[2][8], zc[8];
            for (int i = 0; i < 8; i++) {
                __m512 a[2], c[2];
                const uint8_t *sup;
                for (int k = 0; k < 2; k++)
                    scales16(type, rows[16 * half + 2 * i + k], b0, bn, &sup, &a[k], &c[k]);
                za[0][i] = _mm512_castps_si512(_mm512_permutex2var_ps(a[0], even, a[1]));
                za[1][i] = _mm512_castps_si512(_mm512_permutex2var_ps(a[0], odd, a[1]));
                zc[i] = _mm512_castps_si512(_mm512_permutex2var_ps(c[0], even, c[1]));
            }
            for (int h = 0; h < halves; h++)
                transpose16x8(za[h], ix);
            if (k_quant4(type))
                transpose16x8(zc, ix);
            for (int j = 0; j < bn; j++) {
                for (int h = 0; h < halves; h++)
                    _mm512_store_si512(pn->a + ((size_t)(b0 + j) * halves + h) * PANEL + 16 * half,
                                       za[h][j]);
                if (k_quant4(type))
                    _mm512_store_si512(pn->c + (size_t)(b0 + j) * PANEL + 16 * half, zc[j]);
            }
        }
    }
    if (type == GGUF_TYPE_Q8_0 || type == GGUF_TYPE_Q4_0) {
        for (int b = 0; b < nb; b++)
            pack_block(pn, rows, span8, b, 0, ix, type);
        return;
    }
    for (int b0 = 0; b0 < nb; b0 += 8) /* a K-quant's rows are whole super-blocks */
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            pack_block(pn, rows, span8, b0, j, ix, type);
}

/* ---- the micro-kernel ------------------------------------------------------------ */

/* acc += w (u8) x the 4 bytes at p (s8) broadcast, with the broadcast folded
 * into vpdpbusd's memory operand: compilers load it into a register
 * first, an extra instruction for every two products. */
#define DPBUSD_BCAST(acc, w, p)                                                             \
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const int32_t *)(p)))

/* Y rows t of nt tokens, columns of the panel's rows (masks m0, m1 for the
 * two sets of 16) = the panel against tokens xq[0 .. nt - 1] over blocks
 * b0 .. b1 - 1, added to Y when add. */
static inline __attribute__((always_inline)) VNNI_TARGET void
gemm_tile(const panel *pn, int b0, int b1, const lm_qrow *xq, const token_term *terms,
          int stride, const int nt, const gguf_type type, float *Y, int ldy, __mmask16 m0,
          __mmask16 m1, bool add)
{
    const int halves = halves_of(type), per_half = GROUPS / halves;
    __m512 acc[2][TILE_T];
    const bool whole = (m0 & m1) == 0xFFFF; /* else the matrix's last panel, short of rows */
#pragma GCC unroll 6
    for (int t = 0; t < nt; t++) {
        acc[0][t] = !add   ? _mm512_setzero_ps()
                    : whole ? _mm512_loadu_ps(Y + (size_t)t * ldy)
                            : _mm512_maskz_loadu_ps(m0, Y + (size_t)t * ldy);
        acc[1][t] = !add   ? _mm512_setzero_ps()
                    : whole ? _mm512_loadu_ps(Y + (size_t)t * ldy + 16)
                            : _mm512_maskz_loadu_ps(m1, Y + (size_t)t * ldy + 16);
    }
    for (int b = b0; b < b1; b++) {
        const uint8_t *cb = pn->codes + (size_t)b * BLOCK_BYTES;
        for (int h = 0; h < halves; h++) {
            __m512i s[2][TILE_T];
#pragma GCC unroll 6
            for (int t = 0; t < nt; t++) {
                s[0][t] = k_quant4(type) ? _mm512_setzero_si512()
                                         : _mm512_set1_epi32(terms[(size_t)t * stride + halves * b + h].start);
                s[1][t] = s[0][t];
            }
#pragma GCC unroll 8
            for (int g = h * per_half; g < (h + 1) * per_half; g++) {
                __m512i w0 = _mm512_load_si512(cb + g * PANEL * 4);
                __m512i w1 = _mm512_load_si512(cb + g * PANEL * 4 + 64);
#pragma GCC unroll 6
                for (int t = 0; t < nt; t++) {
                    const int8_t *x = xq[t].q + 32 * b + 4 * g;
                    DPBUSD_BCAST(s[0][t], w0, x);
                    DPBUSD_BCAST(s[1][t], w1, x);
                }
            }
            const float *a = pn->a + ((size_t)b * halves + h) * PANEL;
            __m512 a0 = _mm512_load_ps(a), a1 = _mm512_load_ps(a + 16);
#pragma GCC unroll 6
            for (int t = 0; t < nt; t++) {
                __m512 d = _mm512_set1_ps(xq[t].d[b]);
                acc[0][t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s[0][t]), a0), d, acc[0][t]);
                acc[1][t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s[1][t]), a1), d, acc[1][t]);
            }
        }
        if (k_quant4(type)) {
            __m512 c0 = _mm512_load_ps(pn->c + (size_t)b * PANEL);
            __m512 c1 = _mm512_load_ps(pn->c + (size_t)b * PANEL + 16);
#pragma GCC unroll 6
            for (int t = 0; t < nt; t++) {
                __m512 e = _mm512_set1_ps(terms[(size_t)t * stride + b].dsx);
                acc[0][t] = _mm512_fmadd_ps(c0, e, acc[0][t]);
                acc[1][t] = _mm512_fmadd_ps(c1, e, acc[1][t]);
            }
        }
    }
    /* a masked store costs more than a plain one (Zen 4), and only a
     * matrix's last panel needs the masks */
    if (whole) {
#pragma GCC unroll 6
        for (int t = 0; t < nt; t++) {
            _mm512_storeu_ps(Y + (size_t)t * ldy, acc[0][t]);
            _mm512_storeu_ps(Y + (size_t)t * ldy + 16, acc[1][t]);
        }
        return;
    }
#pragma GCC unroll 6
    for (int t = 0; t < nt; t++) {
        _mm512_mask_storeu_ps(Y + (size_t)t * ldy, m0, acc[0][t]);
        _mm512_mask_storeu_ps(Y + (size_t)t * ldy + 16, m1, acc[1][t]);
    }
}

/* ---- the threaded product ------------------------------------------------------ */

typedef struct {
    bert_pool *p;
    const lm_mat *W;
    int kb0, nb;          /* the slice of K: blocks kb0 .. kb0 + nb - 1 */
    const uint8_t *packed; /* (panels, panel_bytes(nb)), or NULL: pack per task */
    bool add;             /* Y += the product, else Y = */
    int M;
    /* the last tail panels go as TAIL_CHUNKS tasks of chunk tokens each
     * (gemm_task); those before them are one task each */
    int tail, chunk;
    const lm_qrow *xq;
    const token_term *terms;
    float *Y;
} gemm_job;

/* The lines of Y rows t .. t + TILE_T - 1 (before t_end), columns n0 ..
 * n0 + PANEL - 1, asked for one tile ahead (a prefetch past a short last
 * panel's row does not fault). Those 128 bytes span three lines where the
 * row is not 64-byte aligned, as in malloc's big blocks (16 bytes into
 * their first page), hence the middle one. The FFN's gate and up outputs
 * (500 rows of 4,096 floats, 8 MB each) are out of the caches: a tile's
 * stores then wait for their lines, and the next tile's loads whose
 * addresses match theirs in the low 12 bits wait behind them (gate and up
 * ran 8% slower than the same rows written 896 floats apart). */
static inline __attribute__((always_inline)) VNNI_TARGET void
prefetch_y(const float *Y, int ldy, int t, int t_end)
{
    for (int r = t; r < t_end && r < t + TILE_T; r++) {
        const float *y = Y + (size_t)r * ldy;
        _mm_prefetch((const char *)y, _MM_HINT_T0);
        _mm_prefetch((const char *)(y + PANEL / 2), _MM_HINT_T0);
        _mm_prefetch((const char *)(y + PANEL - 1), _MM_HINT_T0);
    }
}

/* Packed panels ahead of this one, whose lines each tile of a task asks
 * for a part of: the pool hands tasks out in order, so on two threads the
 * next task of this thread is one of the next NEXT_PANELS panels. Asking for a whole
 * panel's lines at once, as the task starts, stalled it until they
 * arrived (2.4% of the product's samples sat there). */
enum { NEXT_PANELS = 2 };

typedef struct {
    const char *at;        /* the next line to ask for */
    size_t left, per_tile; /* bytes still to ask for, and how many a tile asks for */
} lookahead;

static lookahead lookahead_new(const gemm_job *j, int task, int tiles)
{
    int panels = (j->W->N + PANEL - 1) / PANEL;
    int next = panels - 1 - task < NEXT_PANELS ? panels - 1 - task : NEXT_PANELS;
    if (!j->packed || next <= 0 || tiles <= 0)
        return (lookahead){NULL, 0, 0};
    const size_t bytes = panel_bytes(j->nb), left = (size_t)next * bytes;
    return (lookahead){(const char *)j->packed + (size_t)(task + 1) * bytes, left,
                       (left / (size_t)tiles + 63) / 64 * 64};
}

static inline __attribute__((always_inline)) VNNI_TARGET void lookahead_step(lookahead *l)
{
    size_t n = l->left < l->per_tile ? l->left : l->per_tile;
    for (size_t o = 0; o < n; o += 64)
        _mm_prefetch(l->at + o, _MM_HINT_T1);
    l->at += n;
    l->left -= n;
}

/* A panel of PANEL rows against tokens t_begin .. t_end - 1: packed once (or
 * found packed), then tiles of TILE_T tokens, each through K_BLOCKS blocks
 * with its sums in registers, all the tokens' tiles before the next
 * K_BLOCKS. A token's sums do not depend on the tile it shares, so any
 * split of the tokens gives the same bits. */
static inline __attribute__((always_inline)) VNNI_TARGET void
gemm_panel(const gemm_job *j, int task, int t_begin, int t_end, int thread, const gguf_type type)
{
    const lm_mat *W = j->W;
    const int nb = j->nb, stride = 2 * nb, n0 = task * PANEL;
    int rows = W->N - n0 < PANEL ? W->N - n0 : PANEL;
    const int passes = (nb + K_BLOCKS - 1) / K_BLOCKS;
    const int tiles = (t_end - t_begin + TILE_T - 1) / TILE_T;
    /* a whole panel's task asks for the next panels' lines; the tail's
     * pieces of a panel leave them be */
    lookahead next = {NULL, 0, 0};
    panel pn;
    if (j->packed) {
        /* packed before: this panel's lines come here unless the task
         * before asked for them, when these hit the cache */
        const uint8_t *at = j->packed + (size_t)task * panel_bytes(nb);
        for (size_t o = 0; o < panel_bytes(nb); o += 64)
            _mm_prefetch((const char *)at + o, _MM_HINT_T1);
        pn = panel_at((void *)at, nb);
        if (t_begin == 0 && t_end == j->M)
            next = lookahead_new(j, task, passes * tiles);
    } else {
        pn = panel_at(bert_pool_scratch(j->p, thread), nb);
        pack_panel(W, n0, j->kb0, nb, &pn, type);
    }
    __mmask16 m0 = rows >= 16 ? 0xFFFF : (__mmask16)((1u << rows) - 1);
    __mmask16 m1 = rows >= 32 ? 0xFFFF : rows > 16 ? (__mmask16)((1u << (rows - 16)) - 1) : 0;
    for (int b0 = 0; b0 < nb; b0 += K_BLOCKS) {
        int b1 = nb - b0 < K_BLOCKS ? nb : b0 + K_BLOCKS;
        bool add = b0 > 0 || j->add;
        prefetch_y(j->Y + n0, W->N, t_begin, t_end);
        for (int t0 = t_begin; t0 < t_end; t0 += TILE_T) {
            const lm_qrow *xq = j->xq + t0;
            const token_term *tt = j->terms + (size_t)t0 * stride;
            float *Y = j->Y + (size_t)t0 * W->N + n0;
            prefetch_y(j->Y + n0, W->N, t0 + TILE_T, t_end);
            lookahead_step(&next);
            switch (t_end - t0 < TILE_T ? t_end - t0 : TILE_T) {
            case 1: gemm_tile(&pn, b0, b1, xq, tt, stride, 1, type, Y, W->N, m0, m1, add); break;
            case 2: gemm_tile(&pn, b0, b1, xq, tt, stride, 2, type, Y, W->N, m0, m1, add); break;
            case 3: gemm_tile(&pn, b0, b1, xq, tt, stride, 3, type, Y, W->N, m0, m1, add); break;
            case 4: gemm_tile(&pn, b0, b1, xq, tt, stride, 4, type, Y, W->N, m0, m1, add); break;
            case 5: gemm_tile(&pn, b0, b1, xq, tt, stride, 5, type, Y, W->N, m0, m1, add); break;
            default: gemm_tile(&pn, b0, b1, xq, tt, stride, 6, type, Y, W->N, m0, m1, add); break;
            }
        }
    }
}

/* Task `task` of a product: a whole panel, or in the tail a chunk of the
 * tokens of one. A job ends when its slowest thread does, and a panel is
 * up to half a millisecond of work (the FFN's down product: 32 rows of
 * 4,096 blocks against 500 tokens), so the last panels go in pieces that
 * let the threads finish together; only those are read, or packed, by
 * more than one task. */
static inline __attribute__((always_inline)) VNNI_TARGET void
gemm_task(const gemm_job *j, int task, int thread, const gguf_type type)
{
    int whole = (j->W->N + PANEL - 1) / PANEL - j->tail;
    if (task < whole) {
        gemm_panel(j, task, 0, j->M, thread, type);
        return;
    }
    int i = task - whole, t0 = i % TAIL_CHUNKS * j->chunk;
    if (t0 < j->M)
        gemm_panel(j, whole + i / TAIL_CHUNKS, t0, j->M - t0 < j->chunk ? j->M : t0 + j->chunk,
                   thread, type);
}

/* One copy per type: the type's branches leave the loops. */
#define GEMM_TYPED(name, T)                                                                 \
    static VNNI_TARGET void name(void *ctx, int task, int thread)                           \
    {                                                                                       \
        gemm_task(ctx, task, thread, T);                                                    \
    }
GEMM_TYPED(gemm_q8_0, GGUF_TYPE_Q8_0)
GEMM_TYPED(gemm_q4_0, GGUF_TYPE_Q4_0)
GEMM_TYPED(gemm_q4_k, GGUF_TYPE_Q4_K)
GEMM_TYPED(gemm_q5_k, GGUF_TYPE_Q5_K)
GEMM_TYPED(gemm_q6_k, GGUF_TYPE_Q6_K)

/* Packing a panel into the caller's buffer, a pool task. */
#define PACK_TYPED(name, T)                                                                 \
    static VNNI_TARGET void name(void *ctx, int task, int thread)                           \
    {                                                                                       \
        (void)thread;                                                                       \
        const gemm_job *j = ctx;                                                            \
        panel pn = panel_at((void *)(j->packed + (size_t)task * panel_bytes(j->nb)), j->nb); \
        pack_panel(j->W, task * PANEL, j->kb0, j->nb, &pn, T);                              \
    }
PACK_TYPED(pack_q8_0, GGUF_TYPE_Q8_0)
PACK_TYPED(pack_q4_0, GGUF_TYPE_Q4_0)
PACK_TYPED(pack_q4_k, GGUF_TYPE_Q4_K)
PACK_TYPED(pack_q5_k, GGUF_TYPE_Q5_K)
PACK_TYPED(pack_q6_k, GGUF_TYPE_Q6_K)

static bool gemm_applies(const bert_pool *p, const lm_mat *W, int kb0, int nb)
{
    return p && lm_type_quantized(W->type) && W->K % 32 == 0 && kb0 % 8 == 0 && nb > 0 &&
           kb0 + nb <= W->K / 32 && (nb % 8 == 0 || kb0 + nb == W->K / 32) &&
           panel_bytes(nb) <= BERT_POOL_SCRATCH * sizeof(float);
}

size_t lm_gemm_packed_bytes(const bert_pool *p, const lm_mat *W, int kb0, int nb)
{
    if (!gemm_applies(p, W, kb0, nb))
        return 0;
    return (size_t)((W->N + PANEL - 1) / PANEL) * panel_bytes(nb);
}

void lm_gemm_pack(bert_pool *p, const lm_mat *W, int kb0, int nb, void *packed)
{
    gemm_job j = {.p = p, .W = W, .kb0 = kb0, .nb = nb, .packed = packed};
    bert_task_fn fn = W->type == GGUF_TYPE_Q8_0   ? pack_q8_0
                      : W->type == GGUF_TYPE_Q4_0 ? pack_q4_0
                      : W->type == GGUF_TYPE_Q4_K ? pack_q4_k
                      : W->type == GGUF_TYPE_Q5_K ? pack_q5_k
                                                  : pack_q6_k;
    bert_pool_run(p, fn, &j, (W->N + PANEL - 1) / PANEL);
}

/* Whether two types' terms are the same numbers: the K-quants' dsx, or the
 * same code offset. */
static bool same_terms(gguf_type a, gguf_type b)
{
    return a == b || (k_quant4(a) && k_quant4(b));
}

/* The n products of one input as one pool job, their tasks one after the
 * other (the last product's tail split, gemm_task), the tokens' terms
 * computed once for each kind of them: Q, K and V, or gate and up, wait
 * for one job's slowest thread instead of three or two. */
typedef struct {
    int n;
    gemm_job j[LM_GEMM_MANY];
    bert_task_fn fn[LM_GEMM_MANY];
    int first[LM_GEMM_MANY + 1]; /* product i's tasks: first[i] .. first[i + 1] - 1 */
} many_job;

static void many_task(void *ctx, int task, int thread)
{
    many_job *m = ctx;
    int i = 0;
    while (task >= m->first[i + 1])
        i++;
    m->fn[i](&m->j[i], task - m->first[i], thread);
}

static void run_products(bert_pool *p, const lm_mat *const *W, const int *kb0, const int *nb,
                         const void *const *packed, const bool *add, int n, int M,
                         const lm_qrow *xq, float *const *Y)
{
    many_job mj = {.n = n};
    token_term *terms[LM_GEMM_MANY] = {NULL};
    int threads = bert_pool_size(p);
    for (int i = 0; i < n; i++) {
        int reuse = 0;
        while (reuse < i && !(same_terms(W[reuse]->type, W[i]->type) && kb0[reuse] == kb0[i] &&
                              nb[reuse] == nb[i]))
            reuse++;
        const token_term *tt = reuse < i ? mj.j[reuse].terms : NULL;
        if (!tt) {
            terms[i] = dq_malloc((size_t)M * (size_t)(2 * nb[i]) * sizeof *terms[i]);
            terms_job tj = {W[i]->type, xq, M, 32 * nb[i], terms[i]};
            bert_pool_run(p, terms_task, &tj, (M + TERMS_TOKENS - 1) / TERMS_TOKENS);
            tt = terms[i];
        }
        int panels = (W[i]->N + PANEL - 1) / PANEL, tail = 0;
        if (i == n - 1 && threads > 1)
            tail = panels < TAIL_PANELS * threads ? panels : TAIL_PANELS * threads;
        int chunk = (M + TAIL_CHUNKS - 1) / TAIL_CHUNKS;
        chunk = (chunk + TILE_T - 1) / TILE_T * TILE_T;
        mj.j[i] = (gemm_job){p, W[i], kb0[i], nb[i], packed[i], add[i], M, tail, chunk, xq, tt, Y[i]};
        mj.fn[i] = W[i]->type == GGUF_TYPE_Q8_0   ? gemm_q8_0
                   : W[i]->type == GGUF_TYPE_Q4_0 ? gemm_q4_0
                   : W[i]->type == GGUF_TYPE_Q4_K ? gemm_q4_k
                   : W[i]->type == GGUF_TYPE_Q5_K ? gemm_q5_k
                                                  : gemm_q6_k;
        mj.first[i + 1] = mj.first[i] + panels + (TAIL_CHUNKS - 1) * tail;
    }
    bert_pool_run(p, many_task, &mj, mj.first[n]);
    for (int i = 0; i < n; i++)
        free(terms[i]);
}

bool lm_gemm_vnni_slice(bert_pool *p, const lm_mat *W, int kb0, int nb, const void *packed,
                        int M, const lm_qrow *xq, float *Y, bool add)
{
    if (!gemm_applies(p, W, kb0, nb))
        return false;
    run_products(p, &W, &kb0, &nb, &packed, &add, 1, M, xq, &Y);
    return true;
}

bool lm_gemm_vnni_many(bert_pool *p, const lm_mat *const *W, const void *const *packed, int n,
                       int M, const lm_qrow *xq, float *const *Y)
{
    int kb0[LM_GEMM_MANY] = {0}, nb[LM_GEMM_MANY];
    bool add[LM_GEMM_MANY] = {false};
    if (n < 1 || n > LM_GEMM_MANY)
        return false;
    for (int i = 0; i < n; i++) {
        nb[i] = W[i]->K / 32;
        if (W[i]->K != W[0]->K || !gemm_applies(p, W[i], 0, nb[i]))
            return false;
    }
    run_products(p, W, kb0, nb, packed, add, n, M, xq, Y);
    return true;
}

bool lm_gemm_vnni(bert_pool *p, const lm_mat *W, int M, const lm_qrow *xq, float *Y)
{
    return lm_gemm_vnni_slice(p, W, 0, W->K / 32, NULL, M, xq, Y, false);
}
