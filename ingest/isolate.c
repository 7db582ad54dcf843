/* isolate.c - reading files in child processes, so a crashing parser costs one file.
 *
 * A file can crash a parser outright (20,000 nested HTML elements overflow
 * the stack inside MuPDF's layout; a bug in any reader does the same), and no
 * fz_try catches that. The child runs ingest_extract_params() (and, for an
 * ingest run, cleanup and splitting too, so that several children do all of
 * a document's CPU work side by side) and sends the result back through a
 * pipe in a plain length-prefixed form that only this file writes and reads
 * (same binary on both ends, so numbers travel as their bytes). The parent
 * turns a child killed by a signal into a failure that names the signal, and
 * the batch goes on. The child gets the default action for crash signals, so
 * a sanitizer build's handlers do not report the parser's crash as docqa's,
 * and it dies with its parent.
 *
 * ingest_reader_* run one child without blocking the caller, which may run
 * several at once (poll their descriptors) from one thread. The readers start
 * no threads; a caller's other threads (an embedding model's pool, idle
 * between the batches the ingest run embeds while it waits) may hold their
 * own locks at fork(), but the child takes none of them (glibc's malloc
 * locks are reset in the child), only MuPDF's and the child's own. A reader
 * of a large PDF may fork page workers of its own (pages.h), before its OCR
 * threads start.
 *
 * Memory has two bounds. MuPDF's allocations are counted against
 * max_doc_bytes (memcap.h) and fail cleanly with the limit's name; what is
 * not MuPDF's (the document being built, the OCR engine, a library's own
 * malloc) meets a backstop: the child's data segment (RLIMIT_DATA) may grow
 * by twice max_doc_bytes over what it had at the fork (and 384 MB per OCR
 * worker when OCR may run). MuPDF meeting it fails as at the cap; our own
 * allocations (dq_malloc) send WIRE_NO_MEMORY and end the child; the parent
 * names the limit either way. Sanitizer builds, whose allocator reserves its
 * own address space, go without the backstop.
 */
#include "ingest/pages.h"
#include "ingest/quality.h"
#include "ingest/raw.h"

#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
    WIRE_OK = 0x6f6b,
    WIRE_FAILED = 0x6661,
    WIRE_PREP_FAILED = 0x7066,
    WIRE_NO_MEMORY = 0x6e6d,
    FLUSH_BYTES = 1 << 20
};
static const uint64_t NO_STRING = UINT64_MAX;

/* ---- what a reader makes ------------------------------------------------------ */

int ingest_prepare(const split_params *split, ingest_prepared *p)
{
    p->title = NULL;
    p->page_texts = NULL;
    p->n_pages = 0;
    p->chunks = (chunk_list){0};
    p->boxes = NULL;
    p->body_text = false;
    ingest_doc doc = {0};
    if (ingest_clean(&p->raw, &doc) < 0 || split_document(&doc, split, &p->chunks) < 0) {
        ingest_doc_free(&doc);
        return -1;
    }
    p->title = doc.title ? dq_strdup(doc.title) : NULL;
    p->n_pages = doc.n_pages;
    p->page_texts = dq_calloc(doc.n_pages ? doc.n_pages : 1, sizeof *p->page_texts);
    for (size_t i = 0; i < doc.n_pages; i++) {
        p->page_texts[i] = ingest_page_text(&doc.pages[i]);
        for (size_t k = 0; k < doc.pages[i].n_paras && !p->body_text; k++)
            p->body_text = doc.pages[i].paras[k].text && doc.pages[i].paras[k].text[0];
    }
    ingest_doc_free(&doc);
    p->boxes = dq_calloc(p->chunks.n ? p->chunks.n : 1, sizeof *p->boxes);
    ingest_doc_boxes(&p->raw, &p->chunks, p->boxes);
    return 0;
}

void ingest_prepared_free(ingest_prepared *p)
{
    if (!p)
        return;
    ingest_raw_doc_free(&p->raw);
    free(p->title);
    for (size_t i = 0; p->page_texts && i < p->n_pages; i++)
        free(p->page_texts[i]);
    free(p->page_texts);
    for (size_t i = 0; p->boxes && i < p->chunks.n; i++)
        free(p->boxes[i].items);
    free(p->boxes);
    chunk_list_free(&p->chunks);
    memset(p, 0, sizeof *p);
}

/* ---- the child's side ------------------------------------------------------ */

