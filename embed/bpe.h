/* bpe.h - byte-level BPE tokenizer (the GPT-2 family: Qwen2/2.5/3, Llama 3)
 * and the chat templates that turn a conversation into its token ids.
 *
 * The vocabulary comes from a GGUF file's tokenizer.ggml.* metadata, or from
 * plain arrays (bpe_new) holding the same. Text is NFC-normalised where the
 * model's own tokenizer does it (Qwen), split by the pre-tokenizer that
 * tokenizer.ggml.pre names (written out in C, no regex engine), mapped byte by
 * byte onto the GPT-2 byte alphabet and merged by rank. bpe_encode treats all
 * text as plain text: a control token such as <|im_start|> is only ever
 * produced by a chat template (chat_render), never by text that spells it,
 * so a document cannot inject turns into the prompt.
 */
#ifndef DQ_EMBED_BPE_H
#define DQ_EMBED_BPE_H

#include "common/common.h"
#include "embed/gguf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* tokenizer.ggml.token_type values (llama.cpp's numbering). */
typedef enum {
    BPE_TOKEN_NORMAL = 1,
    BPE_TOKEN_UNKNOWN = 2,
    BPE_TOKEN_CONTROL = 3,      /* <|im_start|>, <|eot_id|>: only templates emit them */
    BPE_TOKEN_USER_DEFINED = 4, /* added tokens such as <think>: text spelling them stays text */
    BPE_TOKEN_UNUSED = 5,
    BPE_TOKEN_BYTE = 6,
} bpe_token_type;

/* A byte string that is not NUL-terminated (GGUF strings are not). */
typedef struct {
    const char *s;
    size_t len;
} bpe_str;

/* The vocabulary as GGUF metadata holds it; bpe_new copies what it keeps. */
typedef struct {
    const char *model;          /* tokenizer.ggml.model: must be "gpt2" */
    const char *pre;            /* tokenizer.ggml.pre: "qwen2", "llama-bpe", ... */
    const bpe_str *tokens;      /* (n_tokens) id -> token in the byte alphabet */
    size_t n_tokens;
    const int32_t *token_types; /* (n_tokens) bpe_token_type, or NULL: all normal */
    const bpe_str *merges;      /* (n_merges) "left right", rank = index */
    size_t n_merges;
    int32_t bos_id, eos_id, eot_id, pad_id; /* -1 when absent */
    bool add_bos;               /* tokenizer.ggml.add_bos_token */
} bpe_vocab;

typedef struct bpe_tokenizer bpe_tokenizer;

/* Token ids that grow (zero-initialise; BPE_IDS_INIT). */
typedef struct {
    int32_t *v; /* (n) */
    size_t n, cap;
} bpe_ids;

#define BPE_IDS_INIT {NULL, 0, 0}

void bpe_ids_push(bpe_ids *ids, int32_t id);
void bpe_ids_free(bpe_ids *ids);

/* Builds a tokenizer; NULL with the error set for a model other than "gpt2",
 * a pre-tokenizer it does not know (named), an id out of range, or a
 * vocabulary missing one of the 256 byte tokens. */
bpe_tokenizer *bpe_new(const bpe_vocab *v);
/* The same from a GGUF file's tokenizer.ggml.* keys. */
bpe_tokenizer *bpe_from_gguf(const gguf_file *f);
void bpe_free(bpe_tokenizer *t); /* NULL-safe */

size_t bpe_n_tokens(const bpe_tokenizer *t);
const char *bpe_pre_name(const bpe_tokenizer *t); /* "qwen2", "llama-bpe" */
int32_t bpe_bos(const bpe_tokenizer *t);          /* -1 when none */
int32_t bpe_eos(const bpe_tokenizer *t);
int32_t bpe_eot(const bpe_tokenizer *t);          /* end of turn; -1 when none */
bool bpe_add_bos(const bpe_tokenizer *t);         /* raw prompts start with BOS */
bpe_token_type bpe_token_kind(const bpe_tokenizer *t, int32_t id);
/* Id of a token by its vocabulary spelling (byte alphabet for normal tokens,
 * verbatim for control ones: "<|im_end|>"), or -1. */
