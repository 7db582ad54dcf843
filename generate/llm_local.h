/* llm_local.h - the in-process backend of generate/llm.h, and the GGUF chat
 * model it runs (model, tokenizer, chat template), which `docqa generate` and
 * `docqa model info` open the same way.
 */
#ifndef DQ_LLM_LOCAL_H
#define DQ_LLM_LOCAL_H

#include "embed/bpe.h"
#include "embed/lm.h"
#include "generate/llm.h"

/* A GGUF file ready to chat: the engine's model, the tokenizer from its
 * metadata and its chat template (or the template file given). */
typedef struct {
    lm_model *model;
    bpe_tokenizer *tok;
    chat_template *tmpl;
} llm_gguf;

/* Loads path; template_file, when not NULL, replaces the file's template.
 * -1 with one line naming the file and the reason; g is then empty. */
int llm_gguf_open(llm_gguf *g, const char *path, const char *template_file, int n_threads);
void llm_gguf_close(llm_gguf *g); /* NULL-safe, idempotent */

/* The prompt of a conversation as token ids (template, generation prompt). */
int llm_gguf_render(const llm_gguf *g, const llm_message *msgs, size_t n, bpe_ids *out);

typedef struct llm_local llm_local;

llm_local *llm_local_new(const llm_params *p);
void llm_local_free(llm_local *l); /* NULL-safe */
const char *llm_local_path(const llm_local *l);
llm_status llm_local_chat(llm_local *l, const llm_message *msgs, size_t n, const llm_request *req,
                          llm_token_cb cb, void *ctx, llm_reply *out);
int llm_local_count_tokens(llm_local *l, const char *text);
void llm_local_queue_state(llm_local *l, llm_queue_info *out);

#endif
