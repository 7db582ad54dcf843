/* fuzz_safetensors.c - libFuzzer harness: the safetensors header parser on arbitrary bytes.
 *
 * st_open_memory() runs the same checks st_open() runs on a mapped file.
 * Whatever it accepts must hold: every tensor's bytes lie inside the file's
 * data area and its byte count matches its shape and dtype; reading every
 * byte of every tensor (done here) must stay in bounds.
 */
#include "common/common.h"
#include "embed/embed.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    st_file f;
    if (st_open_memory(data, size, "fuzz.safetensors", &f) < 0)
        return 0;
    const unsigned char *lo = f.map, *hi = lo + f.map_size;
    unsigned sum = 0;
    for (size_t i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        const unsigned char *p = t->data;
        if (t->n_bytes && (p < lo + 8 || p + t->n_bytes > hi))
            abort();
        for (size_t k = 0; k < t->n_bytes; k++)
            sum += p[k];
        if (st_find(&f, t->name) == NULL)
            abort();
    }
    st_close(&f);
    return (int)(sum & 0);
}
