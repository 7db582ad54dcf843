/* pipeline.h - the glue between the stages and the faces: the ingest run,
 * the vectorize pass, the file walk, the configuration and one answer turn.
 *
 * cli/ and serve/ call these; the stages (ingest/, embed/, index/, retrieve/,
 * generate/) never do. Like the stages, nothing here prints or exits: a
 * failure returns -1 or NULL with dq_set_error() holding the message.
 */
#ifndef DQ_PIPELINE_H
#define DQ_PIPELINE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "embed/embed.h"
#include "generate/generate.h"
#include "generate/llm.h"
#include "generate/prompt.h"
#include "index/index.h"
#include "ingest/ingest.h"
#include "retrieve/retrieve.h"

/* ---- configuration (pipeline/config.c) ---------------------------------- */

/* docqa's settings, read from ~/.config/docqa/config then <store>/config
 * (later wins), then the environment (DOCQA_EMBED_MODEL, DOCQA_EMBED_URL,
 * DOCQA_EMBED_API_KEY, DOCQA_EMBED_DEVICE, DOCQA_LLM_URL, DOCQA_LLM_MODEL,
 * DOCQA_LLM_API_KEY); command-line flags override them in the face that
 * parses them. Strings are owned. */
typedef struct {
    char *embed_model;  /* [embed] model = DIR */
    char *embed_url;    /* [embed] url = http://127.0.0.1:8080/v1 */
    char *embed_remote; /* [embed] remote_model = NAME */
    char *embed_key;    /* [embed] api_key = KEY */
    bool embed_int8;    /* [embed] int8 = true */
    int embed_threads;  /* [embed] threads = N (0: all cores) */
    bert_device embed_device; /* [embed] device = auto|cpu|cuda */
    /* [llm]: an OpenAI-compatible chat endpoint; with no url, answers are
     * extractive. Numbers are 0 when unset (the LLM's defaults apply). */
    char *llm_url;          /* [llm] url, $DOCQA_LLM_URL */
    char *llm_model;        /* [llm] model, $DOCQA_LLM_MODEL */
    char *llm_key;          /* $DOCQA_LLM_API_KEY only, never from a file */
    char *llm_prompts;      /* [llm] prompts = DIR holding zh.txt / en.txt */
    char *llm_chat_template; /* [llm] chat_template = FILE (in-process model) */
    char *llm_kv_cache;      /* [llm] kv_cache = f16 | bf16 | f32 (in-process model) */
    double llm_temperature; /* [llm] temperature (-1: unset) */
    int llm_max_tokens;     /* [llm] max_tokens: the answer's budget */
    int llm_context;        /* [llm] context: the model's window in tokens */
    int llm_timeout;        /* [llm] timeout: seconds without a byte */
    int llm_connect_timeout; /* [llm] connect_timeout: seconds */
    char *ocr_mode;     /* [ocr] mode = auto|always|never */
    char *ocr_lang;     /* [ocr] lang = chi_sim+eng */
    char *retrieve_mode;   /* [retrieve] mode = auto|bm25|dense|hybrid */
    double min_score;      /* [retrieve] min_score = X; NAN: none */
    long long ann_threshold; /* [retrieve] ann_threshold = N; -1: the default */
    int nprobe;            /* [retrieve] nprobe = N; 0: the default */
    bool exact;            /* [retrieve] exact = true */
    char *rerank_model;    /* [retrieve] rerank_model = DIR (a cross-encoder folder) */
} dq_config;

/* Reads the config files (store_dir may be NULL) and the environment.
 * -1 with the error naming the file and line of a malformed entry, and cfg
 * freed (dq_config_free on it again is harmless). */
int dq_config_load(dq_config *cfg, const char *store_dir);
void dq_config_free(dq_config *cfg);
/* ~/.config/docqa/config (or under $XDG_CONFIG_HOME); NULL when neither
 * variable is set. Caller frees. */
char *dq_config_user_path(void);
/* Sets one key in one section of the config file at path, keeping every
 * other line (comments included) as it was; adds the section when missing.
 * -1 with the error set (values with '#' or line breaks cannot be kept). */
int dq_config_set(const char *path, const char *section, const char *key, const char *value);
/* The embedder the config names, or NULL when none is configured (*err
 * false) or it failed to load (*err true, the error set). pool: threads to
 * borrow (a session's), or NULL for its own of [embed] threads. */
