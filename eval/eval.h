/* eval.h - measuring docqa: C-Eval-style multiple-choice runs against an LLM
 * endpoint, and retrieval quality on questions with gold documents.
 *
 * C-Eval: question sets are read from CSV (C-Eval, CMMLU and MMLU layouts),
 * prompted as the official C-Eval chat evaluation does (zero- or k-shot,
 * optional chain-of-thought, optional retrieved passages), answered by the
 * LLM client (generate/llm.h) with a letter taken from the first token's
 * log-probabilities or parsed from the text, cached in the store by a hash
 * of model and prompt, and scored per subject and per C-Eval category.
 *
 * Retrieval: questions.jsonl with gold answers and documents, run through
 * retrieve_search() per mode; hit@k, MRR@10, exact match and F1 of the
 * extractive answer, latency percentiles.
 *
 * The stage never prints: reports are returned as strings for cli/ to write.
 */
#ifndef DQ_EVAL_H
#define DQ_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "generate/llm.h"
#include "retrieve/retrieve.h"

/* ---- question sets (csv.c) ---------------------------------------------- */

typedef struct {
    char *subject;     /* file name minus _val/_dev/_test.csv ("computer_network") */
    char *split;       /* "val", "dev", "test", or "" when the name has none */
    char *id;          /* the row's id, or its 0-based row number when the file has none */
    char *question;
    char *choices[4];  /* A, B, C, D */
    char answer;       /* 'A'..'D', or 0 when the file gives none (a test split) */
    char *explanation; /* NULL when none */
    char *file;        /* the CSV it came from */
    int line;          /* line of the file where the row starts (1-based) */
} eval_question;

/* Questions read so far, and the rows that were skipped. All owned. */
typedef struct {
    eval_question *items; /* (n) in file order */
    size_t n, cap;
    char **warnings;      /* (n_warnings) "file:line: reason" for each skipped row */
    size_t n_warnings, cap_warnings;
} eval_set;

void eval_set_free(eval_set *set);
/* Frees one question's strings (for dropping rows past a --limit). */
void eval_question_free(eval_question *q);

/* Splits a CSV path into subject and split: ".../computer_network_val.csv"
 * gives "computer_network" and "val"; a name without _val/_dev/_test gives
 * the whole stem and "". Both malloc'd. */
void eval_subject_of(const char *path, char **subject, char **split);

/* Reads one question file and appends its rows to set. The layout is found
 * from the header: C-Eval "id,question,A,B,C,D[,answer[,explanation]]",
 * CMMLU ",Question,A,B,C,D,Answer", or no header (MMLU: question,A,B,C,D,
 * answer). RFC 4180 quoting with multi-line fields, CRLF or LF, a UTF-8 BOM.
 * A malformed row is skipped with a warning naming file and line; -1 (error
 * set) only when the file cannot be read or is not UTF-8 text. */
int eval_read_csv(const char *path, eval_set *set);
/* The same on text already in memory; name is used in warnings and to find
 * the subject. */
int eval_read_csv_text(const char *name, const char *text, size_t n, eval_set *set);

/* ---- subjects and categories (subjects.c) -------------------------------- */

/* The four C-Eval categories, in report order. */
#define EVAL_N_CATEGORIES 4
extern const char *const eval_categories[EVAL_N_CATEGORIES];

typedef struct {
    const char *key;      /* "computer_network" */
    const char *name;     /* "计算机网络" */
    int category;         /* index into eval_categories */
} eval_subject_info;

/* The C-Eval subject with this key, or NULL (CMMLU, MMLU, anything else). */
const eval_subject_info *eval_subject_find(const char *key);

/* ---- answer letters (letter.c) ----------------------------------------- */

typedef enum {
    EVAL_BY_NONE = 0, /* no letter found: counted as unparseable */
    EVAL_BY_LOGPROB,  /* the best of A-D among the first token's alternatives */
    EVAL_BY_TEXT,     /* parsed from the answer text */
} eval_method;

