/* headings.h - private: which cleaned paragraphs are headings, and at what level. */
#ifndef DQ_INGEST_HEADINGS_H
#define DQ_INGEST_HEADINGS_H

#include "ingest/ingest.h"

/* What ingest_clean() saw of a paragraph's lines, for heading detection. */
typedef struct {
    float size;  /* font size of the paragraph (char-weighted), 0 when unknown */
    bool bold;   /* every line bold */
    int md;      /* heading level the source declared (Markdown), else 0 */
    int n_lines; /* visual lines joined into it */
    bool centred; /* set centred on the page, narrower than the text */
    float page_body; /* the size most of its page is set in, tables too; 0 unknown */
} para_hint;

/* Sets paras[].heading across doc. hints[p] holds one entry per paragraph of
 * doc->pages[p]; body_size is the document's body font size (0 unknown).
 * declared_only: the source marks its headings (Office styles), so only
 * those count; numbered list items are not guessed into headings. */
void headings_detect(ingest_doc *doc, para_hint *const *hints, float body_size,
                     bool declared_only);

/* How a paragraph is numbered. */
enum {
    NUM_NONE,
    NUM_CHAPTER, /* 第X章, 第X部分, 第X编, 第X篇: level 1 */
    NUM_FIXED,   /* 第X节 2, 第X条 3, 一、 2, （一） 3: the level is in the form */
    NUM_DOTTED,  /* "1.", "1.2", "1.2.3": a depth, placed relative to the document */
    NUM_BARE,    /* "1 Title": a depth only if size or weight also says heading */
};

/* Numbering at the start of s[0..n): sets *kind and returns the level
 * (NUM_CHAPTER, NUM_FIXED) or depth (NUM_DOTTED, NUM_BARE), 0 for none. */
int headings_numbering(const char *s, size_t n, int *kind);

#endif
