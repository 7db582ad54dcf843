/* gpu.c - the GPU backend as embed/ sees it: finds and opens
 * libdocqa_cuda.so at run time and forwards to it.
 *
 * Asking "is there a GPU" must cost nothing on the many machines without
 * one, so the NVIDIA driver (libcuda.so.1) is looked for first: without it
 * there is no device and cuBLAS is never mapped. With it, the backend
 * library is opened from the directory of the running program (where the
 * build puts it), then by the loader's search path. The handle is opened
 * once per process and kept; it is the module's only state.
 */
#include "embed/gpu.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "embed/cuda/cuda_abi.h"

#define BACKEND_LIB "libdocqa_cuda.so"

struct bert_gpu {
    void *impl; /* the backend's model, freed by api->destroy */
};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const dq_cuda_api *api;  /* NULL when the backend cannot be had */
static char load_why[320];      /* why not, when api is NULL */

#ifdef DQ_HAVE_CUDA
static void *open_backend(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            char path[PATH_MAX + sizeof BACKEND_LIB];
            snprintf(path, sizeof path, "%.*s/%s", (int)(slash - exe), exe, BACKEND_LIB);
            void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (h)
                return h;
        }
    }
#ifdef DQ_CUDA_BACKEND_DIR
    /* installed: bin/docqa and lib/docqa/libdocqa_cuda.so (cmake/install.cmake) */
    void *h = dlopen(DQ_CUDA_BACKEND_DIR "/" BACKEND_LIB, RTLD_NOW | RTLD_LOCAL);
    if (h)
        return h;
#endif
    return dlopen(BACKEND_LIB, RTLD_NOW | RTLD_LOCAL);
}
#endif

static void load_backend(void)
{
#ifndef DQ_HAVE_CUDA
    snprintf(load_why, sizeof load_why, "this docqa was built without CUDA");
#else
    void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
        snprintf(load_why, sizeof load_why, "no CUDA device (no NVIDIA driver: libcuda.so.1 "
                                            "not found)");
        return;
    }
    dlclose(driver);
    void *h = open_backend();
    if (!h) {
        snprintf(load_why, sizeof load_why, "cannot open the CUDA backend: %s", dlerror());
        return;
    }
    dq_cuda_api_fn entry = (dq_cuda_api_fn)dlsym(h, DQ_CUDA_ENTRY);
    const dq_cuda_api *a = entry ? entry() : NULL;
    if (!a || a->abi != DQ_CUDA_ABI) {
        snprintf(load_why, sizeof load_why,
                 "cannot use the CUDA backend: %s is from another docqa version", BACKEND_LIB);
        dlclose(h);
        return;
    }
    api = a; /* the handle stays open for the process's life */
#endif
}

int bert_gpu_probe(char *name, size_t name_cap, char *why, size_t why_cap)
{
    pthread_once(&load_once, load_backend);
    if (!api) {
        if (name_cap)
            name[0] = '\0';
        snprintf(why, why_cap, "%s", load_why);
        return 0;
    }
    return api->probe(name, name_cap, why, why_cap);
}

bert_gpu *bert_gpu_new(const bert_config *cfg, const bert_weights *w, int *max_batch,
                       int max_len)
{
    char name[256], why[320];
    if (!bert_gpu_probe(name, sizeof name, why, sizeof why)) {
        dq_set_error("cannot use the GPU: %s", why);
        return NULL;
    }
    char err[512] = "";
    void *impl = api->create(cfg, w, max_batch, max_len, err, sizeof err);
    if (!impl) {
        dq_set_error("%s", err);
        return NULL;
    }
    bert_gpu *g = dq_calloc(1, sizeof *g);
    g->impl = impl;
    return g;
}

void bert_gpu_free(bert_gpu *g)
{
    if (!g)
        return;
    api->destroy(g->impl);
    free(g);
}

size_t bert_gpu_bytes(const bert_gpu *g)
{
    return g ? api->bytes(g->impl) : 0;
}

int bert_gpu_forward(bert_gpu *g, const int32_t *ids, const int *lens, int batch, int seq,
                     float *hidden, float *pooled)
{
    char err[512] = "";
    if (api->forward(g->impl, ids, lens, batch, seq, hidden, pooled, err, sizeof err) < 0) {
        dq_set_error("%s", err);
        return -1;
    }
    return 0;
}
