/* ingest_opts.c - what `docqa ingest` and `docqa reindex` share on the
 * command line: checking the --chunk-* and --ocr values, and the report of
 * skipped entries and OCR'd pages. The run itself is pipeline/'s. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"

bool cli_split_flags_ok(int chunk_cjk, int chunk_words, int overlap_pct)
{
    bool ok = (chunk_cjk == INGEST_SPLIT_UNSET || chunk_cjk >= 20) &&
              (chunk_words == INGEST_SPLIT_UNSET || chunk_words >= 15) &&
              (overlap_pct == INGEST_SPLIT_UNSET || (overlap_pct >= 0 && overlap_pct <= 50));
    if (!ok)
        cli_error("chunk sizes must be at least 20 characters / 15 words and overlap 0-50%%");
    return ok;
}

bool cli_jobs_ok(int jobs)
{
    if (jobs >= 0 && jobs <= CLI_MAX_JOBS)
        return true;
    cli_error("--jobs must be 0 (one per core) to %d (not %d)", CLI_MAX_JOBS, jobs);
    return false;
}

bool cli_ocr_mode_ok(const char *mode)
{
    if (!strcmp(mode, "auto") || !strcmp(mode, "always") || !strcmp(mode, "never"))
        return true;
    cli_error("--ocr must be auto, always or never (not '%s')", mode);
    return false;
}

void cli_ocr_summary(const ingest_run *run)
{
    long long unreadable = run->unreadable_ocr + run->unreadable_failed;
    if (unreadable || run->dropped)
        fprintf(stderr,
                "text layers: %lld unreadable page%s (%lld read by OCR, %lld not indexed); "
                "%lld unmapped character%s dropped\n",
                unreadable, unreadable == 1 ? "" : "s", run->unreadable_ocr,
                run->unreadable_failed, run->dropped, run->dropped == 1 ? "" : "s");
    if (run->ocr_pages == 0 && run->ocr_empty == 0)
        return;
    fprintf(stderr, "OCR read %lld scanned page%s (mean confidence %.0f%%)", run->ocr_pages,
            run->ocr_pages == 1 ? "" : "s",
            run->ocr_pages ? run->ocr_conf_sum / (double)run->ocr_pages : 0.0);
    if (run->ocr_empty)
        fprintf(stderr, "; found no text on %lld", run->ocr_empty);
    fputc('\n', stderr);
}

void cli_report_skipped(const file_list *files)
{
    for (const char *s = files->skipped.data, *nl; s && *s; s = nl + 1) {
        nl = strchr(s, '\n');
        cli_error("%.*s", (int)(nl - s), s);
    }
}
