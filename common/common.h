/* common.h - the small toolkit every docqa stage shares.
 *
 * Errors: a function that can fail returns int (0 ok, negative failure) or a
 * pointer (NULL failure) and leaves a message with dq_set_error(); only cli/
 * prints it. Strings that grow use dq_buf. Text is UTF-8 everywhere; the
 * helpers here decode it, classify code points (CJK or not) and split it into
 * the search terms that the FTS5 tokenizer, the query builder and the
 * extractive answerer must all agree on.
 */
#ifndef DQ_COMMON_H
#define DQ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ------------------------------------------------------------ */

/* Sets this thread's last error message (printf-style). Never fails. */
void dq_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message set last on this thread, or "" when none. */
const char *dq_last_error(void);

/* ---- growable string buffer -------------------------------------------- */

/* A NUL-terminated byte string that grows. Zero-initialise it (DQ_BUF_INIT);
 * data is NULL until the first append. Appends abort the process on OOM
 * (like git's xmalloc): a half-built string is not a recoverable state. */
typedef struct {
    char *data; /* (cap) bytes, data[len] == '\0' once non-NULL */
    size_t len;
    size_t cap;
} dq_buf;

#define DQ_BUF_INIT {NULL, 0, 0}

void dq_buf_reserve(dq_buf *b, size_t extra);
void dq_buf_append(dq_buf *b, const char *s, size_t n);
void dq_buf_puts(dq_buf *b, const char *s);
void dq_buf_putc(dq_buf *b, char c);
void dq_buf_printf(dq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
void dq_buf_put_json_string(dq_buf *b, const char *s);
void dq_buf_clear(dq_buf *b);
/* Returns the string ("" if never appended to), which the caller now owns,
 * and resets b. */
char *dq_buf_take(dq_buf *b);
void dq_buf_free(dq_buf *b);

/* ---- allocation -------------------------------------------------------- */

/* malloc/calloc/realloc/strdup that abort on OOM with a message. */
void *dq_malloc(size_t n);
void *dq_calloc(size_t n, size_t size);
void *dq_realloc(void *p, size_t n);
char *dq_strdup(const char *s);
char *dq_strndup(const char *s, size_t n);
/* Replaces what a failed dq_ allocation does (print, abort) with fn, which
 * must not return: the reader's child process reports it to its parent
 * instead (ingest/isolate.c). NULL restores the default. */
void dq_set_out_of_memory(void (*fn)(size_t n));

/* Grows an array so it holds at least need elements (doubling). */
#define DQ_GROW(ptr, cap, need)                                                     \
    do {                                                                            \
        if ((size_t)(need) > (size_t)(cap)) {                                       \
            size_t dq_nc_ = (cap) ? (size_t)(cap) * 2 : 8;                          \
            while (dq_nc_ < (size_t)(need))                                         \
                dq_nc_ *= 2;                                                        \
            (ptr) = dq_realloc((ptr), dq_nc_ * sizeof(*(ptr)));                     \
            (cap) = dq_nc_;                                                         \
        }                                                                           \
    } while (0)

/* ---- lists of strings --------------------------------------------------- */

/* An array of owned strings (paths, hashes); dq_strs_has wants it sorted. */
typedef struct {
    char **items; /* (n) owned */
    size_t n, cap;
} dq_strs;

void dq_strs_add(dq_strs *l, const char *s);
/* Sorts by strcmp, for dq_strs_has. */
void dq_strs_sort(dq_strs *l);
/* Whether the sorted list holds s. */
bool dq_strs_has(const dq_strs *l, const char *s);
void dq_strs_free(dq_strs *l);

/* ---- files ------------------------------------------------------------- */

/* Reads a whole file into out (appended). Returns 0, or -1 with the error set
 * ("cannot read 'path': reason"). */
int dq_read_file(const char *path, dq_buf *out);
/* Writes data to path atomically: temp file in the same directory, fsync,
 * rename, fsync of the directory. */
int dq_write_file_atomic(const char *path, const void *data, size_t n);
/* The same, readable by the owner only (a store's derived files hold its
 * documents' words). */
int dq_write_file_private(const char *path, const void *data, size_t n);
/* mkdir -p. */
int dq_mkdirs(const char *path);
/* Seconds since an arbitrary epoch, monotonic. */
double dq_now(void);

/* ---- UTF-8 and code points --------------------------------------------- */

/* Decodes one code point from s (n bytes available). Returns the number of
 * bytes used (1..4), or -1 for an invalid or truncated sequence (overlongs,
 * surrogates and values past U+10FFFF are invalid). */
int utf8_decode(const char *s, size_t n, uint32_t *cp);
/* The code point at s[i] (n bytes in all) and its length in *len; an invalid
 * byte reads as U+FFFD of length 1, so a walk always moves forward. Inline,
 * ASCII first: text loops call it for every character. */
static inline uint32_t utf8_at(const char *s, size_t n, size_t i, int *len)
{
    if (i < n && (unsigned char)s[i] < 0x80) {
        *len = 1;
        return (unsigned char)s[i];
    }
    uint32_t cp;
    int k = utf8_decode(s + i, n - i, &cp);
    *len = k < 0 ? 1 : k;
    return k < 0 ? 0xFFFD : cp;
}
/* Encodes cp into out; returns 1..4 bytes. */
int utf8_encode(uint32_t cp, char out[4]);
/* True when s[0..n) is entirely valid UTF-8. */
bool utf8_valid(const char *s, size_t n);
/* Returns a copy of s[0..n) with every invalid sequence replaced by U+FFFD. */
char *utf8_sanitize(const char *s, size_t n);
/* A copy of s fit for a terminal: invalid sequences become U+FFFD and
 * control characters other than '\n' (ESC of an escape sequence, BEL, C1
 * controls) become '?'. */
char *utf8_for_terminal(const char *s);
/* Number of code points in a valid UTF-8 string. */
size_t utf8_length(const char *s, size_t n);

/* Han ideographs (with extensions and compatibility forms), kana, hangul,
 * bopomofo: scripts written without spaces between words. */
bool uc_is_cjk(uint32_t cp);
/* CJK and full-width punctuation (。，、；：？！「」《》（） ...). */
bool uc_is_cjk_punct(uint32_t cp);
/* Folds full-width ASCII (U+FF01..U+FF5E) to ASCII and U+3000 to a space;
 * other code points are returned unchanged. */
uint32_t uc_fold_fullwidth(uint32_t cp);
/* How wide s (NUL-terminated UTF-8) is when each CJK character or CJK
 * punctuation mark counts wide and every other character narrow: its width
 * in terminal columns with (1, 2), or a pixel estimate with a font's widths. */
int utf8_width(const char *s, int narrow, int wide);

/* ---- search terms ------------------------------------------------------ */

/* How text is cut into search terms, shared by the FTS5 tokenizer (index/),
 * the query builder (retrieve/) and answer scoring (generate/):
 *  - runs of Latin letters and digits form one term, ASCII lower-cased
 *    (full-width forms folded first); a '.' or ',' between two digits stays
 *    inside the number ("3.5", "1,000");
 *  - each CJK character is a unigram term; with TERMS_BIGRAMS every adjacent
 *    pair of CJK characters in a run is also a bigram term, reported at the
 *    same position as the unigram that starts it (colocated);
 *  - everything else (spaces, punctuation, symbols) separates terms. */
enum {
    TERMS_UNIGRAMS = 1, /* CJK unigrams */
    TERMS_BIGRAMS = 2,  /* CJK bigrams */
};

typedef struct {
    const char *text; /* the term, lower-cased; NOT NUL-terminated */
    int len;          /* bytes */
    int start, end;   /* byte offsets of the term in the input */
    bool colocated;   /* same position as the previous term (a bigram) */
    bool cjk;         /* a CJK unigram or bigram */
} dq_term;

/* Calls cb for each term of s[0..n). A non-zero return from cb stops the walk
 * and is returned. flags is a mix of TERMS_*. */
typedef int (*dq_term_cb)(void *ctx, const dq_term *term);
int text_terms(const char *s, size_t n, int flags, dq_term_cb cb, void *ctx);

/* Appends s[0..n) to out with a space between a year (1xxx or 2xxx, four
 * digits alone) and a Latin letter glued to it: "FY2018" -> "FY 2018",
 * "2022Q4" -> "2022 Q4", so the year is a term of its own. */
void text_split_glued_years(const char *s, size_t n, dq_buf *out);

/* ---- sentences --------------------------------------------------------- */

/* Sentence and clause boundaries, shared by the splitter (ingest/) and the
 * extractive answerer (generate/). A sentence ends after 。！？；!? (with any
 * closing quotes or brackets that follow), after '.' followed by a space and
 * not part of an abbreviation ("e.g.", "Dr.", "No.") or a decimal, and at a
 * newline. A clause ends after ，、,;：: as well. */
enum { BOUNDARY_SENTENCE = 1, BOUNDARY_CLAUSE = 2 };
/* Calls cb with each piece's byte range [start, end) of s[0..n); the pieces
 * cover s exactly, so concatenating them gives s back. kind is
 * BOUNDARY_SENTENCE or BOUNDARY_CLAUSE (clauses also cut at sentence ends). */
typedef int (*dq_piece_cb)(void *ctx, size_t start, size_t end);
int text_pieces(const char *s, size_t n, int kind, dq_piece_cb cb, void *ctx);

/* ---- hashing ----------------------------------------------------------- */

typedef struct {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t fill;
} dq_sha256;

void dq_sha256_init(dq_sha256 *s);
void dq_sha256_update(dq_sha256 *s, const void *data, size_t n);
void dq_sha256_final(dq_sha256 *s, uint8_t out[32]);
/* true: the portable compression function from now on, even on a CPU with
 * the SHA extensions; false: the CPU's own again. For tests, which compare
 * the two paths (as bert_isa_set lowers the encoders' kernels). */
void dq_sha256_set_portable(bool portable);
/* Lower-case hex of 32 bytes, NUL-terminated. */
void dq_hex(const uint8_t *bytes, size_t n, char *out);
/* SHA-256 of a file's content as 64 hex chars + NUL. */
int dq_sha256_file(const char *path, char out[65]);

#endif
