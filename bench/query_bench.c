/* query_bench.c - vector search latency and recall, exact vs approximate, and
 * the overhead of docqa's whole query path over a bare FAISS search.
 *
 * query_bench N MODEL_DIR STORE_DIR [QUERIES] [--no-hnsw] [--no-store] [--store-only]
 *     Makes N clustered unit vectors of MODEL_DIR's dimension (1000 random
 *     centres, Gaussian spread, normalised: real embeddings are clustered,
 *     and uniform random vectors are the worst case no ANN index meets)
 *     and QUERIES queries near random data points (default 200). For each
 *     index kind it prints build time, single-query search p50/p95 (k = 10)
 *     and recall@10 against the exact index. IVF uses the same list and
 *     probe counts docqa's store picks (index/vector_index.c).
 *     Then (unless --no-store) it writes a store in STORE_DIR with N chunks
 *     of synthetic text (Zipf-distributed words from a 5000-word vocabulary)
 *     and these vectors under MODEL_DIR's identity, has the store build its
 *     FAISS file, and times retrieve_search() in hybrid and dense mode
 *     (BM25 over FTS5, dense, RRF, dedup, MMR, snippets) - embedding the
 *     question included, and that embedding timed alone too. --store-only
 *     skips the index comparisons and reuses a store an earlier run wrote;
 *     --no-compare skips them and writes the store.
 *     --corpus EN.txt ZH.txt makes the chunks real-language text instead
 *     (chain_text below; one in five Chinese), --passages DIR adds each file
 *     of DIR as a one-chunk document first (the eval sets' passages), and
 *     --questions FILE times those questions (one a line) instead of four
 *     middling words; --top FILE writes each one's top ids per mode, to
 *     check that a change keeps the results; --modes picks the modes. The
 *     process's resident memory is printed (rss_*) after the index is loaded
 *     and after the queries.
 * Output lines are "key value" pairs that bench/query turns into a table.
 */
#include "common/common.h"
#include "embed/embed.h"
#include "index/index.h"
#include "index/store_impl.h" /* store_exec: the build's page cache */
#include "index/vindex.h"
#include "retrieve/retrieve.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { K = 10, CENTRES = 1000, VOCAB = 5000, WORDS_PER_CHUNK = 60 };

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) / 9007199254740992.0;
}

static float rng_gauss(void)
{
    double u = rng_unit(), v = rng_unit();
    if (u < 1e-300)
        u = 1e-300;
    return (float)(sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v));
}

static void normalise(float *v, int dim)
{
    double ss = 0;
    for (int i = 0; i < dim; i++)
        ss += (double)v[i] * v[i];
    float inv = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < dim; i++)
        v[i] *= inv;
}

/* n vectors around CENTRES random centres; spread chosen so a point's own
 * centre is clearly nearest but clusters overlap in their tails. */
static float *make_vectors(size_t n, int dim)
{
    float *centres = dq_malloc(sizeof(float) * CENTRES * (size_t)dim);
    for (size_t c = 0; c < CENTRES; c++) {
        for (int i = 0; i < dim; i++)
            centres[c * (size_t)dim + (size_t)i] = rng_gauss();
        normalise(centres + c * (size_t)dim, dim);
    }
    float *x = dq_malloc(sizeof(float) * n * (size_t)dim);
    float spread = 1.0f / sqrtf((float)dim); /* per coordinate: |noise| ~ 1 */
    for (size_t j = 0; j < n; j++) {
        const float *c = centres + (rng_next() % CENTRES) * (size_t)dim;
        float *v = x + j * (size_t)dim;
        for (int i = 0; i < dim; i++)
            v[i] = c[i] + spread * rng_gauss();
        normalise(v, dim);
    }
    free(centres);
    return x;
}

