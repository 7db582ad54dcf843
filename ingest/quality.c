/* quality.c - is a page's text layer its text? Scores the characters MuPDF extracted.
 *
 * The score is the share of a page's characters that a readable text layer
 * would hardly hold: U+FFFD, private use, controls, decoding-accident
 * symbols, words that are mostly symbols, and letters of a script the rest
 * of the document does not use. One page of Greek in an English book, or
 * bullets from a Symbol font, stay well under the bar; soup from a font read
 * with the wrong encoding is a third or more junk (measured on Word PDFs
 * whose fonts a truncation lost: 40-70%). A CJK font whose text holds no
 * CJK at all is a mapping that went wrong, and lowers the bar.
 */
#include "ingest/quality.h"

#include "common/common.h"

#include <string.h>
#include <strings.h>

/* The share of junk at which a page's text layer is not its text. */
#define JUNK_SHARE 0.25
/* The same for a page whose CJK font produced no CJK character. */
#define JUNK_SHARE_CJK_FONT 0.08
/* A letter class used by less than this share of the rest of the
 * document's characters is foreign to it... */
#define FOREIGN_SHARE 0.002
/* ...when the rest is long enough to tell. */
#define FOREIGN_MIN_REST 400
/* ...and only on a page with at least this share of other junk. */
#define FOREIGN_MIN_JUNK 0.03
/* A page needs this many characters for a verdict on shares. */
#define MIN_CHARS 12

static bool is_private_use(uint32_t c)
{
    return (c >= 0xE000 && c <= 0xF8FF) || c >= 0xF0000;
}

static bool is_control(uint32_t c)
{
    return c < 0x20 || (c >= 0x7F && c < 0xA0);
}

/* Latin-1 and WinAnsi symbols that real text seldom holds but that bytes of
 * two-byte codes decode to; ° ± × § © ® · « » ¥ £ and typographic quotes
 * and dashes are common in real text and are not here. */
static bool is_odd_symbol(uint32_t c)
{
    switch (c) {
    case 0xA1: case 0xA4: case 0xA6: case 0xA8: case 0xAA: case 0xAC: case 0xAD: case 0xAF:
    case 0xB4: case 0xB8: case 0xB9: case 0xBA: case 0xBF:
    case 0x192: case 0x2C6: case 0x2DC: case 0x2039: case 0x203A: case 0x201A: case 0x201E:
    case 0x2030:
        return true;
    default:
        return false;
    }
}

/* The letter class of c, or -1 for what belongs to any document (ASCII,
 * digits, punctuation, symbols, marks). */
static int letter_class(uint32_t c)
{
    if (c < 0xC0)
        return -1;
    if (c <= 0xFF)
        return c == 0xD7 || c == 0xF7 ? -1 : QS_LATIN1;
    if (c <= 0x24F || (c >= 0x1E00 && c <= 0x1EFF))
        return QS_LATIN_EXT;
    if (c >= 0x370 && c <= 0x3FF)
        return QS_GREEK;
    if (c >= 0x400 && c <= 0x4FF)
        return QS_CYRILLIC;
    if (uc_is_cjk(c) || uc_is_cjk_punct(c) || (c >= 0x3040 && c <= 0x30FF) ||
        (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0xFF00 && c <= 0xFFEF))
        return QS_CJK;
    if ((c >= 0x530 && c <= 0x1CFF) || (c >= 0xA000 && c <= 0xABFF))
        return QS_OTHER;
    return -1;
}

static bool is_alnum(uint32_t c)
{
    return quality_ascii_alnum(c) || (c >= 0xB2 && c <= 0xB3) || c == 0xB9 ||
           letter_class(c) >= 0;
}

void quality_end_word(text_quality *q)
{
    /* A run of one character ("....", "----", "====") is a leader or a rule. */
    /* Its U+FFFD, controls... are counted already. */
    if (q->word_len >= 3 && 3 * q->word_alnum < q->word_len && !q->word_same)
        q->symbol_words += q->word_len - q->word_bad;
    q->word_len = q->word_alnum = q->word_bad = 0;
}

void quality_add_other(text_quality *q, uint32_t c, bool cjk_font)
{
    if (c == ' ' || c == 0xA0 || c == 0x3000 || c == '\t') {
        quality_end_word(q);
        return;
    }
    q->chars++;
    size_t bad = 1;
    if (c == 0xFFFD)
        q->fffd++;
    else if (is_private_use(c))
        q->private_use++;
    else if (is_control(c))
        q->controls++;
    else if (is_odd_symbol(c))
        q->odd++;
    else
        bad = 0;
    q->word_bad += bad;
    int k = letter_class(c);
    if (k >= 0)
        q->script[k]++;
    if (cjk_font) {
        q->cjk_font++;
        q->cjk_font_cjk += k == QS_CJK;
        q->cjk_font_latin += k >= 0 && k != QS_CJK;
    }
    quality_add_to_word(q, c, is_alnum(c));
}