embedder *dq_config_open_embedder(const dq_config *cfg, bert_pool *pool, bool *err);
/* The vector-index settings of [retrieve] (ann_threshold, nprobe, exact). */
store_vindex_params dq_config_vindex_params(const dq_config *cfg);

/* ---- events: how a run reports without printing ------------------------- */

/* What a long run tells its face as it goes. Every member may be NULL. */
typedef struct {
    void *user;
    /* A file failed (text: the reason) or lost part of itself (scanned pages
     * where OCR found no text). */
    void (*file_note)(void *user, const char *path, const char *text);
    /* A run-wide change the user should hear of ("embedding model changed
     * (a -> b): re-embedding every chunk"). */
    void (*notice)(void *user, const char *text);
    /* A problem the run goes on past (a source folder missing, a source
     * that cannot be read). */
    void (*warning)(void *user, const char *text);
    /* Files handled so far (of the list the run was given), their bytes and
     * the pages extracted. */
    void (*files_done)(void *user, int files, long long bytes, long long pages);
    /* OCR of the file in flight: pages OCR'd in the run so far, and done of
     * total in this file. */
    void (*ocr_progress)(void *user, long long ocr_pages, int done, int total);
    /* Vectorize: done of total chunks embedded; first called with done 0. */
    void (*chunks_done)(void *user, size_t done, size_t total);
    /* Polled between files, batches and OCR'd pages: true stops the run,
     * leaving whole documents only (Ctrl-C). */
    bool (*stop)(void *user);
} pipeline_events;

/* ---- the file walk (pipeline/files.c) ----------------------------------- */

typedef struct {
    char *abs;  /* absolute path on disk */
    char *rel;  /* path as the store records it (store_rel_path) */
    int64_t size, mtime;
    bool named; /* given on the command line rather than found in a folder */
} input_file;

typedef struct {
    input_file *items; /* (n) in walk order */
    size_t n, cap;
    char **dirs;       /* (n_dirs) absolute folders that were walked */
    size_t n_dirs, dirs_cap;
    struct { uint64_t dev, ino; } *seen; /* (n_seen) folders walked, so a
                                            symlink loop is entered once */
    size_t n_seen, seen_cap;
    int64_t total_bytes;
    bool follow_symlinks; /* set by the caller: walk links that lead out of the folder */
    dq_buf skipped;       /* "'path': reason\n" for each entry a walk passed over
                           * (broken link, FIFO, link out of the folder, unreadable folder) */
    int n_skipped;
    int n_unreadable; /* of n_skipped: entries that should have been read (exit 3) */
} file_list;

/* Adds arg (a file or a folder, walked recursively in name order, hidden
 * entries skipped) to list; root is the store's root (store_root). -1 with
 * the error set for a missing path, an unsupported named file, or an
 * unreadable folder. Inside a folder, symbolic links are followed only while
 * they stay inside it (unless list->follow_symlinks); entries passed over are
 * noted in list->skipped. A file named in arg is read even when it is a link. */
int files_collect(file_list *list, const char *arg, const char *root);
void file_list_free(file_list *list);
/* True when path is dir or inside it (absolute paths). */
bool path_is_under(const char *path, const char *dir);

/* ---- the ingest run (pipeline/ingest_run.c) ----------------------------- */

/* One run over many files, shared by `docqa ingest`, `docqa reindex` and the
 * server's upload jobs (which run `docqa ingest` in a child process). The
 * caller sets the settings (ingest_run_set_split, ingest_run_set_ocr) and
 * events; the counters and failures fill in as files are handled. Owns
 * failures, links, stale_done and ocr_langs. */
