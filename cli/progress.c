/* progress.c - a one-line progress bar with rate and ETA, on terminals only.
 *
 * Redrawn at most ten times a second so a fast ingest doesn't spend its time
 * writing to the terminal; messages clear the line first and the bar is
 * redrawn below them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"

static void format_duration(double s, char *out, size_t n)
{
    if (s < 0 || s > 360000)
        s = 0;
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(out, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, n, "%d:%02d", t / 60, t % 60);
}

static void draw(progress *p)
{
    double now = dq_now();
    double elapsed = now - p->started;
    double frac = p->total_units > 0 ? (double)p->done_units / (double)p->total_units : 0;
    if (frac > 1)
        frac = 1;
    char bar[21];
    int filled = (int)(frac * 20);
    for (int i = 0; i < 20; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[20] = '\0';
    char eta[16] = "-:--";
    if (frac >= 1)
        snprintf(eta, sizeof eta, "0:00");
    else if (frac > 0.02 && elapsed > 0.5)
        format_duration(elapsed * (1 - frac) / frac, eta, sizeof eta);
    if (p->bytes) {
        /* rate and ETA from this run's bytes: a resumed download starts part way */
        double got = (double)(p->done_units - p->base_units);
        double busy = p->updated - p->started; /* not the time spent after the last byte */
        double bps = busy > 0.2 && got > 0 ? got / busy : 0;
        if (frac < 1 && bps > 0)
            format_duration((double)(p->total_units - p->done_units) / bps, eta, sizeof eta);
        else if (frac < 1)
            snprintf(eta, sizeof eta, "-:--");
        fprintf(stderr, "\r\033[K%s [%s] %.1f/%.1f MB, %.1f MB/s, ETA %s", p->what, bar,
                (double)p->done_units / 1e6, (double)p->total_units / 1e6, bps / 1e6, eta);
        fflush(stderr);
        p->last_draw = now;
        return;
    }
    double rate = elapsed > 0 ? (double)p->pages / elapsed : 0;
    char ocr[64] = "";
    if (p->ocr_file_total > 0)
        snprintf(ocr, sizeof ocr, ", OCR %d/%d pages of this file", p->ocr_file_done,
                 p->ocr_file_total);
    else if (p->ocr_pages > 0)
        snprintf(ocr, sizeof ocr, ", %lld pages by OCR", p->ocr_pages);
    if (p->pages > 0)
        fprintf(stderr, "\r\033[K%s [%s] %d/%d %s, %lld pages, %.0f pages/s%s, ETA %s", p->what,
                bar, p->items_done, p->items_total, p->unit, p->pages, rate, ocr, eta);
    else
        fprintf(stderr, "\r\033[K%s [%s] %d/%d %s%s, ETA %s", p->what, bar, p->items_done,
                p->items_total, p->unit, ocr, eta);
    fflush(stderr);
    p->last_draw = now;
}

void progress_start(progress *p, const char *what, const char *unit, bool quiet,
                    int items_total, long long total_units)
{
    *p = (progress){0};
    p->active = !quiet && isatty(STDERR_FILENO);
    p->what = what;
    p->started = dq_now();
    p->unit = unit;
    p->items_total = items_total;
    p->total_units = total_units;
    if (p->active)
        draw(p);
}

void progress_start_bytes(progress *p, const char *what, bool quiet, long long total_bytes,
                          long long done_bytes)
{
    *p = (progress){0};
    p->active = !quiet && isatty(STDERR_FILENO);
    p->what = what;
    p->started = dq_now();
    p->unit = "bytes";
    p->bytes = true;
    p->total_units = total_bytes;
    p->done_units = p->base_units = done_bytes;
    if (p->active)
        draw(p);
}

void progress_update(progress *p, int items_done, long long done_units, long long pages)
{
    p->items_done = items_done;
    p->done_units = done_units;
    p->pages = pages;
    p->updated = dq_now();
    if (p->active && dq_now() - p->last_draw >= 0.1)
        draw(p);
}

