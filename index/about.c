/* about.c - what a document is about: the text a question's naming of a
 * document ("3M", "FY2018", "2022 annual report", "东南大学") is matched
 * against.
 *
 * A document's `about` is its title (metadata), its file name without the
 * folder and extension, and the opening of its first stored page: covers
 * and first pages state the issuer, the party, the period and the standard
 * number (10-K covers, 甲方/乙方 of a contract, a manual's title page), and
 * nothing else in the document is as reliably about the whole of it. It is
 * computed by the SQL function docqa_about(title, path, first_page,
 * total_bytes), so the
 * migration that adds the column and every later write use one definition.
 * A year glued to a label ("2022Q4", "FY2018") is cut from it, so a
 * question's "Q4 2022" or "2018" finds it.
 */
#include "index/store_impl.h"

#include "common/common.h"

#include <string.h>

/* Bytes of the first page kept: a cover's identifying lines come first;
 * the rest of a long first page is body text that would make every
 * document "about" everything. */
#define ABOUT_COVER_BYTES 3000
/* A document shorter than this has no cover apart from its content: all of
 * it is what it is about, which chunk search weighs already, and naming it
 * by its content would scope a question to whichever short document shares
 * its rarest word. */
#define ABOUT_LONG_BYTES (8 * ABOUT_COVER_BYTES)

static void about_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *title = (const char *)sqlite3_value_text(argv[0]);
    const char *path = (const char *)sqlite3_value_text(argv[1]);
    const char *page = (const char *)sqlite3_value_text(argv[2]);
    if (sqlite3_value_int64(argv[3]) < ABOUT_LONG_BYTES)
        page = NULL;
    dq_buf raw = DQ_BUF_INIT;
    if (title)
        dq_buf_printf(&raw, "%s\n", title);
    if (path) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        const char *dot = strrchr(base, '.');
        size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        dq_buf_append(&raw, base, len);
        dq_buf_putc(&raw, '\n');
    }
    if (page) {
        size_t len = strlen(page);
        if (len > ABOUT_COVER_BYTES) {
            len = ABOUT_COVER_BYTES;
            while (len > 0 && ((unsigned char)page[len] & 0xC0) == 0x80)
                len--; /* not inside a UTF-8 character */
        }
        dq_buf_append(&raw, page, len);
    }
    dq_buf out = DQ_BUF_INIT;
    text_split_glued_years(raw.data ? raw.data : "", raw.len, &out);
    sqlite3_result_text(ctx, out.data ? out.data : "", (int)out.len, SQLITE_TRANSIENT);
    dq_buf_free(&out);
    dq_buf_free(&raw);
}

int store_register_about(sqlite3 *db)
{
    if (sqlite3_create_function(db, "docqa_about", 4, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                about_fn, NULL, NULL) != SQLITE_OK) {
        dq_set_error("cannot register docqa_about: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}
