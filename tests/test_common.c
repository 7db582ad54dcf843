/* test_common.c - UTF-8, terms, sentence pieces, SHA-256 and JSON strings of common/. */
#include "common/common.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- UTF-8 -------------------------------------------------------------- */

Test(utf8, decodes_valid_sequences)
{
    uint32_t cp = 0;
    cr_assert_eq(utf8_decode("A", 1, &cp), 1);
    cr_assert_eq(cp, 'A');
    cr_assert_eq(utf8_decode("\xC3\xA9", 2, &cp), 2);
    cr_assert_eq(cp, 0xE9);
    cr_assert_eq(utf8_decode("\xE4\xB8\xAD", 3, &cp), 3);
    cr_assert_eq(cp, 0x4E2D);
    cr_assert_eq(utf8_decode("\xF0\x9F\x98\x80", 4, &cp), 4);
    cr_assert_eq(cp, 0x1F600);
    cr_assert_eq(utf8_decode("\xF4\x8F\xBF\xBF", 4, &cp), 4);
    cr_assert_eq(cp, 0x10FFFF);
}

Test(utf8, rejects_invalid_overlong_surrogate_truncated)
{
    uint32_t cp = 0;
    cr_assert_eq(utf8_decode("\x80", 1, &cp), -1, "lone continuation byte");
    cr_assert_eq(utf8_decode("\xFF", 1, &cp), -1, "0xFF is never UTF-8");
    cr_assert_eq(utf8_decode("\xF8\x88\x80\x80\x80", 5, &cp), -1, "5-byte form");
    cr_assert_eq(utf8_decode("\xC0\xAF", 2, &cp), -1, "overlong '/'");
    cr_assert_eq(utf8_decode("\xC1\xBF", 2, &cp), -1, "overlong 2-byte");
    cr_assert_eq(utf8_decode("\xE0\x80\xAF", 3, &cp), -1, "overlong 3-byte");
    cr_assert_eq(utf8_decode("\xF0\x80\x80\xAF", 4, &cp), -1, "overlong 4-byte");
    cr_assert_eq(utf8_decode("\xED\xA0\x80", 3, &cp), -1, "high surrogate");
    cr_assert_eq(utf8_decode("\xED\xBF\xBF", 3, &cp), -1, "low surrogate");
    cr_assert_eq(utf8_decode("\xF4\x90\x80\x80", 4, &cp), -1, "past U+10FFFF");
    cr_assert_eq(utf8_decode("\xE4\xB8", 2, &cp), -1, "truncated 3-byte");
    cr_assert_eq(utf8_decode("\xE4\xB8\xAD", 2, &cp), -1, "n cuts the sequence");
    cr_assert_eq(utf8_decode("\xE4\x41\xAD", 3, &cp), -1, "bad continuation");
    cr_assert_eq(utf8_decode("", 0, &cp), -1, "empty input");
}

Test(utf8, valid_and_sanitize)
{
    cr_assert(utf8_valid("", 0));
    cr_assert(utf8_valid("abc 中文 é", strlen("abc 中文 é")));
    cr_assert_not(utf8_valid("ab\xE4\xB8", 4));
    cr_assert_not(utf8_valid("\xED\xA0\x80", 3));
    cr_assert_not(utf8_valid("a\0\xFF", 3));

    char *s = utf8_sanitize("a\xFF"
                            "b\xE4\xB8",
                            5);
    cr_assert_str_eq(s, "a\xEF\xBF\xBD"
                        "b\xEF\xBF\xBD\xEF\xBF\xBD");
    cr_assert(utf8_valid(s, strlen(s)));
    free(s);
    s = utf8_sanitize("中文", strlen("中文"));
    cr_assert_str_eq(s, "中文");
    free(s);
    s = utf8_sanitize("", 0);
    cr_assert_str_eq(s, "");
    free(s);
    cr_assert_eq(utf8_length("a中é", strlen("a中é")), 3);
}

Test(utf8, length_counts_code_points_at_any_length_and_offset)
{
    /* The eight-byte steps and the tail agree with a byte-by-byte count,
     * whatever the alignment and wherever a sequence crosses a step. */
    const char *s = "ab中é𝄞xyz。 defghij中文字符 éèê end";
    size_t n = strlen(s);
    for (size_t from = 0; from < n; from++) {
        for (size_t to = from; to <= n; to++) {
            size_t want = 0;
            for (size_t i = from; i < to; i++)
                want += ((unsigned char)s[i] & 0xC0) != 0x80;
            cr_assert_eq(utf8_length(s + from, to - from), want, "[%zu, %zu)", from, to);
        }
    }
    cr_assert_eq(utf8_length(s, n), 29);
}