/* CPU seconds of the whole process (all threads): on a machine shared with
 * other jobs the wall clock mostly measures the scheduler, so both are shown. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *ms, size_t n, double p)
{
    qsort(ms, n, sizeof *ms, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return ms[i];
}

/* Times nq single-vector searches; ids (nq, K) filled. */
static void time_search(const vindex *v, const float *q, size_t nq, int dim, int64_t *ids,
                        const char *name)
{
    double *ms = dq_malloc(sizeof(double) * nq);
    double *cpu = dq_malloc(sizeof(double) * nq);
    float scores[K];
    vindex_search(v, q, 1, K, scores, ids); /* warm-up */
    for (size_t i = 0; i < nq; i++) {
        double t0 = dq_now(), c0 = cpu_now();
        if (vindex_search(v, q + i * (size_t)dim, 1, K, scores, ids + i * K) < 0) {
            fprintf(stderr, "query_bench: %s\n", dq_last_error());
            exit(1);
        }
        cpu[i] = (cpu_now() - c0) * 1e3;
        ms[i] = (dq_now() - t0) * 1e3;
    }
    printf("%s_p50_ms %.3f\n%s_p95_ms %.3f\n%s_cpu_p50_ms %.3f\n%s_cpu_p95_ms %.3f\n", name,
           percentile(ms, nq, 0.5), name, percentile(ms, nq, 0.95), name,
           percentile(cpu, nq, 0.5), name, percentile(cpu, nq, 0.95));
    free(ms);
    free(cpu);
}

static double recall(const int64_t *truth, const int64_t *got, size_t nq)
{
    size_t hit = 0;
    for (size_t i = 0; i < nq; i++)
        for (int a = 0; a < K; a++)
            for (int b = 0; b < K; b++)
                if (got[i * K + a] == truth[i * K + b] && truth[i * K + b] >= 0) {
                    hit++;
                    break;
                }
    return (double)hit / (double)(nq * K);
}

/* ---- synthetic text -------------------------------------------------------- */

static const char *SYLL[] = {"ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "vu",
                             "ba", "ze", "xi", "go", "fa", "hu"};

static void word(int w, char *out)
{
    /* word w: three syllables from its digits, base 16 */
    snprintf(out, 16, "%s%s%s", SYLL[w % 16], SYLL[(w / 16) % 16], SYLL[(w / 256) % 16]);
    if (w >= 4096)
        strcat(out, "n");
}

/* Zipf(1) over VOCAB words via the inverse CDF of a harmonic table. */
static double harmonic[VOCAB + 1];

