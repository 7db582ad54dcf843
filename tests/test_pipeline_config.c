/* test_pipeline_config.c - pipeline/config.c: files, precedence, environment,
 * errors through dq_last_error, and rewriting one setting in place. */
#include "common/common.h"
#include "pipeline/pipeline.h"
#include "support/tmpdir.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[64];
static char sdir[96];

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/dq-test-config-%d", (int)getpid());
    snprintf(sdir, sizeof sdir, "%s/store", root);
    cr_assert_eq(dq_mkdirs(sdir), 0);
    char xdg[96];
    snprintf(xdg, sizeof xdg, "%s/xdg", root);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    static const char *const env[] = {"DOCQA_EMBED_MODEL", "DOCQA_EMBED_URL",
                                      "DOCQA_EMBED_API_KEY", "DOCQA_EMBED_DEVICE",
                                      "DOCQA_LLM_URL", "DOCQA_LLM_MODEL", "DOCQA_LLM_API_KEY"};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        unsetenv(env[i]);
}

static void teardown(void)
{
    tmpdir_remove(root);
}

TestSuite(config, .init = setup, .fini = teardown);

Test(config, defaults_with_no_files)
{
    dq_config cfg;
    cr_assert_eq(dq_config_load(&cfg, sdir), 0);
    cr_expect_null(cfg.embed_model);
    cr_expect_null(cfg.llm_url);
    cr_expect_null(cfg.llm_kv_cache);
    cr_expect_eq(cfg.llm_temperature, -1);
    cr_expect(isnan(cfg.min_score));
    cr_expect_eq(cfg.ann_threshold, -1);
    cr_expect_eq(cfg.embed_device, BERT_DEVICE_AUTO);
    dq_config_free(&cfg);
}

Test(config, store_file_overrides_user_file_and_environment_overrides_both)
{
    cr_assert_eq(tmpdir_write_file(root, "xdg/docqa/config",
                                   "[embed]\nmodel = /user/model  # a comment\nthreads = 3\n"
                                   "[llm]\nurl = http://user/v1\ntemperature = 0.5\n"
                                   "kv_cache = bf16\n"),
                 0);
    cr_assert_eq(tmpdir_write_file(sdir, "config",
                                   "; the store's own\n[embed]\nmodel = /store/model\n"
                                   "[retrieve]\nmin_score = 0.35\nexact = yes\nmode = bm25\n"),
                 0);
    setenv("DOCQA_LLM_URL", "http://env/v1", 1);
    dq_config cfg;
    cr_assert_eq(dq_config_load(&cfg, sdir), 0, "%s", dq_last_error());
    cr_expect_str_eq(cfg.embed_model, "/store/model");
    cr_expect_eq(cfg.embed_threads, 3);
    cr_expect_str_eq(cfg.llm_url, "http://env/v1");
    cr_expect_eq(cfg.llm_temperature, 0.5);
    cr_expect_str_eq(cfg.llm_kv_cache, "bf16");
    cr_expect_eq(cfg.min_score, 0.35);
    cr_expect(cfg.exact);
    cr_expect_str_eq(cfg.retrieve_mode, "bm25");
    dq_config_free(&cfg);
    /* without a store, only the user's file counts */
    cr_assert_eq(dq_config_load(&cfg, NULL), 0);
    cr_expect_str_eq(cfg.embed_model, "/user/model");
    dq_config_free(&cfg);
}

Test(config, a_typo_is_an_error_naming_file_and_line)
{
    cr_assert_eq(tmpdir_write_file(sdir, "config", "[embed]\n\nmodle = x\n"), 0);
    dq_config cfg;
    cr_assert_eq(dq_config_load(&cfg, sdir), -1);
    cr_expect(strstr(dq_last_error(), "/store/config' line 3: unknown or invalid setting "
                                      "'embed.modle = x'"),
              "%s", dq_last_error());
    cr_expect_null(cfg.embed_model, "a failed load owns nothing");
    dq_config_free(&cfg); /* harmless again */
}

Test(config, out_of_range_and_malformed_lines_are_refused)
{
    static const char *const bad[] = {
        "[llm]\ntemperature = 3\n", "[embed]\nthreads = -1\n", "[retrieve]\nmode = fast\n",
        "[ocr]\nmode = sometimes\n", "[embed\n",                 "just words\n",
        "[nosuch]\nx = 1\n",     "[llm]\nkv_cache = q8_0\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tmpdir_write_file(sdir, "config", bad[i]), 0);
        dq_config cfg;
        cr_expect_eq(dq_config_load(&cfg, sdir), -1, "accepted: %s", bad[i]);
        cr_expect(strstr(dq_last_error(), "line"), "%s", dq_last_error());
    }
}

Test(config, a_bad_device_in_the_environment_is_an_error)
{
    setenv("DOCQA_EMBED_DEVICE", "tpu", 1);
    dq_config cfg;
    cr_assert_eq(dq_config_load(&cfg, sdir), -1);
    cr_expect(strstr(dq_last_error(), "DOCQA_EMBED_DEVICE='tpu'"), "%s", dq_last_error());
}

Test(config, set_rewrites_one_line_and_keeps_the_rest)
{
    char path[128];
    snprintf(path, sizeof path, "%s/config", sdir);
    cr_assert_eq(tmpdir_write_file(sdir, "config",
                                   "# mine\n[embed]\nmodel = /old  # keep?\nint8 = true\n\n"
                                   "[llm]\nurl = http://x/v1\n"),
                 0);
    cr_assert_eq(dq_config_set(path, "embed", "model", "/new"), 0);
    cr_assert_eq(dq_config_set(path, "llm", "model", "qwen"), 0);
    cr_assert_eq(dq_config_set(path, "retrieve", "rerank_model", "/rr"), 0);
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &b), 0);
    cr_expect_str_eq(b.data, "# mine\n[embed]\nmodel = /new\nint8 = true\n\n"
                             "[llm]\nurl = http://x/v1\nmodel = qwen\n"
                             "\n[retrieve]\nrerank_model = /rr\n");
    dq_buf_free(&b);
    cr_expect_eq(dq_config_set(path, "embed", "model", "a#b"), -1);
    cr_expect(strstr(dq_last_error(), "'#' or a line break"), "%s", dq_last_error());
}