void quality_sum(text_quality *total, const text_quality *page)
{
    total->chars += page->chars;
    total->fffd += page->fffd;
    total->private_use += page->private_use;
    total->controls += page->controls;
    total->odd += page->odd;
    total->symbol_words += page->symbol_words;
    for (int k = 0; k < QS_N; k++)
        total->script[k] += page->script[k];
    total->cjk_font += page->cjk_font;
    total->cjk_font_cjk += page->cjk_font_cjk;
    total->cjk_font_latin += page->cjk_font_latin;
}

/* Why a page's text layer is not its text: quality_verdict returns one of
 * these, and quality_reason_static finds it again from its text. */
enum { WHY_NO_TOUNICODE, WHY_CJK_FONT, WHY_PRIVATE_USE, WHY_FOREIGN, WHY_GARBLED, WHY_N };
static const char *const reasons[WHY_N] = {
    [WHY_NO_TOUNICODE] = "font without ToUnicode",
    [WHY_CJK_FONT] = "CJK font without a usable ToUnicode",
    [WHY_PRIVATE_USE] = "font maps to private-use characters",
    [WHY_FOREIGN] = "characters of scripts the rest of the document does not use",
    [WHY_GARBLED] = "garbled characters (damaged fonts?)",
};

const char *quality_verdict(const text_quality *page, const text_quality *doc)
{
    if (page->chars == 0)
        return NULL;
    /* A page of nothing but unmapped glyphs is unreadable however short. */
    if (page->chars < MIN_CHARS)
        return page->fffd * 2 > page->chars ? reasons[WHY_NO_TOUNICODE] : NULL;
    size_t garbled = page->odd + page->symbol_words;
    size_t junk = page->fffd + page->private_use + page->controls + garbled;
    /* A page in another language than the rest (a Chinese appendix, a
     * Russian abstract) is real text: foreign letters only add to junk that
     * is there already, and CJK drawn with a CJK font is never foreign. */
    size_t rest = doc->chars - page->chars;
    size_t foreign = 0;
    bool suspect = (double)junk >= FOREIGN_MIN_JUNK * (double)page->chars;
    for (int k = 0; k < QS_N && rest >= FOREIGN_MIN_REST && suspect; k++) {
        if ((double)(doc->script[k] - page->script[k]) >= FOREIGN_SHARE * (double)rest)
            continue;
        size_t n = page->script[k];
        if (k == QS_CJK)
            n -= n < page->cjk_font_cjk ? n : page->cjk_font_cjk;
        foreign += n;
    }
    junk += foreign;
    /* Accented letters from a CJK font that drew no CJK at all are its
     * codes read through a wrong map (English set in SimSun is ASCII). */
    bool cjk_font_no_cjk = page->cjk_font >= MIN_CHARS && page->cjk_font_cjk == 0;
    if (cjk_font_no_cjk)
        junk += page->cjk_font_latin;
    double bar = cjk_font_no_cjk ? JUNK_SHARE_CJK_FONT : JUNK_SHARE;
    if ((double)junk < bar * (double)page->chars)
        return NULL;
    /* The reason is the largest part of the junk. */
    if (page->fffd >= page->private_use && page->fffd >= page->controls &&
        page->fffd >= garbled && page->fffd >= foreign)
        return reasons[WHY_NO_TOUNICODE];
    if (cjk_font_no_cjk)
        return reasons[WHY_CJK_FONT];
    if (page->private_use >= page->controls && page->private_use >= garbled &&
        page->private_use >= foreign)
        return reasons[WHY_PRIVATE_USE];
    if (foreign > garbled + page->controls)
        return reasons[WHY_FOREIGN];
    return reasons[WHY_GARBLED];
}

const char *quality_reason_static(const char *text)
{
    if (!text)
        return NULL;
    for (int i = 0; i < WHY_N; i++)
        if (!strcmp(text, reasons[i]))
            return reasons[i];
    return reasons[WHY_GARBLED];
}

bool quality_cjk_font_name(const char *name)
{
    if (!name)
        return false;
    /* Chinese names of fonts ("宋体") come through as raw bytes. */
    for (const char *s = name; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    static const char *const parts[] = {"SimSun", "SimHei", "SimKai", "SimFang", "NSimSun",
                                        "FangSong", "KaiTi", "YaHei", "STSong", "STHeiti",
                                        "STKaiti", "STFangsong", "MingLiU", "PMingLiU",
                                        "Mincho", "Batang", "Gulim", "Dotum", "DengXian",
                                        "SourceHan", "NotoSansCJK", "NotoSerifCJK"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        if (strcasestr(name, parts[i]))
            return true;
    return false;
}