static int zipf_word(void)
{
    double u = rng_unit() * harmonic[VOCAB];
    int lo = 1, hi = VOCAB;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (harmonic[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

static void chunk_text(dq_buf *b, int words)
{
    dq_buf_clear(b);
    char w[16];
    for (int i = 0; i < words; i++) {
        word(zipf_word(), w);
        dq_buf_printf(b, "%s%s", i ? " " : "", w);
    }
}

/* ---- real-language text: a first-order chain over a corpus' tokens --------
 *
 * With --corpus EN ZH, chunk text is made by walking real text: from a token,
 * jump to a random other occurrence of the same token and go on from there.
 * Every adjacent pair of tokens (so every CJK bigram the index holds) is one
 * the corpus has, at about its corpus frequency, while the chunks themselves
 * are new: term document frequencies grow with the store as a real
 * collection's do, instead of copies of the same few passages. */

typedef struct {
    char *text;      /* the corpus, owned */
    uint32_t *start; /* (n) byte offset of each token */
    uint16_t *len;   /* (n) its length */
    uint8_t *space;  /* (n) white space before it */
    uint32_t *id;    /* (n) its distinct-token id */
    uint32_t *occ;   /* positions grouped by id: occ[first[id] .. first[id + 1]) */
    uint32_t *first; /* (n_ids + 1) */
    size_t n, n_ids;
} chain;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void chain_load(chain *c, const char *path)
{
    dq_buf b = DQ_BUF_INIT;
    if (dq_read_file(path, &b) < 0) {
        fprintf(stderr, "query_bench: %s\n", dq_last_error());
        exit(1);
    }
    memset(c, 0, sizeof *c);
    c->text = b.data ? dq_buf_take(&b) : dq_strdup("");
    size_t len = strlen(c->text), cap = 0;
    bool sp = false;
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)c->text[i];
        if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r' || ch < 0x20) {
            sp = true;
            i++;
            continue;
        }
        size_t j = i + 1;
        if (isalnum(ch))
            while (j < len && isalnum((unsigned char)c->text[j]) && j - i < 60)
                j++;
        else if (ch >= 0x80)
            while (j < len && ((unsigned char)c->text[j] & 0xC0) == 0x80)
                j++;
        if (c->n == cap) {
            cap = cap ? cap * 2 : 4096;
            c->start = dq_realloc(c->start, cap * sizeof *c->start);
            c->len = dq_realloc(c->len, cap * sizeof *c->len);
            c->space = dq_realloc(c->space, cap * sizeof *c->space);
        }
        c->start[c->n] = (uint32_t)i;
        c->len[c->n] = (uint16_t)(j - i);
        c->space[c->n] = sp;
        c->n++;
        sp = false;
        i = j;
    }
    /* ids by open addressing over the token strings */
    size_t slots = 1;
    while (slots < c->n * 2 + 16)
        slots <<= 1;
    uint32_t *table = dq_malloc(slots * sizeof *table);
    memset(table, 0xFF, slots * sizeof *table);
    c->id = dq_malloc((c->n + 1) * sizeof *c->id);
    uint32_t *rep = dq_malloc((c->n + 1) * sizeof *rep); /* id -> a position */
    for (size_t p = 0; p < c->n; p++) {
        const char *s = c->text + c->start[p];
        size_t h = hash_bytes(s, c->len[p]) & (slots - 1);
        for (;; h = (h + 1) & (slots - 1)) {
            if (table[h] == UINT32_MAX) {
                table[h] = (uint32_t)c->n_ids;
                rep[c->n_ids++] = (uint32_t)p;
                c->id[p] = table[h];
                break;
            }
            uint32_t q = rep[table[h]];
            if (c->len[q] == c->len[p] && !memcmp(c->text + c->start[q], s, c->len[p])) {
                c->id[p] = table[h];
                break;
            }
        }
    }
    free(table);
    free(rep);
    c->first = dq_calloc(c->n_ids + 2, sizeof *c->first);
    for (size_t p = 0; p < c->n; p++)
        c->first[c->id[p] + 2]++;
    for (size_t i = 2; i < c->n_ids + 2; i++)
        c->first[i] += c->first[i - 1];
    c->occ = dq_malloc((c->n + 1) * sizeof *c->occ);
    for (size_t p = 0; p < c->n; p++)
        c->occ[c->first[c->id[p] + 1]++] = (uint32_t)p;
}

static void chain_free(chain *c)
{
    free(c->text);
    free(c->start);
    free(c->len);
    free(c->space);
    free(c->id);
    free(c->occ);
    free(c->first);
}

/* A chunk of about `tokens` tokens, walked from a random position. */
static void chain_text(const chain *c, dq_buf *b, int tokens)
{
    dq_buf_clear(b);
    size_t p = rng_next() % (c->n - 1);
    for (int t = 0; t < tokens; t++) {
        if (b->len && c->space[p])
            dq_buf_putc(b, ' ');
        dq_buf_append(b, c->text + c->start[p], c->len[p]);
        uint32_t id = c->id[p];
        size_t k = c->first[id + 1] - c->first[id];
        p = c->occ[c->first[id] + rng_next() % k] + 1;
        if (p >= c->n)
            p = rng_next() % (c->n - 1);
    }
}

enum { PER_DOC = 100 };

/* The texts of one synthetic document: chunks first .. first + m - 1. */
typedef struct {
    const chain *en, *zh;
    bool real; /* walk en/zh (--corpus), else Zipf words */
    size_t first, m;
    char *texts[PER_DOC]; /* (m) owned */
} text_batch;

static void batch_make(text_batch *b)
{
    dq_buf text = DQ_BUF_INIT;
    for (size_t i = 0; i < b->m; i++) {
        if (!b->real)
            chunk_text(&text, WORDS_PER_CHUNK);
        else if ((b->first + i) % 5 == 4) /* one chunk in five Chinese */
            chain_text(b->zh, &text, 350);
        else
            chain_text(b->en, &text, 250);
        free(b->texts[i]);
        b->texts[i] = dq_buf_take(&text);
    }
    dq_buf_free(&text);
}

static void *batch_main(void *arg)
{
    batch_make(arg);
    return NULL;
}

