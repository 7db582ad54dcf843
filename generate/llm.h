/* llm.h - the LLM as docqa's answer turn, ceval and doctor see it: one
 * handle with two backends behind the same calls.
 *
 * - HTTP: an OpenAI-compatible chat endpoint (llama.cpp's llama-server,
 *   Ollama, vLLM): POST {base_url}/chat/completions, streamed as Server-Sent
 *   Events or not, with libcurl and cJSON (generate/llm.c).
 * - In process: a GGUF model file run by embed/'s engine (embed/lm.h) with
 *   its own tokenizer and chat template (generate/llm_local.c). One such
 *   client may be shared by threads: requests queue on it, and the KV cache
 *   of the last conversation is kept so a follow-up prefills only what is new.
 *
 * The client never prints; failures set the dq error with one line a user can
 * act on ("no LLM at http://127.0.0.1:8080/v1 (connection refused); start
 * llama-server or set [llm] url") and return an llm_status saying which kind.
 */
#ifndef DQ_LLM_H
#define DQ_LLM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *model_file; /* a GGUF file: the in-process backend (base_url unused) */
    int context;            /* in process: KV cache tokens; 0: min(the model's, 4096) */
    int n_threads;          /* in process: 0: the engine's default */
    /* in process: the session's thread pool (embed.h), borrowed, shared with
     * its encoders; NULL: the model's own of n_threads */
    struct bert_pool *pool;
    const char *chat_template; /* in process: a template file instead of the model's */
    const char *kv_cache;   /* in process: the KV cache's type (lm_kv_type_parse); NULL: F16 */
    const char *base_url;   /* "http://127.0.0.1:8080/v1" */
    const char *model;      /* sent as "model"; NULL sends the server's default */
    const char *api_key;    /* Bearer token, NULL for none; never logged */
    double temperature;     /* default 0.2 */
    int max_tokens;         /* answer budget, default 512 */
    int timeout_s;          /* fails when no byte arrives for this long, default 120 */
    int connect_timeout_s;  /* default 5 */
} llm_params;

llm_params llm_default_params(void);

/* True when params name an LLM: a model file or a url. */
bool llm_params_configured(const llm_params *p);
/* True when model_file names a GGUF file ("*.gguf", any case): how the
 * config's [llm] model tells a file from a server's model name. */
bool llm_is_model_file(const char *model);

typedef struct {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} llm_message;

typedef struct {
    bool stream;        /* SSE streaming; tokens go to the callback as they arrive */
    int max_tokens;     /* 0: the client's max_tokens */
    int top_logprobs;   /* > 0: ask for the first generated token's top alternatives */
    /* In process, with top_logprobs: texts (NULL-terminated) whose exact
     * first-token logprobs join the alternatives when each is one token, so
     * `eval ceval` compares A-D however unlikely; a server ignores them. */
    const char *const *score_tokens;
    /* Polled while waiting (several times a second, and per piece): true
     * stops the request with LLM_ERR_CANCELLED, e.g. cli_interrupted for a
     * Ctrl-C that comes before the first token. NULL: never. */
    bool (*should_stop)(void);
    /* In process only: NULL samples at the client's temperature with the
     * engine's other defaults (docqa generate sets them all). */
    const struct llm_sampling *sampling;
    /* In process only: told once, as the request joins the model's queue,
     * its number (from 1, in arrival order: /health names the running one)
     * and how many requests are ahead of it. NULL: not told. */
    void (*on_queued)(void *ctx, unsigned long request, int ahead);
    void *queue_ctx;
} llm_request;

typedef struct llm_sampling {
    double temperature; /* <= 0: greedy */
    int top_k;          /* 0: off */
    double top_p;       /* 1: off */
    unsigned long long seed;
} llm_sampling;

typedef struct {
    char *token;        /* as the server spelled it, e.g. "B" or " B" */
    double logprob;
} llm_logprob;