typedef struct {
    store *st;
    const char *password; /* for encrypted PDFs; NULL when none */
    ingest_params limits; /* resource limits (ingest_default_params() unless set) */
    bool force;           /* re-extract even when unchanged or stored */
    bool verify;          /* hash files whose size and mtime match too */
    bool retry_failed;    /* OCR settings given: a file that failed may read now */
    int jobs;             /* reader children at once (0: one per core); documents are
                           * still stored one at a time, in input order */
    ocr_params ocr;       /* OCR settings (ingest_run_set_ocr) */
    char *ocr_langs;      /* owned; ocr.langs points here */
    split_params split;
    char split_tag[96];   /* split as recorded in the store (ingest_split_tag) */
    pipeline_events events;
    int max_remove_pct;   /* the prune removes nothing when it would remove more than
                           * this share of the stored files (0: no limit) */
    embedder *embed;      /* NULL, or the model whose vectors the stored chunks get
                           * while the run waits for its readers (vectorize_feed);
                           * vectorize_missing() after the run does the rest */

    int n_added;     /* paths new to the store, content extracted */
    int n_changed;   /* known paths with new content (extracted or linked) */
    int n_linked;    /* paths new to the store, linked to stored content */
    int n_rechunked; /* unchanged files re-chunked (settings changed) */
    int n_unchanged, n_failed, n_removed, n_renamed;
    int n_kept;      /* gone files the prune kept: over max_remove_pct */
    long long pages, chunks; /* extracted by this run */
    size_t n_embedded;       /* chunks given a vector while the run went on */
    long long ocr_pages;     /* pages of stored files read by OCR */
    long long ocr_empty;     /* scanned pages of stored files where OCR found nothing */
    double ocr_conf_sum;     /* sum of the confidences of the OCR'd pages */
    long long unreadable_ocr;    /* pages of stored files whose unreadable text layer OCR replaced */
    long long unreadable_failed; /* the same, not OCR'd (stored without text) */
    long long dropped;           /* unmapped glyphs left out of readable pages */
    dq_buf failures;         /* "  path: reason\n" lines for the summary */
    /* In a reader the run's spawner started (a copy of the run as it was at
     * the start): the bar's counts when the reader started, shown before its
     * first OCR page. */
    struct {
        int files;
        long long bytes;
        bool pending;
    } reader_bar;

    /* Content hashes of stored documents to re-chunk (made with other
     * settings), sorted; the caller owns them. Per document, not per path,
     * so a renamed file whose old path is gone is re-chunked too. */
    char *const *stale;  /* (n_stale) */
    bool *stale_done;    /* (n_stale) re-chunked by this run; owned */
    size_t n_stale;

    /* Content hashes this run linked a path to, so that removing a gone path
     * with one of them counts as a rename, not an add and a remove. */
    struct ingest_link {
        char sha[65];
        bool was_new; /* counted in n_linked (else n_changed) */
        bool used;    /* matched to a removed path already */
    } *links;         /* (n_links) */
    size_t n_links, links_cap;
} ingest_run;

void ingest_run_free(ingest_run *run);

/* "chunk_cjk=350 chunk_words=250 overlap=0.15": how the store records sp. */
void ingest_split_tag(const split_params *sp, char *out, size_t n);

/* A --chunk-* value for "not given" (reindex keeps the store's). */
#define INGEST_SPLIT_UNSET INT_MIN

/* Sets run->split and run->split_tag: the store's settings (the defaults for
 * a new store) with the values given (INGEST_SPLIT_UNSET: not given)
 * applied. A change is recorded when may_change (reindex: the documents made
 * the old way become stale, and events.notice says so) and refused otherwise
 * (ingest). -1 with the error set. */
int ingest_run_set_split(ingest_run *run, int chunk_cjk, int chunk_words, int overlap_pct,
                         bool may_change);

/* OCR settings: mode and langs as given (NULL: not given), else the config's
 * [ocr] mode/lang (cfg may be NULL), else auto and chi_sim+eng. -1 with the
 * error set for a bad mode. */
int ingest_run_set_ocr(ingest_run *run, const char *mode, const char *langs,
                       const dq_config *cfg);

/* Brings one file's row in line with the disk; a file whose document is in
 * run->stale is extracted again even when unchanged. Returns -1 only for a
 * store failure, which ends the run; a bad file is recorded as failed (and
 * told to events.file_note) and returns 0. */
int ingest_run_file(ingest_run *run, const input_file *f);

/* ingest_run_file for each file of the list in order, telling
 * events.files_done after each, until events.stop. Up to run->jobs files
 * ahead are read (extracted, cleaned, split) by child processes at once,
 * at most 4 x jobs documents held; each is stored in input order. -1 on a
 * store failure. */
int ingest_run_files(ingest_run *run, const file_list *files);

/* Removes stored files that are gone from disk (ENOENT): with inside, only
 * those under one of dirs (absolute folders that were walked); without, all
 * except those under one of dirs (source folders that are missing, maybe
 * unmounted: their files are kept). Call after every present file was
 * handled, so a renamed file is linked before its old path goes and nothing
 * is re-embedded. */
int ingest_run_prune(ingest_run *run, char *const *dirs, size_t n_dirs, bool inside);