static void batch_free(text_batch *b)
{
    for (size_t i = 0; i < PER_DOC; i++)
        free(b->texts[i]);
}

/* Options for the store part. */
typedef struct {
    const char *corpus_en, *corpus_zh; /* real text to walk (--corpus), or NULL: Zipf words */
    const char *passages[4];           /* folders of passages stored one chunk each */
    size_t n_passages;
    const char *questions; /* one question a line (--questions), or NULL: 4 middling words */
    const char *top_out;   /* where the top-10 ids of each question go (--top) */
    const char *modes;     /* "hybrid,dense,bm25" */
    bool rebuild;          /* --rebuild: the FAISS file built again with --store-only */
} store_opts;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each file of the passage folders as a document of one chunk: the real
 * answers to the real questions, among the generated chunks. */
static int put_passages(store *st, const store_opts *o, size_t *count)
{
    *count = 0;
    for (size_t f = 0; f < o->n_passages; f++) {
        DIR *d = opendir(o->passages[f]);
        if (!d) {
            dq_set_error("cannot open '%s'", o->passages[f]);
            return -1;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                DQ_GROW(names, cap, n + 1);
                names[n++] = dq_strdup(e->d_name);
            }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_name);
        if (store_begin(st) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", o->passages[f], names[i]);
            dq_buf text = DQ_BUF_INIT;
            if (dq_read_file(path, &text) < 0)
                return -1;
            char sha[65];
            snprintf(sha, sizeof sha, "%064llx", (unsigned long long)(0xA000000 + *count));
            store_chunk_in chunk = {.text = text.data,
                                    .section = "",
                                    .page_start = 1,
                                    .page_end = 1,
                                    .ordinal = 0,
                                    .label = NULL};
            const char *page = "";
            store_doc_info info = {sha, "txt", NULL, 1};
            int rc = store_put_document(st, names[i], 1, 1, &info, &page, &chunk, 1);
            dq_buf_free(&text);
            free(names[i]);
            if (rc < 0)
                return -1;
            (*count)++;
        }
        free(names);
        if (store_commit(st) < 0)
            return -1;
    }
    return 0;
}

static int64_t store_chunk_count(store *st)
{
    store_stats s;
    return store_get_stats(st, &s) < 0 ? -1 : s.chunks;
}

/* Resident memory of this process now and at its peak, MiB. */
static void print_rss(const char *when)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        long kb;
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            printf("rss_%s_mib %.0f\n", when, kb / 1024.0);
        else if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            printf("rss_peak_%s_mib %.0f\n", when, kb / 1024.0);
    }
    if (f)
        fclose(f);
}

/* The questions of --questions, one a line. */
static char **read_questions(const char *path, size_t *n)
{
    dq_buf b = DQ_BUF_INIT;
    if (dq_read_file(path, &b) < 0) {
        fprintf(stderr, "query_bench: %s\n", dq_last_error());
        exit(1);
    }
    char **qs = NULL;
    size_t cap = 0;
    *n = 0;
    for (char *line = b.data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (*line) {
            DQ_GROW(qs, cap, *n + 1);
            qs[(*n)++] = dq_strdup(line);
        }
    }
    dq_buf_free(&b);
    return qs;
}

