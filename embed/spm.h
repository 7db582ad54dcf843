/* spm.h - private to embed/: the SentencePiece tokenizer XLM-RoBERTa models
 * ship (sentencepiece.bpe.model), with the ids Hugging Face's
 * XLMRobertaTokenizer gives: fairseq's <s> 0, <pad> 1, </s> 2, <unk> 3, and
 * every other piece at its SentencePiece id + 1. A C face on libsentencepiece
 * (spm.cpp), which does the model's own normalisation and segmentation. */
#ifndef DQ_SPM_H
#define DQ_SPM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { SPM_CLS = 0, SPM_PAD = 1, SPM_SEP = 2, SPM_UNK = 3 };

typedef struct spm_tokenizer spm_tokenizer;

/* NULL with the error set when the file is missing or not a SentencePiece model. */
spm_tokenizer *spm_load(const char *model_path);
void spm_free(spm_tokenizer *t);
/* Highest id the tokenizer can produce, plus one. */
int spm_vocab_size(const spm_tokenizer *t);
/* Ids of text without special tokens; writes at most max_ids and returns the
 * full count (a larger count means truncated), -1 with the error set. */
int spm_tokenize(const spm_tokenizer *t, const char *text, int32_t *ids, int max_ids);

#ifdef __cplusplus
}
#endif

#endif