void progress_ocr(progress *p, long long ocr_pages, int file_done, int file_total)
{
    p->ocr_pages = ocr_pages;
    p->ocr_file_done = file_done;
    p->ocr_file_total = file_done < file_total ? file_total : 0;
    if (p->active && dq_now() - p->last_draw >= 0.1)
        draw(p);
}

void progress_message(progress *p, const char *fmt, ...)
{
    if (p->active)
        fputs("\r\033[K", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (p->active)
        draw(p);
}

void progress_finish(progress *p)
{
    if (p->active) {
        draw(p);
        fputc('\n', stderr);
    }
    p->active = false;
}

/* ---- the pipeline's runs on the terminal ---------------------------------- */

static void on_file_note(void *user, const char *path, const char *text)
{
    cli_run_view *v = user;
    char *shown = utf8_for_terminal(path), *why = utf8_for_terminal(text);
    progress_message(&v->bar, "docqa: '%s': %s", shown, why);
    free(shown);
    free(why);
}

static void on_notice(void *user, const char *text)
{
    cli_run_view *v = user;
    if (!v->quiet)
        progress_message(&v->bar, "%s", text);
}

static void on_warning(void *user, const char *text)
{
    cli_run_view *v = user;
    progress_message(&v->bar, "docqa: %s", text);
}

static void on_files_done(void *user, int files, long long bytes, long long pages)
{
    cli_run_view *v = user;
    progress_update(&v->bar, files, bytes, pages);
}

static void on_ocr_progress(void *user, long long ocr_pages, int done, int total)
{
    cli_run_view *v = user;
    progress_ocr(&v->bar, ocr_pages, done, total);
}

static void on_chunks_done(void *user, size_t done, size_t total)
{
    cli_run_view *v = user;
    if (done == 0)
        progress_start(&v->bar, "embed", "chunks", v->quiet, (int)total, (long long)total);
    else
        progress_update(&v->bar, (int)done, (long long)done, 0);
}

static bool on_stop(void *user)
{
    (void)user;
    return cli_interrupted();
}

pipeline_events cli_run_events(cli_run_view *v)
{
    return (pipeline_events){.user = v,
                             .file_note = on_file_note,
                             .notice = on_notice,
                             .warning = on_warning,
                             .files_done = on_files_done,
                             .ocr_progress = on_ocr_progress,
                             .chunks_done = on_chunks_done,
                             .stop = on_stop};
}

int cli_vectorize(store *st, embedder *e, const dq_config *cfg, bool quiet, size_t *n_embedded)
{
    cli_run_view v = {.quiet = quiet};
    pipeline_events ev = cli_run_events(&v);
    vectorize_report rep;
    int rc = vectorize_missing(st, e, cfg, &ev, &rep);
    progress_finish(&v.bar);
    *n_embedded = rep.n_embedded;
    if (rc < 0) {
        cli_error("%s", dq_last_error());
        return -1;
    }
    if (!quiet && rep.vindex.action == STORE_VX_REBUILT)
        fprintf(stderr, "built %s: %lld vectors, %s (%s)\n", STORE_VINDEX_NAME,
                (long long)rep.vindex.vectors, rep.vindex.approximate ? "approximate" : "exact",
                rep.vindex.reason);
    return 0;
}

void cli_bm25_sync(store *st, bool quiet)
{
    store_bm25_report rep;
    if (store_bm25_sync(st, &rep) < 0) {
        fprintf(stderr, "docqa: warning: store '%s': cannot write its BM25 file (%s);"
                        " searches run on FTS5 alone\n",
                store_dir(st), dq_last_error());
        return;
    }
    if (!quiet && (rep.action == STORE_BM25_BUILT || rep.action == STORE_BM25_UPDATED) &&
        rep.seconds >= 1)
        fprintf(stderr, "%s the BM25 file: %lld chunks in %.0f s\n",
                rep.action == STORE_BM25_BUILT ? "built" : "updated", (long long)rep.rows,
                rep.seconds);
}
