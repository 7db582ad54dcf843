/* lmgen.h - the tiny random-weight chat model tests run docqa's in-process
 * LLM on: Qwen's real vocabulary and chat template (from
 * tests/fixtures/bpe/qwen3-vocab.gguf.gz) over two small qwen2 layers,
 * written by scripts/lm_reference.py chat. */
#ifndef DQ_TEST_LMGEN_H
#define DQ_TEST_LMGEN_H

/* The model's path, made once per build folder (renamed into place whole,
 * so tests running side by side never see half a file); NULL when the
 * script failed. */
const char *lmgen_chat_model(void);

#endif