Test(utf8, width_counts_cjk_wide)
{
    /* a, 中, 。 wide, é narrow: columns then a pixel estimate */
    cr_assert_eq(utf8_width("a中。é", 1, 2), 6);
    cr_assert_eq(utf8_width("a中。é", 7, 12), 38);
    cr_assert_eq(utf8_width("", 1, 2), 0);
}

Test(utf8, encode_round_trip)
{
    const uint32_t cps[] = {0x24, 0xA2, 0x20AC, 0x10348, 0x4E2D};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        char buf[4];
        uint32_t back = 0;
        int k = utf8_encode(cps[i], buf);
        cr_assert_eq(utf8_decode(buf, (size_t)k, &back), k);
        cr_assert_eq(back, cps[i]);
    }
}

Test(utf8, fold_fullwidth_and_classes)
{
    cr_assert_eq(uc_fold_fullwidth(0xFF21), 'A');
    cr_assert_eq(uc_fold_fullwidth(0xFF41), 'a');
    cr_assert_eq(uc_fold_fullwidth(0xFF11), '1');
    cr_assert_eq(uc_fold_fullwidth(0xFF01), '!');
    cr_assert_eq(uc_fold_fullwidth(0xFF5E), '~');
    cr_assert_eq(uc_fold_fullwidth(0x3000), ' ');
    cr_assert_eq(uc_fold_fullwidth(0xFF5F), 0xFF5F);
    cr_assert_eq(uc_fold_fullwidth(0x4E2D), 0x4E2D);
    cr_assert_eq(uc_fold_fullwidth('a'), 'a');
    cr_assert(uc_is_cjk(0x4E2D));
    cr_assert(uc_is_cjk(0x3042));
    cr_assert(uc_is_cjk(0xAC00));
    cr_assert_not(uc_is_cjk('a'));
    cr_assert_not(uc_is_cjk(0x3002));
    cr_assert(uc_is_cjk_punct(0x3002));
    cr_assert(uc_is_cjk_punct(0xFF0C));
    cr_assert_not(uc_is_cjk_punct(0x4E2D));
}

/* ---- terms -------------------------------------------------------------- */

static int collect_term(void *ctx, const dq_term *t)
{
    dq_buf *b = ctx;
    if (b->len)
        dq_buf_putc(b, ' ');
    dq_buf_append(b, t->text, (size_t)t->len);
    dq_buf_printf(b, "@%d-%d%s%s", t->start, t->end, t->colocated ? "c" : "", t->cjk ? "j" : "");
    return 0;
}

static char *terms_of(const char *s, int flags)
{
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(text_terms(s, strlen(s), flags, collect_term, &b), 0);
    return dq_buf_take(&b);
}

Test(terms, unigrams_and_bigrams)
{
    char *t = terms_of("合同的违约金是3.5% Hello WORLD", TERMS_UNIGRAMS | TERMS_BIGRAMS);
    cr_assert_str_eq(t, "合@0-3j 合同@0-6cj 同@3-6j 同的@3-9cj 的@6-9j 的违@6-12cj "
                        "违@9-12j 违约@9-15cj 约@12-15j 约金@12-18cj 金@15-18j 金是@15-21cj "
                        "是@18-21j 3.5@21-24 hello@26-31 world@32-37");
    free(t);
}

Test(terms, bigrams_only)
{
    char *t = terms_of("合同的违约金是3.5% Hello WORLD", TERMS_BIGRAMS);
    cr_assert_str_eq(t, "合同@0-6j 同的@3-9j 的违@6-12j 违约@9-15j 约金@12-18j 金是@15-21j "
                        "3.5@21-24 hello@26-31 world@32-37");
    free(t);
    /* A lone CJK character still gets a term without unigrams. */
    t = terms_of("a 中 b", TERMS_BIGRAMS);
    cr_assert_str_eq(t, "a@0-1 中@2-5j b@6-7");
    free(t);
}

Test(terms, numbers_fullwidth_and_stop)
{
    char *t = terms_of("１,000 ＡＢＣ x.y", TERMS_UNIGRAMS);
    cr_assert_str_eq(t, "1,000@0-7 abc@8-17 x@18-19 y@20-21");
    free(t);
}

/* ---- sentence pieces ---------------------------------------------------- */

static int collect_piece(void *ctx, size_t start, size_t end)
{
    void **c = ctx;
    dq_buf *b = c[0];
    const char *s = c[1];
    dq_buf_putc(b, '[');
    dq_buf_append(b, s + start, end - start);
    dq_buf_putc(b, ']');
    return 0;
}

