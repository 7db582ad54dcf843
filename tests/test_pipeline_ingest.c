/* test_pipeline_ingest.c - pipeline/: the file walk and its symlink policy,
 * the ingest run (add, skip, link, rename, fail, re-chunk, stop) and the
 * vectorize pass, against a real store, with no docqa process. */
#include "common/common.h"
#include "index/store_impl.h" /* store_db: the rows a run wrote */
#include "pipeline/pipeline.h"
#include "support/pdfgen.h"
#include "support/tmpdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TINY_MODEL DQ_SOURCE_DIR "/tests/fixtures/bert-tiny-cls"

static char root[128];  /* the user's folder: docs/ and the store .docqa/ */
static char docs[160];
static store *st;

static void setup(void)
{
    strcpy(root, "/tmp/dq_pipeline_XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    char *real = realpath(root, NULL);
    snprintf(root, sizeof root, "%s", real);
    free(real);
    snprintf(docs, sizeof docs, "%s/docs", root);
    char sdir[160];
    snprintf(sdir, sizeof sdir, "%s/.docqa", root);
    st = store_open(sdir, STORE_CREATE);
    cr_assert_not_null(st, "%s", dq_last_error());
}

static void teardown(void)
{
    store_close(st);
    tmpdir_remove(root);
}

TestSuite(walk, .init = setup, .fini = teardown);
TestSuite(run, .init = setup, .fini = teardown);

static void write_doc(const char *name, const char *text)
{
    cr_assert_eq(tmpdir_write_file(docs, name, text), 0);
}

static void collect(file_list *list, const char *arg)
{
    cr_assert_eq(files_collect(list, arg, store_root(st)), 0, "%s", dq_last_error());
}

static char *abs_of(const char *name)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "%s/%s", docs, name);
    return dq_buf_take(&b);
}

/* ---- the walk ----------------------------------------------------------- */

Test(walk, name_order_hidden_skipped_paths_relative_to_the_store_root)
{
    write_doc("b.md", "# B\n\nbody b\n");
    write_doc("a.txt", "body a\n");
    write_doc("sub/c.md", "body c\n");
    write_doc(".hidden/d.md", "body d\n");
    write_doc("e.bin", "not a document\n");
    file_list list = {0};
    collect(&list, docs);
    cr_assert_eq(list.n, 3);
    cr_expect_str_eq(list.items[0].rel, "docs/a.txt");
    cr_expect_str_eq(list.items[1].rel, "docs/b.md");
    cr_expect_str_eq(list.items[2].rel, "docs/sub/c.md");
    cr_expect(!list.items[0].named);
    cr_expect_eq(list.n_dirs, 1);
    cr_expect_str_eq(list.dirs[0], docs);
    cr_expect_eq(list.total_bytes, 7 + 12 + 7);
    file_list_free(&list);
}

Test(walk, links_out_of_the_folder_and_loops_are_not_followed)
{
    write_doc("in/a.txt", "body a\n");
    cr_assert_eq(tmpdir_write_file(root, "outside/secret.txt", "secret\n"), 0);
    char *link = abs_of("in/out");
    char *loop = abs_of("in/loop");
    char target[200];
    snprintf(target, sizeof target, "%s/outside", root);
    cr_assert_eq(symlink(target, link), 0);
    cr_assert_eq(symlink(".", loop), 0); /* back to in/ itself */
    char *in = abs_of("in");
    file_list list = {0};
    collect(&list, in);
    cr_assert_eq(list.n, 1, "only in/a.txt, once");
    cr_expect_eq(list.n_skipped, 1);
    cr_expect(strstr(list.skipped.data, "outside the folder, not followed"), "%s",
              list.skipped.data);
    cr_expect_eq(list.n_unreadable, 0, "a link passed over by rule is not a failure");
    file_list_free(&list);
    /* --follow-symlinks */
    file_list all = {.follow_symlinks = true};
    collect(&all, in);
    cr_expect_eq(all.n, 2);
    file_list_free(&all);
    free(in);
    free(link);
    free(loop);
}

