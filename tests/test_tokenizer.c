/* test_tokenizer.c - WordPiece tokenizer against Hugging Face's own outputs
 * (tests/fixtures/tokenizer, from llama.cpp's tokenizer tests) and hand-made
 * vocabularies for the rules those cases do not reach. */
#include <criterion/criterion.h>

#include "common/common.h"
#include "embed/embed.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE DQ_SOURCE_DIR "/tests/fixtures/tokenizer"

/* ---- the 46 Hugging Face cases ------------------------------------------ */

static wp_tokenizer *load_bge(void)
{
    wp_options opt = wp_default_options();
    wp_tokenizer *tok = wp_load(FIXTURE "/vocab.txt", &opt);
    cr_assert_not_null(tok, "%s", dq_last_error());
    return tok;
}

static void format_ids(char *out, size_t cap, const int32_t *ids, int n)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < n && at + 16 < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%d", i ? " " : "", ids[i]);
}

Test(tokenizer, hf_fixture_cases)
{
    wp_tokenizer *tok = load_bge();
    cr_assert_eq(wp_vocab_size(tok), 30522);

    dq_buf file = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(FIXTURE "/cases.jsonl", &file), 0, "%s", dq_last_error());
    int n_cases = 0, n_unk_cases = 0;
    char *line = file.data;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        cJSON *c = cJSON_Parse(line);
        cr_assert_not_null(c, "bad fixture line %d", n_cases + 1);
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        cJSON *want = cJSON_GetObjectItem(c, "ids");
        int n_want = cJSON_GetArraySize(want);
        int32_t want_ids[512], got[512];
        for (int i = 0; i < n_want; i++) {
            want_ids[i] = cJSON_GetArrayItem(want, i)->valueint;
            if (want_ids[i] == 100 && i == 0)
                n_unk_cases++;
        }
        int n = wp_tokenize(tok, text, got, 512);
        char a[4096], b[4096];
        format_ids(a, sizeof a, got, n);
        format_ids(b, sizeof b, want_ids, n_want);
        cr_expect(n == n_want && memcmp(got, want_ids, (size_t)n * sizeof *got) == 0,
                  "case %d \"%s\":\n got  %s\n want %s", n_cases + 1, text, a, b);

        /* The same text through wp_encode is [CLS] ids [SEP]. */
        int32_t enc[514];
        int m = wp_encode(tok, text, enc, 514);
        cr_expect_eq(m, n_want + 2);
        cr_expect_eq(enc[0], 101);
        cr_expect_eq(enc[m - 1], 102);
        cr_expect(memcmp(enc + 1, want_ids, (size_t)n_want * sizeof *enc) == 0);
        cJSON_Delete(c);
        n_cases++;
        line = nl ? nl + 1 : NULL;
    }
    cr_assert_eq(n_cases, 46);
    cr_assert_gt(n_unk_cases, 0);
    dq_buf_free(&file);
    wp_free(tok);
}

Test(tokenizer, bge_vocab_lookup)
{
    wp_tokenizer *tok = load_bge();
    cr_assert_eq(wp_token_id(tok, "[PAD]"), 0);
    cr_assert_eq(wp_token_id(tok, "[UNK]"), 100);
    cr_assert_eq(wp_token_id(tok, "[CLS]"), 101);
    cr_assert_eq(wp_token_id(tok, "[SEP]"), 102);
    cr_assert_eq(wp_token_id(tok, "hello"), 7592);
    cr_assert_str_eq(wp_token_text(tok, 7592), "hello");
    cr_assert_eq(wp_token_id(tok, "no-such-token"), -1);
    cr_assert_null(wp_token_text(tok, 30522));
    cr_assert_null(wp_token_text(tok, -1));
    /* "##s" and "s" are different tokens */
    int s = wp_token_id(tok, "s"), cs = wp_token_id(tok, "##s");
    cr_assert(s >= 0 && cs >= 0 && s != cs);
    cr_assert_str_eq(wp_token_text(tok, cs), "##s");
    wp_free(tok);
}

/* ---- a small Chinese vocabulary ------------------------------------------ */

