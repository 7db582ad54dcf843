/* gpu.h - private to embed/: the BERT forward pass on an NVIDIA GPU.
 *
 * embed/gpu.c implements it by opening libdocqa_cuda.so (embed/cuda/, built
 * when CMake finds nvcc) at run time; in a build without CUDA every call says
 * so. The same binary runs on machines without a GPU: bert_gpu_probe() asks
 * at run time, and the model loader falls back to the CPU path.
 *
 * Weights are uploaded once as FP16 (GEMMs in cuBLAS with FP32 accumulation);
 * activations stay FP32 between the GEMMs, so LayerNorm, softmax and pooling
 * run in full precision as on the CPU.
 */
#ifndef DQ_EMBED_GPU_H
#define DQ_EMBED_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "embed/bert_impl.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bert_gpu bert_gpu;

/* 1 when a CUDA device can run the model (name filled with its name), 0 when
 * not (why filled: "built without CUDA", "no CUDA device: ..."). */
int bert_gpu_probe(char *name, size_t name_cap, char *why, size_t why_cap);

/* Uploads w and allocates scratch for up to *max_batch sequences of max_len
 * tokens, lowering *max_batch when the GPU's free memory cannot hold that
 * much. NULL with the error set on failure. */
bert_gpu *bert_gpu_new(const bert_config *cfg, const bert_weights *w, int *max_batch,
                       int max_len);
void bert_gpu_free(bert_gpu *g);
/* Device memory held, in bytes. */
size_t bert_gpu_bytes(const bert_gpu *g);

/* As bert_forward(): ids (batch, seq) with lens[b] real tokens per row
 * (token type 0), batch <= the max_batch granted; hidden (batch, seq, hidden)
 * and pooled (batch, hidden) may each be NULL. Pooled vectors are not
 * normalised (the caller does that, as on the CPU path). */
int bert_gpu_forward(bert_gpu *g, const int32_t *ids, const int *lens, int batch, int seq,
                     float *hidden, float *pooled);

#ifdef __cplusplus
}
#endif

#endif
