/* generate.c - `docqa generate --model FILE.gguf PROMPT`: the in-process LLM
 * run by hand, as `docqa embed` runs an encoder: the chat template (or --raw
 * text), then sampled tokens streamed to stdout, or with --json the prompt's
 * ids and every generated token's id, text, logprob and top alternatives. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/common.h"
#include "generate/llm_local.h"

static const char *const generate_usage[] = {
    "docqa generate [--model <file.gguf>] [<options>] <prompt>",
    NULL,
};

typedef struct {
    bool raw, json;
    int n_predict, top_logprobs, context, threads;
    lm_sampler_params sp;
} gen_opts;

static bool stop_now(void *user)
{
    (void)user;
    return cli_interrupted();
}

static int parse_real(const char *name, const char *s, double lo, double hi, float *out)
{
    if (!s)
        return 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        cli_error("--%s '%s': expected a number from %g to %g", name, s, lo, hi);
        return -1;
    }
    *out = (float)v;
    return 0;
}

/* Token ids of the prompt: the chat template around it, or its text alone
 * (after BOS when the model wants one). */
static void prompt_ids(const llm_gguf *g, const char *prompt, bool raw, bpe_ids *ids)
{
    if (raw) {
        if (bpe_add_bos(g->tok) && bpe_bos(g->tok) >= 0)
            bpe_ids_push(ids, bpe_bos(g->tok));
        bpe_encode(g->tok, prompt, strlen(prompt), ids);
        return;
    }
    llm_message m = {"user", prompt};
    llm_gguf_render(g, &m, 1, ids);
}

static cJSON *token_json(const llm_gguf *g, int32_t id, double logprob)
{
    size_t len = 0;
    const char *b = bpe_token_bytes(g->tok, id, &len);
    dq_buf t = DQ_BUF_INIT;
    dq_buf_append(&t, b ? b : "", b ? len : 0);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddStringToObject(o, "text", t.data ? t.data : "");
    cJSON_AddNumberToObject(o, "logprob", logprob);
    dq_buf_free(&t);
    return o;
}

/* The n most likely tokens of logits, best first, with their logprobs. */
static cJSON *top_json(const llm_gguf *g, const float *logits, int V, int n)
{
    cJSON *arr = cJSON_CreateArray();
    bool *taken = dq_calloc((size_t)V, sizeof *taken);
    for (int k = 0; k < n && k < V; k++) {
        int best = -1;
        for (int i = 0; i < V; i++)
            if (!taken[i] && (best < 0 || logits[i] > logits[best]))
                best = i;
        taken[best] = true;
        cJSON_AddItemToArray(arr, token_json(g, best, lm_logprob(logits, V, best)));
    }
    free(taken);
    return arr;
}

static int run(const llm_gguf *g, lm_ctx *ctx, const gen_opts *o, const char *prompt)
{
    bpe_ids ids = BPE_IDS_INIT;
    prompt_ids(g, prompt, o->raw, &ids);
    cJSON *root = o->json ? cJSON_CreateObject() : NULL;
    if (root)
        cJSON_AddItemToObject(root, "prompt_tokens", cJSON_CreateIntArray(ids.v, (int)ids.n));
    cJSON *gen = root ? cJSON_AddArrayToObject(root, "tokens") : NULL;
    int status = EXIT_OK;
    int rc = ids.n ? lm_eval(ctx, ids.v, (int)ids.n, false) : LM_ERR;
    if (!ids.n)
        dq_set_error("the prompt makes no tokens");
    lm_sampler *s = lm_sampler_new(&o->sp);
    for (size_t i = 0; i < ids.n; i++)
        lm_sampler_accept(s, ids.v[i]);
    int V = lm_model_hparams(g->model)->n_vocab;
    size_t n_stop = 0;
    const int32_t *stop = chat_stop_ids(g->tmpl, &n_stop);
    bpe_stream bs = BPE_STREAM_INIT;
    dq_buf piece = DQ_BUF_INIT;
    const char *finish = "length";
    for (int n = 0; rc == 0 && n < o->n_predict; n++) {
        const float *logits = lm_logits(ctx, -1);
        int32_t id = lm_sample(s, logits, V);
        lm_sampler_accept(s, id);
        if (gen) {
            cJSON *t = token_json(g, id, lm_logprob(logits, V, id));
            if (o->top_logprobs > 0)
                cJSON_AddItemToObject(t, "top", top_json(g, logits, V, o->top_logprobs));
            cJSON_AddItemToArray(gen, t);
        }
        bool end = false;
        for (size_t k = 0; k < n_stop; k++)
            end |= stop[k] == id;
        if (end) {
            finish = "stop";
            break;
        }
        if (!root) {
            dq_buf_clear(&piece);
            bpe_stream_token(g->tok, &bs, id, &piece);
            cli_print_piece(stdout, piece.data ? piece.data : "", piece.len);
        }
        if (n + 1 < o->n_predict && lm_ctx_pos(ctx) < lm_ctx_n_ctx(ctx))
            rc = lm_eval(ctx, &id, 1, false);
    }
    if (rc == LM_ERR_STOPPED || cli_interrupted()) {
        status = EXIT_INTERRUPTED;
    } else if (rc == LM_ERR_OVERFLOW) { /* as ask says it, and with ask's status */
        cli_error("'%s': the prompt has %zu tokens but the context holds %d (raise --context or "
                  "[llm] context)",
                  gguf_path(lm_model_gguf(g->model)), ids.n, lm_ctx_n_ctx(ctx));
        status = EXIT_LLM;
    } else if (rc < 0) {
        cli_error("%s", dq_last_error());
        status = EXIT_ERROR;
    }
    if (root && status == EXIT_OK) {
        cJSON_AddStringToObject(root, "finish_reason", finish);
        char *out = cJSON_PrintUnformatted(root);
        puts(out);
        free(out);
    } else if (!root) {
        dq_buf_clear(&piece);
        bpe_stream_finish(&bs, &piece);
        cli_print_piece(stdout, piece.data ? piece.data : "", piece.len);
        putchar('\n');
    }
    dq_buf_free(&piece);
    cJSON_Delete(root);
    lm_sampler_free(s);
    bpe_ids_free(&ids);
    return status;
}

