/* serve_impl.h - what the serve/ files share behind serve.h: the server and
 * request structs, the store pool, responses, streams and the route handlers.
 *
 * A request lives in one serve_request from its first byte to the response's
 * completion; handlers take what they need from it and queue exactly one
 * response (serve_reply_* helpers), returning MHD_YES/MHD_NO as MHD wants.
 */
#ifndef DQ_SERVE_IMPL_H
#define DQ_SERVE_IMPL_H

#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sys/types.h>

#include "common/common.h"
#include "index/index.h"

/* ---- jobs (jobs.c) ------------------------------------------------------- */

typedef enum { JOB_RUNNING, JOB_DONE, JOB_FAILED } job_state;

typedef struct serve_job {
    int id;
    job_state state;
    pid_t pid;           /* the `docqa ingest` child while running */
    char **paths;        /* (n_paths) absolute paths of the uploaded files */
    char **names;        /* (n_paths) the names shown to users */
    int64_t *sizes;      /* (n_paths) as saved, to know the store's row is this upload's */
    int64_t *mtimes;     /* (n_paths) */
    size_t n_paths;
    double started, finished;
    int exit_code;       /* the child's exit status once done */
    dq_buf output;       /* the child's stderr (failure lines) */
    pthread_t waiter;    /* reads output, then reaps the child */
    bool waiter_joinable;
    struct serve_job *next;
} serve_job;

typedef struct {
    pthread_mutex_t lock;
    serve_job *jobs; /* newest first, owned */
    int next_id;
    int running;
} serve_jobs;

/* ---- the server ---------------------------------------------------------- */

struct serve_server {
    serve_params p;         /* strings below point into owned copies */
    char *host, *token, *store_dir, *docqa_bin, *upload_dir;
    struct MHD_Daemon *daemon;
    int port;

    pthread_mutex_t lock;   /* pool and counters */
    pthread_mutex_t embed_lock; /* p.embedder and p.retrieve.reranker: one search at a time */
    pthread_cond_t idle;    /* signalled when active_requests drops */
    store **pool;           /* (n_pool) idle read-only connections */
    size_t n_pool, cap_pool;
    int active_requests;

    serve_jobs jobs;

    bool have_llm;
    llm_params llm;         /* strings owned: llm_url, llm_model, llm_key */
    char *llm_url, *llm_model, *llm_key, *prompt_dir;
    llm_client **llm_pool;  /* (n_llm_pool) idle clients */
    size_t n_llm_pool, cap_llm_pool;
};

/* An LLM client for one answer (pooled), or NULL with the error set. */
llm_client *serve_llm_acquire(serve_server *srv);
void serve_llm_release(serve_server *srv, llm_client *c);

/* retrieve_search() with the server's embedder and reranker, which hold
 * scratch and so are used by one request at a time. */
int serve_retrieve(serve_server *srv, store *st, const char *query, const retrieve_params *rp,
                   retrieve_result *res);

/* A read-only store connection for this request, from the pool or newly
 * opened; NULL with the error set. Give it back with serve_store_release. */
store *serve_store_acquire(serve_server *srv);
void serve_store_release(serve_server *srv, store *st);