static void run_store(size_t n, int dim, const float *x, const float *q, size_t nq,
                      const char *model_dir, const char *store_dir, const store_opts *o)
{
    embedder_config ec = {.model_dir = model_dir, .bert = bert_default_params()};
    embedder *emb = embedder_open(&ec);
    if (!emb || embedder_dim(emb) != dim) {
        fprintf(stderr, "query_bench: model '%s': %s\n", model_dir,
                emb ? "dimension differs" : dq_last_error());
        exit(1);
    }
    const char *model = embedder_identity(emb);
    for (int i = 1; i <= VOCAB; i++)
        harmonic[i] = harmonic[i - 1] + 1.0 / i;

    store *st = store_open(store_dir, STORE_CREATE);
    if (!st) {
        fprintf(stderr, "query_bench: %s\n", dq_last_error());
        exit(1);
    }
    int64_t have = store_chunk_count(st);
    double t0 = dq_now();
    if (have != (int64_t)n && !x) {
        fprintf(stderr, "query_bench: --store-only needs the store an earlier run wrote\n");
        exit(1);
    }
    if (have != (int64_t)n) {
        /* A 256 MB page cache while the store is written: with SQLite's 2 MB
         * default, FTS5's segment merges at a million chunks re-read pages
         * from the OS on every step. The bench's own connection only. */
        if (store_exec(st, "PRAGMA cache_size = -262144", "cannot size the page cache") < 0)
            goto fail;
        chain en = {0}, zh = {0};
        if (o->corpus_en) {
            chain_load(&en, o->corpus_en);
            chain_load(&zh, o->corpus_zh);
        }
        size_t real = 0;
        if (put_passages(st, o, &real) < 0)
            goto fail;
        n -= real;
        /* 100 chunks per document, one transaction per 100 documents. The
         * next document's text is made on a second thread while this one is
         * inserted: at a million chunks walking the corpus (cache misses on
         * every token) is a third of the build. Only that thread draws from
         * the generator meanwhile, so the store is the one a serial build
         * writes. */
        text_batch batch[2] = {{.en = &en, .zh = &zh, .real = o->corpus_en != NULL},
                               {.en = &en, .zh = &zh, .real = o->corpus_en != NULL}};
        size_t docs = (n + PER_DOC - 1) / PER_DOC;
        pthread_t maker;
        bool making = false;
        if (docs) {
            batch[0].first = 0;
            batch[0].m = n < PER_DOC ? n : PER_DOC;
            batch_make(&batch[0]);
        }
        for (size_t d = 0; d < docs; d++) {
            text_batch *cur = &batch[d % 2], *next = &batch[(d + 1) % 2];
            if (d + 1 < docs) {
                next->first = (d + 1) * PER_DOC;
                next->m = n - next->first < PER_DOC ? n - next->first : PER_DOC;
                making = pthread_create(&maker, NULL, batch_main, next) == 0;
                if (!making)
                    batch_make(next);
            }
            if (d % 100 == 0 && store_begin(st) < 0)
                goto fail;
            store_chunk_in chunks[PER_DOC];
            for (size_t i = 0; i < cur->m; i++)
                chunks[i] = (store_chunk_in){.text = cur->texts[i],
                                             .section = "",
                                             .page_start = (int)i + 1,
                                             .page_end = (int)i + 1,
                                             .ordinal = (int)i,
                                             .label = NULL};
            char path[64], sha[65];
            snprintf(path, sizeof path, "doc%06zu.txt", d);
            snprintf(sha, sizeof sha, "%064zx", d + 1);
            const char *page = "";
            store_doc_info info = {sha, "txt", NULL, 1};
            if (store_put_document(st, path, 1, 1, &info, &page, chunks, cur->m) < 0)
                goto fail;
            if (d % 100 == 99 || d + 1 == docs) {
                if (store_commit(st) < 0)
                    goto fail;
                if (d % 1000 == 999)
                    fprintf(stderr, "chunks %zu/%zu %.0f s\r", (d + 1) * PER_DOC, n,
                            dq_now() - t0);
            }
            if (making)
                pthread_join(maker, NULL);
            making = false;
        }
        batch_free(&batch[0]);
        batch_free(&batch[1]);
        if (o->corpus_en) {
            chain_free(&en);
            chain_free(&zh);
        }
        n += real;
    }
    store_stats stats;
    if (x && (store_get_stats(st, &stats) < 0 || stats.vectors != (int64_t)n)) {
        /* chunk ids are 1..n in insertion order */
        for (size_t i = 0; i < n; i++) {
            if (i % 10000 == 0 && store_begin(st) < 0)
                goto fail;
            if (store_put_vector(st, (int64_t)i + 1, model, x + i * (size_t)dim, dim) < 0)
                goto fail;
            if ((i % 10000 == 9999 || i + 1 == n) && store_commit(st) < 0)
                goto fail;
            if (i % 100000 == 99999)
                fprintf(stderr, "vectors %zu/%zu %.0f s\r", i + 1, n, dq_now() - t0);
        }
        if (store_set_meta(st, "embed.model", model) < 0)
            goto fail;
        printf("store_insert_s %.1f\n", dq_now() - t0);
    }
    t0 = dq_now();
    store_vx_report rep;
    /* --store-only loads the file an earlier run left, unless --rebuild */
    if ((x || o->rebuild ? store_vindex_rebuild(st, model, &rep)
                         : store_vindex_sync(st, model, &rep)) < 0)
        goto fail;
    printf("store_faiss_%s_s %.1f\nstore_faiss_kind %s\n",
           rep.action == STORE_VX_REBUILT ? "build" : "load", dq_now() - t0,
           rep.quantized ? "ivf-sq8" : rep.approximate ? "ivf" : "exact");
    /* The BM25 file: built (or found current) before the searches. */
    t0 = dq_now();
    double c0 = cpu_now();
    store_bm25_report brep;
    if (store_bm25_sync(st, &brep) < 0)
        goto fail;
    const char *act = brep.action == STORE_BM25_BUILT     ? "build"
                      : brep.action == STORE_BM25_UPDATED ? "update"
                                                          : "load";
    printf("store_bm25_%s_s %.1f\nstore_bm25_%s_cpu_s %.1f\nstore_bm25_terms %lld\n", act,
           dq_now() - t0, act, cpu_now() - c0, (long long)brep.terms);
    print_rss("open");
    char **questions = NULL;
    if (o->questions)
        questions = read_questions(o->questions, &nq);
    FILE *top = o->top_out ? fopen(o->top_out, "w") : NULL;
    if (o->top_out && !top) {
        fprintf(stderr, "query_bench: cannot write '%s'\n", o->top_out);
        exit(1);
    }

    /* Questions: 4 words of middling frequency, so BM25 has real lists to merge. */
    double *ms = dq_malloc(sizeof(double) * nq);
    double *cpu = dq_malloc(sizeof(double) * nq);
    double *enc = dq_malloc(sizeof(double) * nq);
    char qtext[128];
    float *qv = dq_malloc(sizeof(float) * (size_t)dim);
    /* BM25 runs twice, side by side: FTS5 alone, then through the BM25
     * file; the second run counts the questions whose top-k is the same. */
    static const retrieve_mode modes[] = {RETRIEVE_HYBRID, RETRIEVE_DENSE, RETRIEVE_BM25,
                                          RETRIEVE_BM25};
    int64_t *fts_top = dq_calloc(nq * K, sizeof *fts_top);
    size_t same = 0;
    for (int mi = 0; mi < 4; mi++) {
        if (!strstr(o->modes, retrieve_mode_name(modes[mi])))
            continue;
        bool fts_only = mi == 2;
        store_use_bm25_file(st, !fts_only);
        retrieve_params p = retrieve_default_params();
        p.mode = modes[mi];
        p.top_k = K;
        rng_state = 42;
        for (size_t i = 0; i <= nq; i++) {
            char w[4][16];
            for (int j = 0; j < 4; j++)
                word(20 + (int)(rng_next() % 2000), w[j]);
            snprintf(qtext, sizeof qtext, "%s %s %s %s", w[0], w[1], w[2], w[3]);
            /* the warm-up repeats the first question */
            const char *question = questions ? questions[i ? i - 1 : 0] : qtext;
            retrieve_result r;
            double s = dq_now(), c = cpu_now();
            if (retrieve_search(st, emb, question, &p, &r) < 0)
                goto fail;
            double e = dq_now(), ce = cpu_now();
            if (i && modes[mi] == RETRIEVE_BM25) {
                int64_t *want = fts_top + (i - 1) * K;
                bool eq = true;
                for (size_t h = 0; h < K; h++) {
                    int64_t id = h < r.n ? r.items[h].chunk.chunk_id : 0;
                    if (fts_only)
                        want[h] = id;
                    else
                        eq = eq && want[h] == id;
                }
                same += !fts_only && eq;
            }
            if (top && i) {
                fprintf(top, "%s%s\t%zu", retrieve_mode_name(modes[mi]), fts_only ? "_fts5" : "",
                        i);
                for (size_t h = 0; h < r.n; h++)
                    fprintf(top, " %lld", (long long)r.items[h].chunk.chunk_id);
                fputc('\n', top);
            }
            retrieve_result_free(&r);
            if (i == 0)
                continue; /* warm-up */
            ms[i - 1] = (e - s) * 1e3;
            cpu[i - 1] = (ce - c) * 1e3;
            if (mi == 0) {
                const char *t = question;
                c = cpu_now();
                embedder_encode(emb, &t, 1, qv);
                enc[i - 1] = (cpu_now() - c) * 1e3;
            }
        }
        const char *name = fts_only ? "bm25_fts5" : retrieve_mode_name(modes[mi]);
        printf("query_%s_p50_ms %.3f\nquery_%s_p95_ms %.3f\n", name, percentile(ms, nq, 0.5),
               name, percentile(ms, nq, 0.95));
        printf("query_%s_cpu_p50_ms %.3f\nquery_%s_cpu_p95_ms %.3f\n", name,
               percentile(cpu, nq, 0.5), name, percentile(cpu, nq, 0.95));
        if (modes[mi] == RETRIEVE_BM25 && !fts_only)
            printf("query_bm25_same_top%d %zu/%zu\n", K, same, nq);
        fflush(stdout);
    }
    store_use_bm25_file(st, true);
    free(fts_top);
    if (strstr(o->modes, "hybrid"))
        printf("query_embed_cpu_p50_ms %.3f\n", percentile(enc, nq, 0.5));
    print_rss("after");
    if (top)
        fclose(top);
    for (size_t i = 0; questions && i < nq; i++)
        free(questions[i]);
    free(questions);
    (void)q;
    free(ms);
    free(cpu);
    free(enc);
    free(qv);
    store_close(st);
    embedder_free(emb);
    return;
fail:
    fprintf(stderr, "query_bench: %s\n", dq_last_error());
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: query_bench N MODEL_DIR STORE_DIR [QUERIES] [--no-hnsw] "
                        "[--no-store] [--store-only] [--no-compare]\n"
                        "       [--corpus EN.txt ZH.txt] [--passages DIR]... [--questions FILE]\n"
                        "       [--top FILE] [--modes hybrid,dense,bm25]\n");
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10);
    const char *model_dir = argv[2], *store_dir = argv[3];
    size_t nq = 200;
    bool hnsw = true, with_store = true, store_only = false, compare = true;
    store_opts o = {.modes = "hybrid,dense,bm25"};
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--corpus") && i + 2 < argc) {
            o.corpus_en = argv[++i];
            o.corpus_zh = argv[++i];
        } else if (!strcmp(argv[i], "--passages") && i + 1 < argc && o.n_passages < 4)
            o.passages[o.n_passages++] = argv[++i];
        else if (!strcmp(argv[i], "--questions") && i + 1 < argc)
            o.questions = argv[++i];
        else if (!strcmp(argv[i], "--top") && i + 1 < argc)
            o.top_out = argv[++i];
        else if (!strcmp(argv[i], "--modes") && i + 1 < argc)
            o.modes = argv[++i];
        else if (!strcmp(argv[i], "--rebuild"))
            o.rebuild = true;
        else if (!strcmp(argv[i], "--no-compare"))
            compare = false;
        else if (!strcmp(argv[i], "--no-hnsw"))
            hnsw = false;
        else if (!strcmp(argv[i], "--no-store"))
            with_store = false;
        else if (!strcmp(argv[i], "--store-only"))
            store_only = true;
        else
            nq = strtoull(argv[i], NULL, 10);
    }
    bert_params bp = bert_default_params();
    bert_model *m = bert_load(model_dir, &bp);
    if (!m) {
        fprintf(stderr, "query_bench: %s\n", dq_last_error());
        return 1;
    }
    int dim = bert_dim(m);
    bert_free(m);

    if (store_only) {
        run_store(n, dim, NULL, NULL, nq, model_dir, store_dir, &o);
        return 0;
    }
    double t0 = dq_now();
    float *x = make_vectors(n, dim);
    /* queries: a data point nudged off it (a question is near, not on, its answer) */
    float *q = dq_malloc(sizeof(float) * nq * (size_t)dim);
    for (size_t i = 0; i < nq; i++) {
        const float *src = x + (rng_next() % n) * (size_t)dim;
        for (int j = 0; j < dim; j++)
            q[i * (size_t)dim + (size_t)j] = src[j] + 0.5f / sqrtf((float)dim) * rng_gauss();
        normalise(q + i * (size_t)dim, dim);
    }
    int64_t *ids = dq_malloc(sizeof(int64_t) * n);
    for (size_t i = 0; i < n; i++)
        ids[i] = (int64_t)i + 1;
    printf("n %zu\ndim %d\nqueries %zu\ngen_s %.1f\n", n, dim, nq, dq_now() - t0);
    fflush(stdout);

    if (!compare) {
        run_store(n, dim, x, q, nq, model_dir, store_dir, &o);
        free(x);
        free(q);
        free(ids);
        return 0;
    }
    int64_t *truth = dq_malloc(sizeof(int64_t) * nq * K);
    int64_t *got = dq_malloc(sizeof(int64_t) * nq * K);

    t0 = dq_now();
    vindex *flat = vindex_new(dim, VINDEX_FLAT, 0, 0);
    vindex_add(flat, ids, x, n);
    printf("exact_build_s %.2f\n", dq_now() - t0);
    time_search(flat, q, nq, dim, truth, "exact");
    vindex_free(flat);
    fflush(stdout);

    /* IVF as the store builds it (vector_index.c: ivf_lists, default probe). */
    int nlist = (int)sqrt((double)n);
    if (nlist > (int)(n / 39))
        nlist = (int)(n / 39);
    if (nlist > 8192)
        nlist = 8192;
    if (nlist < 1)
        nlist = 1;
    int nprobe = nlist / 16 < 8 ? 8 : nlist / 16;
    size_t sample = (size_t)nlist * 64 < n ? (size_t)nlist * 64 : n;
    size_t stride = n / sample;
    float *train = dq_malloc(sizeof(float) * sample * (size_t)dim);
    for (size_t i = 0; i < sample; i++)
        memcpy(train + i * (size_t)dim, x + i * stride * (size_t)dim, sizeof(float) * (size_t)dim);
    t0 = dq_now();
    vindex *ivf = vindex_new(dim, VINDEX_IVF, nlist, 0);
    vindex_train(ivf, train, sample);
    double train_s = dq_now() - t0;
    vindex_add(ivf, ids, x, n);
    printf("ivf_lists %d\nivf_nprobe %d\nivf_train_s %.2f\nivf_build_s %.2f\n", nlist, nprobe,
           train_s, dq_now() - t0);
    free(train);
    vindex_set_probe(ivf, nprobe);
    time_search(ivf, q, nq, dim, got, "ivf");
    printf("ivf_recall10 %.4f\n", recall(truth, got, nq));
    /* more lists probed: what recall costs */
    for (int mult = 2; mult <= 8; mult *= 2) {
        char name[32];
        snprintf(name, sizeof name, "ivf%dx", mult);
        vindex_set_probe(ivf, nprobe * mult);
        time_search(ivf, q, nq, dim, got, name);
        printf("%s_recall10 %.4f\n", name, recall(truth, got, nq));
    }
    vindex_free(ivf);
    fflush(stdout);

    if (hnsw) {
        t0 = dq_now();
        vindex *h = vindex_new(dim, VINDEX_HNSW, 0, 32);
        /* in slices, so a long build shows progress on stderr */
        for (size_t i = 0; i < n; i += 50000) {
            size_t m2 = n - i < 50000 ? n - i : 50000;
            vindex_add(h, ids + i, x + i * (size_t)dim, m2);
            fprintf(stderr, "hnsw %zu/%zu %.0f s\r", i + m2, n, dq_now() - t0);
        }
        printf("hnsw_build_s %.2f\n", dq_now() - t0);
        vindex_set_probe(h, 64);
        time_search(h, q, nq, dim, got, "hnsw");
        printf("hnsw_recall10 %.4f\n", recall(truth, got, nq));
        vindex_free(h);
        fflush(stdout);
    }
    free(truth);
    free(got);
    free(ids);
    if (with_store)
        run_store(n, dim, x, q, nq, model_dir, store_dir, &o);
    free(x);
    free(q);
    return 0;
}