static const char *small_vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",         /* 0-4 */
    "合", "同", "违", "约", "金",                          /* 5-9 */
    "的", "play", "##ing", "##s", ",",                    /* 10-14 */
    "，", "Hello", "hello", "café", "cafe",               /* 15-19 */
    "a", "##a", "ᄒ", "##ᅡ", "##ᆫ",                       /* 20-24 */
    "豈", "한",                                             /* 25-26 */
};
enum { PAD, UNK, CLS, SEP, MASK, HE, TONG, WEI, YUE, JIN, DE, PLAY, ING, S, COMMA, FW_COMMA,
       HELLO_UP, HELLO, CAFE_ACC, CAFE, A, CONT_A, JAMO_H, JAMO_A, JAMO_N, KAI, HAN };

static char vocab_dir[64];
static char vocab_path[128];

static void write_vocab(void)
{
    strcpy(vocab_dir, "/tmp/dq_tok_XXXXXX");
    cr_assert_not_null(mkdtemp(vocab_dir));
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", vocab_dir);
    FILE *f = fopen(vocab_path, "w");
    cr_assert_not_null(f);
    for (size_t i = 0; i < sizeof small_vocab / sizeof *small_vocab; i++)
        fprintf(f, "%s\n", small_vocab[i]);
    fclose(f);
}

static void remove_vocab(void)
{
    unlink(vocab_path);
    rmdir(vocab_dir);
}

static wp_tokenizer *load_small(bool lower, bool strip)
{
    wp_options opt = wp_default_options();
    opt.lower_case = lower;
    opt.strip_accents = strip;
    wp_tokenizer *tok = wp_load(vocab_path, &opt);
    cr_assert_not_null(tok, "%s", dq_last_error());
    return tok;
}

static void expect_tokens(const wp_tokenizer *tok, const char *text, const int32_t *want, int n_want)
{
    int32_t got[256];
    int n = wp_tokenize(tok, text, got, 256);
    char a[2048], b[2048];
    format_ids(a, sizeof a, got, n);
    format_ids(b, sizeof b, want, n_want);
    cr_expect(n == n_want && (n == 0 || memcmp(got, want, (size_t)n * sizeof *got) == 0),
              "\"%s\":\n got  %s\n want %s", text, a, b);
}

#define EXPECT(tok, text, ...)                                                                     \
    do {                                                                                           \
        const int32_t want_[] = {__VA_ARGS__};                                                     \
        expect_tokens(tok, text, want_, (int)(sizeof want_ / sizeof *want_));                      \
    } while (0)

/* an empty id list, not NULL: at -O3 GCC sees memcmp() reached with NULL */
#define EXPECT_NONE(tok, text) expect_tokens(tok, text, (const int32_t[1]){0}, 0)

TestSuite(small_vocab, .init = write_vocab, .fini = remove_vocab);

Test(small_vocab, chinese_one_token_per_char)
{
    wp_tokenizer *tok = load_small(true, true);
    EXPECT(tok, "合同违约金", HE, TONG, WEI, YUE, JIN);
    EXPECT(tok, "合同违约金的罚款", HE, TONG, WEI, YUE, JIN, DE, UNK, UNK);
    EXPECT(tok, "playing合同plays", PLAY, ING, HE, TONG, PLAY, S);
    EXPECT(tok, "合同，违约", HE, TONG, FW_COMMA, WEI, YUE);
    /* A compatibility ideograph is split like any other and NFD maps it
     * to the unified one (U+F900 -> U+8C48). */
    EXPECT(tok, "\xEF\xA4\x80", KAI);
    wp_free(tok);
}

Test(small_vocab, wordpiece_greedy_and_unknown_words)
{
    wp_tokenizer *tok = load_small(true, true);
    EXPECT(tok, "playing, plays", PLAY, ING, COMMA, PLAY, S);
    /* "play" matches but "##x" does not: the whole word is [UNK] */
    EXPECT(tok, "playx plays", UNK, PLAY, S);
    EXPECT(tok, "aaa", A, CONT_A, CONT_A);
    wp_free(tok);
}

Test(small_vocab, word_length_limit)
{
    wp_tokenizer *tok = load_small(true, true);
    char word[160];
    memset(word, 'a', 101);
    word[101] = '\0';
    EXPECT(tok, word, UNK);
    int32_t ids[128];
    word[100] = '\0'; /* exactly 100 characters is still a word */
    cr_assert_eq(wp_tokenize(tok, word, ids, 128), 100);
    cr_assert_eq(ids[0], A);
    cr_assert_eq(ids[99], CONT_A);
    /* the limit counts characters, not bytes, and applies per piece:
     * punctuation cuts a long run into short words */
    char text[400] = "";
    for (int i = 0; i < 60; i++)
        strcat(text, "a,");
    cr_assert_eq(wp_tokenize(tok, text, ids, 128), 120);
    wp_free(tok);
}