Test(walk, a_fifo_is_reported_not_read_and_bad_arguments_fail)
{
    write_doc("a.txt", "body a\n");
    char *fifo = abs_of("pipe.txt");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    file_list list = {0};
    collect(&list, docs);
    cr_expect_eq(list.n, 1);
    cr_expect_eq(list.n_unreadable, 1);
    cr_expect(strstr(list.skipped.data, "not a regular file"));
    cr_expect_eq(files_collect(&list, fifo, store_root(st)), -1);
    cr_expect_eq(files_collect(&list, "/nonexistent/x.pdf", store_root(st)), -1);
    cr_expect(strstr(dq_last_error(), "'/nonexistent/x.pdf'"), "%s", dq_last_error());
    char *bin = abs_of("x.bin");
    cr_assert_eq(tmpdir_write_file(docs, "x.bin", "x"), 0);
    cr_expect_eq(files_collect(&list, bin, store_root(st)), -1);
    cr_expect(strstr(dq_last_error(), "unsupported file type"), "%s", dq_last_error());
    file_list_free(&list);
    free(fifo);
    free(bin);
}

Test(walk, store_paths_are_relative_inside_the_root_only)
{
    char *r = store_rel_path("/home/u", "/home/u/docs/a.pdf");
    cr_expect_str_eq(r, "docs/a.pdf");
    free(r);
    r = store_rel_path("/home/u", "/home/user2/a.pdf");
    cr_expect_str_eq(r, "/home/user2/a.pdf");
    free(r);
    r = store_abs_path("/home/u", "docs/a.pdf");
    cr_expect_str_eq(r, "/home/u/docs/a.pdf");
    free(r);
    r = store_abs_path("/home/u", "/srv/a.pdf");
    cr_expect_str_eq(r, "/srv/a.pdf");
    free(r);
    cr_expect(path_is_under("/a/b/c", "/a/b"));
    cr_expect(path_is_under("/a/b", "/a/b"));
    cr_expect(!path_is_under("/a/bc", "/a/b"));
    cr_expect(path_is_under("/x", "/"));
}

/* ---- the ingest run ----------------------------------------------------- */

typedef struct {
    int notes, notices, files_done;
    char last_note[256];
    int stop_after; /* files; 0: never */
    int stop_at_poll; /* stop from this call of on_stop on; 0: never */
    int polls;
} events_seen;

static void on_note(void *user, const char *path, const char *text)
{
    events_seen *e = user;
    e->notes++;
    snprintf(e->last_note, sizeof e->last_note, "%s: %s", path, text);
}

static void on_notice(void *user, const char *text)
{
    (void)text;
    ((events_seen *)user)->notices++;
}

static void on_files_done(void *user, int files, long long bytes, long long pages)
{
    (void)bytes;
    (void)pages;
    ((events_seen *)user)->files_done = files;
}

static bool on_stop(void *user)
{
    events_seen *e = user;
    e->polls++;
    return (e->stop_after && e->files_done >= e->stop_after) ||
           (e->stop_at_poll && e->polls >= e->stop_at_poll);
}

static void run_init(ingest_run *run, events_seen *seen, bool may_change, int cjk)
{
    *run = (ingest_run){.st = st, .limits = ingest_default_params()};
    run->events = (pipeline_events){.user = seen,
                                    .file_note = on_note,
                                    .notice = on_notice,
                                    .files_done = on_files_done,
                                    .stop = on_stop};
    cr_assert_eq(ingest_run_set_split(run, cjk, INGEST_SPLIT_UNSET, INGEST_SPLIT_UNSET,
                                      may_change),
                 0, "%s", dq_last_error());
    cr_assert_eq(ingest_run_set_ocr(run, "never", NULL, NULL), 0);
}

/* One run over docs/ as `docqa ingest docs` makes it. */
static void ingest_docs(ingest_run *run)
{
    file_list list = {0};
    collect(&list, docs);
    cr_assert_eq(ingest_remember_roots(st, &list), 0, "%s", dq_last_error());
    cr_assert_eq(ingest_run_files(run, &list), 0, "%s", dq_last_error());
    cr_assert_eq(ingest_run_prune(run, list.dirs, list.n_dirs, true), 0, "%s", dq_last_error());
    file_list_free(&list);
}

static char *file_status(const char *rel)
{
    store_file f;
    cr_assert_eq(store_get_file(st, rel, &f), 1, "no row for %s", rel);
    char *s = dq_strdup(f.status);
    store_file_free(&f);
    return s;
}

Test(run, adds_then_skips_unchanged_files)
{
    write_doc("a.md", "# Title\n\nThe warranty period is two years from delivery.\n");
    write_doc("b.txt", "合同的违约金为合同总价的百分之五。\n");
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    cr_expect_eq(run.n_added, 2);
    cr_expect_eq(run.n_failed, 0);
    cr_expect_gt(run.chunks, 1);
    cr_expect_eq(seen.files_done, 2);
    cr_expect_eq(seen.notes, 0);
    ingest_run_free(&run);

    ingest_run again;
    run_init(&again, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&again);
    cr_expect_eq(again.n_added, 0);
    cr_expect_eq(again.n_unchanged, 2);
    cr_expect_eq(again.chunks, 0, "nothing extracted twice");
    ingest_run_free(&again);
}