/* Writes one log line through params.log (printf-style). */
void serve_log(serve_server *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- requests ------------------------------------------------------------ */

typedef struct serve_request {
    serve_server *srv;
    struct MHD_Connection *conn;
    const char *method, *url;
    double started;
    int status;                 /* of the queued response, for the access log */
    size_t bytes;               /* response body bytes when known */
    dq_buf body;                /* a JSON request body, up to max_body_bytes */
    bool too_large;             /* the body passed the limit: answer 413 */
    struct upload *upload;      /* POST /api/ingest in progress (upload.c) */
} serve_request;

/* Routes a complete request (body read) to its handler. */
enum MHD_Result serve_route(serve_request *rq);

/* Queues a response with body (copied) and status; records status for the log. */
enum MHD_Result serve_reply(serve_request *rq, int status, const char *content_type,
                            const void *body, size_t n);
/* Queues root as JSON and deletes it. */
enum MHD_Result serve_reply_json(serve_request *rq, int status, cJSON *root);
/* Queues {"error": {"message", "type", "code"}} (OpenAI's error shape). */
enum MHD_Result serve_reply_error(serve_request *rq, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Queues a response built elsewhere (a stream), taking ownership. */
enum MHD_Result serve_reply_response(serve_request *rq, int status, struct MHD_Response *r);

/* Parses rq->body as a JSON object; NULL after queueing a 400 (*result set). */
cJSON *serve_parse_body(serve_request *rq, enum MHD_Result *result);
/* A query-string argument, or NULL. */
const char *serve_arg(serve_request *rq, const char *name);

/* ---- streams (stream.c) -------------------------------------------------- */

/* A response body written by a producer thread while MHD sends it: the
 * producer calls stream_write as text becomes ready; a client that went away
 * makes stream_write return -1 so the producer stops early. */
typedef struct serve_stream serve_stream;
typedef void (*stream_produce_fn)(serve_stream *s, void *arg);
/* Starts produce(s, arg) on its own thread; arg_free(arg) runs after it. NULL
 * with the error set when the thread cannot start (arg is then freed). */
struct MHD_Response *stream_start(stream_produce_fn produce, void *arg, void (*arg_free)(void *),
                                  const char *content_type);
int stream_write(serve_stream *s, const char *data, size_t n);
/* Writes one Server-Sent Event "data: <json>\n\n" and deletes obj. */
int stream_write_event(serve_stream *s, cJSON *obj);

/* ---- answers (answer.c) -------------------------------------------------- */

typedef struct {
    const char *role;
    const char *content;
} serve_turn;

typedef struct {
    const char *question;
    const serve_turn *history; /* (n_history) earlier turns, oldest first */
    size_t n_history;
    int top_k;                 /* 0: params.retrieve.top_k */
} serve_ask;

/* Called with each piece of answer text as it is ready; non-zero stops. */
typedef int (*serve_delta_fn)(void *ctx, const char *text, size_t n);

typedef struct {
    char *text;          /* the whole answer, [n] markers included */
    bool found;
    const char *mode;    /* "llm" or "extractive" */
    char *llm_error;     /* why the LLM was not used (unreachable), or NULL */
    cJSON *sources;      /* array of cited sources (number, chunk_id, doc_id, path, ...) */
    char *search_query;  /* what retrieval ran on (the question, or with history) */
} serve_answer;

void serve_answer_free(serve_answer *a);
/* Retrieves and answers, calling delta with the text as it is produced.
 * Returns 0, 1 when delta asked to stop, or -1 with the error set. */
int serve_answer_run(serve_server *srv, store *st, const serve_ask *ask, serve_delta_fn delta,
                     void *ctx, serve_answer *out);
/* serve_answer_run on a store taken from the pool and given back, for a
 * handler that replies once. Returns 0 with out filled, or the HTTP status
 * the failure means (503 no store, 400 no searchable words, 500 otherwise)
 * with the error set; out is safe to free either way. */
int serve_answer_pooled(serve_server *srv, const serve_ask *ask, serve_answer *out);
/* Reads "history"/"messages" style arrays: each item {role, content}; role
 * one of system/user/assistant. -1 with the error set on a malformed item. */
int serve_parse_turns(const cJSON *arr, serve_turn **out, size_t *n);

/* A hit as JSON: chunk and document ids, path, title, section, pages,
 * score, snippet and highlight byte ranges. */
cJSON *serve_hit_json(const retrieve_hit *h);

/* ---- handlers ------------------------------------------------------------ */

enum MHD_Result api_health(serve_request *rq);
enum MHD_Result api_search(serve_request *rq);
enum MHD_Result api_ask(serve_request *rq);
enum MHD_Result api_documents(serve_request *rq);
enum MHD_Result api_page_png(serve_request *rq, long long doc_id, long page);
enum MHD_Result api_jobs(serve_request *rq, long long job_id); /* job_id < 0: all */
enum MHD_Result openai_models(serve_request *rq);
enum MHD_Result openai_chat(serve_request *rq);
enum MHD_Result static_asset(serve_request *rq, const char *path);

/* upload.c: the multipart body of POST /api/ingest, fed piece by piece. */
enum MHD_Result upload_begin(serve_request *rq);
enum MHD_Result upload_feed(serve_request *rq, const char *data, size_t n);
enum MHD_Result upload_finish(serve_request *rq);
void upload_free(struct upload *u);

/* jobs.c */
void jobs_init(serve_jobs *j);
/* Starts `docqa ingest` on paths (taking ownership of both arrays); the job
 * id, or -1 with the error set; -2 when max_jobs are already running. */
int jobs_start(serve_server *srv, char **paths, char **names, size_t n);
/* Adds job id's JSON (or all jobs when id < 0) to out; 0 when no such job. */
int jobs_describe(serve_server *srv, long long id, store *st, cJSON **out);
/* Stops running jobs (SIGTERM) and reaps them; frees every job. */
void jobs_shutdown(serve_jobs *j);

/* Embedded web assets (generated from serve/web/ by CMake). */
typedef struct {
    const char *path;          /* "/", "/app.js" */
    const char *content_type;
    const unsigned char *data; /* (size) */
    size_t size;
} serve_asset;
extern const serve_asset serve_assets[];
extern const size_t serve_n_assets;

#endif
