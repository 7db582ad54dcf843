/* staged.c - docqa_staged_chunks(?): the chunks of one store_put_document()
 * call, read straight from the caller's array as a table.
 *
 * FTS5 writes its pending terms out as a new index segment at the end of
 * every statement that fires the chunks trigger, so a document's chunks
 * must go in with one INSERT ... SELECT. Selecting them from a temporary
 * table meant writing every chunk's text into it and reading it back; this
 * eponymous virtual table hands SQLite the caller's strings instead. The
 * argument is a pointer bound with sqlite3_bind_pointer() under the type
 * STAGED_POINTER_TYPE; without it the table has no rows to offer.
 */
#include "index/store_impl.h"

#include <stdlib.h>
#include <string.h>

enum {
    COL_ORDINAL,
    COL_PAGE_START,
    COL_PAGE_END,
    COL_SECTION,
    COL_TEXT,
    COL_LABEL,
    COL_IS_TABLE,
    COL_BOXES,
    COL_SRC /* HIDDEN: the staged_chunks pointer */
};

typedef struct {
    sqlite3_vtab_cursor base;
    const staged_chunks *src; /* NULL: no rows */
    size_t i;
    dq_buf boxes;     /* the encoded boxes of row boxes_of */
    size_t boxes_of;  /* SIZE_MAX when boxes holds none */
} staged_cursor;

static int staged_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **out, char **err)
{
    (void)aux;
    (void)argc;
    (void)argv;
    (void)err;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(ordinal, page_start, page_end, section,"
                                      " text, label, is_table, boxes, src HIDDEN)");
    if (rc != SQLITE_OK)
        return rc;
    *out = sqlite3_malloc(sizeof **out);
    if (!*out)
        return SQLITE_NOMEM;
    memset(*out, 0, sizeof **out);
    return SQLITE_OK;
}

static int staged_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

/* Only a scan with src given is possible: its rows exist nowhere else. */
static int staged_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->iColumn == COL_SRC && c->op == SQLITE_INDEX_CONSTRAINT_EQ) {
            if (!c->usable)
                return SQLITE_CONSTRAINT;
            info->aConstraintUsage[i].argvIndex = 1;
            info->aConstraintUsage[i].omit = 1;
            info->estimatedCost = 1000;
            return SQLITE_OK;
        }
    }
    return SQLITE_CONSTRAINT;
}

static int staged_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    staged_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->boxes_of = SIZE_MAX;
    *out = &c->base;
    return SQLITE_OK;
}

static int staged_close(sqlite3_vtab_cursor *cur)
{
    staged_cursor *c = (staged_cursor *)cur;
    dq_buf_free(&c->boxes);
    sqlite3_free(c);
    return SQLITE_OK;
}

static int staged_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                         sqlite3_value **argv)
{
    (void)idx_num;
    (void)idx_str;
    staged_cursor *c = (staged_cursor *)cur;
    c->src = argc == 1 ? sqlite3_value_pointer(argv[0], STAGED_POINTER_TYPE) : NULL;
    c->i = 0;
    c->boxes_of = SIZE_MAX;
    return SQLITE_OK;
}

static int staged_next(sqlite3_vtab_cursor *cur)
{
    ((staged_cursor *)cur)->i++;
    return SQLITE_OK;
}

static int staged_eof(sqlite3_vtab_cursor *cur)
{
    const staged_cursor *c = (const staged_cursor *)cur;
    return !c->src || c->i >= c->src->n;
}

static void result_text(sqlite3_context *ctx, const char *s)
{
    /* The caller's strings outlive the statement that reads them. */
    sqlite3_result_text(ctx, s ? s : "", -1, SQLITE_STATIC);
}

static int staged_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    staged_cursor *c = (staged_cursor *)cur;
    const store_chunk_in *ch = &c->src->items[c->i];
    switch (col) {
    case COL_ORDINAL:
        sqlite3_result_int(ctx, ch->ordinal);
        break;
    case COL_PAGE_START:
        sqlite3_result_int(ctx, ch->page_start);
        break;
    case COL_PAGE_END:
        sqlite3_result_int(ctx, ch->page_end);
        break;
    case COL_SECTION:
        result_text(ctx, ch->section);
        break;
    case COL_TEXT:
        result_text(ctx, ch->text);
        break;
    case COL_LABEL:
        result_text(ctx, ch->label);
        break;
    case COL_IS_TABLE:
        sqlite3_result_int(ctx, ch->table);
        break;
    case COL_BOXES:
        if (!ch->n_boxes) {
            sqlite3_result_null(ctx);
            break;
        }
        if (c->boxes_of != c->i) {
            store_boxes_encode(ch->boxes, ch->n_boxes, &c->boxes);
            c->boxes_of = c->i;
        }
        sqlite3_result_blob(ctx, c->boxes.data, (int)c->boxes.len, SQLITE_TRANSIENT);
        break;
    default:
        sqlite3_result_null(ctx);
        break;
    }
    return SQLITE_OK;
}

static int staged_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((const staged_cursor *)cur)->i;
    return SQLITE_OK;
}

static const sqlite3_module staged_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: no CREATE VIRTUAL TABLE */
    .xConnect = staged_connect,
    .xBestIndex = staged_best_index,
    .xDisconnect = staged_disconnect,
    .xOpen = staged_open,
    .xClose = staged_close,
    .xFilter = staged_filter,
    .xNext = staged_next,
    .xEof = staged_eof,
    .xColumn = staged_column,
    .xRowid = staged_rowid,
};

int store_register_staged(sqlite3 *db)
{
    if (sqlite3_create_module(db, "docqa_staged_chunks", &staged_module, NULL) != SQLITE_OK) {
        dq_set_error("cannot register docqa_staged_chunks: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}