static char *pieces_of(const char *s, int kind)
{
    dq_buf b = DQ_BUF_INIT;
    void *ctx[2] = {&b, (void *)s};
    cr_assert_eq(text_pieces(s, strlen(s), kind, collect_piece, ctx), 0);
    return dq_buf_take(&b);
}

Test(pieces, chinese_sentences)
{
    char *p = pieces_of("第一句。第二句！“引号里。”第三句？？还有；结尾", BOUNDARY_SENTENCE);
    cr_assert_str_eq(p, "[第一句。][第二句！][“引号里。”][第三句？？][还有；][结尾]");
    free(p);
    p = pieces_of("等等……然后」好的\n下一行", BOUNDARY_SENTENCE);
    cr_assert_str_eq(p, "[等等……][然后」好的\n][下一行]");
    free(p);
}

Test(pieces, english_abbreviations_and_decimals)
{
    char *p = pieces_of("Dr. Smith paid $3.50 today. He left, e.g. at noon. See Fig. 2 etc. "
                        "and J. Smith's note! Was it 'fine?' Yes.\nNext line",
                        BOUNDARY_SENTENCE);
    cr_assert_str_eq(p, "[Dr. Smith paid $3.50 today. ][He left, e.g. at noon. ]"
                        "[See Fig. 2 etc. and J. Smith's note! ][Was it 'fine?' ][Yes.\n]"
                        "[Next line]");
    free(p);
    p = pieces_of("Apples, pears etc. Then more. The U.S. economy grew 2.5 percent. "
                  "He said \"stop.\" Then No. 5 won. I said no. Fine",
                  BOUNDARY_SENTENCE);
    cr_assert_str_eq(p, "[Apples, pears etc. ][Then more. ][The U.S. economy grew 2.5 percent. ]"
                        "[He said \"stop.\" ][Then No. 5 won. ][I said no. ][Fine]");
    free(p);
}

Test(pieces, clauses)
{
    char *p =
        pieces_of("甲方，乙方、丙方：同意。Yes, sir; ok: done 1,000 at 3:30", BOUNDARY_CLAUSE);
    cr_assert_str_eq(p, "[甲方，][乙方、][丙方：][同意。][Yes, ][sir; ][ok: ][done 1,000 at 3:30]");
    free(p);
    /* Sentence mode ignores clause marks. */
    p = pieces_of("甲方，乙方。Yes, sir", BOUNDARY_SENTENCE);
    cr_assert_str_eq(p, "[甲方，乙方。][Yes, sir]");
    free(p);
}

static int concat_piece(void *ctx, size_t start, size_t end)
{
    void **c = ctx;
    dq_buf *b = c[0];
    const char *s = c[1];
    size_t *expect = c[2];
    cr_assert_eq(start, *expect, "pieces must be contiguous");
    cr_assert_gt(end, start);
    *expect = end;
    dq_buf_append(b, s + start, end - start);
    return 0;
}

static int stop_at_second(void *ctx, size_t start, size_t end)
{
    (void)start, (void)end;
    int *count = ctx;
    return ++*count == 2 ? 42 : 0;
}

Test(pieces, cover_input_exactly_and_stop)
{
    const char *inputs[] = {"",       "   ",       "A. B. C.",
                            "。。。", "x\n\n\ny",  "中\xE4\xB8。bad\xFF. ok",
                            "e.g.",   "...and. So"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        for (int kind = BOUNDARY_SENTENCE; kind <= BOUNDARY_CLAUSE; kind++) {
            dq_buf b = DQ_BUF_INIT;
            size_t expect = 0;
            void *ctx[3] = {&b, (void *)inputs[i], &expect};
            cr_assert_eq(text_pieces(inputs[i], strlen(inputs[i]), kind, concat_piece, ctx), 0);
            cr_assert_eq(expect, strlen(inputs[i]));
            cr_assert_str_eq(b.data ? b.data : "", inputs[i]);
            dq_buf_free(&b);
        }
    }
    int count = 0;
    cr_assert_eq(text_pieces("一。二。三。", strlen("一。二。三。"), BOUNDARY_SENTENCE,
                             stop_at_second, &count),
                 42);
    cr_assert_eq(count, 2);
}

/* Regression: each '.' of a run glued to the next word rescanned the rest of
 * the run, so a line of 300,000 dot leaders took minutes (search and ask
 * split every hit into sentences). The run is still no boundary, and the
 * same run before a space still is one. */
