/* test_bert_cuda.c - the CUDA backend against the CPU path, and the device
 * choice everywhere.
 *
 * Parity tests need a CUDA device and skip, saying why, without one (a build
 * without CUDA, or a machine without a GPU). The device-choice tests run on
 * every machine: AUTO falls back to the CPU and says so, CUDA refuses
 * clearly when it cannot be had, int8 stays on the CPU.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "common/common.h"
#include "embed/embed.h"
#include "embed/gpu.h"
#include "support/bertgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES DQ_SOURCE_DIR "/tests/fixtures"

/* The bound the issue sets on pooled vectors: FP16 weights with FP32
 * accumulation keep a BERT's pooled output this close to FP32. */
#define MIN_COSINE 0.9999

static bool have_gpu(char *why, size_t cap)
{
    char name[256];
    return bert_gpu_probe(name, sizeof name, why, cap) == 1;
}

#define REQUIRE_GPU()                                                                        \
    do {                                                                                     \
        char why_[256];                                                                      \
        if (!have_gpu(why_, sizeof why_))                                                    \
            cr_skip_test("needs a CUDA device: %s", why_);                                   \
    } while (0)

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* ---- everywhere: the device choice ---------------------------------------- */

Test(device, parse)
{
    bert_device d;
    cr_assert_eq(bert_parse_device("auto", &d), 0);
    cr_assert_eq(d, BERT_DEVICE_AUTO);
    cr_assert_eq(bert_parse_device("cpu", &d), 0);
    cr_assert_eq(d, BERT_DEVICE_CPU);
    cr_assert_eq(bert_parse_device("cuda", &d), 0);
    cr_assert_eq(d, BERT_DEVICE_CUDA);
    cr_assert_eq(bert_parse_device("gpu", &d), -1);
    cr_assert_eq(bert_parse_device("", &d), -1);
}

Test(device, auto_without_gpu_runs_on_cpu_and_says_why)
{
    char why[256];
    if (have_gpu(why, sizeof why))
        cr_skip_test("this machine has a CUDA device");
    bert_params p = bert_default_params();
    bert_model *m = bert_load(FIXTURES "/bert-tiny-cls", &p);
    cr_assert_not_null(m, "%s", dq_last_error());
    cr_assert_str_eq(bert_device_name(m), "cpu");
    char *text = bert_describe(m);
    char want[300];
    snprintf(want, sizeof want, "device: cpu (%s)\n", why);
    cr_assert_not_null(strstr(text, want), "describe says:\n%s", text);
    free(text);
    bert_free(m);
}

Test(device, cuda_without_gpu_is_a_clear_error)
{
    char why[256];
    if (have_gpu(why, sizeof why))
        cr_skip_test("this machine has a CUDA device");
    bert_params p = bert_default_params();
    p.device = BERT_DEVICE_CUDA;
    cr_assert_null(bert_load(FIXTURES "/bert-tiny-cls", &p));
    char want[400];
    snprintf(want, sizeof want, "cannot run '%s' on the GPU: %s", FIXTURES "/bert-tiny-cls", why);
    cr_assert_str_eq(dq_last_error(), want);
}

Test(device, int8_on_cuda_is_refused)
{
    bert_params p = bert_default_params();
    p.device = BERT_DEVICE_CUDA;
    p.int8 = true;
    cr_assert_null(bert_load(FIXTURES "/bert-tiny-cls", &p));
    cr_assert_not_null(strstr(dq_last_error(), "int8 runs on the CPU only"), "%s",
                       dq_last_error());
}

Test(device, cpu_when_asked)
{
    bert_params p = bert_default_params();
    p.device = BERT_DEVICE_CPU;
    bert_model *m = bert_load(FIXTURES "/bert-tiny-mean", &p);
    cr_assert_not_null(m, "%s", dq_last_error());
    cr_assert_str_eq(bert_device_name(m), "cpu");
    char *text = bert_describe(m);
    cr_assert_not_null(strstr(text, "device: cpu (as asked)\n"));
    free(text);
    bert_free(m);
}

/* ---- with a GPU: parity with the CPU --------------------------------------- */

static const char *const texts[] = {
    "the lease ends in march",
    "合同的违约金是多少",
    "a",
    "租金 每月 支付 , the tenant pays rent monthly to the landlord 押金 退还",
    "",
};
#define N_TEXTS (sizeof texts / sizeof *texts)

/* Loads dir on the CPU and on the GPU, encodes texts with both and checks
 * every pooled vector's cosine. */