Test(run, a_copy_is_linked_and_a_rename_is_not_a_remove)
{
    const char *text = "# Manual\n\nPress the red button to stop the machine.\n";
    write_doc("a.md", text);
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    cr_assert_eq(run.n_added, 1);
    ingest_run_free(&run);

    write_doc("copy.md", text);
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    cr_expect_eq(run.n_linked, 1);
    cr_expect_eq(run.n_added, 0);
    cr_expect_eq(run.chunks, 0);
    ingest_run_free(&run);

    char *from = abs_of("copy.md"), *to = abs_of("moved.md");
    cr_assert_eq(rename(from, to), 0);
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    cr_expect_eq(run.n_renamed, 1);
    cr_expect_eq(run.n_removed, 0);
    cr_expect_eq(run.n_linked, 0);
    store_file f;
    cr_expect_eq(store_get_file(st, "docs/copy.md", &f), 0);
    ingest_run_free(&run);
    free(from);
    free(to);
}

Test(run, a_bad_file_is_recorded_and_told_and_the_batch_goes_on)
{
    write_doc("a.md", "# Only a heading\n");
    write_doc("b.pdf", "%PDF-1.7 this is not a PDF at all");
    write_doc("c.txt", "A body of plain text that indexes fine.\n");
    write_doc("d.txt", "");
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    cr_expect_eq(run.n_added, 1);
    cr_expect_eq(run.n_failed, 3);
    cr_expect_eq(seen.notes, 3);
    cr_expect(strstr(run.failures.data, "  docs/a.md: only headings, no body text to index\n"),
              "%s", run.failures.data);
    cr_expect(strstr(run.failures.data, "  docs/d.txt: empty file\n"), "%s",
              run.failures.data);
    char *s = file_status("docs/b.pdf");
    cr_expect_str_eq(s, "failed");
    free(s);
    ingest_run_free(&run);

    /* an unchanged failed file is told again, not read again */
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    seen.notes = 0;
    ingest_docs(&run);
    cr_expect_eq(run.n_failed, 3);
    cr_expect_eq(seen.notes, 3);
    cr_expect_eq(run.n_unchanged, 1);
    ingest_run_free(&run);
}

Test(run, other_chunk_sizes_are_refused_for_ingest_and_re_chunk_for_reindex)
{
    write_doc("a.md", "# T\n\nSome text that makes a chunk.\n");
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    ingest_run_free(&run);

    ingest_run other = {.st = st};
    cr_expect_eq(ingest_run_set_split(&other, 100, INGEST_SPLIT_UNSET, INGEST_SPLIT_UNSET,
                                      false),
                 -1);
    cr_expect(strstr(dq_last_error(), "this store was chunked with"), "%s", dq_last_error());
    ingest_run_free(&other);

    run_init(&run, &seen, true, 100);
    cr_expect_eq(seen.notices, 1, "the change is told");
    /* reindex: the stale documents, as store_each_document_split_differs lists them */
    store_file f;
    cr_assert_eq(store_get_file(st, "docs/a.md", &f), 1);
    char *stale[] = {f.sha256};
    run.stale = stale;
    run.n_stale = 1;
    ingest_docs(&run);
    cr_expect_eq(run.n_rechunked, 1);
    cr_expect_eq(run.n_unchanged, 0);
    store_file_free(&f);
    ingest_run_free(&run);
}

/* Runs over docs/ with jobs readers until seen's stop; n_stored files (whole
 * documents) are in the store then. */
static void run_until_stop(events_seen *seen, int jobs, int n_stored)
{
    ingest_run run;
    run_init(&run, seen, false, INGEST_SPLIT_UNSET);
    run.jobs = jobs;
    file_list list = {0};
    collect(&list, docs);
    cr_assert_eq(ingest_run_files(&run, &list), 0);
    cr_expect_eq(run.n_added, n_stored);
    store_stats stats;
    cr_assert_eq(store_get_stats(st, &stats), 0);
    cr_expect_eq(stats.files, n_stored, "whole documents only, none in flight");
    file_list_free(&list);
    ingest_run_free(&run);
}

Test(run, stop_ends_the_run_between_files)
{
    for (int i = 0; i < 4; i++) {
        char name[16], text[64];
        snprintf(name, sizeof name, "%d.txt", i);
        snprintf(text, sizeof text, "Document number %d has its own text.\n", i);
        write_doc(name, text);
    }
    events_seen seen = {.stop_after = 2};
    run_until_stop(&seen, 1, 2);
}