typedef struct {
    int fd;
    dq_buf buf;
    bool broken; /* the parent is gone: nothing more is written */
} wire_out;

/* The child's pipe while nothing has been written to it yet, else -1: a
 * failed allocation is reported only on a clean wire. */
static int oom_fd = -1;

static void wire_flush(wire_out *w)
{
    oom_fd = -1; /* the wire holds part of a reply now */
    size_t off = 0;
    while (!w->broken && off < w->buf.len) {
        ssize_t n = write(w->fd, w->buf.data + off, w->buf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            w->broken = true;
        else
            off += (size_t)n;
    }
    dq_buf_clear(&w->buf);
}

static void put_bytes(wire_out *w, const void *p, size_t n)
{
    dq_buf_append(&w->buf, p, n);
    if (w->buf.len >= FLUSH_BYTES)
        wire_flush(w);
}

#define PUT(w, v) put_bytes((w), &(v), sizeof(v))

static void put_string(wire_out *w, const char *s)
{
    uint64_t n = s ? strlen(s) : NO_STRING;
    PUT(w, n);
    if (s)
        put_bytes(w, s, (size_t)n);
}

/* with_blocks false: the pages' marks only (the lines went into the chunks). */
static void put_doc(wire_out *w, const ingest_raw_doc *doc, bool with_blocks)
{
    put_string(w, doc->format);
    put_string(w, doc->title);
    PUT(w, doc->cite);
    PUT(w, doc->styled);
    uint64_t n_pages = doc->n_pages;
    PUT(w, n_pages);
    for (size_t i = 0; i < doc->n_pages; i++) {
        const ingest_raw_page *p = &doc->pages[i];
        PUT(w, p->number);
        PUT(w, p->width);
        PUT(w, p->height);
        PUT(w, p->scanned);
        PUT(w, p->ocr);
        PUT(w, p->ocr_conf);
        put_string(w, p->label);
        put_string(w, p->unreadable);
        PUT(w, p->dropped);
        uint64_t n_blocks = with_blocks ? p->n_blocks : 0;
        PUT(w, n_blocks);
        for (size_t b = 0; b < n_blocks; b++) {
            const ingest_block *bl = &p->blocks[b];
            PUT(w, bl->table);
            put_string(w, bl->header);
            uint64_t n_lines = bl->n_lines;
            PUT(w, n_lines);
            for (size_t l = 0; l < bl->n_lines; l++) {
                const ingest_line *ln = &bl->lines[l];
                put_string(w, ln->text);
                PUT(w, ln->size);
                PUT(w, ln->bold);
                PUT(w, ln->heading);
                PUT(w, ln->loc);
                PUT(w, ln->x0);
                PUT(w, ln->y0);
                PUT(w, ln->x1);
                PUT(w, ln->y1);
            }
        }
    }
}

/* What cleanup and splitting add to the raw document. */
static void put_prepared(wire_out *w, const ingest_prepared *p)
{
    put_string(w, p->title);
    uint64_t n_pages = p->n_pages;
    PUT(w, n_pages);
    for (size_t i = 0; i < p->n_pages; i++)
        put_string(w, p->page_texts[i]);
    PUT(w, p->body_text);
    uint64_t n_chunks = p->chunks.n;
    PUT(w, n_chunks);
    for (size_t i = 0; i < p->chunks.n; i++) {
        const chunk *c = &p->chunks.items[i];
        put_string(w, c->text);
        put_string(w, c->section);
        put_string(w, c->label);
        PUT(w, c->page_start);
        PUT(w, c->page_end);
        PUT(w, c->ordinal);
        PUT(w, c->table);
        uint64_t n_boxes = p->boxes[i].n;
        PUT(w, n_boxes);
        put_bytes(w, p->boxes[i].items, p->boxes[i].n * sizeof *p->boxes[i].items);
    }
}

static void put_failure(wire_out *w, int32_t status)
{
    PUT(w, status);
    put_string(w, dq_last_error());
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DQ_DATA_BACKSTOP 0
#else
#define DQ_DATA_BACKSTOP 1
#endif

/* The child's data segment now (VmData, what RLIMIT_DATA counts), or -1. */
static long long data_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmData: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : kb << 10;
}

/* RLIMIT_DATA at what the child holds plus twice max_doc_bytes (see above),
 * and room for each OCR worker (its own MuPDF, a page at 300 dpi, Tesseract). */
static void set_data_backstop(const ingest_params *params)
{
    long long now = data_bytes();
    if (!DQ_DATA_BACKSTOP || params->max_doc_bytes <= 0 || now < 0)
        return;
    long long room = 2 * params->max_doc_bytes;
    if (params->ocr && params->ocr->mode != OCR_NEVER) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int workers = params->ocr->threads > 0 ? params->ocr->threads : cores > 0 ? (int)cores : 1;
        room += (long long)workers * (384LL << 20);
    }
    struct rlimit cur;
    if (getrlimit(RLIMIT_DATA, &cur) < 0)
        return;
    rlim_t want = (rlim_t)(now + room);
    if (cur.rlim_max != RLIM_INFINITY && want > cur.rlim_max)
        want = cur.rlim_max;
    struct rlimit lim = {want, cur.rlim_max};
    setrlimit(RLIMIT_DATA, &lim);
}