const char *eval_method_name(eval_method m);
/* "logprob", "text", "none" back to the enum; EVAL_BY_NONE when unknown. */
eval_method eval_method_parse(const char *name);

/* The answer letter in a model's text ("答案是 B", "B.", "(B)", "选B", "the
 * answer is B", a chain of thought ending "所以答案是C。"), or 0 when none can
 * be told. Full-width letters count. */
char eval_parse_letter(const char *text);
/* The most likely of A-D among a first token's alternatives (whitespace and
 * brackets around the letter ignored), or 0 when none is a letter. */
char eval_logprob_letter(const llm_logprob *top, size_t n);
/* The choice for a reply: log-probabilities when the first token is a letter
 * or the text gives none, else the text. */
char eval_choose(const llm_reply *r, eval_method *how);

/* ---- prompts (prompt.c) ----------------------------------------------- */

/* A chat prompt; roles are static strings, contents owned. */
typedef struct {
    llm_message *msgs; /* (n) */
    size_t n;
} eval_prompt;

void eval_prompt_free(eval_prompt *p);

/* The official C-Eval chat prompt: a system line naming the subject
 * ("你是一个中文人工智能助手，以下是中国关于{科目}考试的单项选择题，请选出其中的
 * 正确答案。"), each example as a user turn (question, "A. ..." lines,
 * "答案：") and an assistant turn (the letter; with cot "让我们一步一步思考，\n
 * {explanation}\n所以答案是{X}。"), then the question as the last user turn.
 * The first user turn starts with the subject line. passages (may be NULL)
 * goes before the question in the last turn. */
void eval_build_prompt(const eval_question *q, const char *subject_name,
                       const eval_question *const *shots, size_t n_shots, bool cot,
                       const char *passages, eval_prompt *out);

/* "以下资料可能与题目有关：\n[1] ...\n[2] ...\n\n" from retrieved chunks, each
 * cut to max_chars characters; NULL when res is empty. */
char *eval_format_passages(const retrieve_result *res, int max_chars);

/* The cache key of a prompt sent to model with these settings: SHA-256 hex
 * (65 bytes with the NUL) over model, settings and every message. */
void eval_prompt_key(const eval_prompt *p, const char *model, const char *settings,
                     char out[65]);

/* ---- scoring (score.c) ------------------------------------------------ */

/* What the model answered for one question. */
typedef struct {
    char choice;        /* 'A'..'D', 0 when unparseable or failed */
    eval_method method;
    char *text;         /* the reply text (owned), NULL when the request failed */
    bool failed;        /* the request failed: not cached, scored as wrong */
    bool cached;        /* came from the store's cache */
} eval_answer;

void eval_answer_free(eval_answer *a);

typedef struct {
    char *subject;      /* key, owned */
    const char *name;   /* Chinese name (static), or the key when unknown */
    int category;       /* index into eval_categories, -1 when not a C-Eval subject */
    int questions;      /* rows asked */
    int graded;         /* rows with a gold answer */
    int correct;
    int unparsed;       /* replies with no letter */
    int failed;         /* requests that failed */
    double accuracy;    /* correct / graded, 0 when nothing graded */
} eval_subject_score;

typedef struct {
    int subjects;       /* graded subjects in the category */
    int graded, correct;
    double accuracy;    /* mean of its subjects' accuracies (C-Eval's way) */
} eval_category_score;

typedef struct {
    eval_subject_score *subjects; /* (n_subjects) in first-seen order */
    size_t n_subjects;
    eval_category_score categories[EVAL_N_CATEGORIES];
    int questions, graded, correct, unparsed, failed;
    double average;     /* mean of the graded subjects' accuracies */
    double overall;     /* correct / graded over all questions */
} eval_scores;

/* Scores answers[i] against set->items[i]. */
void eval_score(const eval_set *set, const eval_answer *answers, eval_scores *out);
void eval_scores_free(eval_scores *s);

/* ---- running a C-Eval set (run.c) ---------------------------------------- */

