/* bpe_impl.h - private to embed/: the pieces of the byte-level BPE tokenizer
 * that bpe.c, bpe_pre.c and chat.c share.
 */
#ifndef DQ_EMBED_BPE_IMPL_H
#define DQ_EMBED_BPE_IMPL_H

#include "embed/bpe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The pre-tokenizers: how tokenizer.ggml.pre's regex cuts text into words. */
typedef struct {
    const char *name;    /* tokenizer.ggml.pre */
    int max_digits;      /* \p{N} (1) or \p{N}{1,3} (3) */
    bool nfc;            /* the Hugging Face tokenizer NFC-normalises first */
    bool ignore_merges;  /* a word that is itself a token is not merged */
} bpe_pre;

/* The pre-tokenizer named name, or NULL. */
const bpe_pre *bpe_pre_find(const char *name);

/* Calls piece(ctx, start, end) for each word of s[0..n) in order; the words
 * cover s exactly. Invalid UTF-8 bytes count as punctuation, one byte each. */
typedef void (*bpe_piece_cb)(void *ctx, size_t start, size_t end);
void bpe_pre_split(const bpe_pre *pre, const char *s, size_t n, bpe_piece_cb piece, void *ctx);

/* Unicode's White_Space property: the pre-tokenizers' \s, and what
 * templates that trim content (Jinja's trim, Python's str.strip) strip. */
bool bpe_is_white_space(uint32_t cp);

/* NFC of s[0..n) into out when it differs (true), else false and out
 * untouched. Invalid bytes are copied through and block composition. */
bool bpe_nfc(const char *s, size_t n, dq_buf *out);

/* The template's special tokens are looked up by spelling; text that is not
 * a special token is encoded by bpe_encode. Id of the longest control or
 * user-defined token that s[0..n) starts with, its length in *len; -1 if none. */
int32_t bpe_match_special(const bpe_tokenizer *t, const char *s, size_t n, size_t *len);

#endif