/* dq_malloc's failure in the child: WIRE_NO_MEMORY and the size asked for. */
static void child_out_of_memory(size_t n)
{
    if (oom_fd >= 0) {
        int32_t kind = WIRE_NO_MEMORY;
        uint64_t bytes = n;
        char msg[sizeof kind + sizeof bytes];
        memcpy(msg, &kind, sizeof kind);
        memcpy(msg + sizeof kind, &bytes, sizeof bytes);
        ssize_t w = write(oom_fd, msg, sizeof msg);
        (void)w;
    }
    _exit(3);
}

/* What a child does between its set-up and its exit: writes its reply to w. */
typedef void (*child_body)(wire_out *w, const void *arg);

static _Noreturn void run_child(int fd, pid_t parent, const ingest_params *params,
                                child_body body, const void *arg)
{
    /* The default action, not a sanitizer's report: the parent tells it. */
    static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof crash_signals / sizeof *crash_signals; i++)
        signal(crash_signals[i], SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* A parent killed before the prctl sends no signal: a page worker would
     * read on, orphaned, past its reader's end. */
    if (getppid() != parent)
        _exit(1);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    set_data_backstop(params);
    oom_fd = fd;
    dq_set_out_of_memory(child_out_of_memory);

    wire_out w = {fd, DQ_BUF_INIT, false};
    body(&w, arg);
    wire_flush(&w);
    /* _exit: the parent's atexit handlers (and a leak checker) are not ours. */
    _exit(w.broken ? 1 : 0);
}

/* A reader's work: one file, extracted (and cleaned and split with split). */
typedef struct {
    const char *path;
    const ingest_params *params;
    const split_params *split;
    const ingest_spawn_setup *setup; /* from a spawner, else NULL */
} read_job;

static void read_body(wire_out *w, const void *arg)
{
    const read_job *job = arg;
    if (job->setup && job->setup->fn)
        job->setup->fn(job->setup->user, job->setup->state, job->setup->n);
    ingest_prepared prep;
    int32_t status = WIRE_OK;
    if (ingest_extract_params(job->path, job->params, &prep.raw) < 0) {
        put_failure(w, WIRE_FAILED);
    } else if (job->split && ingest_prepare(job->split, &prep) < 0) {
        put_failure(w, WIRE_PREP_FAILED);
    } else {
        PUT(w, status);
        put_doc(w, &prep.raw, !job->split);
        if (job->split)
            put_prepared(w, &prep);
    }
}

/* A page worker's work: the text pass over a range of a PDF's pages. */
typedef struct {
    const char *path;
    const ingest_params *params;
    int from, to;
} pages_job;

static void put_part(wire_out *w, const page_part *p)
{
    put_doc(w, &p->raw, true);
    for (size_t i = 0; i < p->raw.n_pages; i++) {
        PUT(w, p->loaded[i]);
        PUT(w, p->quality[i]);
        uint64_t chars = p->page_chars[i];
        PUT(w, chars);
        uint64_t n_h = p->rules[i].n_h;
        PUT(w, n_h);
        put_bytes(w, p->rules[i].h, p->rules[i].n_h * sizeof *p->rules[i].h);
    }
    PUT(w, p->stats);
    PUT(w, p->warning);
}

static void pages_body(wire_out *w, const void *arg)
{
    const pages_job *job = arg;
    page_part part;
    int32_t status = WIRE_OK;
    if (page_part_read(job->path, job->params, job->from, job->to, &part) < 0) {
        put_failure(w, WIRE_FAILED);
    } else {
        PUT(w, status);
        put_part(w, &part);
    }
    page_part_free(&part);
}

