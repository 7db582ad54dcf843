/* pipeline.h - the glue between the stages and the faces: the ingest run,
 * the vectorize pass, the file walk, the configuration and one answer turn.
 *
 * cli/ and serve/ call these; the stages (ingest/, embed/, index/, retrieve/,
 * generate/) never do. Like the stages, nothing here prints or exits: a
 * failure returns -1 or NULL with dq_set_error() holding the message.
 */
#ifndef DQ_PIPELINE_H
#define DQ_PIPELINE_H

#include <stdbool.h>

#include "embed/embed.h"

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
 * false) or it failed to load (*err true, the error set). */
embedder *dq_config_open_embedder(const dq_config *cfg, bool *err);

#endif
