/* spm.cpp - SentencePiece for XLM-RoBERTa models, behind the C interface in
 * spm.h. libsentencepiece applies the model's normaliser (NFKC-based, stored
 * in the .model file) and its unigram segmentation; this file only maps ids
 * the way fairseq and Hugging Face's XLMRobertaTokenizer do. No exception
 * leaves it: errors become dq_set_error. */
#include "embed/spm.h"

#include <sentencepiece_processor.h>

#include <new>
#include <string>
#include <vector>

extern "C" {
#include "common/common.h"
}

struct spm_tokenizer {
    sentencepiece::SentencePieceProcessor sp;
};

extern "C" spm_tokenizer *spm_load(const char *model_path)
{
    spm_tokenizer *t = new (std::nothrow) spm_tokenizer;
    if (!t) {
        dq_set_error("out of memory loading '%s'", model_path);
        return nullptr;
    }
    try {
        auto st = t->sp.Load(model_path);
        if (!st.ok()) {
            dq_set_error("'%s': not a SentencePiece model (%s)", model_path,
                         st.ToString().c_str());
            delete t;
            return nullptr;
        }
    } catch (const std::exception &e) {
        dq_set_error("'%s': %s", model_path, e.what());
        delete t;
        return nullptr;
    }
    return t;
}

extern "C" void spm_free(spm_tokenizer *t)
{
    delete t;
}

extern "C" int spm_vocab_size(const spm_tokenizer *t)
{
    return t->sp.GetPieceSize() + 1;
}

extern "C" int spm_tokenize(const spm_tokenizer *t, const char *text, int32_t *ids, int max_ids)
{
    std::vector<int> pieces;
    try {
        auto st = t->sp.Encode(text, &pieces);
        if (!st.ok()) {
            dq_set_error("cannot tokenize: %s", st.ToString().c_str());
            return -1;
        }
    } catch (const std::exception &e) {
        dq_set_error("cannot tokenize: %s", e.what());
        return -1;
    }
    int n = (int)pieces.size();
    for (int i = 0; i < n && i < max_ids; i++) {
        int id = pieces[(size_t)i];
        /* SentencePiece's own unknown piece is id 0; fairseq puts <unk> at 3 */
        ids[i] = id == t->sp.unk_id() ? SPM_UNK : id + 1;
    }
    return n;
}
