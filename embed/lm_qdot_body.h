/* lm_qdot_body.h - the fused quantized dot-product kernel, included by
 * lm_qdot.c once per instruction set with QD_FN (the function's name),
 * QD_N (the inline kernel's), QD_TARGET (their target attribute) and QD_DOT(q, x) (the sum of 4 adjacent
 * u8 x s8 products into each 32-bit lane) defined.
 *
 * One weight row against up to 8 tokens: each block of 32 weight codes is
 * unpacked into a register once and multiplied with every token's block, so
 * in prefill the unpacking is shared; each 32-bit lane then covers 4 values,
 * lanes 0-3 the first 16 of the block and lanes 4-7 the second, which is
 * where the two scales of a Q6_K block (and the one of the others) apply.
 */

static inline __attribute__((always_inline)) QD_TARGET void
QD_N(const lm_mat *W, int n, const lm_qrow *xq, const int nt, float *out, int ldo)
{
    const uint8_t *row = W->data + (size_t)n * W->row_bytes;
    const gguf_type type = W->type;
    const int nb = W->K / 32;
    __m256 acc[8];
    float off[8];
#pragma GCC unroll 8
    for (int t = 0; t < nt; t++) {
        acc[t] = _mm256_setzero_ps();
        off[t] = 0;
    }
    for (int b0 = 0; b0 < nb; b0 += 8) {
        float a[8][2], c[8][2];
        int bn = nb - b0 < 8 ? nb - b0 : 8;
        const uint8_t *sup = block_scales8(type, row, b0, bn, a, c);
        const bool sgn = type == GGUF_TYPE_Q8_0;
        for (int j = 0; j < bn; j++) {
            int b = b0 + j;
            __m256i q = block_codes(type, row, sup, b, j);
            __m256 sv = _mm256_set_m128(_mm_set1_ps(a[j][1]), _mm_set1_ps(a[j][0]));
            __m256i qa = sgn ? _mm256_sign_epi8(q, q) : q;
#pragma GCC unroll 8
            for (int t = 0; t < nt; t++) {
                __m256i x = _mm256_loadu_si256((const __m256i *)(xq[t].q + 32 * b));
                if (sgn)
                    x = _mm256_sign_epi8(x, q);
                __m256 f = _mm256_cvtepi32_ps(QD_DOT(qa, x));
                acc[t] = _mm256_fmadd_ps(f, _mm256_mul_ps(sv, _mm256_set1_ps(xq[t].d[b])), acc[t]);
                if (!sgn)
                    off[t] += c[j][0] * xq[t].dsx[2 * b] + c[j][1] * xq[t].dsx[2 * b + 1];
            }
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < nt; t++)
        out[(size_t)t * ldo] = hsum256(acc[t]) + off[t];
}

/* nt as a constant in each copy, so the accumulators live in registers */
static QD_TARGET void QD_FN(const lm_mat *W, int n, const lm_qrow *xq, int nt, float *out, int ldo)
{
    QD_DISPATCH_NT(QD_N, W, n, xq, nt, out, ldo);
}