/* ---- the parent's side ------------------------------------------------------- */

typedef struct {
    const char *p, *end;
    bool bad;
} wire_in;

static void get_bytes(wire_in *r, void *out, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}

#define GET(r, v) get_bytes((r), &(v), sizeof(v))

static char *get_string(wire_in *r)
{
    uint64_t n = 0;
    GET(r, n);
    if (r->bad || n == NO_STRING)
        return NULL;
    if (n > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        return NULL;
    }
    char *s = dq_malloc((size_t)n + 1);
    memcpy(s, r->p, (size_t)n);
    s[n] = '\0';
    r->p += n;
    return s;
}

/* A count the remaining bytes can hold at min_size bytes per item. */
static size_t get_count(wire_in *r, size_t min_size)
{
    uint64_t n = 0;
    GET(r, n);
    if (n > (uint64_t)(r->end - r->p) / min_size)
        r->bad = true;
    return r->bad ? 0 : (size_t)n;
}

/* Built as the extractors build a document (raw.h), so what comes back may
 * grow as theirs may (OCR adds blocks to a page). */
static void get_doc(wire_in *r, ingest_raw_doc *doc)
{
    doc->format = get_string(r);
    doc->title = get_string(r);
    GET(r, doc->cite);
    GET(r, doc->styled);
    size_t n_pages = get_count(r, sizeof(int));
    for (size_t i = 0; i < n_pages && !r->bad; i++) {
        ingest_raw_page *p = raw_add_page(doc, 0);
        GET(r, p->number);
        GET(r, p->width);
        GET(r, p->height);
        GET(r, p->scanned);
        GET(r, p->ocr);
        GET(r, p->ocr_conf);
        p->label = get_string(r);
        char *why = get_string(r);
        p->unreadable = quality_reason_static(why);
        free(why);
        GET(r, p->dropped);
        size_t n_blocks = get_count(r, sizeof(uint64_t));
        for (size_t b = 0; b < n_blocks && !r->bad; b++) {
            ingest_block *bl = raw_add_block(p);
            GET(r, bl->table);
            bl->header = get_string(r);
            size_t n_lines = get_count(r, sizeof(uint64_t));
            for (size_t l = 0; l < n_lines && !r->bad; l++) {
                char *text = get_string(r);
                ingest_line *ln = raw_add_line(bl, text ? text : dq_strdup(""));
                GET(r, ln->size);
                GET(r, ln->bold);
                GET(r, ln->heading);
                GET(r, ln->loc);
                GET(r, ln->x0);
                GET(r, ln->y0);
                GET(r, ln->x1);
                GET(r, ln->y1);
            }
        }
    }
}

static void get_part(wire_in *r, page_part *p)
{
    get_doc(r, &p->raw);
    size_t n = p->raw.n_pages;
    p->rules = dq_calloc(n ? n : 1, sizeof *p->rules);
    p->quality = dq_calloc(n ? n : 1, sizeof *p->quality);
    p->page_chars = dq_calloc(n ? n : 1, sizeof *p->page_chars);
    p->loaded = dq_calloc(n ? n : 1, sizeof *p->loaded);
    p->n_alloc = n;
    for (size_t i = 0; i < n && !r->bad; i++) {
        GET(r, p->loaded[i]);
        GET(r, p->quality[i]);
        uint64_t chars = 0;
        GET(r, chars);
        p->page_chars[i] = (size_t)chars;
        table_rules *rules = &p->rules[i];
        rules->n_h = rules->cap_h = get_count(r, sizeof *rules->h);
        rules->h = dq_malloc((rules->n_h ? rules->n_h : 1) * sizeof *rules->h);
        get_bytes(r, rules->h, rules->n_h * sizeof *rules->h);
    }
    GET(r, p->stats);
    GET(r, p->warning);
    p->stats.first_error[sizeof p->stats.first_error - 1] = '\0';
    p->warning[sizeof p->warning - 1] = '\0';
}

