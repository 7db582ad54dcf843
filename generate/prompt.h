/* prompt.h - the chat messages that ask an LLM to answer from retrieved
 * passages, and the reading of [n] citations in what it answers.
 *
 * The instructions come from a template per language (Chinese or English,
 * chosen by the question), built in or read from a user's file. Passages are
 * numbered [1]..[n] with file, page and section, and each is quoted inside
 * <passage> tags with any tag-like text inside it defused, so a PDF that says
 * "ignore previous instructions" stays data: the instructions say that what
 * is inside the tags is never to be obeyed. Passages are added best first
 * while they fit the model's window less the answer's budget.
 */
#ifndef DQ_PROMPT_H
#define DQ_PROMPT_H

#include "generate/generate.h"
#include "generate/llm.h"

typedef enum { PROMPT_EN = 0, PROMPT_ZH = 1 } prompt_lang;

/* Chinese when the question has CJK characters and they outnumber twice its
 * Latin words ("合同的penalty是多少" is Chinese, "What does 违约金 mean?" is
 * English); else English. */
prompt_lang prompt_detect_lang(const char *question);
/* "zh" / "en" */
const char *prompt_lang_name(prompt_lang lang);

/* What the instructions tell the model to say when the passages do not hold
 * the answer: "The documents do not say." / "文档中没有找到答案。" */
const char *prompt_not_found(prompt_lang lang);

/* A conservative token count for text when the server cannot count: a CJK
 * character as 1.5 tokens (a Llama-family vocabulary may spend two or three
 * byte tokens on a rare one; Qwen spends under one), other text a token per
 * 3 bytes (English averages about 4). */
int prompt_estimate_tokens(const char *text);

/* Counts the tokens of text exactly (llm_count_tokens); -1: estimate. */
typedef int (*prompt_count_fn)(void *ctx, const char *text);

typedef struct {
    int context_tokens; /* the model's window, default 4096 */
    int answer_tokens;  /* kept free for the answer, default 512 */
    /* A folder of user templates, zh.txt and en.txt (NULL or a missing file:
     * the built-in one). A template is the system message; a line "[user]"
     * starts the user message, where {passages} and {question} are replaced
     * (without it the built-in user part is used). */
    const char *template_dir;
    prompt_count_fn count; /* NULL: estimate */
    void *count_ctx;
} prompt_params;

prompt_params prompt_default_params(void);

/* The built-in template for lang, in the file format above. */
const char *prompt_builtin_template(prompt_lang lang);

typedef struct {
    prompt_lang lang;
    char *system;           /* the instructions */
    char *user;             /* the numbered passages and the question */
    llm_message msgs[2];    /* {system, user}, pointing at the two above */
    answer_source *sources; /* (n_sources) passage [i+1] came from sources[i] */
    size_t n_sources;
    size_t n_dropped;       /* hits that did not fit the budget */
    int tokens;             /* prompt tokens, counted or estimated */
    bool counted;           /* tokens came from the server, not an estimate */
} prompt;

/* Builds the messages for question from hits (best first). A template file
 * that cannot be read is an error (-1), so a typo in a path is not silently
 * ignored; an empty hits list gives a prompt with no passages. */
int prompt_build(const char *question, const retrieve_result *hits, const prompt_params *params,
                 prompt *out);
void prompt_free(prompt *p);

/* The citations in an answer: [1], [1, 3], [1][2], [1-3], 【2】 and [^2];
 * numbers in order of first citation. Numbers outside 1..n_sources are the
 * model's inventions and go in unknown. */
typedef struct {
    int *cited;    /* (n_cited) distinct, each in 1..n_sources */
    size_t n_cited;
    int *unknown;  /* (n_unknown) distinct, not given to the model */
    size_t n_unknown;
} prompt_citations;

void prompt_parse_citations(const char *answer, size_t n_sources, prompt_citations *out);
void prompt_citations_free(prompt_citations *c);

/* ---- one cited answer from an LLM (llm_answer.c) ------------------------- */

typedef struct {
    prompt pr;              /* the prompt sent: sources [1]..[n], language, tokens */
    llm_reply reply;        /* the answer and its counts and times */
    llm_status status;
    prompt_citations cites; /* parsed from reply.text */
    char *error;            /* the one-line failure when status is not LLM_OK */
} llm_answer;

/* Answers question from hits with llm, streaming: cb gets each piece as it
 * arrives (non-zero stops). history (n_history user and assistant turns)
 * goes between the instructions and the question, and its tokens come out of
 * the passages' budget. With no passage retrieved the answer is
 * prompt_not_found() without asking the model (which might answer from what
 * it knows), passed to cb too. hooks (may be NULL): its should_stop,
 * on_queued and queue_ctx go with the request. Returns 0 with out->status
 * saying how the request went, or -1 with the error set when the prompt
 * could not be built. Free out either way. */
int llm_answer_generate(llm_client *llm, const char *question, const retrieve_result *hits,
                        const llm_message *history, size_t n_history, const prompt_params *params,
                        const llm_request *hooks, llm_token_cb cb, void *ctx, llm_answer *out);
void llm_answer_free(llm_answer *a);

#endif