Test(run, ocr_settings_come_from_the_flags_then_the_config)
{
    ingest_run run = {.st = st};
    dq_config cfg = {.ocr_mode = "always", .ocr_lang = "eng"};
    cr_assert_eq(ingest_run_set_ocr(&run, NULL, NULL, &cfg), 0);
    cr_expect_eq(run.ocr.mode, OCR_ALWAYS);
    cr_expect_str_eq(run.ocr.langs, "eng");
    cr_assert_eq(ingest_run_set_ocr(&run, "never", "chi_sim", &cfg), 0);
    cr_expect_eq(run.ocr.mode, OCR_NEVER);
    cr_expect_str_eq(run.ocr.langs, "chi_sim");
    cr_assert_eq(ingest_run_set_ocr(&run, NULL, NULL, NULL), 0);
    cr_expect_eq(run.ocr.mode, OCR_AUTO);
    cr_expect_str_eq(run.ocr.langs, "chi_sim+eng");
    cr_expect_eq(ingest_run_set_ocr(&run, "sometimes", NULL, NULL), -1);
    ingest_run_free(&run);
}

/* ---- the vectorize pass ------------------------------------------------- */

static void on_chunks(void *user, size_t done, size_t total)
{
    size_t *seen = user;
    seen[0]++;
    seen[1] = done;
    seen[2] = total;
}

Test(run, vectorize_embeds_what_is_missing_once)
{
    write_doc("a.md", "# T\n\nThe first document.\n");
    write_doc("b.md", "# U\n\n第二个文件的内容。\n");
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    ingest_run_free(&run);

    dq_config cfg = {.embed_model = TINY_MODEL, .ann_threshold = -1};
    bool err;
    embedder *e = dq_config_open_embedder(&cfg, NULL, &err);
    cr_assert_not_null(e, "%s", dq_last_error());
    size_t calls[3] = {0};
    pipeline_events ev = {.user = calls, .chunks_done = on_chunks};
    vectorize_report rep;
    cr_assert_eq(vectorize_missing(st, e, &cfg, &ev, &rep), 0, "%s", dq_last_error());
    store_stats stats;
    cr_assert_eq(store_get_stats(st, &stats), 0);
    cr_expect_eq(rep.n_embedded, (size_t)stats.chunks);
    cr_expect_eq(stats.vectors, stats.chunks);
    cr_expect_eq(calls[1], calls[2], "the last call reports all done");
    cr_expect_eq(rep.vindex.vectors, stats.vectors);
    cr_assert_eq(vectorize_missing(st, e, &cfg, NULL, &rep), 0);
    cr_expect_eq(rep.n_embedded, 0, "nothing twice");
    embedder_free(e);
}

Test(run, chunks_get_vectors_while_files_are_still_read)
{
    write_doc("a.md", "# T\n\nThe first document.\n");
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    ingest_run_free(&run);
    store_stats before;
    cr_assert_eq(store_get_stats(st, &before), 0);

    dq_config cfg = {.embed_model = TINY_MODEL, .ann_threshold = -1};
    bool err;
    embedder *e = dq_config_open_embedder(&cfg, NULL, &err);
    cr_assert_not_null(e, "%s", dq_last_error());
    /* The feed takes the chunks stored after it began, a batch a step;
     * a.md's, stored before, are the pass after the run's. */
    vectorize_feed feed;
    cr_assert_eq(vectorize_feed_init(&feed, st, e, NULL), 0, "%s", dq_last_error());
    cr_assert_eq(vectorize_feed_step(&feed), 0, "%s", dq_last_error());
    dq_buf text = DQ_BUF_INIT;
    for (int i = 0; i < 40; i++)
        dq_buf_printf(&text, "# Part %d\n\nThe valve number %d is replaced every %d hours.\n\n",
                      i, i, 100 + i);
    write_doc("b.md", text.data);
    dq_buf_free(&text);
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    run.limits.max_pages = 0;
    ingest_docs(&run);
    store_stats mid;
    cr_assert_eq(store_get_stats(st, &mid), 0);
    int steps = 0, r;
    while ((r = vectorize_feed_step(&feed)) == 1)
        steps++;
    cr_assert_eq(r, 0, "%s", dq_last_error());
    size_t added = (size_t)(mid.chunks - before.chunks);
    cr_expect_eq(feed.n_embedded, added);
    cr_expect_eq(steps, (int)((added + 31) / 32), "a batch of 32 a step");
    cr_assert_eq(store_get_stats(st, &mid), 0);
    cr_expect_eq(mid.vectors, (long long)added);
    ingest_run_free(&run);

    /* A run with the model embeds as it goes; the pass after it does the
     * rest, and no chunk twice. */
    write_doc("c.md", "# V\n\n第三个文件的内容。\n");
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    run.embed = e;
    ingest_docs(&run);
    vectorize_report rep;
    cr_assert_eq(vectorize_missing(st, e, &cfg, NULL, &rep), 0, "%s", dq_last_error());
    store_stats after;
    cr_assert_eq(store_get_stats(st, &after), 0);
    cr_expect_eq(after.vectors, after.chunks);
    cr_expect_eq(rep.n_embedded + run.n_embedded + added, (size_t)after.chunks);
    ingest_run_free(&run);
    embedder_free(e);
}