static void get_prepared(wire_in *r, ingest_prepared *p)
{
    p->title = get_string(r);
    p->n_pages = get_count(r, sizeof(uint64_t));
    p->page_texts = dq_calloc(p->n_pages ? p->n_pages : 1, sizeof *p->page_texts);
    for (size_t i = 0; i < p->n_pages && !r->bad; i++) {
        p->page_texts[i] = get_string(r);
        if (!p->page_texts[i])
            p->page_texts[i] = dq_strdup("");
    }
    GET(r, p->body_text);
    p->chunks.n = get_count(r, 3 * sizeof(uint64_t));
    p->chunks.items = dq_calloc(p->chunks.n ? p->chunks.n : 1, sizeof *p->chunks.items);
    p->boxes = dq_calloc(p->chunks.n ? p->chunks.n : 1, sizeof *p->boxes);
    for (size_t i = 0; i < p->chunks.n && !r->bad; i++) {
        chunk *c = &p->chunks.items[i];
        c->text = get_string(r);
        c->section = get_string(r);
        c->label = get_string(r);
        GET(r, c->page_start);
        GET(r, c->page_end);
        GET(r, c->ordinal);
        GET(r, c->table);
        ingest_boxes *b = &p->boxes[i];
        b->n = get_count(r, sizeof *b->items);
        b->items = dq_malloc((b->n ? b->n : 1) * sizeof *b->items);
        get_bytes(r, b->items, b->n * sizeof *b->items);
        if (!c->text)
            c->text = dq_strdup("");
        if (!c->section)
            c->section = dq_strdup("");
        if (!c->label)
            c->label = dq_strdup("");
    }
}

/* The error for a child that did not hand back a document. */
static void set_child_error(int status)
{
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        dq_set_error("the reader was killed (SIGKILL: out of memory?); the file was skipped");
    else if (WIFSIGNALED(status))
        dq_set_error("the reader crashed on this file (%s, signal %d); the file was skipped",
                     sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
                     WTERMSIG(status));
    else
        dq_set_error("the reader exited with status %d without a result",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

struct ingest_reader {
    pid_t pid;
    int fd;      /* the read end of the child's pipe; -1 once it ended */
    int read_errno; /* a read that failed, else 0 */
    bool split;  /* the child cleans and splits too */
    long long max_doc_bytes; /* the child's memory limit, to name it */
    dq_buf got;  /* what the child wrote so far */
};

/* The parent's side of a child that writes its reply to fd. */
static ingest_reader *reader_new(pid_t pid, int fd, const ingest_params *params, bool split)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ingest_reader *r = dq_calloc(1, sizeof *r);
    *r = (ingest_reader){pid, fd, 0, split, params->max_doc_bytes, DQ_BUF_INIT};
    return r;
}

/* A pipe for a child's reply; -1 with the error set. */
static int reply_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0) {
        dq_set_error("cannot start the reader: %s", strerror(errno));
        return -1;
    }
    /* A larger pipe lets the child finish writing while the parent stores
     * another document (best effort: the system may cap it). */
    fcntl(fds[1], F_SETPIPE_SZ, FLUSH_BYTES);
    return 0;
}

/* Starts a child that runs body(arg) and writes its reply to a pipe;
 * NULL with the error set. */
static ingest_reader *spawn(const ingest_params *params, child_body body, const void *arg,
                            bool split)
{
    int fds[2];
    if (reply_pipe(fds) < 0)
        return NULL;
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        dq_set_error("cannot start the reader: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        close(fds[0]);
        run_child(fds[1], parent, params, body, arg);
    }
    close(fds[1]);
    return reader_new(pid, fds[0], params, split);
}

ingest_reader *ingest_reader_start(const char *path, const ingest_params *params,
                                   const split_params *split)
{
    read_job job = {path, params, split, NULL};
    return spawn(params, read_body, &job, split != NULL);
}

int ingest_reader_fd(const ingest_reader *r)
{
    return r->fd;
}

int ingest_reader_pump(ingest_reader *r)
{
    while (r->fd >= 0) {
        /* Straight into the reply: a pipe holds up to FLUSH_BYTES. */
        dq_buf_reserve(&r->got, FLUSH_BYTES);
        ssize_t n = read(r->fd, r->got.data + r->got.len, FLUSH_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n > 0) {
            r->got.len += (size_t)n;
            r->got.data[r->got.len] = '\0';
            continue;
        }
        if (n < 0)
            r->read_errno = errno;
        close(r->fd);
        r->fd = -1;
    }
    return 1;
}

static void reader_free(ingest_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    dq_buf_free(&r->got);
    free(r);
}

static void reap(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
}