typedef struct {
    llm_params llm;     /* endpoint; each thread makes its own client */
    int shots;          /* examples from the dev split, 0 for zero-shot */
    bool cot;           /* chain-of-thought prompts (no log-probabilities) */
    bool rag;           /* add retrieved passages: rag_search must be set */
    int rag_k;          /* passages per question, default 3 */
    /* With rag: the search for a question's passages, top_k of them, best
     * first (the caller's retrieval settings and models: docqa hands it its
     * rag_session's, the one ask uses). 0, or -1 with the error set. */
    int (*rag_search)(void *ctx, const char *query, int top_k, retrieve_result *res);
    void *rag_ctx;
    int rag_chars;      /* characters per passage, default 300 */
    int parallel;       /* concurrent requests, default 1 */
    int max_tokens;     /* 0: 32, or 1024 with cot */
    bool cache;         /* read and write the answer cache, default true */
} eval_run_params;

eval_run_params eval_default_run_params(void);

typedef struct {
    void *ctx;
    /* done of total answered (cached or not); may be NULL */
    void (*progress)(void *ctx, size_t done, size_t total);
    /* true to stop after the requests in flight (Ctrl-C); may be NULL */
    bool (*stop)(void *ctx);
    /* the same without a context, polled during a request so Ctrl-C need
     * not wait for a slow answer (llm_request.should_stop); may be NULL */
    bool (*stop_now)(void);
} eval_hooks;

typedef struct {
    int requests;       /* sent to the LLM */
    int cached;         /* answered from the cache */
    int failed;         /* requests that failed */
    bool stopped;       /* hooks.stop asked to stop: answers are partial */
    bool unreachable;   /* the run failed because no LLM answers at the URL */
    char model[256];    /* the model identity answers are cached under */
} eval_run_stats;

/* Answers every question of set (answers: (set->n), zeroed by the caller).
 * dev gives the k-shot examples, by subject (may be NULL when shots is 0).
 * st holds the cache; with rag, params->rag_search finds the passages.
 * Answers are cached under params->llm.model, or, when that is NULL, under
 * the URL and the model ids the server lists at /models (so a different model loaded behind the same URL is not answered
 * from an old run's cache). Returns 0, or -1 with the error set when the
 * run cannot go on: no LLM listening, a subject without dev examples, a store
 * error. A failed single request is counted, not fatal. */
int eval_run_ceval(store *st, const eval_set *set, const eval_set *dev,
                   const eval_run_params *params, const eval_hooks *hooks, eval_answer *answers,
                   eval_run_stats *stats);

/* ---- reports (report.c, chart.c) ------------------------------------------ */

/* A readable table: one line per subject, the categories, the averages. */
char *eval_report_table(const eval_scores *s);
/* JSON: settings (as given, may be NULL), scores, and every answer. */
char *eval_report_json(const eval_set *set, const eval_answer *answers, const eval_scores *s,
                       const char *model, const eval_run_params *params);
/* CSV, one row per subject then one per category and the averages. */
char *eval_report_csv(const eval_scores *s);
/* C-Eval's submission file: {"subject": {"id": "B", ...}, ...}; unanswered
 * questions are left out. */
char *eval_report_submission(const eval_set *set, const eval_answer *answers);
/* The reports' JSON text: prints root (indented), deletes it and returns the
 * text as a copy the caller frees with free() (cJSON may allocate otherwise). */
struct cJSON;
char *eval_json_text(struct cJSON *root);

/* A horizontal bar chart as a standalone SVG: one group per label, one bar
 * per series, values 0..1 drawn as percentages. */
typedef struct {
    const char *title;
    const char *const *labels; /* (n_labels) */
    size_t n_labels;
    const char *const *series; /* (n_series) names, shown in a legend */
    size_t n_series;
    const double *values;      /* (n_labels, n_series) */
} eval_chart;

char *eval_chart_svg(const eval_chart *c);
/* The C-Eval chart: each graded subject, the categories and the average,
 * titled with the model and the run's settings. */
