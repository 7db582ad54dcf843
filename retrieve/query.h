/* query.h - a question's search terms, shared by retrieve/ and generate/ (private).
 *
 * The question is cut with text_terms() exactly as the FTS5 tokenizer cuts it
 * in query mode, then stop-words (English function words, Chinese question
 * and function words) are dropped and duplicates removed. The match builder,
 * the snippet maker and the extractive answerer all use this one list, so
 * what is searched for is what gets highlighted and scored.
 */
#ifndef DQ_RETRIEVE_QUERY_H
#define DQ_RETRIEVE_QUERY_H

#include "common/common.h"

typedef struct {
    char *text;  /* the term as text_terms() reports it (lower-cased), NUL-terminated */
    int len;     /* bytes */
    bool cjk;    /* a CJK unigram or bigram */
} qterm;

typedef struct {
    qterm *items; /* (n) distinct terms, in question order */
    size_t n, cap;
} qterms;

/* Fills out (zero-initialised by the caller) with the question's terms cut
 * with flags (TERMS_*), stop-words dropped; when every term is a stop-word
 * they are all kept, so "what is it" still searches. Returns the number of
 * terms (0 when the question has no term at all). */
size_t qterms_build(const char *question, int flags, qterms *out);
/* Fills out with the question's adjacent pairs of Latin content words
 * ("balance sheet"), each "w1 w2" (an FTS5 phrase); returns their number. */
size_t qterms_pairs(const char *question, qterms *out);
/* The FTS5 expression of the question's terms, OR-ed; NULL with the error
 * set when it has no searchable term. For long documents (long_docs) also
 * its adjacent word pairs as phrases, each English word's and pair's other
 * grammatical number, and its words searched in the section path. */
char *query_build_match(const char *question, bool long_docs);
/* Index of the term s[0..len) in q, or -1. */
int qterms_find(const qterms *q, const char *s, int len);
/* Appends t as one FTS5 string ("..." with any '"' doubled): a term is
 * never read as syntax, whatever it holds. */
void query_put_quoted(dq_buf *m, const qterm *t);
void qterms_free(qterms *q);

/* True for a term of text_terms() that carries no meaning in a question. */
bool query_term_is_stop(const char *s, int len, bool cjk);

#endif