size_t ingest_reader_bytes(const ingest_reader *r)
{
    return r->got.len;
}

/* Waits for r's child to end and reads the head of its reply: 0 with in
 * at the rest of a WIRE_OK reply, else -1, INGEST_READ_FAILED or
 * INGEST_PREP_FAILED with the error set. r stays the caller's. */
static int reader_wait(ingest_reader *r, wire_in *in)
{
    while (ingest_reader_pump(r) == 0) {
        struct pollfd pfd = {r->fd, POLLIN, 0};
        poll(&pfd, 1, -1);
    }
    int status = 0;
    reap(r->pid, &status);
    *in = (wire_in){r->got.data, r->got.data + r->got.len, false};
    int32_t kind = 0;
    GET(in, kind);
    if (r->read_errno) {
        dq_set_error("cannot read the reader's result: %s", strerror(r->read_errno));
    } else if (kind == WIRE_NO_MEMORY) {
        uint64_t asked = 0;
        GET(in, asked);
        long long mb = r->max_doc_bytes >> 20;
        if (r->max_doc_bytes > 0)
            dq_set_error("needs more than %lld MB of memory to read, over the limit of %lld MB "
                         "per document (--max-doc-memory); %llu MB more were refused",
                         mb, mb, (unsigned long long)(asked >> 20));
        else
            dq_set_error("out of memory (%llu MB more were refused)",
                         (unsigned long long)(asked >> 20));
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || in->bad) {
        set_child_error(status);
    } else if (kind == WIRE_FAILED || kind == WIRE_PREP_FAILED) {
        char *msg = get_string(in);
        dq_set_error("%s", msg ? msg : "failed");
        free(msg);
        return kind == WIRE_FAILED ? INGEST_READ_FAILED : INGEST_PREP_FAILED;
    } else if (kind != WIRE_OK) {
        dq_set_error("the reader's result was cut short");
    } else {
        return 0;
    }
    return -1;
}

int ingest_reader_finish(ingest_reader *r, ingest_prepared *out)
{
    memset(out, 0, sizeof *out);
    wire_in in;
    int rc = reader_wait(r, &in);
    if (rc == 0) {
        get_doc(&in, &out->raw);
        if (r->split && !in.bad)
            get_prepared(&in, out);
        if (in.bad || in.p != in.end) {
            ingest_prepared_free(out);
            dq_set_error("the reader's result was cut short");
            rc = -1;
        }
    }
    reader_free(r);
    return rc;
}

void ingest_reader_cancel(ingest_reader *r)
{
    if (!r)
        return;
    kill(r->pid, SIGKILL);
    int status;
    reap(r->pid, &status);
    reader_free(r);
}

int ingest_extract_isolated(const char *path, const ingest_params *params, ingest_raw_doc *out)
{
    memset(out, 0, sizeof *out);
    ingest_reader *r = ingest_reader_start(path, params, NULL);
    if (!r)
        return -1;
    ingest_prepared p;
    if (ingest_reader_finish(r, &p) != 0)
        return -1;
    *out = p.raw;
    return 0;
}

/* ---- a PDF's pages read in parts (pages.h) --------------------------------- */

struct page_workers {
    ingest_reader **r; /* (n) one per range, in page order; NULL once done */
    size_t n;
};

void page_workers_cancel(page_workers *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        ingest_reader_cancel(w->r[i]);
    free(w->r);
    free(w);
}

page_workers *page_workers_start(const char *path, const ingest_params *params,
                                 const int *bounds, size_t n)
{
    page_workers *w = dq_calloc(1, sizeof *w);
    w->r = dq_calloc(n ? n : 1, sizeof *w->r);
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        pages_job job = {path, params, bounds[i], bounds[i + 1]};
        if (!(w->r[i] = spawn(params, pages_body, &job, false))) {
            page_workers_cancel(w);
            return NULL;
        }
    }
    return w;
}

int page_workers_finish(page_workers *w, page_part *out)
{
    memset(out, 0, w->n * sizeof *out);
    int rc = 0;
    for (size_t i = 0; i < w->n && rc == 0; i++) {
        wire_in in;
        if (reader_wait(w->r[i], &in) < 0) {
            rc = -1;
        } else {
            get_part(&in, &out[i]);
            if (in.bad || in.p != in.end) {
                dq_set_error("the reader's result was cut short");
                rc = -1;
            }
        }
        reader_free(w->r[i]);
        w->r[i] = NULL;
    }
    if (rc < 0)
        for (size_t i = 0; i < w->n; i++)
            page_part_free(&out[i]);
    page_workers_cancel(w); /* the ranges after a failed one */
    return rc;
}