int cmd_generate(int argc, char **argv, cli_globals *g)
{
    const char *model = NULL, *temp = NULL, *top_p = NULL, *min_p = NULL, *seed = NULL;
    const char *kv_cache = NULL;
    gen_opts o = {.n_predict = 128, .sp = lm_default_sampler_params()};
    int top_k = -1;
    const cli_option opts[] = {
        OPT_STR(0, "model", &model, "file", "a GGUF model (default: [llm] model when it is one)"),
        OPT_BOOLEAN(0, "raw", &o.raw, "feed the prompt as it is, without the chat template"),
        OPT_NUMBER('n', NULL, &o.n_predict, "n", "tokens to generate at most (128)"),
        OPT_STR(0, "temp", &temp, "t", "temperature; 0 is greedy (0.8)"),
        OPT_NUMBER(0, "top-k", &top_k, "k", "sample from the k most likely tokens; 0 off (40)"),
        OPT_STR(0, "top-p", &top_p, "p", "nucleus sampling; 1 off (0.95)"),
        OPT_STR(0, "min-p", &min_p, "p", "drop tokens below p times the best one's; 0 off (0.05)"),
        OPT_STR(0, "seed", &seed, "n", "random seed (0)"),
        OPT_NUMBER(0, "top-logprobs", &o.top_logprobs, "n", "with --json: each token's n best alternatives"),
        OPT_BOOLEAN(0, "json", &o.json, "print prompt_tokens and each token's id, text and logprob as JSON"),
        OPT_NUMBER(0, "context", &o.context, "n", "KV cache size in tokens ([llm] context, else 4096)"),
        OPT_STR(0, "kv-cache", &kv_cache, "type", "KV cache type: f16, bf16 or f32 ([llm] kv_cache, else f16)"),
        OPT_NUMBER(0, "threads", &o.threads, "n", "threads (2)"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, generate_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args != 1) {
        cli_error(n_args ? "give the prompt as one argument" : "no prompt given");
        print_usage(stderr, generate_usage, opts);
        return EXIT_USAGE;
    }
    if (parse_real("temp", temp, 0, 100, &o.sp.temperature) < 0 ||
        parse_real("top-p", top_p, 0, 1, &o.sp.top_p) < 0 ||
        parse_real("min-p", min_p, 0, 1, &o.sp.min_p) < 0)
        return EXIT_USAGE;
    if (o.n_predict < 1 || o.top_logprobs < 0 || o.top_logprobs > 100 || o.context < 0 ||
        o.threads < 0 || top_k > 1000000) {
        cli_error("-n must be positive, --top-logprobs 0-100, --context and --threads not negative");
        return EXIT_USAGE;
    }
    if (top_k >= 0)
        o.sp.top_k = top_k;
    if (seed) {
        char *end;
        o.sp.seed = strtoull(seed, &end, 10);
        if (end == seed || *end) {
            cli_error("--seed '%s': expected a whole number", seed);
            return EXIT_USAGE;
        }
    }
    int rc = cli_setup(g);
    if (rc != EXIT_OK)
        return rc;
    if (!model)
        model = llm_is_model_file(g->cfg.llm_model) ? g->cfg.llm_model : NULL;
    if (!model) {
        cli_error("no model: pass --model FILE.gguf or set [llm] model = FILE.gguf in the config");
        return EXIT_USAGE;
    }
    if (!o.context && g->cfg.llm_context > 0)
        o.context = g->cfg.llm_context;
    lm_ctx_params cp = lm_default_ctx_params();
    if (!kv_cache)
        kv_cache = g->cfg.llm_kv_cache;
    if (kv_cache && lm_kv_type_parse(kv_cache, &cp.kv_type) < 0) {
        cli_error("--kv-cache '%s': expected f16, bf16 or f32", kv_cache);
        return EXIT_USAGE;
    }
    llm_gguf gg;
    if (llm_gguf_open(&gg, model, g->cfg.llm_chat_template, o.threads) < 0) {
        cli_error("%s", dq_last_error());
        return EXIT_ERROR;
    }
    cp.n_ctx = o.context;
    cp.should_stop = stop_now;
    cli_catch_signals(); /* else Ctrl-C kills it mid-line, and stop_now never sees it */
    lm_ctx *ctx = lm_ctx_new(gg.model, &cp);
    int status = EXIT_ERROR;
    if (!ctx)
        cli_error("%s: %s", model, dq_last_error());
    else
        status = run(&gg, ctx, &o, argv[0]);
    lm_ctx_free(ctx);
    llm_gguf_close(&gg);
    return status;
}