/* Records the files and folders list was collected from as sources. */
int ingest_remember_roots(store *st, const file_list *list);

/* ---- the sources reindex walks again (pipeline/sources.c) --------------- */

typedef struct {
    file_list files;      /* what to look at: the files of the sources, and stored files
                           * outside every source that still exist */
    dq_strs missing_dirs; /* absolute source folders missing or unreadable: the prune
                           * (ingest_run_prune, inside false) keeps their files */
    dq_strs gone_roots;   /* sources that are gone (ingest_sources_forget_gone) */
    dq_strs stale;        /* content hashes of documents made with other chunking
                           * settings than split_tag, sorted: the run's stale list */
    int n_roots;          /* sources recorded (0: a store from an older docqa) */
    int n_bad;            /* sources that could not be read (failed, for the exit status) */
} ingest_sources;

/* Walks the store's sources again. A missing source folder is kept (and
 * told to events.warning) unless drop_missing, when it counts as deleted.
 * -1 with the error set on a store failure, or when the store has neither
 * sources nor files. Free out either way. */
int ingest_sources_collect(store *st, const char *split_tag, bool drop_missing,
                           const pipeline_events *ev, ingest_sources *out);
/* Removes the rows of the sources that are gone. -1 with the error set. */
int ingest_sources_forget_gone(store *st, const ingest_sources *s);
void ingest_sources_free(ingest_sources *s);

/* ---- the vectorize pass (pipeline/vectorize.c) -------------------------- */

typedef struct {
    size_t n_embedded;      /* chunks that got a vector (0 when stopped) */
    store_vx_report vindex; /* what bringing vectors.faiss in step did */
} vectorize_report;

/* Gives every chunk without a vector from e one (re-embedding all when the
 * store's model changed, which events.notice tells), one transaction per
 * batch so an interrupted pass resumes, then brings the FAISS file in step
 * (vectorize_sync_index). -1 with the error set. */
int vectorize_missing(store *st, embedder *e, const dq_config *cfg, const pipeline_events *ev,
                      vectorize_report *rep);

/* Embedding beside an ingest run: the chunks stored after the feed began
 * that have no vector, a batch per step. */
typedef struct {
    store *st;
    embedder *e;
    const pipeline_events *ev; /* its notice tells a model change; NULL: none */
    int64_t after;     /* chunks up to this id were looked at */
    bool switched;     /* the store's model is e's (the first step switched it) */
    size_t n_embedded; /* chunks the steps gave a vector */
} vectorize_feed;

/* A feed for the chunks st stores from now on. -1 with the error set. */
int vectorize_feed_init(vectorize_feed *f, store *st, embedder *e, const pipeline_events *ev);
/* Embeds and stores (one transaction) the next batch of chunks stored since
 * the feed began that have no vector, the first step switching the store's
 * model as vectorize_missing() does: 1 when it embedded some, 0 when there
 * were none, -1 with the error set. vectorize_missing() after the run
 * embeds whatever a feed left. */
int vectorize_feed_step(vectorize_feed *f);

/* Brings the FAISS file in step with the store's vectors of model, with the
 * config's [retrieve] settings. -1 with the error set. */
int vectorize_sync_index(store *st, const char *model, const dq_config *cfg,
                         store_vx_report *rep);

/* ---- one answer turn (pipeline/session.c, pipeline/answer.c) ------------ */

/* The retrieval settings a face's flags override (NULL/false: the config's). */
typedef struct {
    const char *mode;      /* auto|bm25|dense|hybrid */
    const char *min_score; /* a number, as typed */
    bool exact;            /* exact vector search even on a large store */
    const char *rerank;    /* a cross-encoder folder */
    bool no_rerank;        /* no reranker even when the config names one */
    const char *doc;       /* only documents whose path or file name matches this GLOB */
    bool no_scope;         /* search all documents even when the question names some */
} rag_flags;

/* Failures a caller acts on; each also sets the error message. */
enum {
    RAG_ERR = -1,         /* failed: store, model, prompt, retrieval */
    RAG_ERR_SETTING = -2, /* a setting asks for the impossible (unknown mode, dense without a model) */
    RAG_ERR_NO_QUERY = -3,/* the question (with its history) has no searchable words */
    RAG_ERR_STOPPED = -4, /* the piece callback or should_stop asked to stop */
    RAG_ERR_LLM = -5,     /* the LLM failed where an extractive answer would hide it (4xx,
                           * mid-answer): reply.llm.status, reply.llm.reply.http_status */
    RAG_ERR_STORE = -6,   /* rag_turn.borrow_store lent no store */
};