Test(pieces, long_dot_runs_linear, .timeout = 20)
{
    size_t dots = 300000;
    dq_buf in = DQ_BUF_INIT;
    dq_buf_puts(&in, "目录");
    for (size_t i = 0; i < dots; i++)
        dq_buf_putc(&in, '.');
    dq_buf_puts(&in, "x, end");
    double t0 = dq_now();
    for (int kind = BOUNDARY_SENTENCE; kind <= BOUNDARY_CLAUSE; kind++) {
        dq_buf b = DQ_BUF_INIT;
        size_t expect = 0;
        void *ctx[3] = {&b, in.data, &expect};
        cr_assert_eq(text_pieces(in.data, in.len, kind, concat_piece, ctx), 0);
        cr_assert_eq(expect, in.len);
        dq_buf_free(&b);
    }
    cr_expect_lt(dq_now() - t0, 5.0, "took %.1f s", dq_now() - t0);
    char *p = pieces_of("See ....x and... Next. a.)b", BOUNDARY_SENTENCE);
    cr_assert_str_eq(p, "[See ....x and... ][Next. ][a.)b]");
    free(p);
    dq_buf_free(&in);
}

/* ---- SHA-256 ------------------------------------------------------------ */

static void sha_hex(const void *data, size_t n, char out[65])
{
    dq_sha256 s;
    uint8_t d[32];
    dq_sha256_init(&s);
    dq_sha256_update(&s, data, n);
    dq_sha256_final(&s, d);
    dq_hex(d, 32, out);
}

Test(sha256, known_vectors)
{
    char hex[65];
    sha_hex("", 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex(two, strlen(two), hex);
    cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, million_a_in_odd_pieces)
{
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    char hex[65];
    sha_hex(a, 1000000, hex);
    cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* Same digest when fed in uneven pieces that straddle blocks. */
    dq_sha256 s;
    uint8_t d[32];
    dq_sha256_init(&s);
    size_t done = 0, step = 1;
    while (done < 1000000) {
        size_t k = step < 1000000 - done ? step : 1000000 - done;
        dq_sha256_update(&s, a + done, k);
        done += k;
        step = step * 3 % 997 + 1;
    }
    dq_sha256_final(&s, d);
    dq_hex(d, 32, hex);
    cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* The portable compression function and the CPU's (the SHA extensions where
 * it has them) give the same digests: lengths 0..300 straddle every padding
 * case, and a long random input runs many blocks through each. */
Test(sha256, portable_and_cpu_paths_agree)
{
    size_t n_max = 100003;
    unsigned char *data = malloc(n_max);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n_max; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    char fast[65], portable[65];
    for (size_t n = 0; n <= 301; n++) {
        size_t len = n <= 300 ? n : n_max;
        dq_sha256_set_portable(false);
        sha_hex(data, len, fast);
        dq_sha256_set_portable(true);
        sha_hex(data, len, portable);
        cr_assert_str_eq(fast, portable, "%zu bytes", len);
    }
    /* the portable path is itself right, not merely the same */
    sha_hex("abc", 3, portable);
    dq_sha256_set_portable(false);
    cr_assert_str_eq(portable, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(data);
}

Test(sha256, file)
{
    char dir[] = "/tmp/dq_test_common_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    cr_assert_eq(dq_write_file_atomic(path, "abc", 3), 0);
    char hex[65];
    cr_assert_eq(dq_sha256_file(path, hex), 0);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    rmdir(dir);
    cr_assert_eq(dq_sha256_file(path, hex), -1);
    cr_assert(strstr(dq_last_error(), "cannot read") != NULL);
}

/* ---- buffers ------------------------------------------------------------ */

Test(buf, json_string_escaping)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_put_json_string(&b, "a\"b\\c\nd\re\tf\x01g\x1fh 中/");
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh 中/\"");
    dq_buf_clear(&b);
    dq_buf_put_json_string(&b, "");
    cr_assert_str_eq(b.data, "\"\"");
    dq_buf_free(&b);
}

Test(buf, printf_take_and_empty)
{
    dq_buf b = DQ_BUF_INIT;
    char *s = dq_buf_take(&b);
    cr_assert_str_eq(s, "");
    free(s);
    for (int i = 0; i < 1000; i++)
        dq_buf_printf(&b, "%d,", i % 10);
    cr_assert_eq(b.len, 2000);
    cr_assert_eq(strncmp(b.data, "0,1,2,", 6), 0);
    s = dq_buf_take(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    free(s);
    dq_buf_free(&b);
}
