/* rag.h - the terminal side of an answer turn, for `ask` and `chat`: the
 * session from the config and the command's flags, the answer streamed to
 * the terminal, the sources listed. */
#ifndef DQ_CLI_RAG_H
#define DQ_CLI_RAG_H

#include <stdio.h>

#include "cli/cli.h"
#include "pipeline/pipeline.h"

/* The session for the store and config cli_setup provides (the command's
 * table line), with the command's flags; it borrows g->st and g->cfg, which outlive
 * it. NULL after printing why; *status is the exit status to return then. */
rag_session *cli_rag_session(cli_globals *g, const rag_session_params *params, int *status);

/* Where a turn's LLM answer goes as it arrives: out (NULL: nowhere), with
 * control characters dropped; printed tells whether any of it got there. */
typedef struct {
    FILE *out;
    bool printed;
} cli_answer_out;

/* A turn for question that writes to o and which Ctrl-C stops. */
rag_turn cli_rag_turn(const char *question, cli_answer_out *o);

/* Prints "Sources:" with each passage the LLM cited (file, page, section),
 * and flags numbers it cited that it was never given. */
void rag_print_sources(FILE *out, const rag_reply *r);

/* Prints an extractive answer: its sentences with [n], then its sources. */
void rag_print_extractive(FILE *out, const char *question, const answer *a);

#endif