Test(small_vocab, control_characters_removed)
{
    wp_tokenizer *tok = load_small(true, true);
    EXPECT(tok, "合\x01同\x7f违\x1b约", HE, TONG, WEI, YUE);
    /* ZERO WIDTH SPACE (Cf) and U+FFFD vanish without splitting the word */
    EXPECT(tok, "pl\xE2\x80\x8B" "ay\xEF\xBF\xBDing", PLAY, ING);
    /* \v and \f are controls, not spaces: they are removed, joining words */
    EXPECT(tok, "play\vs", PLAY, S);
    /* NBSP (Zs), U+3000 and U+2028 separate words */
    EXPECT(tok, "play\xC2\xA0play\xE3\x80\x80play\xE2\x80\xA8play", PLAY, PLAY, PLAY, PLAY);
    EXPECT(tok, "play\r\nplay\tplay", PLAY, PLAY, PLAY);
    wp_free(tok);
}

Test(small_vocab, empty_and_whitespace)
{
    wp_tokenizer *tok = load_small(true, true);
    EXPECT_NONE(tok, "");
    EXPECT_NONE(tok, " \t\r\n  \xE3\x80\x80 ");
    EXPECT_NONE(tok, "\x01\x02\xE2\x80\x8B");
    int32_t ids[4];
    cr_assert_eq(wp_encode(tok, "  ", ids, 4), 2);
    cr_assert_eq(ids[0], CLS);
    cr_assert_eq(ids[1], SEP);
    wp_free(tok);
}

Test(small_vocab, invalid_utf8_does_not_crash)
{
    wp_tokenizer *tok = load_small(true, true);
    EXPECT(tok, "合\xff\xfe同", HE, TONG);
    EXPECT_NONE(tok, "\xe5\x90");
    EXPECT(tok, "play\xc3", PLAY);
    EXPECT(tok, "\xed\xa0\x80play", PLAY); /* an encoded surrogate */
    EXPECT(tok, "\xc0\xafplay", PLAY);     /* an overlong '/' is not punctuation */
    wp_free(tok);
}

Test(small_vocab, case_and_accents)
{
    wp_tokenizer *tok = load_small(true, true);
    EXPECT(tok, "Hello CAFÉ café", HELLO, CAFE, CAFE);
    EXPECT(tok, "cafe\xCC\x81", CAFE); /* combining acute */
    wp_free(tok);

    tok = load_small(false, false);
    EXPECT(tok, "Hello hello café", HELLO_UP, HELLO, CAFE_ACC);
    EXPECT(tok, "CAFÉ", UNK);
    wp_free(tok);

    /* lower-case but keep accents */
    tok = load_small(true, false);
    EXPECT(tok, "CAFÉ Hello", CAFE_ACC, HELLO);
    wp_free(tok);
}

Test(small_vocab, hangul_decomposes_when_stripping_accents)
{
    /* NFD splits a Hangul syllable into jamo (class Lo, kept), as HF's
     * uncased models do. */
    wp_tokenizer *tok = load_small(true, true);
    EXPECT(tok, "한", JAMO_H, JAMO_A, JAMO_N);
    wp_free(tok);
    tok = load_small(true, false);
    EXPECT(tok, "한", HAN);
    wp_free(tok);
}

Test(small_vocab, encode_wraps_and_truncates)
{
    wp_tokenizer *tok = load_small(true, true);
    int32_t ids[16];
    int n = wp_encode(tok, "合同违约金", ids, 16);
    cr_assert_eq(n, 7);
    const int32_t want[] = {CLS, HE, TONG, WEI, YUE, JIN, SEP};
    cr_assert_arr_eq(ids, want, sizeof want);

    for (int i = 0; i < 16; i++)
        ids[i] = -7;
    n = wp_encode(tok, "合同违约金", ids, 4);
    cr_assert_eq(n, 4);
    const int32_t want4[] = {CLS, HE, TONG, SEP};
    cr_assert_arr_eq(ids, want4, sizeof want4);
    cr_assert_eq(ids[4], -7);

    n = wp_encode(tok, "合同违约金", ids, 2);
    cr_assert_eq(n, 2);
    cr_assert_eq(ids[0], CLS);
    cr_assert_eq(ids[1], SEP);
    cr_assert_lt(wp_encode(tok, "合同", ids, 1), 0);

    /* wp_tokenize reports the full count and writes only max_ids */
    for (int i = 0; i < 16; i++)
        ids[i] = -7;
    cr_assert_eq(wp_tokenize(tok, "合同违约金", ids, 2), 5);
    cr_assert_eq(ids[0], HE);
    cr_assert_eq(ids[1], TONG);
    cr_assert_eq(ids[2], -7);
    cr_assert_eq(wp_tokenize(tok, "合同违约金", NULL, 0), 5);
    wp_free(tok);
}