/* ---- the sources reindex walks ------------------------------------------ */

static void on_warning(void *user, const char *text)
{
    events_seen *e = user;
    e->notices++;
    snprintf(e->last_note, sizeof e->last_note, "%s", text);
}

Test(run, sources_find_new_files_and_keep_a_missing_folder)
{
    write_doc("a/one.txt", "The first source folder has this text.\n");
    write_doc("b/two.txt", "The second source folder has other text.\n");
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    file_list list = {0};
    char *a = abs_of("a"), *b = abs_of("b");
    collect(&list, a);
    collect(&list, b);
    cr_assert_eq(ingest_remember_roots(st, &list), 0);
    cr_assert_eq(ingest_run_files(&run, &list), 0);
    file_list_free(&list);
    ingest_run_free(&run);

    /* a new file in a, and b gone (an unmounted disk) */
    write_doc("a/three.txt", "A file added after the first ingest.\n");
    char *two = abs_of("b/two.txt");
    cr_assert_eq(unlink(two), 0);
    cr_assert_eq(rmdir(b), 0);
    pipeline_events ev = {.user = &seen, .warning = on_warning};
    ingest_sources src;
    cr_assert_eq(ingest_sources_collect(st, run.split_tag, false, &ev, &src), 0, "%s",
                 dq_last_error());
    cr_expect_eq(src.n_roots, 2);
    cr_expect_eq(src.files.n, 2, "a/one.txt and a/three.txt");
    cr_expect_eq(src.missing_dirs.n, 1);
    cr_expect_str_eq(src.missing_dirs.items[0], b);
    cr_expect_eq(src.n_bad, 1);
    cr_expect(strstr(seen.last_note, "is missing; its files are kept"), "%s", seen.last_note);
    cr_expect_eq(src.stale.n, 0);

    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    cr_assert_eq(ingest_run_files(&run, &src.files), 0);
    cr_assert_eq(ingest_run_prune(&run, src.missing_dirs.items, src.missing_dirs.n, false), 0);
    cr_expect_eq(run.n_added, 1);
    cr_expect_eq(run.n_removed, 0, "the missing folder's file is kept");
    ingest_run_free(&run);
    ingest_sources_free(&src);

    /* --drop-missing: the folder was deleted */
    cr_assert_eq(ingest_sources_collect(st, run.split_tag, true, &ev, &src), 0);
    cr_expect_eq(src.missing_dirs.n, 0);
    cr_expect_eq(src.gone_roots.n, 1);
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    cr_assert_eq(ingest_run_prune(&run, src.missing_dirs.items, src.missing_dirs.n, false), 0);
    cr_expect_eq(run.n_removed, 1);
    cr_assert_eq(ingest_sources_forget_gone(st, &src), 0);
    ingest_run_free(&run);
    ingest_sources_free(&src);
    free(a);
    free(b);
    free(two);
}

Test(run, a_store_without_sources_or_files_is_an_error)
{
    ingest_sources src;
    cr_expect_eq(ingest_sources_collect(st, "x", false, NULL, &src), -1);
    cr_expect(strstr(dq_last_error(), "no sources recorded"), "%s", dq_last_error());
    ingest_sources_free(&src);
}

/* ---- hostile files -------------------------------------------------------- */

/* An HTML page of depth nested <div>s around one sentence: deep enough, it
 * overflows the stack inside MuPDF's layout. */
static void write_nested_html(const char *name, int depth)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_puts(&b, "<html><body>");
    for (int i = 0; i < depth; i++)
        dq_buf_puts(&b, "<div>");
    dq_buf_puts(&b, "deep text");
    for (int i = 0; i < depth; i++)
        dq_buf_puts(&b, "</div>");
    dq_buf_puts(&b, "</body></html>\n");
    write_doc(name, b.data);
    dq_buf_free(&b);
}