typedef struct {
    char *text;                 /* the whole answer */
    char *finish_reason;        /* "stop", "length", ... or NULL */
    int prompt_tokens;          /* from "usage" or llama-server's "timings"; -1 unknown */
    int completion_tokens;      /* -1 unknown */
    double first_token_s;       /* seconds from request to first content; streaming only */
    double total_s;
    llm_logprob *top;           /* (n_top) alternatives for the first token, best first */
    size_t n_top;
    int http_status;            /* the reply's HTTP status; 0 when none came (refused, timeout) */
    int prefilled_tokens;       /* in process: prompt tokens run (those in the kept cache are not); -1 */
    bool scored;                /* in process: top holds the exact first-token logprob of
                                 * every request score_tokens text that is one token */
} llm_reply;

void llm_reply_free(llm_reply *r);

typedef enum {
    LLM_OK = 0,
    LLM_ERR_CONNECT,    /* refused, unresolvable host: nobody is serving */
    LLM_ERR_TIMEOUT,    /* connect or stall timeout */
    LLM_ERR_HTTP,       /* 4xx/5xx; message carries the server's error text */
    LLM_ERR_PROTOCOL,   /* malformed JSON or stream, error event mid-stream */
    LLM_ERR_CANCELLED,  /* the token callback asked to stop (Ctrl-C) */
    LLM_ERR_OVERFLOW,   /* in process: the prompt does not fit in the context */
    LLM_ERR_OTHER,
} llm_status;

typedef struct llm_client llm_client;

/* Copies what it needs from params; with model_file, loads the model (seconds
 * for a large one). NULL with the error set on bad params or a file that
 * cannot be run (one line naming the file and the reason). */
llm_client *llm_new(const llm_params *params);
/* True for an in-process client: one per process, shared by threads. */
bool llm_is_local(const llm_client *c);
/* Where an in-process model's queue stands (for /health). Requests run in
 * arrival order, so the waiting ones are numbered next_id .. next_id +
 * queued - 1. */
typedef struct {
    bool running;
    unsigned long running_id; /* the running request's number, 0 when none */
    double running_s;         /* how long it has run */
    int generated;            /* tokens it has written so far */
    int queued;               /* requests waiting */
    unsigned long next_id;    /* the number of the first waiting one */
} llm_queue_info;
/* All zero for a server's client. */
void llm_queue_state(llm_client *c, llm_queue_info *out);
void llm_free(llm_client *c);

/* Called with each piece of content as it arrives (valid UTF-8: a character
 * split across reads is held back until whole). Non-zero stops the request,
 * which then returns LLM_ERR_CANCELLED with what arrived so far in out. */
typedef int (*llm_token_cb)(void *ctx, const char *piece, size_t len);

/* Sends one chat request. out is filled on LLM_OK and, partially, on
 * LLM_ERR_CANCELLED; free it with llm_reply_free either way. */
llm_status llm_chat(llm_client *c, const llm_message *msgs, size_t n, const llm_request *req,
                    llm_token_cb cb, void *ctx, llm_reply *out);

/* A short name for a status ("ok", "connect", "timeout", "http", "protocol",
 * "cancelled", "other"), for --json and logs; the one-line message of a
 * failure is in dq_last_error(). */
const char *llm_status_name(llm_status s);

/* True when a request failed before any answer text came because no LLM
 * could serve it: refused or unresolvable, timed out, or an HTTP 5xx (down,
 * overloaded, still loading its model). Such a failure is worth answering
 * without the LLM; a 4xx, a failure mid-answer or a cancel is not. */
bool llm_unreachable(llm_status st, const llm_reply *r);

/* GET {base_url}/models: the model ids the server offers, for `docqa doctor`.
 * *ids is an array of (*n) owned strings; free with llm_models_free. */
llm_status llm_models(llm_client *c, char ***ids, size_t *n);
void llm_models_free(char **ids, size_t n);

/* Tokens text makes for the server's model, asked of llama-server's (or
 * vLLM's) POST /tokenize beside the /v1 base; -1 when the server has no such
 * endpoint (Ollama), remembered so later calls cost nothing. */
int llm_count_tokens(llm_client *c, const char *text);

/* The base URL as configured, trailing '/' (and a "/chat/completions" the
 * user wrote) removed, credentials redacted (net_url_redact): what messages
 * name. In process: the model file. */
const char *llm_base_url(const llm_client *c);

#endif