/* ---- readers forked by a spawner (ingest.h) -------------------------------- */

/* Forking the writer itself cost it more than the fork: every page it wrote
 * afterwards (SQLite's cache, the malloc heap) was copied on its first write
 * while a reader shared it, and each reader copied what it wrote of the
 * writer's heap too. The spawner is forked once, while the caller is small,
 * and forks each reader with CLONE_PARENT: the reader is the caller's own
 * child as before (the caller waits for it, kills it, and it dies with the
 * caller), only its memory is the spawner's. The spawner forks nothing else
 * and starts no thread, so the raw clone needs none of fork()'s handlers
 * (glibc's record of the thread's id stays the spawner's in the reader: it
 * serves as a lock owner's token there, and raise() asks the kernel). A
 * request that fails in any way (the spawner gone; the clone refused, as a
 * seccomp filter may, or as the kernel refuses CLONE_PARENT to an init,
 * which the spawner never is) turns the spawner off, and readers are forked
 * directly again. */
struct ingest_spawner {
    pid_t pid;
    int sock; /* our end of a SOCK_SEQPACKET pair; -1 once the spawner failed */
};

/* A request: this head, then the path, password and OCR languages with
 * their NULs and the caller's state (len: bytes of each, NO_LEN for NULL),
 * with the reply pipe's write end attached (SCM_RIGHTS). */
typedef struct {
    ingest_params params; /* password and ocr are re-pointed at the copies */
    ocr_params ocr;       /* langs is re-pointed */
    split_params split;
    bool has_ocr;
    ingest_spawn_setup setup; /* fn and user: the same in the spawner's copy; state
                               * is re-pointed */
    uint32_t len[4];
} spawn_head;

enum { SPAWN_MSG_MAX = 32 << 10 };
static const uint32_t NO_LEN = UINT32_MAX;