/* Fills rp from the config and then f, and opens the embedding model when the
 * mode may use it (*emb NULL when none is configured) and the reranker
 * (rp->reranker), both on pool's threads (NULL: their own). 0, RAG_ERR or
 * RAG_ERR_SETTING; nothing stays open on error. */
int rag_retrieval_setup(const dq_config *cfg, const rag_flags *f, bert_pool *pool,
                        retrieve_params *rp, embedder **emb);
/* The LLM client settings the config gives, defaults for the rest; strings
 * point into cfg. base_url NULL or "": no LLM is configured. */
llm_params rag_llm_params(const dq_config *cfg);
/* The prompt template folder: [llm] prompts (a leading ~ expanded) or
 * $XDG_CONFIG_HOME/docqa/prompts or ~/.config/docqa/prompts. Caller frees. */
char *rag_prompt_dir(const dq_config *cfg);

typedef struct {
    const char *store_dir; /* the .docqa directory, opened read-only... */
    store *st;             /* ...unless the caller lends its open store (it outlives the session) */
    const dq_config *config; /* NULL: loaded from store_dir's config files */
    rag_flags flags;
    bool no_llm;           /* extractive even when [llm] is configured */
    int top_k;             /* chunks an answer reads; 0: retrieve's default */
    int max_sentences;     /* of an extractive answer; 0: the default */
} rag_session_params;

/* What answers questions: the store, the question's embedding model and the
 * reranker, the LLM client, and the settings they came from. One build, one
 * free. A session is for one thread at a time, except that threads which
 * each bring their own store connection and LLM client (rag_turn.st, .llm)
 * may share it: retrieval takes the session's lock around the models. */
typedef struct rag_session {
    dq_config own_cfg;        /* loaded by build when params.config was NULL */
    const dq_config *cfg;     /* own_cfg or the caller's */
    store *st;                /* read-only, or the caller's (params.st) */
    bool own_st;
    embedder *emb;            /* the question's embedding model for dense/hybrid, or NULL */
    retrieve_params retrieve; /* retrieve.reranker owned */
    answer_params answer;     /* extractive answers */
    prompt_params prompt;     /* the LLM prompt's window and templates */
    char *prompt_dir;         /* prompt.template_dir, owned */
    llm_params llm_params;    /* strings point into cfg */
    llm_client *llm;          /* NULL: answers are extractive */
    /* Why the configured model file did not load (bad, truncated, too large),
     * or NULL: the passages answer then, and each reply's llm_error says why,
     * as for a server that cannot be reached. */
    char *llm_error;
    pthread_mutex_t models;   /* emb and retrieve.reranker hold scratch */
    /* The one pool of [embed] threads (all cores by default) that emb, the
     * reranker and an in-process llm run on, or NULL when none of them runs
     * here; owned, freed after them. */
    bert_pool *pool;
} rag_session;

/* Opens and loads what the params and the config name. 0 with *out set, or
 * RAG_ERR / RAG_ERR_SETTING with the error set and *out NULL. */
int rag_session_build(const rag_session_params *params, rag_session **out);
void rag_session_free(rag_session *s);
/* retrieve_search() with the session's models, under its lock. */
int rag_session_search(rag_session *s, store *st, const char *query, const retrieve_params *rp,
                       retrieve_result *res);
/* The retrieval step of an answer turn, for rag_answer_turn and for whoever
 * wants the same passages without the answer (eval ceval --rag): the
 * session's [retrieve] settings, embedding model and reranker; top_k 0 is
 * the session's; doc (a GLOB over paths and file names) NULL is the
 * session's (--doc); st NULL is the session's store. 0, or RAG_ERR with the
 * error set ("search failed: ..."). */
int rag_session_retrieve(rag_session *s, store *st, const char *query, int top_k,
                         const char *doc, retrieve_result *res);

/* Gets answer text as it is ready; non-zero stops. */
typedef int (*rag_piece_fn)(void *ctx, const char *piece, size_t len);