int32_t bpe_token_id(const bpe_tokenizer *t, const char *s, size_t len);

/* Appends the ids of text[0..len) to out, all of it as plain text (see the
 * top). Any bytes are accepted (a byte that is not valid UTF-8 counts as
 * punctuation when words are cut), so bpe_decode gives back exactly what
 * went in (after NFC, for Qwen). Safe to call from several threads at once
 * on one tokenizer: the scratch is the call's own. */
void bpe_encode(const bpe_tokenizer *t, const char *text, size_t len, bpe_ids *out);

/* The bytes a token stands for (NULL, 0 for an id out of range). Control
 * tokens give their spelling; callers printing model output skip them. */
const char *bpe_token_bytes(const bpe_tokenizer *t, int32_t id, size_t *len);
/* Appends the bytes of ids to out; control tokens only when with_control. */
void bpe_decode(const bpe_tokenizer *t, const int32_t *ids, size_t n, bool with_control, dq_buf *out);

/* Streaming decode: a token may end inside a UTF-8 character, so the bytes
 * of an incomplete character wait for the next token. Output is always valid
 * UTF-8 (a byte that cannot start or continue a character becomes U+FFFD).
 * Control tokens are skipped. */
typedef struct {
    unsigned char pending[4];
    int n_pending;
} bpe_stream;

#define BPE_STREAM_INIT {{0}, 0}

void bpe_stream_token(const bpe_tokenizer *t, bpe_stream *s, int32_t id, dq_buf *out);
/* End of output: an incomplete character left over becomes U+FFFD. */
void bpe_stream_finish(bpe_stream *s, dq_buf *out);

/* ---- chat templates ------------------------------------------------------ */

/* Same shape as generate/'s llm_message. */
typedef struct {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} chat_message;

typedef struct chat_template chat_template;

/* Error codes (dq_last_error() says more). */
enum {
    CHAT_ERR_UNKNOWN = -2,   /* the GGUF template is neither ChatML nor Llama 3 */
    CHAT_ERR_TEMPLATE = -3,  /* a template file or the vocabulary does not fit */
};

/* Recognises the model's tokenizer.chat_template (Jinja text; NULL when the
 * file has none) by robust markers: ChatML (Qwen2/2.5; Qwen3 with thinking
 * off) or Llama 3 (3.1+ with its dated system turn). Anything else is NULL
 * with *err = CHAT_ERR_UNKNOWN and an error that names the
 * `[llm] chat_template = FILE` option; markers whose control tokens the
 * vocabulary lacks give CHAT_ERR_TEMPLATE. */
chat_template *chat_template_detect(const bpe_tokenizer *t, const char *jinja, int *err);
/* Reads a template file (format in docs/chat-template.md). NULL with the error
 * set naming the file and line. */
chat_template *chat_template_load(const bpe_tokenizer *t, const char *path);
/* The same from text in memory; name stands for the file in messages. */
chat_template *chat_template_parse(const bpe_tokenizer *t, const char *text, size_t len,
                                   const char *name);
void chat_template_free(chat_template *ct); /* NULL-safe */

/* "chatml", "chatml-qwen3", "llama3", "llama3.1", or "file" (docs/chat-template.md) */
const char *chat_template_kind(const chat_template *ct);

/* Appends the conversation's ids to out: template tokens are the control
 * tokens, message content is plain text (bpe_encode). With
 * add_generation_prompt, ends with the header of the assistant's turn.
 * -1 with the error set for an unknown role. */
int chat_render(const chat_template *ct, const bpe_tokenizer *t, const chat_message *msgs, size_t n,
                bool add_generation_prompt, bpe_ids *out);

/* Ids that end the assistant's turn: the template's end-of-turn token, EOS
 * and EOT, each once. */
const int32_t *chat_stop_ids(const chat_template *ct, size_t *n);

#endif