static void check_folder(const char *dir)
{
    bert_params p = bert_default_params();
    p.device = BERT_DEVICE_CPU;
    bert_model *cpu = bert_load(dir, &p);
    cr_assert_not_null(cpu, "%s", dq_last_error());
    p.device = BERT_DEVICE_CUDA;
    bert_model *gpu = bert_load(dir, &p);
    cr_assert_not_null(gpu, "%s", dq_last_error());
    cr_assert_str_eq(bert_device_name(gpu), "cuda");
    cr_assert_str_eq(bert_identity(cpu), bert_identity(gpu),
                     "the same vectors must carry the same identity");
    int H = bert_dim(cpu);
    float *a = dq_malloc(N_TEXTS * (size_t)H * sizeof *a);
    float *b = dq_malloc(N_TEXTS * (size_t)H * sizeof *b);
    cr_assert_eq(bert_encode(cpu, texts, N_TEXTS, a), 0, "%s", dq_last_error());
    cr_assert_eq(bert_encode(gpu, texts, N_TEXTS, b), 0, "%s", dq_last_error());
    for (size_t i = 0; i < N_TEXTS; i++) {
        double c = cosine(a + i * H, b + i * H, H);
        cr_log_info("%s text %zu: cosine %.7f, max abs diff %.2e", dir, i, c,
                    max_abs_diff(a + i * H, b + i * H, (size_t)H));
        cr_assert_gt(c, MIN_COSINE, "%s text %zu: cosine %.7f", dir, i, c);
    }
    free(a);
    free(b);
    bert_free(cpu);
    bert_free(gpu);
}

Test(gpu, fixture_models_match_cpu, .timeout = 120)
{
    REQUIRE_GPU();
    check_folder(FIXTURES "/bert-tiny-cls");
    check_folder(FIXTURES "/bert-tiny-mean");
    check_folder(FIXTURES "/bert-tiny-bf16");
}

/* A bge-small-shaped model (hidden 512, 8 heads) with a padded batch of
 * uneven lengths, compared on hidden states and pooled vectors. */
Test(gpu, padded_batch_matches_cpu_forward, .timeout = 300)
{
    REQUIRE_GPU();
    enum { VOCAB = 1000, POS = 160, BATCH = 5, SEQ = 130 };
    static const int lens[BATCH] = {130, 1, 64, 129, 17};
    bertgen_model *m = bertgen_new(VOCAB, POS, 512, 4, 8, 2048, BERT_POOL_MEAN, 77);
    int32_t *ids = dq_malloc((size_t)BATCH * SEQ * sizeof *ids);
    for (int b = 0; b < BATCH; b++)
        for (int t = 0; t < SEQ; t++)
            ids[b * SEQ + t] = t < lens[b] ? (b * 131 + t * 17 + 3) % VOCAB : 0;
    size_t nh = (size_t)BATCH * SEQ * 512;
    float *h_cpu = dq_malloc(nh * sizeof(float)), *h_gpu = dq_malloc(nh * sizeof(float));
    float *p_cpu = dq_malloc(BATCH * 512 * sizeof(float)), *p_gpu = dq_malloc(BATCH * 512 * sizeof(float));
    bert_run *run = bert_run_new(&m->cfg, BATCH, SEQ, 0, NULL);
    cr_assert_not_null(run, "%s", dq_last_error());
    cr_assert_eq(bert_forward(&m->cfg, &m->w, run, ids, lens, BATCH, SEQ, h_cpu, p_cpu, false),
                 0, "%s", dq_last_error());
    int mb = BATCH;
    bert_gpu *g = bert_gpu_new(&m->cfg, &m->w, &mb, SEQ);
    cr_assert_not_null(g, "%s", dq_last_error());
    cr_assert_eq(mb, BATCH);
    cr_assert_eq(bert_gpu_forward(g, ids, lens, BATCH, SEQ, h_gpu, p_gpu), 0, "%s",
                 dq_last_error());
    for (int b = 0; b < BATCH; b++) {
        double c = cosine(p_cpu + b * 512, p_gpu + b * 512, 512);
        cr_log_info("sequence %d (%d tokens): pooled cosine %.7f, max abs diff %.2e", b, lens[b],
                    c, max_abs_diff(p_cpu + b * 512, p_gpu + b * 512, 512));
        cr_assert_gt(c, MIN_COSINE, "sequence %d: pooled cosine %.7f", b, c);
        for (int t = 0; t < lens[b]; t++) {
            size_t off = ((size_t)b * SEQ + t) * 512;
            double ct = cosine(h_cpu + off, h_gpu + off, 512);
            cr_assert_gt(ct, MIN_COSINE, "sequence %d token %d: hidden cosine %.7f", b, t, ct);
        }
    }
    bert_gpu_free(g);
    bert_run_free(run);
    free(ids);
    free(h_cpu);
    free(h_gpu);
    free(p_cpu);
    free(p_gpu);
    bertgen_free(m);
}

Test(gpu, batch_is_sized_to_memory_and_checked)
{
    REQUIRE_GPU();
    bertgen_model *m = bertgen_new(50, 32, 64, 2, 4, 128, BERT_POOL_CLS, 5);
    int mb = 8;
    bert_gpu *g = bert_gpu_new(&m->cfg, &m->w, &mb, 32);
    cr_assert_not_null(g, "%s", dq_last_error());
    cr_assert_eq(mb, 8, "a tiny model fits any GPU");
    cr_assert_gt(bert_gpu_bytes(g), 0);
    int32_t ids[9 * 4] = {0};
    int lens[9] = {4, 4, 4, 4, 4, 4, 4, 4, 4};
    cr_assert_eq(bert_gpu_forward(g, ids, lens, 9, 4, NULL, NULL), -1);
    cr_assert_not_null(strstr(dq_last_error(), "outside 8 x 32"), "%s", dq_last_error());
    bert_gpu_free(g);
    bertgen_free(m);
}
