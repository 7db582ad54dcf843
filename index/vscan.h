/* vscan.h - the inner loops of a vector search: float dot products against
 * many rows, and 8-bit codes against a weighted query, plain C and AVX2 /
 * AVX-512 (chosen at run time).
 *
 * Debian's FAISS is built for the baseline x86-64 ISA, so its scans run one
 * float at a time (fvec_inner_product_ref, the SQ8 scanner's scalar codec);
 * faiss_shim.cpp walks FAISS's own lists and centroids with these instead.
 * Private to index/ (and its tests, which compare every ISA with the scalar
 * reference).
 */
#ifndef DQ_VSCAN_H
#define DQ_VSCAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { VSCAN_SCALAR = 0, VSCAN_AVX2 = 1, VSCAN_AVX512 = 2 } vscan_isa;

typedef struct {
    /* out[i] = q . x[i] for the rows x (n, dim) */
    void (*dots)(const float *q, const float *x, size_t n, int dim, float *out);
    /* out[i] = sum over d of w[d] * codes[i][d] for the 8-bit rows codes (n, dim) */
    void (*sq8)(const float *w, const uint8_t *codes, size_t n, int dim, float *out);
} vscan_ops;

/* The best ISA this CPU runs. */
vscan_isa vscan_best(void);
/* The kernels of isa, or of the best ISA below it that this CPU runs. */
const vscan_ops *vscan_ops_for(vscan_isa isa);

#ifdef __cplusplus
}
#endif

#endif
