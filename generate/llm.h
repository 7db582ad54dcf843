/* llm.h - a client for an OpenAI-compatible chat endpoint (llama.cpp's
 * llama-server, Ollama, vLLM): POST {base_url}/chat/completions, streamed as
 * Server-Sent Events or not, with libcurl and cJSON.
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
    const char *base_url;   /* "http://127.0.0.1:8080/v1" */
    const char *model;      /* sent as "model"; NULL sends the server's default */
    const char *api_key;    /* Bearer token, NULL for none; never logged */
    double temperature;     /* default 0.2 */
    int max_tokens;         /* answer budget, default 512 */
    int timeout_s;          /* fails when no byte arrives for this long, default 120 */
    int connect_timeout_s;  /* default 5 */
} llm_params;

llm_params llm_default_params(void);

typedef struct {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} llm_message;

typedef struct {
    bool stream;        /* SSE streaming; tokens go to the callback as they arrive */
    int max_tokens;     /* 0: the client's max_tokens */
    int top_logprobs;   /* > 0: ask for the first generated token's top alternatives */
    /* Polled while waiting (several times a second, and per piece): true
     * stops the request with LLM_ERR_CANCELLED, e.g. cli_interrupted for a
     * Ctrl-C that comes before the first token. NULL: never. */
    bool (*should_stop)(void);
} llm_request;

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
} llm_reply;

void llm_reply_free(llm_reply *r);

typedef enum {
    LLM_OK = 0,
    LLM_ERR_CONNECT,    /* refused, unresolvable host: nobody is serving */
    LLM_ERR_TIMEOUT,    /* connect or stall timeout */
    LLM_ERR_HTTP,       /* 4xx/5xx; message carries the server's error text */
    LLM_ERR_PROTOCOL,   /* malformed JSON or stream, error event mid-stream */
    LLM_ERR_CANCELLED,  /* the token callback asked to stop (Ctrl-C) */
    LLM_ERR_OTHER,
} llm_status;

typedef struct llm_client llm_client;

/* Copies what it needs from params. NULL with the error set on bad params. */
llm_client *llm_new(const llm_params *params);
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
 * user wrote) removed, credentials redacted (net_url_redact): what messages name. */
const char *llm_base_url(const llm_client *c);

#endif
