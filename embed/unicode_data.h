/* unicode_data.h - private to embed/: the Unicode properties the WordPiece
 * and byte-level BPE tokenizers need, from tables scripts/gen_unicode_data.py generates into
 * unicode_data.c from Python's unicodedata, so the C tokenizer sees the same
 * character data as Hugging Face's Python one.
 */
#ifndef DQ_UNICODE_DATA_H
#define DQ_UNICODE_DATA_H

#include <stdint.h>

/* ucd_props() & UCD_CLASS_MASK */
enum {
    UCD_OTHER = 0,
    UCD_CONTROL = 1, /* general category C* (Cc Cf Cn Co Cs) */
    UCD_SPACE = 2,   /* Zs */
    UCD_PUNCT = 3,   /* P* */
    UCD_MN = 4,      /* Mn, what accent stripping drops */
    UCD_LETTER = 5,  /* L*, regex \p{L} */
    UCD_NUMBER = 6,  /* N*, regex \p{N} */
    UCD_CLASS_MASK = 7,
};

/* flags in ucd_props() */
enum {
    UCD_HAS_LOWER = 0x08,  /* str.lower() changes it */
    UCD_HAS_DECOMP = 0x10, /* NFD changes it */
    UCD_HAS_CCC = 0x20,    /* non-zero canonical combining class */
    UCD_NFC_QC = 0x40,     /* NFC quick check No or Maybe: NFC may change it */
};

#define UCD_MAX_LOWER 3
#define UCD_MAX_DECOMP 4

uint8_t ucd_props(uint32_t cp);
/* Full lower-case mapping of one code point (Python's chr(cp).lower());
 * writes 1..UCD_MAX_LOWER code points, cp itself when unchanged. */
int ucd_lower(uint32_t cp, uint32_t out[UCD_MAX_LOWER]);
/* Full canonical decomposition (NFD of the single code point, Hangul
 * included); writes 1..UCD_MAX_DECOMP code points. */
int ucd_decompose(uint32_t cp, uint32_t out[UCD_MAX_DECOMP]);
/* Canonical combining class, 0 for starters. */
int ucd_ccc(uint32_t cp);
/* The primary composite of a canonical pair (Hangul included), or 0. */
uint32_t ucd_compose(uint32_t first, uint32_t second);

#endif
