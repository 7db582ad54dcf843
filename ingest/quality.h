/* quality.h - is a page's text layer its text? Scores the characters MuPDF extracted.
 *
 * Private to ingest/. A font without a usable ToUnicode map, or a damaged
 * file that MuPDF repairs by substituting fonts, "extracts" text that is not
 * the page's: U+FFFD runs, private-use code points, control characters, or
 * Latin-1 and symbol soup (".D0ƒ+O}AŒ•_.D0ƒ+OX,87,;»0") from two-byte codes
 * read one byte at a time. Indexing it finds nothing and hides that the page
 * was never read, so extract.c counts each page's characters here while it
 * walks them, then asks for a verdict against the whole document: such a page
 * is OCR'd instead, or reported as unreadable.
 */
#ifndef DQ_INGEST_QUALITY_H
#define DQ_INGEST_QUALITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Letter classes whose presence on one page only is suspect. ASCII letters,
 * digits and punctuation belong to every document and are not classed. */
enum {
    QS_LATIN1,    /* À-ÿ */
    QS_LATIN_EXT, /* Latin Extended-A/B, Additional */
    QS_GREEK,
    QS_CYRILLIC,
    QS_CJK, /* ideographs, kana, hangul, full-width forms and CJK punctuation */
    QS_OTHER, /* any other script's letters */
    QS_N
};

typedef struct {
    size_t chars;          /* non-space characters */
    size_t fffd;           /* U+FFFD: glyphs without a Unicode mapping */
    size_t private_use;    /* U+E000-F8FF, planes 15-16 */
    size_t controls;       /* C0 and C1 controls */
    size_t odd;            /* symbols that only decoding accidents produce (¤ ¦ ¨ ƒ ˆ ‹ ...) */
    size_t symbol_words;   /* characters in words of three or more that are mostly symbols */
    size_t script[QS_N];   /* letters per class */
    size_t cjk_font;       /* characters drawn with a CJK font */
    size_t cjk_font_cjk;   /* of those, CJK characters */
    size_t cjk_font_latin; /* of those, letters of the other classes */
    /* the word being read, for symbol_words */
    size_t word_len, word_alnum, word_bad;
    uint32_t word_first;
    bool word_same;
} text_quality;

/* What quality_add_char() inlines, for the printable ASCII of most text
 * (extract.c counts every character of every page). */
static inline bool quality_ascii_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline void quality_add_to_word(text_quality *q, uint32_t c, bool alnum)
{
    if (q->word_len == 0) {
        q->word_first = c;
        q->word_same = true;
    } else if (c != q->word_first) {
        q->word_same = false;
    }
    q->word_len++;
    q->word_alnum += alnum;
}

/* quality_add_char() of a character other than printable ASCII. */
void quality_add_other(text_quality *q, uint32_t c, bool cjk_font);

/* Counts code point c drawn with a font that is (cjk_font) a CJK font;
 * spaces end words. */
static inline void quality_add_char(text_quality *q, uint32_t c, bool cjk_font)
{
    if (c > 0x20 && c < 0x7F) { /* printable ASCII: no junk, no script */
        q->chars++;
        q->cjk_font += cjk_font;
        quality_add_to_word(q, c, quality_ascii_alnum(c));
        return;
    }
    quality_add_other(q, c, cjk_font);
}
/* Ends the current word (at the end of a line). */
void quality_end_word(text_quality *q);
/* Adds page's counts into total. */
void quality_sum(text_quality *total, const text_quality *page);

/* Why page's text layer is not its text (a static string, such as "font
 * without ToUnicode"), or NULL when it is readable. doc holds the sum over
 * the whole document, page included, so scripts the rest of the document
 * never uses count against the page. */
const char *quality_verdict(const text_quality *page, const text_quality *doc);
/* The static reason quality_verdict returns that reads as text (the
 * generic one for any other text), NULL for NULL: how a page's reason
 * crosses the pipe from the reader's child process (isolate.c). */
const char *quality_reason_static(const char *text);

/* True when a font of this name is a CJK font (MuPDF's own flag aside). */
bool quality_cjk_font_name(const char *name);

#endif