char *eval_ceval_chart_svg(const eval_scores *s, const char *model, const eval_run_params *p);

/* ---- retrieval evaluation (retrieval.c) ----------------------------------- */

typedef struct {
    char *id;
    char *question;
    char **answers;  /* (n_answers) gold answer texts */
    size_t n_answers;
    char *doc;       /* the gold document's file name ("cmrc-0000.txt") */
    int *pages;      /* (n_pages) 1-based gold pages: "pages", else "page"; none: any page */
    size_t n_pages;
    int line;        /* line in the file */
} eval_rquestion;

typedef struct {
    eval_rquestion *items; /* (n) */
    size_t n, cap;
    char **warnings;       /* (n_warnings) "file:line: reason" */
    size_t n_warnings, cap_warnings;
} eval_rset;

/* Reads questions.jsonl: one object a line with "question", "answers" (an
 * array of strings), "doc", optional "id", and the gold pages as "pages" (an
 * array of 1-based numbers) or "page" (one; "pages" wins when both are
 * given). Bad lines are skipped
 * with a warning; -1 when the file cannot be read. */
int eval_read_questions(const char *path, eval_rset *set);
void eval_rset_free(eval_rset *set);
void eval_rquestion_free(eval_rquestion *q);

/* Scores of one prediction against gold answers (max over golds): exact
 * match and F1 over characters for Chinese and words for other text, after
 * lower-casing and dropping punctuation and English articles (the SQuAD and
 * CMRC 2018 official metrics). */
double eval_exact_match(const char *pred, const char *const *golds, size_t n);
double eval_f1(const char *pred, const char *const *golds, size_t n);
/* 1 when some gold answer, normalised the same way, appears whole inside
 * pred: the useful measure for an extractive answer of whole sentences,
 * whose EM is near zero by construction. */
double eval_contains(const char *pred, const char *const *golds, size_t n);

/* True when a hit is the gold document: its path's file name equals doc
 * and, when n_pages > 0, its page span covers one of pages. */
bool eval_hit_matches(const store_hit *h, const char *doc, const int *pages, size_t n_pages);

#define EVAL_N_HITS 4
extern const int eval_hit_ks[EVAL_N_HITS]; /* 1, 3, 5, 10 */

typedef struct {
    retrieve_mode mode;
    int questions;
    int failed;                 /* searches that returned an error */
    double hit[EVAL_N_HITS];    /* share of questions with the gold doc in the top k */
    double mrr;                 /* mean reciprocal rank of the gold doc within 10 */
    int page_questions;         /* questions that give gold pages */
    double page_hit[EVAL_N_HITS]; /* share of those with a gold page in the top k */
    double page_mrr;            /* mean reciprocal rank of the first gold page within 10 */
    double em, f1;              /* of the extractive answer from the top 5 */
    double contains;            /* share whose answer holds a gold answer */
    double p50_ms, p95_ms;      /* retrieve + answer latency per question */
} eval_rmetrics;

/* Runs every question through retrieve_search(mode) and answer_extractive(),
 * with base's settings (NULL: the defaults; top_k and mode are set here).
 * hooks as for eval_run_ceval. -1 with the error set when the first search
 * fails (a broken store); later failures are counted. */
int eval_run_retrieval(store *st, struct embedder *emb, const eval_rset *set,
                       retrieve_mode mode, const retrieve_params *base, const eval_hooks *hooks,
                       eval_rmetrics *out);

/* Side-by-side table and JSON of several modes' metrics. */
char *eval_retrieval_table(const eval_rmetrics *m, size_t n);
char *eval_retrieval_json(const eval_rmetrics *m, size_t n, const char *questions_path);
char *eval_retrieval_csv(const eval_rmetrics *m, size_t n);
const char *eval_mode_name(retrieve_mode mode);
/* The retrieval chart: hit@k, MRR and F1, one bar per mode. */
char *eval_retrieval_chart_svg(const eval_rmetrics *m, size_t n, const char *questions_path,
                               size_t n_questions);

#endif