typedef struct rag_turn {
    const char *question;
    const llm_message *history; /* (n_history) earlier turns, oldest first; roles other
                                 * than user and assistant are left out */
    size_t n_history;
    const char *prev_query;     /* the last turn's standalone query when the caller kept it;
                                 * NULL: the last user message of history */
    int top_k;                  /* 0: the session's */
    const char *doc;            /* only documents matching this GLOB; NULL: the session's */
    bool no_llm;                /* extractive this turn */
    store *st;                  /* borrowed for this turn; NULL: borrow_store's, else the session's */
    /* With st NULL: lends a store for the retrieval alone, so the answer's
     * generation (minutes behind a model's queue) holds none, and takes it
     * back; NULL with the error set when none can be had. May be NULL. */
    store *(*borrow_store)(void *store_ctx);
    void (*return_store)(void *store_ctx, store *st);
    void *store_ctx;
    llm_client *llm;            /* borrowed for this turn; NULL: the session's */
    rag_piece_fn on_piece;      /* the LLM's answer as it arrives; may be NULL */
    void *ctx;
    bool extractive_pieces;     /* an extractive answer goes to on_piece too, whole */
    /* Told the standalone query before retrieval; may be NULL. */
    void (*on_query)(const struct rag_turn *t, const char *query);
    bool (*should_stop)(void);  /* polled while waiting for the LLM; may be NULL */
    /* In process: told (with ctx) the request's number in the model's queue
     * and how many are ahead of it (llm_request.on_queued); may be NULL. */
    void (*on_queued)(void *ctx, unsigned long request, int ahead);
} rag_turn;

typedef enum { RAG_EXTRACTIVE = 0, RAG_LLM = 1 } rag_mode;

typedef struct {
    rag_mode mode;
    char *query;            /* what retrieval ran on: the question, or it made standalone */
    retrieve_result hits;   /* what retrieval returned, best first */
    double retrieve_s;
    char *text;             /* the whole answer, [n] markers included */
    bool found;             /* a passage answered (LLM: it cited one) */
    bool no_document;       /* nothing answered: text says the documents asked about are not
                             * in the store (--doc matched none, or hits.scope.absent) */
    const answer_source *sources; /* (n_sources) numbered passages: those given to the LLM,
                                   * or those an extractive answer cites; point into below */
    size_t n_sources;
    llm_answer llm;         /* mode LLM: prompt, reply, status, citations */
    answer extractive;      /* mode extractive: sentences and sources */
    char *llm_error;        /* why the LLM did not answer (unreachable: fell back), or NULL */
} rag_reply;

/* The one answer step of ask, chat and serve: makes a follow-up standalone
 * (rewritten by the LLM from the last turns; without one, a question that
 * leans on the last one is searched together with it), retrieves, answers
 * with the LLM (history in its context, streamed to on_piece) or, without
 * one or when it cannot be reached before its first word, extractively, and
 * reads the citations. 0 with out filled, or a RAG_ERR_* code; free out
 * either way. */
int rag_answer_turn(rag_session *s, const rag_turn *turn, rag_reply *out);
void rag_reply_free(rag_reply *r);

/* What to say when the documents do not answer, in the question's language;
 * the same sentence the LLM is told to reply with. */
const char *rag_not_found(const char *question);

/* ---- JSON (pipeline/json.c): one shape for the CLI and the API ---------- */

struct cJSON;
/* A search hit (docs/json.md): rank, chunk_id, doc_id, path, title (null
 * when none), section, page_start, page_end, ocr, score, scores {bm25,
 * bm25_rank, cosine, dense_rank, rrf, rerank}, snippet, highlights, and text
 * when with_text. */
struct cJSON *rag_hit_json(const retrieve_hit *h, int rank, bool with_text);
/* A search: query, match, mode, min_score, below_threshold, results (hits
 * with their text). */
struct cJSON *rag_search_json(const char *query, const retrieve_params *rp,
                              const retrieve_result *res);
/* The sources an answer cites: hits plus number and label. */
struct cJSON *rag_sources_json(const rag_reply *r);
/* An answer: question, mode, model (the LLM's, when it answered and model is
 * not NULL), lang, llm_error, found, answer, search_query, sources, the LLM's
 * citations, finish_reason, passages_dropped, timings and tokens or the
 * extractive sentences, and the retrieved hits. */
struct cJSON *rag_reply_json(const char *question, const rag_reply *r, const char *model);
/* root as JSON text (indented when pretty) that is always valid UTF-8: a byte
 * that is not UTF-8 (a Latin-1 file name) becomes U+FFFD, so no parser
 * rejects the whole reply over one name. Caller frees. */
char *rag_json_print(const struct cJSON *root, bool pretty);

#endif