/* sendmsg/recvmsg with one descriptor beside the bytes. */
static ssize_t send_fd(int sock, const void *buf, size_t n, int fd)
{
    struct iovec iov = {(void *)buf, n};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t rc;
    while ((rc = sendmsg(sock, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return rc;
}

static ssize_t recv_fd(int sock, void *buf, size_t n, int *fd)
{
    struct iovec iov = {buf, n};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
    *fd = -1;
    ssize_t rc;
    while ((rc = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    struct cmsghdr *c = rc >= 0 ? CMSG_FIRSTHDR(&m) : NULL;
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(fd, CMSG_DATA(c), sizeof *fd);
    if (rc >= 0 && (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        rc = -1; /* the caller builds no request this large */
    return rc;
}

/* The job msg (n bytes) asks for, its strings pointing into msg; false
 * when it is malformed. */
static bool parse_request(const char *msg, size_t n, spawn_head *h, read_job *job)
{
    if (n < sizeof *h)
        return false;
    memcpy(h, msg, sizeof *h);
    const char *field[4];
    size_t off = sizeof *h;
    for (int i = 0; i < 4; i++) {
        field[i] = NULL;
        if (h->len[i] == NO_LEN)
            continue;
        if (h->len[i] > n - off || (i < 3 && (h->len[i] == 0 || msg[off + h->len[i] - 1])))
            return false;
        field[i] = msg + off;
        off += h->len[i];
    }
    if (!field[0])
        return false;
    h->params.password = field[1];
    h->ocr.langs = field[2];
    h->params.ocr = h->has_ocr ? &h->ocr : NULL;
    h->setup.state = field[3];
    h->setup.n = field[3] ? h->len[3] : 0;
    *job = (read_job){field[0], &h->params, &h->split, &h->setup};
    return true;
}

/* The raw clone passes the flags first and no stack, and takes 0 as the
 * child's return: so the x86, ARM, RISC-V, POWER and LoongArch kernels. s390
 * takes the stack first and SPARC returns the parent's pid to the child, so
 * there (and wherever else unchecked) readers are forked directly. */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__) ||   \
    defined(__riscv) || defined(__powerpc__) || defined(__loongarch__)
#define DQ_RAW_CLONE 1
#else
#define DQ_RAW_CLONE 0
#endif

/* The spawner's loop: a reader per request, the reply its pid or -errno,
 * until the caller closes its end. */
static void spawner_serve(int sock, pid_t parent)
{
    char msg[SPAWN_MSG_MAX];
    for (;;) {
        int fd;
        ssize_t n = recv_fd(sock, msg, sizeof msg, &fd);
        if (n <= 0) {
            if (fd >= 0)
                close(fd);
            return;
        }
        spawn_head h;
        read_job job;
        int32_t reply = -EINVAL;
        if (fd >= 0 && parse_request(msg, (size_t)n, &h, &job)) {
            pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
            if (pid == 0) {
                close(sock);
                run_child(fd, parent, &h.params, read_body, &job);
            }
            reply = pid < 0 ? -errno : (int32_t)pid;
        }
        if (fd >= 0)
            close(fd);
        if (send(sock, &reply, sizeof reply, MSG_NOSIGNAL) != (ssize_t)sizeof reply)
            return;
    }
}

ingest_spawner *ingest_spawner_new(void)
{
    int sv[2];
    if (!DQ_RAW_CLONE || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return NULL;
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    if (pid == 0) {
        close(sv[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == parent)
            spawner_serve(sv[1], parent);
        _exit(0); /* the caller's atexit handlers (and a leak checker) are not ours */
    }
    close(sv[1]);
    ingest_spawner *s = dq_calloc(1, sizeof *s);
    *s = (ingest_spawner){pid, sv[0]};
    return s;
}

void ingest_spawner_free(ingest_spawner *s)
{
    if (!s)
        return;
    if (s->sock >= 0)
        close(s->sock); /* the spawner's recv ends, and so does it */
    int status;
    reap(s->pid, &status);
    free(s);
}

static void put_field(dq_buf *b, spawn_head *h, int i, const void *p, size_t n)
{
    h->len[i] = p ? (uint32_t)n : NO_LEN;
    if (p)
        dq_buf_append(b, (const char *)p, n);
}

/* The request for path; false when it would not fit a message. */
static bool build_request(dq_buf *b, const char *path, const ingest_params *params,
                          const split_params *split, const ingest_spawn_setup *setup)
{
    spawn_head h;
    memset(&h, 0, sizeof h);
    h.params = *params;
    h.has_ocr = params->ocr != NULL;
    if (params->ocr)
        h.ocr = *params->ocr;
    h.split = *split;
    if (setup)
        h.setup = *setup;
    h.setup.state = NULL;
    dq_buf_append(b, (const char *)&h, sizeof h);
    put_field(b, &h, 0, path, strlen(path) + 1);
    put_field(b, &h, 1, params->password, params->password ? strlen(params->password) + 1 : 0);
    const char *langs = params->ocr ? params->ocr->langs : NULL;
    put_field(b, &h, 2, langs, langs ? strlen(langs) + 1 : 0);
    put_field(b, &h, 3, setup && setup->n ? setup->state : NULL, setup ? setup->n : 0);
    memcpy(b->data, &h, sizeof h);
    return b->len <= SPAWN_MSG_MAX;
}

/* Asks s for a reader writing to fd: its pid, or -1 (s is turned off). */
static pid_t spawner_fork(ingest_spawner *s, const dq_buf *req, int fd)
{
    int32_t reply = -1;
    ssize_t n = send_fd(s->sock, req->data, req->len, fd);
    if (n == (ssize_t)req->len) {
        while ((n = recv(s->sock, &reply, sizeof reply, 0)) < 0 && errno == EINTR)
            ;
    }
    if (n != (ssize_t)sizeof reply || reply <= 0) {
        close(s->sock);
        s->sock = -1;
        return -1;
    }
    return (pid_t)reply;
}

ingest_reader *ingest_reader_spawn(ingest_spawner *s, const char *path,
                                   const ingest_params *params, const split_params *split,
                                   const ingest_spawn_setup *setup)
{
    dq_buf req = DQ_BUF_INIT;
    int fds[2] = {-1, -1};
    pid_t pid = -1;
    if (s && s->sock >= 0 && build_request(&req, path, params, split, setup) &&
        reply_pipe(fds) == 0) {
        pid = spawner_fork(s, &req, fds[1]);
        close(fds[1]);
        if (pid < 0)
            close(fds[0]);
    }
    dq_buf_free(&req);
    if (pid < 0)
        return ingest_reader_start(path, params, split);
    return reader_new(pid, fds[0], params, true);
}
