/* generate.h - from retrieved chunks to an answer with citations.
 *
 * With no LLM configured the answer is extractive: the sentences of the top
 * chunks that best cover the question's terms, each followed by the number of
 * its source; when no sentence covers enough of the question the answer says
 * nothing relevant was found instead of guessing.
 */
#ifndef DQ_GENERATE_H
#define DQ_GENERATE_H

#include "retrieve/retrieve.h"

typedef struct {
    int max_sentences;  /* default 3 */
    double min_score;   /* least question-term coverage (0..1) a sentence needs, default 0.2 */
} answer_params;

answer_params answer_default_params(void);

typedef struct {
    int number;       /* 1-based citation number, [number] */
    char *path;       /* file path */
    char *section;    /* "" when none */
    int page_start, page_end;
    int64_t chunk_id;
    double score;     /* retrieval score */
    bool ocr;         /* the chunk's text was read by OCR from a scan */
    char *label;      /* where it is when pages do not say ("slide 7", "§3.2 ¶4"); "" none */
} answer_source;

/* Copies src's strings into dst (fields copied as they are). */
void answer_source_copy(answer_source *dst, const answer_source *src);
/* Frees the source's strings and zeroes it. */
void answer_source_clear(answer_source *s);

typedef struct {
    char *text;       /* the sentence, as in the document */
    int source;       /* citation number */
    double score;     /* coverage of the question's terms, 0..1 */
} answer_sentence;

typedef struct {
    bool found;                 /* false: nothing relevant; sentences is empty */
    answer_sentence *sentences; /* (n_sentences) in answer order */
    size_t n_sentences;
    answer_source *sources;     /* (n_sources) only those cited */
    size_t n_sources;
} answer;

int answer_extractive(const char *question, const retrieve_result *hits,
                      const answer_params *params, answer *out);
void answer_free(answer *a);

/* "contracts/lease.pdf p. 3, 第三章 > 3.2" (pp. 3-4 for a span, "p. 3 (OCR)"
 * for text read from a scan); where a label replaces pages, "contract.docx
 * §3.2 ¶4, 第三章 > 3.2", "deck.pptx, slide 7, Pricing" or "prices.xlsx,
 * sheet 报价单, rows 12–40" (a section the label already names is left
 * out); caller frees. */
char *answer_format_source(const answer_source *src);

#endif
