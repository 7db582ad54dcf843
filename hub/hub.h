/* hub.h - getting model folders from the Hugging Face hub or a mirror of it.
 *
 * Files are fetched as the hub serves them, GET {endpoint}/{repo}/resolve/
 * {revision}/{file}: small files directly, large (LFS) ones through a
 * redirect to a CDN, with the file's SHA-256 in X-Linked-Etag and the commit
 * in X-Repo-Commit. A download goes to a temporary name beside its
 * destination, resumes with an HTTP Range request after a dropped connection
 * (in the same call, and in a later one), is checked against the published
 * SHA-256 and only then renamed into place.
 *
 * Settings follow huggingface_hub's environment: HF_ENDPOINT (a mirror, e.g.
 * https://hf-mirror.com), HF_TOKEN (gated or private repositories; sent only
 * to the endpoint, never to the CDN, never in a message), HF_HUB_ETAG_TIMEOUT
 * (seconds to connect) and HF_HUB_DOWNLOAD_TIMEOUT (seconds without a byte
 * before a transfer fails); libcurl reads the proxy variables (https_proxy,
 * http_proxy, no_proxy) itself.
 */
#ifndef DQ_HUB_H
#define DQ_HUB_H

#include <stdbool.h>
#include <stddef.h>

/* ---- names ---------------------------------------------------------------- */

typedef struct {
    const char *name;        /* "bge-small-zh-v1.5" */
    const char *repo;        /* "BAAI/bge-small-zh-v1.5" */
    bool reranker;           /* a cross-encoder, for [retrieve] rerank_model */
    /* An LLM: one GGUF file of a repository holding one per quantization.
     * The file name with "%s" for the quantization, written in lower case
     * when gguf_lower (as Qwen's own repositories do); NULL for a folder. */
    const char *gguf;
    bool gguf_lower;
    const char *quant;       /* the quantization pulled by default ("Q4_K_M") */
} hub_alias;

/* The file name of alias a's GGUF in quantization quant (NULL: a->quant). */
void hub_gguf_file(const hub_alias *a, const char *quant, char *out, size_t n);

/* The built-in short names (docs/models.md describes each). */
const hub_alias *hub_aliases(size_t *n);
const hub_alias *hub_alias_find(const char *name);

typedef struct {
    char repo[160];          /* "org/name" */
    char revision[128];      /* "main" unless given */
    const hub_alias *alias;  /* when the name was one, else NULL */
} hub_name;

/* An alias, or "org/name[@revision]"; -1 with the error set when it is
 * neither (characters outside what the hub allows, no slash, ".."). */
int hub_parse_name(const char *text, hub_name *out);

/* Where pulled models live: $XDG_CACHE_HOME/docqa/models, else
 * ~/.cache/docqa/models. Caller frees; NULL with the error set when neither
 * variable is set. */
char *hub_models_dir(void);
/* The folder name for a repository under hub_models_dir():
 * "BAAI--bge-small-zh-v1.5", or "...@<revision>" when it is not "main"
 * (slashes in the revision become "--"). Caller frees. */
char *hub_folder_name(const hub_name *n);
/* Bytes under dir, counted recursively without following links; 0 when it
 * cannot be read. */
long long hub_folder_bytes(const char *dir);

/* The record a completed pull leaves in its folder (JSON: repo, revision,
 * commit, endpoint, files with sizes and SHA-256s). A folder without it is
 * an unfinished pull. */
#define HUB_RECORD ".docqa-pull.json"

/* ---- downloading ------------------------------------------------------------ */

/* Reports bytes of file so far out of total (0 when not known); returning
 * false cancels the transfer (the partial file is kept for a resume). */
typedef bool (*hub_progress_fn)(void *ctx, const char *file, long long done,
                                long long total);

typedef struct {
    const char *endpoint;  /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *token;     /* NULL: $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN */
    int connect_timeout_s; /* 0: $HF_HUB_ETAG_TIMEOUT, else 10 */
    int stall_timeout_s;   /* 0: $HF_HUB_DOWNLOAD_TIMEOUT, else 30 */
    int retries;           /* resumed attempts after a dropped transfer; -1: none, 0: 3 */
    hub_progress_fn progress;
    void *progress_ctx;
} hub_options;

typedef struct hub hub;

/* NULL with the error set when libcurl cannot start. */
hub *hub_new(const hub_options *opt);
void hub_free(hub *h);
const char *hub_endpoint(const hub *h);

/* What the hub says about one file (a HEAD request, redirects within the
 * endpoint followed, the one to a CDN not). */
typedef struct {
    int status;          /* HTTP status of the last answer: 200, 302, 404 ... */
    char commit[64];     /* X-Repo-Commit, or "" */
    char sha256[65];     /* X-Linked-Etag (or ETag) when it is a SHA-256 (LFS files), or "" */
    char etag[80];       /* ETag as given (quotes and W/ removed), or "" */
    long long size;      /* X-Linked-Size or Content-Length; -1 when unknown */
    char url[2048];      /* where to GET it: the CDN location or the resolve URL */
} hub_file;

/* Return values besides 0 and -1 (error set in all non-zero cases). */
enum { HUB_NOT_FOUND = 1, HUB_CANCELLED = 2 };

/* Looks file up at repo@revision. HUB_NOT_FOUND for a 404 naming the file
 * (the repository exists); -1 for everything else: no such repository or
 * revision, 401/403 (gated, private, bad token), network errors. */
int hub_stat(hub *h, const char *repo, const char *revision, const char *file, hub_file *out);

/* Downloads file to dest: resumes dest's partial download when one is there
 * for the same content, checks the SHA-256 when the hub publishes one,
 * renames into place. A dest already holding the published SHA-256 is kept
 * without a transfer. info (may be NULL) receives the file's metadata. */
int hub_download(hub *h, const char *repo, const char *revision, const char *file,
                 const char *dest, hub_file *info);

typedef struct {
    char commit[64];  /* the commit every file came from */
    int n_files;
    long long bytes;  /* in the folder */
    bool reranker;    /* config.json declares a *ForSequenceClassification */
} hub_pull_result;

/* Pulls the files docqa reads (config.json, vocab.txt or, for XLM-RoBERTa,
 * sentencepiece.bpe.model, tokenizer_config.json,
 * special_tokens_map.json, modules.json and its Pooling config,
 * model.safetensors) of repo@revision into dir, all from one commit, and
 * writes HUB_RECORD last. Before the weights it checks that docqa can run
 * the model (BERT, WordPiece vocabulary, supported modules), so nothing large
 * is fetched for a model it would refuse; a repository with only
 * pytorch_model.bin is refused with what to do. */
int hub_pull(hub *h, const char *repo, const char *revision, const char *dir,
             hub_pull_result *res);

/* Pulls one GGUF file of repo@revision into dir (resumed and checked as
 * hub_download does) and writes HUB_RECORD with kind "llm" and the file's
 * name under "gguf". HUB_NOT_FOUND when the repository has no such file. */
int hub_pull_gguf(hub *h, const char *repo, const char *revision, const char *file,
                  const char *dir, hub_pull_result *res);

#endif