Test(run, a_file_that_crashes_the_reader_fails_alone_and_is_skipped_next_time)
{
    write_nested_html("a-deep.html", 20000);
    write_doc("b.txt", "A body of plain text that indexes fine.\n");
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    cr_expect_eq(run.n_added, 1, "the batch went on");
    cr_expect_eq(run.n_failed, 1);
    cr_expect(strstr(run.failures.data, "docs/a-deep.html: the reader crashed on this file (SEGV"),
              "%s", run.failures.data);
    char *s = file_status("docs/a-deep.html");
    cr_expect_str_eq(s, "failed");
    free(s);
    ingest_run_free(&run);

    /* the next run tells it again without reading it */
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    cr_expect_eq(run.n_failed, 1);
    cr_expect_eq(run.n_unchanged, 1);
    cr_expect(strstr(run.failures.data, "crashed"), "%s", run.failures.data);
    ingest_run_free(&run);
}

Test(run, a_file_over_max_file_size_is_refused_from_its_size_unread)
{
    write_doc("big.txt", "some text\n");
    char *path = abs_of("big.txt");
    /* sparse: 1 TB that hashing would take many minutes to read */
    cr_assert_eq(truncate(path, 1LL << 40), 0);
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    ingest_docs(&run);
    cr_expect_eq(run.n_failed, 1);
    cr_expect(strstr(run.failures.data,
                     "docs/big.txt: 1048576.0 MB, over the limit of 512.0 MB per file (--max-file-size)"),
              "%s", run.failures.data);
    ingest_run_free(&run);
    free(path);
}

/* Ingests docs/ with --max-doc-memory at limit_mb and expects exactly the
 * files named (NULL-terminated) to fail, each with that limit's message. */
static void expect_over_doc_memory(int limit_mb, const char *const *names)
{
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    run.limits.max_doc_bytes = (long long)limit_mb << 20;
    ingest_docs(&run);
    int n = 0;
    for (; names[n]; n++) {
        char want[300];
        snprintf(want, sizeof want, "docs/%s: needs more than %d MB of memory to read, over the "
                 "limit of %d MB per document (--max-doc-memory)", names[n], limit_mb, limit_mb);
        cr_expect(strstr(run.failures.data, want), "%s", run.failures.data);
    }
    cr_expect_eq(run.n_failed, n);
    ingest_run_free(&run);
}

/* PDFs are read under the same cap: a Flate stream that inflates to 64 MB,
 * in the page's content (text shown a million times) or in a font file
 * that MuPDF loads whole, fails at 16 MB with the limit's name. */
Test(run, a_pdf_flate_bomb_stops_at_max_doc_memory)
{
    cr_assert_eq(mkdir(docs, 0700), 0);
    char *content = abs_of("content-bomb.pdf"), *font = abs_of("font-bomb.pdf");
    cr_assert_eq(pdfgen_write_flate_bomb(content, PDFGEN_BOMB_CONTENT, 64u << 20), 0);
    cr_assert_eq(pdfgen_write_flate_bomb(font, PDFGEN_BOMB_FONT, 64u << 20), 0);
    cr_expect_lt(pdfgen_file_size(content), 1 << 20);
    expect_over_doc_memory(16, (const char *const[]){"content-bomb.pdf", "font-bomb.pdf", NULL});
    free(content);
    free(font);
}

#if !defined(__SANITIZE_ADDRESS__)
/* What is not MuPDF's meets the reader's data limit (twice --max-doc-memory
 * over what the child had): a 96 MB text file, read whole by our own code,
 * under a limit of 8 MB. (Sanitizer builds go without that limit.) */
Test(run, memory_outside_mupdf_meets_the_readers_data_limit)
{
    cr_assert_eq(mkdir(docs, 0700), 0);
    char *path = abs_of("huge.txt");
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int i = 0; i < 96 * 1024; i++)
        fprintf(f, "%01023d\n", i); /* 96 MB of lines */
    fclose(f);
    expect_over_doc_memory(8, (const char *const[]){"huge.txt", NULL});
    free(path);
}
#endif

Test(run, a_compressed_bomb_stops_at_max_doc_memory)
{
    /* 64 MB of spaces: what a deflated bomb expands to (MuPDF's zip writer
     * stores it unpacked; the reader's memory is the same either way) */
    size_t n = 64u << 20;
    char *body = dq_malloc(n + 1);
    memcpy(body, "<p>word</p>", 11);
    memset(body + 11, ' ', n - 11);
    body[n] = '\0';
    char *path = abs_of("bomb.epub");
    cr_assert_eq(mkdir(docs, 0700), 0);
    const char *chapters[] = {body};
    cr_assert_eq(pdfgen_write_epub(path, "bomb", chapters, 1), 0, "%s", dq_last_error());
    free(body);
    expect_over_doc_memory(16, (const char *const[]){"bomb.epub", NULL});
    free(path);
}