Test(small_vocab, load_errors)
{
    wp_options opt = wp_default_options();
    cr_assert_null(wp_load("/nonexistent/vocab.txt", &opt));
    cr_assert(strstr(dq_last_error(), "/nonexistent/vocab.txt"), "%s", dq_last_error());

    char path[160];
    snprintf(path, sizeof path, "%s/nounk.txt", vocab_dir);
    FILE *f = fopen(path, "w");
    fputs("[PAD]\r\n[CLS]\r\n[SEP]\r\nhello\r\n", f);
    fclose(f);
    cr_assert_null(wp_load(path, &opt));
    cr_assert(strstr(dq_last_error(), "[UNK]"), "%s", dq_last_error());

    /* CRLF line ends are not part of the tokens */
    f = fopen(path, "w");
    fputs("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello", f);
    fclose(f);
    wp_tokenizer *tok = wp_load(path, &opt);
    cr_assert_not_null(tok, "%s", dq_last_error());
    cr_assert_eq(wp_vocab_size(tok), 5);
    cr_assert_eq(wp_token_id(tok, "hello"), 4);
    cr_assert_eq(wp_token_id(tok, "[SEP]"), 3);
    wp_free(tok);
    unlink(path);
    wp_free(NULL);
}

/* A NUL byte inside vocab.txt used to end the vocabulary there (the lines
 * were cut with strlen), so every later token vanished and the ids after it
 * were lost; now it is just a byte of its line. Empty lines keep their ids,
 * as in Hugging Face's load_vocab. */
Test(small_vocab, vocab_with_nul_and_empty_lines)
{
    wp_options opt = wp_default_options();
    char path[160];
    snprintf(path, sizeof path, "%s/nul.txt", vocab_dir);
    static const char vocab[] = "[PAD]\n[UNK]\nab\0cd\n\n[CLS]\r\n[SEP]\nhello";
    FILE *f = fopen(path, "wb");
    fwrite(vocab, 1, sizeof vocab - 1, f);
    fclose(f);
    wp_tokenizer *tok = wp_load(path, &opt);
    cr_assert_not_null(tok, "%s", dq_last_error());
    cr_assert_eq(wp_vocab_size(tok), 7);
    cr_assert_eq(wp_token_id(tok, "[CLS]"), 4);
    cr_assert_eq(wp_token_id(tok, "[SEP]"), 5);
    cr_assert_eq(wp_token_id(tok, "hello"), 6);
    cr_assert_eq(wp_token_id(tok, "ab"), -1); /* the line is "ab\0cd", not "ab" */
    int32_t ids[8];
    cr_assert_eq(wp_tokenize(tok, "hello ab", ids, 8), 2);
    cr_assert_eq(ids[0], 6);
    cr_assert_eq(ids[1], 1);
    wp_free(tok);
    unlink(path);
}

/* Long hostile texts stay linear and give the counts HF's rules give: one
 * overlong word is one [UNK], every ideograph is its own word, controls
 * vanish. */
Test(small_vocab, long_texts)
{
    wp_tokenizer *tok = load_small(true, true);
    size_t n = (size_t)1 << 20;
    char *s = dq_malloc(n * 3 + 1);
    memset(s, 'a', n);
    s[n] = '\0';
    cr_assert_eq(wp_tokenize(tok, s, NULL, 0), 1);
    for (size_t i = 0; i < 100000; i++)
        memcpy(s + 3 * i, "\xe5\x90\x88", 3); /* 合 */
    s[300000] = '\0';
    cr_assert_eq(wp_tokenize(tok, s, NULL, 0), 100000);
    int32_t ids[16];
    cr_assert_eq(wp_encode(tok, s, ids, 16), 16);
    cr_assert_eq(ids[1], HE);
    cr_assert_eq(ids[15], SEP);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)(1 + i % 8); /* \x01..\x08: all controls */
    s[n] = '\0';
    cr_assert_eq(wp_tokenize(tok, s, NULL, 0), 0);
    free(s);
    wp_free(tok);
}
