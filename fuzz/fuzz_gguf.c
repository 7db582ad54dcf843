/* fuzz_gguf.c - libFuzzer harness: the GGUF reader on arbitrary bytes.
 *
 * gguf_open_memory() runs the checks gguf_open() runs on a mapped file.
 * Whatever it accepts must hold: every tensor's bytes lie inside the file and
 * match its shape and type, every key and tensor is found by its name, and
 * every array element (strings included) reads inside the file; reading all of
 * them (done here) must stay in bounds.
 */
#include "common/common.h"
#include "embed/gguf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    gguf_file *f = gguf_open_memory(data, size, "fuzz.gguf");
    if (!f)
        return 0;
    unsigned sum = 0;
    const unsigned char *lo = gguf_map(f), *hi = lo + gguf_file_size(f);
    for (size_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const unsigned char *p = t->data;
        int be, bb;
        if (!gguf_type_block(t->type, &be, &bb) || t->n_elems % (uint64_t)be ||
            t->n_bytes != t->n_elems / (uint64_t)be * (uint64_t)bb)
            abort();
        if (t->n_bytes && (p < lo || p > hi || t->n_bytes > (size_t)(hi - p) ||
                           (size_t)(p - lo) % gguf_alignment(f)))
            abort();
        for (size_t k = 0; k < t->n_bytes; k++)
            sum += p[k];
        if (gguf_find_tensor(f, t->name) != t || !gguf_type_name(t->type))
            abort();
    }
    for (size_t i = 0; i < gguf_n_kv(f); i++) {
        const char *key = gguf_kv_key(f, i);
        if (gguf_find_key(f, key) != (long)i)
            abort();
        gguf_val_type vt = gguf_kv_type(f, i);
        if (vt == GGUF_VAL_STRING) {
            size_t len;
            const char *s = gguf_get_str(f, key, &len);
            if (!s || strlen(s) > len)
                abort();
        } else if (vt == GGUF_VAL_ARRAY) {
            gguf_arr a;
            if (gguf_get_arr(f, key, &a) < 0)
                abort();
            for (uint64_t k = 0; k < a.n; k++) {
                if (a.type == GGUF_VAL_STRING) {
                    size_t len;
                    const char *s = gguf_arr_str(&a, k, &len);
                    if ((const unsigned char *)s < lo || len > (size_t)(hi - (const unsigned char *)s))
                        abort();
                    for (size_t j = 0; j < len; j++)
                        sum += (unsigned char)s[j];
                } else {
                    sum += (unsigned)gguf_arr_int(&a, k) + (unsigned)(gguf_arr_f64(&a, k) != 0);
                }
            }
        } else {
            uint64_t u;
            double d;
            bool b;
            if (gguf_get_u64(f, key, &u) == 0 || gguf_get_f64(f, key, &d) == 0 ||
                gguf_get_bool(f, key, &b) == 0)
                sum++;
        }
    }
    gguf_close(f);
    return (int)(sum & 0);
}
