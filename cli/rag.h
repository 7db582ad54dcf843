/* rag.h - what `ask` and `chat` share: opening the LLM the config names and
 * generating one cited answer from retrieved passages, streamed or not. */
#ifndef DQ_CLI_RAG_H
#define DQ_CLI_RAG_H

#include <stdio.h>

#include "cli/cli.h"
#include "generate/llm.h"
#include "generate/prompt.h"

typedef struct {
    prompt pr;              /* the prompt sent: sources [1]..[n], language, tokens */
    llm_reply reply;        /* the answer and its counts and times */
    llm_status status;
    prompt_citations cites; /* parsed from reply.text */
    bool printed;           /* some of the answer reached the terminal */
    char *error;            /* the one-line failure when status is not LLM_OK */
} rag_answer;

/* The client settings the config gives ([llm] and DOCQA_LLM_*), defaults
 * for the rest; strings point into cfg. */
llm_params cli_llm_params(const dq_config *cfg);

/* Answers question from hits with llm. history (n_history messages, user and
 * assistant turns) goes between the instructions and the question. When out
 * is not NULL the answer is written there as it arrives. Returns 0 with
 * ans->status saying how the request went, or -1 (message printed) when the
 * prompt could not be built. Ctrl-C (cli_interrupted) cancels. */
int rag_generate(llm_client *llm, const dq_config *cfg, const char *question,
                 const retrieve_result *hits, const llm_message *history, size_t n_history,
                 FILE *out, rag_answer *ans);
void rag_answer_free(rag_answer *ans);

/* True for failures that mean no LLM could be used at all (refused, timed
 * out, 5xx) before any text came: the caller falls back to extractive. */
bool rag_unreachable(const rag_answer *ans);

/* Prints "Sources:" with each cited passage's file, page and section, and
 * flags numbers the model cited that were never given. */
void rag_print_sources(FILE *out, const rag_answer *ans);

/* Prints an extractive answer: its sentences with [n], then its sources. */
void rag_print_extractive(FILE *out, const answer *a);

/* The prompt template folder: [llm] prompts (a leading ~ expanded) or
 * $XDG_CONFIG_HOME/docqa/prompts or ~/.config/docqa/prompts. Caller frees. */
char *rag_prompt_dir(const dq_config *cfg);

#endif