/* ---- several readers at once ------------------------------------------- */

/* A PDF of n_pages pages, each with a heading and a paragraph of its own
 * (words, not only numbers, differ: cleanup drops lines that repeat on
 * every page with their digits masked). */
static void write_pdf(const char *name, int n_pages, const char *topic)
{
    static const char *const words[] = {"pump",  "valve",  "filter", "hose",   "motor",
                                        "panel", "sensor", "switch", "gasket", "relay",
                                        "fan",   "belt",   "nozzle"};
    const size_t nw = sizeof words / sizeof *words;
    char **texts = dq_calloc((size_t)n_pages, sizeof *texts);
    for (int i = 0; i < n_pages; i++) {
        dq_buf b = DQ_BUF_INIT;
        dq_buf_printf(&b, "# %s of the %s\nThe %s %s explains how the warranty of the %s\n"
                          "is claimed, and why the %s and the %s are excluded.\n",
                      topic, words[i % nw], topic, words[(i / nw) % nw], words[(i + 3) % nw],
                      words[(i + 5) % nw], words[(i * 7 + 1) % nw]);
        texts[i] = dq_buf_take(&b);
    }
    mkdir(docs, 0755); /* write_doc makes it too */
    char *path = abs_of(name);
    cr_assert_eq(pdfgen_write_simple(path, (const char *const *)texts, (size_t)n_pages), 0,
                 "%s", dq_last_error());
    free(path);
    for (int i = 0; i < n_pages; i++)
        free(texts[i]);
    free(texts);
}

/* Every row a run writes, in the order written (ids), as text. */
static char *store_rows(store *s)
{
    static const char *const queries[] = {
        "SELECT id, path, sha256, status, error, doc_id FROM files ORDER BY id",
        "SELECT id, sha256, format, title, pages FROM documents ORDER BY id",
        "SELECT id, doc_id, ordinal, page_start, page_end, section, text, label, is_table "
        "FROM chunks ORDER BY id",
        "SELECT doc_id, page_no, text, ocr, unreadable FROM pages ORDER BY doc_id, page_no",
        "SELECT chunk_id, hex(boxes) FROM chunk_boxes ORDER BY chunk_id",
    };
    dq_buf b = DQ_BUF_INIT;
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        sqlite3_stmt *stmt;
        cr_assert_eq(sqlite3_prepare_v2(store_db(s), queries[q], -1, &stmt, NULL), SQLITE_OK);
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(stmt); c++) {
                const unsigned char *v = sqlite3_column_text(stmt, c);
                dq_buf_printf(&b, "%s|", v ? (const char *)v : "NULL");
            }
            dq_buf_puts(&b, "\n");
        }
        sqlite3_finalize(stmt);
    }
    return dq_buf_take(&b);
}

/* One run over docs/ into s with jobs readers; the rows it wrote. */
static char *ingest_with_jobs(store *s, int jobs, ingest_run *run, events_seen *seen)
{
    store *keep = st;
    st = s;
    run_init(run, seen, false, INGEST_SPLIT_UNSET);
    run->jobs = jobs;
    ingest_docs(run);
    st = keep;
    return store_rows(s);
}

/* ingest_with_jobs() into a new store of that name beside st's (*s, the
 * caller closes it). */
static char *ingest_into_new_store(const char *name, int jobs, ingest_run *run,
                                   events_seen *seen, store **s)
{
    char sdir[200];
    snprintf(sdir, sizeof sdir, "%s/%s", root, name);
    *s = store_open(sdir, STORE_CREATE);
    cr_assert_not_null(*s, "%s", dq_last_error());
    return ingest_with_jobs(*s, jobs, run, seen);
}

