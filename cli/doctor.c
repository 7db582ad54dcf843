/* doctor.c - `docqa doctor`: is the configured LLM there, and does it have
 * the model? One line per check, so a user sees which step fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/rag.h"
#include "common/common.h"

static const char *const doctor_usage[] = {
    "docqa doctor [<options>]",
    "",
    "Checks the [llm] endpoint: that it answers GET /models, that the configured",
    "model is among those it serves, and that a one-token chat request works.",
    "With --write-prompts, writes the built-in prompt templates (zh.txt, en.txt)",
    "where docqa reads them, for editing; existing files are kept.",
    NULL,
};

/* Writes the built-in templates into the prompt folder, keeping any file a
 * user already has there. */
static int write_prompts(const dq_config *cfg)
{
    char *dir = rag_prompt_dir(cfg);
    if (!dir) {
        cli_error("no prompt folder: set HOME, XDG_CONFIG_HOME or [llm] prompts");
        return EXIT_ERROR;
    }
    int status = EXIT_OK;
    if (dq_mkdirs(dir) < 0) {
        cli_error("%s", dq_last_error());
        free(dir);
        return EXIT_ERROR;
    }
    for (int lang = PROMPT_EN; lang <= PROMPT_ZH; lang++) {
        dq_buf path = DQ_BUF_INIT;
        dq_buf_printf(&path, "%s/%s.txt", dir, prompt_lang_name((prompt_lang)lang));
        if (access(path.data, F_OK) == 0) {
            printf("kept %s\n", path.data);
        } else {
            const char *t = prompt_builtin_template((prompt_lang)lang);
            if (dq_write_file_atomic(path.data, t, strlen(t)) < 0) {
                cli_error("%s", dq_last_error());
                status = EXIT_ERROR;
            } else {
                printf("wrote %s\n", path.data);
            }
        }
        dq_buf_free(&path);
    }
    free(dir);
    return status;
}

int cmd_doctor(int argc, char **argv, cli_globals *g)
{
    bool prompts = false;
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory (its config is read too)"),
        OPT_BOOLEAN(0, "write-prompts", &prompts, "write the built-in prompt templates for editing"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, doctor_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args > 0) {
        cli_error("doctor takes no arguments");
        return EXIT_USAGE;
    }
    /* a store is optional: its config may name the LLM */
    int status = cli_setup(g);
    if (status != EXIT_OK)
        return status;
    const dq_config *cfg = &g->cfg;
    if (prompts)
        return write_prompts(cfg);
    bool err;
    llm_client *llm = cli_open_llm(cfg, &err);
    if (err) /* a model file that does not load is the LLM's fault too */
        return llm_is_model_file(cfg->llm_model) ? EXIT_LLM : EXIT_ERROR;
    if (!llm) {
        puts("llm: not configured; answers are extractive (set [llm] model = FILE.gguf or "
             "[llm] url in ~/.config/docqa/config, or DOCQA_LLM_MODEL / DOCQA_LLM_URL)");
        return EXIT_OK;
    }
    char **ids = NULL;
    size_t n = 0;
    llm_status st = LLM_OK;
    if (llm_is_local(llm)) {
        printf("llm: in process, %s (loaded)\n", llm_base_url(llm));
        goto chat;
    }
    printf("llm: %s\n", llm_base_url(llm));
    st = llm_models(llm, &ids, &n);
    if (st != LLM_OK) {
        cli_error("%s", dq_last_error());
        status = EXIT_LLM;
        goto done;
    }
    printf("models: ");
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? ", " : "", ids[i]);
    printf("%s\n", n ? "" : "(none listed)");
    if (cfg->llm_model) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found |= !strcmp(ids[i], cfg->llm_model);
        if (found) {
            printf("model: %s (served)\n", cfg->llm_model);
        } else {
            /* llama-server serves one model under its file name and ignores
             * the name asked for, so the chat request below decides */
            printf("model: %s (not listed)\n", cfg->llm_model);
            cli_error("model '%s' is not among those listed at %s", cfg->llm_model,
                      llm_base_url(llm));
        }
    } else {
        printf("model: the server's default (no [llm] model set)\n");
    }
chat:
    {
        llm_message msgs[] = {{"user", "Reply with the word OK."}};
        llm_request req = {.stream = true, .max_tokens = 1, .should_stop = cli_interrupted};
        llm_reply r;
        st = llm_chat(llm, msgs, 1, &req, NULL, NULL, &r);
        if (st == LLM_OK)
            printf("chat: ok (first token in %.0f ms)\n", r.first_token_s * 1000);
        else {
            cli_error("%s", dq_last_error());
            status = EXIT_LLM;
        }
        llm_reply_free(&r);
    }
    {
        int t = llm_count_tokens(llm, "docqa");
        if (llm_is_local(llm))
            printf("tokenize: ok (the model's own tokenizer)\n");
        else if (t >= 0)
            printf("tokenize: ok (prompt budgets are counted by the server)\n");
        else
            printf("tokenize: not offered (prompt budgets are estimated)\n");
    }
done:
    llm_models_free(ids, n);
    llm_free(llm);
    return status;
}
