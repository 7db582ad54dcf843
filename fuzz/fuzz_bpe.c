/* fuzz_bpe.c - libFuzzer harness: the byte-level BPE tokenizer and chat templates.
 *
 * The first byte picks what the rest is:
 *   0-3: text for the real Qwen (even) or Llama 3 (odd) vocabulary of
 *        tests/fixtures/bpe (loaded once): ids are inside the vocabulary and
 *        never control or user-defined tokens, decoding gives the text back
 *        (NFC'd for Qwen), streaming decode is valid UTF-8 and, for valid
 *        input, the same text;
 *   4:   a chat template file for the Llama 3 vocabulary: rejected with a
 *        message, or it renders a conversation into ids inside the vocabulary;
 *   5+:  a whole GGUF file whose tokenizer.ggml.* keys build a tokenizer,
 *        which then encodes and decodes a fixed text and detects its template.
 */
#include "common/common.h"
#include "embed/bpe.h"
#include "embed/bpe_impl.h"
#include "embed/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static bpe_tokenizer *real[2];
static gguf_file *real_files[2];

static bpe_tokenizer *real_tokenizer(int which)
{
    static const char *const names[2] = {"qwen3", "llama3"};
    if (real[which])
        return real[which];
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/bpe/%s-vocab.gguf.gz", DQ_SOURCE_DIR, names[which]);
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        fprintf(stderr, "fuzz_bpe: cannot open %s\n", path);
        abort();
    }
    dq_buf data = DQ_BUF_INIT;
    char chunk[1 << 16];
    int n;
    while ((n = gzread(gz, chunk, sizeof chunk)) > 0)
        dq_buf_append(&data, chunk, (size_t)n);
    gzclose(gz);
    real_files[which] = gguf_open_memory(data.data, data.len, path);
    dq_buf_free(&data);
    real[which] = real_files[which] ? bpe_from_gguf(real_files[which]) : NULL;
    if (!real[which]) {
        fprintf(stderr, "fuzz_bpe: %s\n", dq_last_error());
        abort();
    }
    return real[which];
}

static void check_ids(const bpe_tokenizer *t, const bpe_ids *ids, bool text_only)
{
    for (size_t i = 0; i < ids->n; i++) {
        bpe_token_type k = bpe_token_kind(t, ids->v[i]);
        if (ids->v[i] < 0 || (size_t)ids->v[i] >= bpe_n_tokens(t))
            abort();
        if (text_only && (k == BPE_TOKEN_CONTROL || k == BPE_TOKEN_USER_DEFINED))
            abort();
    }
}

static void fuzz_text(const bpe_tokenizer *t, const char *text, size_t n)
{
    bpe_ids ids = BPE_IDS_INIT;
    bpe_encode(t, text, n, &ids);
    check_ids(t, &ids, true);

    dq_buf want = DQ_BUF_INIT, back = DQ_BUF_INIT, streamed = DQ_BUF_INIT;
    if (!(strcmp(bpe_pre_name(t), "qwen2") == 0 && bpe_nfc(text, n, &want)))
        dq_buf_append(&want, text, n);
    if (ids.n > want.len)
        abort(); /* at least one byte per token */
    bpe_decode(t, ids.v, ids.n, false, &back);
    if (back.len != want.len || (back.len && memcmp(back.data, want.data, back.len) != 0))
        abort();

    bpe_stream st = BPE_STREAM_INIT;
    for (size_t i = 0; i < ids.n; i++) {
        bpe_stream_token(t, &st, ids.v[i], &streamed);
        if (st.n_pending > 3)
            abort();
    }
    bpe_stream_finish(&st, &streamed);
    if (!utf8_valid(streamed.data ? streamed.data : "", streamed.len))
        abort();
    if (utf8_valid(want.data ? want.data : "", want.len) &&
        (streamed.len != want.len || (want.len && memcmp(streamed.data, want.data, want.len) != 0)))
        abort();
    bpe_ids_free(&ids);
    dq_buf_free(&want);
    dq_buf_free(&back);
    dq_buf_free(&streamed);
}

static void render_some(const chat_template *ct, const bpe_tokenizer *t)
{
    chat_message msgs[] = {{"system", " sys "}, {"user", "q<|eot_id|>"}, {"assistant", "a"}, {"user", "再问"}};
    bpe_ids ids = BPE_IDS_INIT;
    if (chat_render(ct, t, msgs, 4, true, &ids) < 0)
        abort();
    check_ids(t, &ids, false);
    size_t n;
    const int32_t *stops = chat_stop_ids(ct, &n);
    for (size_t i = 0; i < n; i++)
        if (stops[i] < 0 || (size_t)stops[i] >= bpe_n_tokens(t))
            abort();
    bpe_ids_free(&ids);
}

static void fuzz_template(const char *text, size_t n)
{
    const bpe_tokenizer *t = real_tokenizer(1);
    chat_template *ct = chat_template_parse(t, text, n, "fuzz.tmpl");
    if (!ct) {
        if (!*dq_last_error())
            abort();
        return;
    }
    render_some(ct, t);
    chat_template_free(ct);
}

static void fuzz_gguf_vocab(const unsigned char *data, size_t n)
{
    gguf_file *f = gguf_open_memory(data, n, "fuzz.gguf");
    if (!f)
        return;
    bpe_tokenizer *t = bpe_from_gguf(f);
    if (t) {
        static const char text[] = "Hello, 世界! don't  \n\n 12345 \xff";
        fuzz_text(t, text, sizeof text - 1);
        int err;
        const char *jinja = gguf_has_key(f, "tokenizer.chat_template")
                                ? gguf_get_str(f, "tokenizer.chat_template", NULL) : NULL;
        chat_template *ct = chat_template_detect(t, jinja, &err);
        if (ct)
            render_some(ct, t);
        chat_template_free(ct);
        bpe_free(t);
    } else if (!*dq_last_error()) {
        abort();
    }
    gguf_close(f);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    dq_set_error("%s", "");
    if (data[0] < 4)
        fuzz_text(real_tokenizer(data[0] & 1), (const char *)data + 1, size - 1);
    else if (data[0] == 4)
        fuzz_template((const char *)data + 1, size - 1);
    else
        fuzz_gguf_vocab(data + 1, size - 1);
    return 0;
}