Test(run, several_readers_store_the_same_rows_in_input_order)
{
    /* The big file first: its reader finishes after the small ones behind it. */
    write_pdf("a-big.pdf", 60, "Installation");
    write_doc("b.md", "# Service\n\nThe service hotline answers within two hours.\n");
    write_pdf("c.pdf", 2, "Returns");
    write_doc("d-copy.md", "# Service\n\nThe service hotline answers within two hours.\n");
    write_doc("e.txt", "合同的违约金为合同总价的百分之五。\n");
    write_doc("f-empty.txt", "");
    write_pdf("g.pdf", 5, "Maintenance");

    events_seen seen1 = {0}, seen4 = {0};
    ingest_run one, four;
    char *rows1 = ingest_with_jobs(st, 1, &one, &seen1);
    store *st4;
    char *rows4 = ingest_into_new_store(".docqa4", 4, &four, &seen4, &st4);

    cr_expect_str_eq(rows4, rows1, "4 readers wrote other rows than 1");
    cr_expect_eq(four.n_added, 5, "%d added, %d failed: %s", four.n_added, four.n_failed,
                 four.failures.data ? four.failures.data : "");
    cr_expect_eq(four.n_linked, 1, "the copy is linked, not read twice");
    cr_expect_eq(four.n_failed, 1);
    cr_expect_eq(four.pages, one.pages);
    cr_expect_eq(four.chunks, one.chunks);
    cr_expect_eq(four.pages, 60 + 1 + 2 + 1 + 5);
    cr_expect_eq(seen4.files_done, 7);
    /* files rows in input order: a-big.pdf first although read last */
    const char *a = strstr(rows4, "docs/a-big.pdf"), *g = strstr(rows4, "docs/g.pdf");
    cr_expect(a && g && a < strstr(rows4, "docs/b.md") && strstr(rows4, "docs/f-empty.txt") < g,
              "%s", rows4);
    free(rows1);
    free(rows4);
    ingest_run_free(&one);
    ingest_run_free(&four);
    store_close(st4);
}

Test(run, a_pdf_read_alone_has_its_pages_split_and_stores_the_same_rows)
{
    /* The last (here the only) file gets the jobs no other file will: its
     * 64 pages are read by three processes. */
    write_pdf("big.pdf", 64, "Installation");
    events_seen seen1 = {0}, seen3 = {0};
    ingest_run one, three;
    char *rows1 = ingest_with_jobs(st, 1, &one, &seen1);
    store *st3;
    char *rows3 = ingest_into_new_store(".docqa3", 3, &three, &seen3, &st3);
    cr_expect_str_eq(rows3, rows1, "3 page readers wrote other rows than 1");
    cr_expect_eq(three.n_added, 1);
    cr_expect_eq(three.pages, 64);
    free(rows1);
    free(rows3);
    ingest_run_free(&one);
    ingest_run_free(&three);
    store_close(st3);
}

Test(run, a_reader_that_crashes_fails_its_file_while_the_others_go_on)
{
    write_pdf("0.pdf", 20, "Safety");
    write_nested_html("1-deep.html", 20000);
    write_pdf("2.pdf", 20, "Cleaning");
    write_doc("3.txt", "A body of plain text that indexes fine.\n");
    events_seen seen = {0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    run.jobs = 3;
    ingest_docs(&run);
    cr_expect_eq(run.n_added, 3, "the batch went on: %d added, %d failed: %s", run.n_added,
                 run.n_failed, run.failures.data ? run.failures.data : "");
    cr_expect_eq(run.n_failed, 1);
    cr_expect(strstr(run.failures.data, "docs/1-deep.html: the reader crashed on this file (SEGV"),
              "%s", run.failures.data);
    char *rows = store_rows(st);
    const char *p0 = strstr(rows, "docs/0.pdf"), *p1 = strstr(rows, "docs/1-deep.html"),
               *p2 = strstr(rows, "docs/2.pdf"), *p3 = strstr(rows, "docs/3.txt");
    cr_expect(p0 && p1 && p2 && p3 && p0 < p1 && p1 < p2 && p2 < p3, "%s", rows);
    free(rows);
    ingest_run_free(&run);
}

Test(run, stop_while_several_readers_run_kills_and_reaps_them)
{
    for (int i = 0; i < 6; i++) {
        static const char *const topics[] = {"Operation", "Storage", "Transport",
                                             "Disposal",  "Repair",  "Testing"};
        char name[16];
        snprintf(name, sizeof name, "%d.pdf", i);
        write_pdf(name, 40, topics[i]);
    }
    /* The first poll is before the first file; the second finds three
     * readers running. */
    events_seen seen = {.stop_at_poll = 2};
    run_until_stop(&seen, 3, 0);
    errno = 0;
    cr_expect_eq(waitpid(-1, NULL, WNOHANG), -1, "a reader child was left behind");
    cr_expect_eq(errno, ECHILD);

    /* the next run reads them all */
    seen = (events_seen){0};
    ingest_run run;
    run_init(&run, &seen, false, INGEST_SPLIT_UNSET);
    run.jobs = 3;
    ingest_docs(&run);
    cr_expect_eq(run.n_added, 6);
    ingest_run_free(&run);
}
