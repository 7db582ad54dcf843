/* lm_qdot_body.h - the fused quantized dot-product kernel, included by
 * lm_qdot.c once per instruction set with QD_FN (the function's name),
 * QD_TARGET (its target attribute) and QD_DOT(q, x) (the sum of 4 adjacent
 * u8 x s8 products into each 32-bit lane) defined.
 *
 * One weight row against up to 8 tokens: each block of 32 weight codes is
 * unpacked into a register once and multiplied with every token's block, so
 * in prefill the unpacking is shared; each 32-bit lane then covers 4 values,
 * lanes 0-3 the first 16 of the block and lanes 4-7 the second, which is
 * where the two scales of a Q6_K block (and the one of the others) apply.
 */

static QD_TARGET void QD_FN(const lm_mat *W, int n, const lm_qrow *xq, int nt, float *out,
                            int ldo)
{
    const uint8_t *row = W->data + (size_t)n * W->row_bytes;
    const gguf_type type = W->type;
    const int nb = W->K / 32;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc[8];
    float off[8];
    for (int t = 0; t < nt; t++) {
        acc[t] = _mm256_setzero_ps();
        off[t] = 0;
    }
    for (int b0 = 0; b0 < nb; b0 += 8) {
        /* the scales of the (up to) 8 blocks of this super-block */
        float a[8][2], c[8][2];
        int bn = nb - b0 < 8 ? nb - b0 : 8;
        const uint8_t *sup = NULL;
        if (type == GGUF_TYPE_Q4_K || type == GGUF_TYPE_Q5_K) {
            sup = row + (size_t)(b0 / 8) * (type == GGUF_TYPE_Q4_K ? 144 : 176);
            float d = half_to_float(sup), dmin = half_to_float(sup + 2);
            const uint8_t *s = sup + 4;
            for (int j = 0; j < 8; j++) {
                int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
                int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
                a[j][0] = a[j][1] = d * (float)sc;
                c[j][0] = c[j][1] = -(dmin * (float)m);
            }
        } else if (type == GGUF_TYPE_Q6_K) {
            sup = row + (size_t)(b0 / 8) * 210;
            float d = half_to_float(sup + 208);
            const int8_t *sc = (const int8_t *)(sup + 192);
            for (int j = 0; j < 8; j++)
                for (int h = 0; h < 2; h++) {
                    a[j][h] = d * (float)sc[2 * j + h];
                    c[j][h] = -32 * a[j][h];
                }
        } else {
            int bytes = type == GGUF_TYPE_Q8_0 ? 34 : 18;
            for (int j = 0; j < bn; j++) {
                float d = half_to_float(row + (size_t)(b0 + j) * bytes);
                a[j][0] = a[j][1] = d;
                c[j][0] = c[j][1] = type == GGUF_TYPE_Q8_0 ? 0 : -8 * d;
            }
        }
        for (int j = 0; j < bn; j++) {
            int b = b0 + j;
            __m256i q;
            bool sgn = false;
            switch (type) {
            case GGUF_TYPE_Q8_0:
                q = _mm256_loadu_si256((const __m256i *)(row + (size_t)b * 34 + 2));
                sgn = true;
                break;
            case GGUF_TYPE_Q4_0: {
                __m128i v = _mm_loadu_si128((const __m128i *)(row + (size_t)b * 18 + 2));
                __m128i m = _mm_set1_epi8(0xF);
                q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
                break;
            }
            case GGUF_TYPE_Q4_K:
            case GGUF_TYPE_Q5_K: {
                bool five = type == GGUF_TYPE_Q5_K;
                __m256i v = _mm256_loadu_si256(
                    (const __m256i *)(sup + (five ? 48 : 16) + 32 * (j / 2)));
                q = j & 1 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4) : _mm256_and_si256(v, m4);
                if (five) {
                    __m256i h = _mm256_loadu_si256((const __m256i *)(sup + 16));
                    h = _mm256_and_si256(_mm256_srl_epi16(h, _mm_cvtsi32_si128(j)),
                                         _mm256_set1_epi8(1));
                    q = _mm256_or_si256(q, _mm256_slli_epi16(h, 4));
                }
                break;
            }
            default: { /* Q6_K */
                int h = j / 4, g = j % 4;
                __m256i v = _mm256_loadu_si256((const __m256i *)(sup + 64 * h + 32 * (g & 1)));
                __m256i lo = g < 2 ? _mm256_and_si256(v, m4)
                                   : _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                __m256i hb = _mm256_loadu_si256((const __m256i *)(sup + 128 + 32 * h));
                hb = _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * g)),
                                      _mm256_set1_epi8(3));
                q = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 4));
                break;
            }
            }
            __m256 sv = _mm256_set_m128(_mm_set1_ps(a[j][1]), _mm_set1_ps(a[j][0]));
            __m256i qa = sgn ? _mm256_sign_epi8(q, q) : q;
            for (int t = 0; t < nt; t++) {
                __m256i x = _mm256_loadu_si256((const __m256i *)(xq[t].q + 32 * b));
                if (sgn)
                    x = _mm256_sign_epi8(x, q);
                __m256 f = _mm256_cvtepi32_ps(QD_DOT(qa, x));
                acc[t] = _mm256_fmadd_ps(f, _mm256_mul_ps(sv, _mm256_set1_ps(xq[t].d[b])), acc[t]);
                off[t] += c[j][0] * xq[t].dsx[2 * b] + c[j][1] * xq[t].dsx[2 * b + 1];
            }
        }
    }
    for (int t = 0; t < nt; t++)
        out[(size_t)t * ldo] = hsum256(acc[t]) + off[t];
}
