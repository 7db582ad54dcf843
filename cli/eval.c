/* eval.c - `docqa eval ceval DIR_OR_CSV...` and `docqa eval retrieval
 * QUESTIONS.jsonl`: how well the model and the documents answer, per subject
 * and per retrieval mode, with reports a person can read (a table, and SVG
 * charts) and files a script can (JSON, CSV, a C-Eval submission).
 *
 * The work is in eval/; this file finds the files, wires the store, the LLM
 * endpoint, --rag's retrieval (the rag_session 'ask' uses) and the progress
 * bar, and writes the reports.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/rag.h"
#include "common/common.h"
#include "eval/eval.h"

typedef struct {
    char **items; /* (n) paths, owned */
    size_t n, cap;
} path_list;

static void paths_add(path_list *l, const char *p)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i], p))
            return;
    DQ_GROW(l->items, l->cap, l->n + 1);
    l->items[l->n++] = dq_strdup(p);
}

static void paths_free(path_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_csv_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && !strcasecmp(name + n - 4, ".csv");
}

/* A CSV file, or every *.csv directly in a folder (sorted). */
static int collect_csv(path_list *l, const char *arg)
{
    struct stat sb;
    if (stat(arg, &sb) < 0) {
        dq_set_error("cannot read '%s': %s", arg, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        paths_add(l, arg);
        return 0;
    }
    DIR *d = opendir(arg);
    if (!d) {
        dq_set_error("cannot read '%s': %s", arg, strerror(errno));
        return -1;
    }
    path_list found = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_csv_suffix(e->d_name))
            continue;
        dq_buf p = DQ_BUF_INIT;
        size_t al = strlen(arg);
        dq_buf_printf(&p, "%s%s%s", arg, al && arg[al - 1] == '/' ? "" : "/", e->d_name);
        paths_add(&found, p.data);
        dq_buf_free(&p);
    }
    closedir(d);
    if (found.n == 0) {
        paths_free(&found);
        dq_set_error("'%s' holds no .csv files", arg);
        return -1;
    }
    qsort(found.items, found.n, sizeof *found.items, cmp_path);
    for (size_t i = 0; i < found.n; i++)
        paths_add(l, found.items[i]);
    paths_free(&found);
    return 0;
}

static bool subject_wanted(const char *subject, const char *list)
{
    if (!list)
        return true;
    size_t n = strlen(subject);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == n && !strncmp(p, subject, n))
            return true;
        p += k + (e ? 1 : 0);
    }
    return false;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Where a subject's dev split may be, next to an evaluated file: the same
 * folder (X_dev.csv beside X_val.csv) or C-Eval's layout (../dev/X_dev.csv). */
static void find_dev_files(path_list *dev, const char *path, const char *subject)
{
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 0;
    char *dir = slash ? dq_strndup(path, dl) : dq_strdup(".");
    dq_buf p = DQ_BUF_INIT;
    dq_buf_printf(&p, "%s/%s_dev.csv", dir, subject);
    if (file_exists(p.data))
        paths_add(dev, p.data);
    dq_buf_clear(&p);
    dq_buf_printf(&p, "%s/../dev/%s_dev.csv", dir, subject);
    if (file_exists(p.data))
        paths_add(dev, p.data);
    dq_buf_free(&p);
    free(dir);
}

static int write_report(const char *dir, const char *name, const char *text)
{
    dq_buf p = DQ_BUF_INIT;
    dq_buf_printf(&p, "%s/%s", dir, name);
    int rc = dq_write_file_atomic(p.data, text, strlen(text));
    if (rc < 0)
        cli_error("%s", dq_last_error());
    dq_buf_free(&p);
    return rc;
}

typedef struct {
    progress prog;
} hook_ctx;

static void on_progress(void *ctx, size_t done, size_t total)
{
    hook_ctx *h = ctx;
    (void)total;
    progress_update(&h->prog, (int)done, (long long)done, 0);
}

static bool on_stop(void *ctx)
{
    (void)ctx;
    return cli_interrupted();
}

/* Loads every file of paths into set, printing skipped rows. */
static int load_sets(const path_list *paths, eval_set *set, const char *subjects, int limit)
{
    for (size_t i = 0; i < paths->n; i++) {
        char *subject, *split;
        eval_subject_of(paths->items[i], &subject, &split);
        bool wanted = subject_wanted(subject, subjects);
        free(subject);
        free(split);
        if (!wanted)
            continue;
        size_t before = set->n, warned = set->n_warnings;
        if (eval_read_csv(paths->items[i], set) < 0) {
            cli_error("%s", dq_last_error());
            return -1;
        }
        for (size_t w = warned; w < set->n_warnings; w++)
            cli_error("%s (row skipped)", set->warnings[w]);
        if (limit > 0 && set->n - before > (size_t)limit) {
            for (size_t k = before + (size_t)limit; k < set->n; k++)
                eval_question_free(&set->items[k]);
            set->n = before + (size_t)limit;
        }
    }
    return 0;
}

/* Makes dir and writes each report into it; prints why one could not be. */
static int write_reports(const char *dir, const char *const *names, char *const *texts, size_t n)
{
    if (dq_mkdirs(dir) < 0) {
        cli_error("%s", dq_last_error());
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (texts[i] && write_report(dir, names[i], texts[i]) < 0)
            return -1;
    return 0;
}

/* What `eval ceval` was asked: its flags; the config fills in the rest. */
typedef struct {
    eval_run_params rp;
    const char *url, *model, *api_key, *subjects, *out_dir, *dev_arg;
    int limit, timeout;
    bool no_cache, quiet, json;
} ceval_opts;

static const char *const ceval_usage[] = {
    "docqa eval ceval [<options>] <dir-or-csv>...",
    NULL,
};

/* Parses argv into o: EXIT_OK with *n_args the question files left in argv
 * (0 after --help), or the status to exit with. */
static int ceval_parse(int argc, char **argv, cli_globals *g, ceval_opts *o, int *n_args)
{
    eval_run_params *rp = &o->rp;
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory (answer cache, --rag)"),
        OPT_STR(0, "url", &o->url, "url", "the LLM endpoint (default: [llm] url, $DOCQA_LLM_URL)"),
        OPT_STR(0, "model", &o->model, "name",
                "model name sent to it, or a FILE.gguf to run in process ([llm] model)"),
        OPT_STR(0, "api-key", &o->api_key, "key", "bearer token ($DOCQA_LLM_API_KEY)"),
        OPT_NUMBER(0, "shots", &rp->shots, "n", "examples from the dev split (0, C-Eval uses 5)"),
        OPT_STR(0, "dev", &o->dev_arg, "path", "dev split folder or CSV for --shots"),
        OPT_BOOLEAN(0, "cot", &rp->cot, "chain-of-thought prompts"),
        OPT_BOOLEAN(0, "rag", &rp->rag, "add passages retrieved from the store to each question "
                                        "(as 'ask' retrieves: [retrieve] settings)"),
        OPT_NUMBER(0, "rag-k", &rp->rag_k, "n", "passages per question with --rag (3)"),
        OPT_NUMBER(0, "limit", &o->limit, "n", "at most n questions per file"),
        OPT_STR(0, "subject", &o->subjects, "list", "only these subjects (comma-separated keys)"),
        OPT_NUMBER('j', "parallel", &rp->parallel, "n", "concurrent requests (1)"),
        OPT_NUMBER(0, "max-tokens", &rp->max_tokens, "n", "answer budget (32, 1024 with --cot)"),
        OPT_NUMBER(0, "timeout", &o->timeout, "s", "seconds per request (120)"),
        OPT_BOOLEAN(0, "no-cache", &o->no_cache, "ask again even when the store has an answer"),
        OPT_STR('o', "out", &o->out_dir, "dir", "where reports go (docqa-eval)"),
        OPT_BOOLEAN(0, "json", &o->json, "print the JSON report instead of the table"),
        OPT_BOOLEAN('q', "quiet", &o->quiet, "no progress bar"),
        OPT_FINISH,
    };
    int p = parse_options(argc, argv, opts, ceval_usage, n_args);
    if (p != PARSE_OK) {
        *n_args = 0; /* nothing to run */
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    }
    if (*n_args < 1) {
        cli_error("no question files given");
        print_usage(stderr, ceval_usage, opts);
        return EXIT_USAGE;
    }
    if (rp->shots < 0 || rp->shots > 20 || rp->parallel < 1 || rp->parallel > 64 ||
        o->limit < 0 || rp->rag_k < 1 || rp->rag_k > 20 || rp->max_tokens < 0 ||
        o->timeout < 0) {
        cli_error("--shots must be 0-20, --parallel 1-64, --rag-k 1-20; --limit, --max-tokens "
                  "and --timeout not negative");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* The LLM settings: the flags, then [llm] in the config files and
 * $DOCQA_LLM_*. */
static int ceval_llm_settings(ceval_opts *o, const dq_config *cfg)
{
    eval_run_params *rp = &o->rp;
    const char *url = o->url, *model = o->model, *api_key = o->api_key;
    int timeout = o->timeout;
    bool url_flag = url != NULL;
    if (!url)
        url = cfg->llm_url;
    if (!model)
        model = cfg->llm_model;
    if (!api_key)
        api_key = cfg->llm_key;
    /* a GGUF file runs in process unless --url asks for a server */
    bool local = !url_flag && llm_is_model_file(model);
    if (!local && (!url || !*url)) {
        cli_error("no LLM: pass --url (e.g. http://127.0.0.1:8080/v1), or set [llm] model = "
                  "FILE.gguf or [llm] url in the config (DOCQA_LLM_MODEL, DOCQA_LLM_URL)");
        return EXIT_USAGE;
    }
    if (local) {
        rp->llm.model_file = model;
        rp->llm.chat_template = cfg->llm_chat_template;
        rp->llm.kv_cache = cfg->llm_kv_cache;
        rp->llm.context = cfg->llm_context;
        model = NULL;
    }
    rp->llm.base_url = local ? NULL : url;
    rp->llm.model = model;
    rp->llm.api_key = api_key;
    rp->llm.timeout_s = timeout > 0 ? timeout : cfg->llm_timeout > 0 ? cfg->llm_timeout : rp->llm.timeout_s;
    if (cfg->llm_connect_timeout > 0)
        rp->llm.connect_timeout_s = cfg->llm_connect_timeout;
    rp->cache = !o->no_cache;
    return EXIT_OK;
}

/* The files to evaluate and those that give examples, from the arguments
 * and --dev. Dev files among the inputs are examples when other splits are
 * given, and the questions when they are all there is. */
static int ceval_find_files(char **args, int n_args, const ceval_opts *o, path_list *eval_files,
                            path_list *dev_files)
{
    path_list files = {0};
    int rc = 0;
    for (int i = 0; i < n_args && rc == 0; i++)
        rc = collect_csv(&files, args[i]);
    if (rc == 0 && o->dev_arg)
        rc = collect_csv(dev_files, o->dev_arg);
    if (rc < 0) {
        cli_error("%s", dq_last_error());
        paths_free(&files);
        return -1;
    }
    for (size_t i = 0; i < files.n; i++) {
        char *subject, *split;
        eval_subject_of(files.items[i], &subject, &split);
        paths_add(strcmp(split, "dev") != 0 ? eval_files : dev_files, files.items[i]);
        free(subject);
        free(split);
    }
    if (eval_files->n == 0)
        for (size_t i = 0; i < files.n; i++)
            paths_add(eval_files, files.items[i]);
    if (o->rp.shots > 0)
        for (size_t i = 0; i < eval_files->n; i++) {
            char *subject, *split;
            eval_subject_of(eval_files->items[i], &subject, &split);
            find_dev_files(dev_files, eval_files->items[i], subject);
            free(subject);
            free(split);
        }
    paths_free(&files);
    return 0;
}

/* The questions and, for --shots, the examples; 0, or -1 with the error printed. */
static int ceval_read_questions(char **args, int n_args, const ceval_opts *o, eval_set *set,
                                eval_set *dev)
{
    path_list eval_files = {0}, dev_files = {0};
    int rc = ceval_find_files(args, n_args, o, &eval_files, &dev_files);
    if (rc == 0 && (load_sets(&eval_files, set, o->subjects, o->limit) < 0 ||
                    (o->rp.shots > 0 && load_sets(&dev_files, dev, o->subjects, 0) < 0)))
        rc = -1;
    if (rc == 0 && set->n == 0) {
        cli_error(o->subjects ? "no questions for --subject '%s'" : "no questions in the files given%s",
                  o->subjects ? o->subjects : "");
        rc = -1;
    }
    paths_free(&eval_files);
    paths_free(&dev_files);
    return rc;
}

static int rag_search(void *ctx, const char *query, int top_k, retrieve_result *res)
{
    return rag_session_retrieve(ctx, NULL, query, top_k, NULL, res) < 0 ? -1 : 0;
}

/* --rag: the session 'ask' answers with ([retrieve] settings, embedding
 * model, reranker), lent the eval's writable store, which also holds the
 * answer cache. */
static int ceval_open_rag(cli_globals *g, eval_run_params *rp, rag_session **out)
{
    *out = NULL;
    store_stats ss;
    if (store_get_stats(g->st, &ss) < 0) {
        cli_error("store '%s': %s", store_dir(g->st), dq_last_error());
        return EXIT_ERROR;
    }
    if (ss.chunks == 0) { /* every prompt would go out without passages */
        cli_error("--rag: the store '%s' holds no documents; 'docqa ingest' them first",
                  store_dir(g->st));
        return EXIT_ERROR;
    }
    rag_session_params sp = {.no_llm = true, .top_k = rp->rag_k};
    int status;
    *out = cli_rag_session(g, &sp, &status);
    rp->rag_search = rag_search;
    rp->rag_ctx = *out;
    return status;
}

/* Asks every question, with a progress bar and Ctrl-C; EXIT_OK when all were
 * answered (some requests may have failed: stats->failed). */
static int ceval_ask(store *st, const eval_set *set, const eval_set *dev, const ceval_opts *o,
                     eval_answer *answers, eval_run_stats *stats)
{
    hook_ctx hc;
    eval_hooks hooks = {.ctx = &hc, .progress = on_progress, .stop = on_stop,
                        .stop_now = cli_interrupted};
    cli_catch_signals();
    progress_start(&hc.prog, "eval", "questions", o->quiet, (int)set->n, (long long)set->n);
    int rc = eval_run_ceval(st, set, o->rp.shots > 0 ? dev : NULL, &o->rp, &hooks, answers, stats);
    progress_finish(&hc.prog);
    if (rc < 0) {
        cli_error("%s", dq_last_error());
        return stats->unreachable ? EXIT_LLM : EXIT_ERROR;
    }
    if (stats->stopped) {
        /* Scores now would count every unasked question as wrong, and the
         * reports would overwrite a finished run's. */
        size_t answered = 0;
        for (size_t i = 0; i < set->n; i++)
            answered += !answers[i].failed;
        cli_error("interrupted: %zu of %zu questions answered and cached; run the same command "
                  "to resume",
                  answered, set->n);
        return EXIT_INTERRUPTED;
    }
    return EXIT_OK;
}

/* Prints the table (or JSON) and writes the reports. */
static int ceval_report(const eval_set *set, const eval_answer *answers,
                        const eval_run_stats *stats, const ceval_opts *o)
{
    eval_scores scores;
    eval_score(set, answers, &scores);
    bool test_split = scores.graded < scores.questions;
    char *texts[] = {
        eval_report_json(set, answers, &scores, stats->model, &o->rp),
        eval_report_csv(&scores),
        eval_ceval_chart_svg(&scores, stats->model, &o->rp),
        test_split ? eval_report_submission(set, answers) : NULL,
    };
    static const char *const names[] = {"ceval.json", "ceval.csv", "ceval.svg", "submission.json"};
    char *table = eval_report_table(&scores);
    fputs(o->json ? texts[0] : table, stdout);
    if (o->json)
        fputc('\n', stdout);
    if (!o->quiet)
        fprintf(stderr, "%d asked, %d from the cache, %d failed\n", stats->requests,
                stats->cached, stats->failed);
    int status = EXIT_OK;
    if (write_reports(o->out_dir, names, texts, 4) < 0)
        status = EXIT_ERROR;
    else if (!o->quiet)
        fprintf(stderr, "reports in %s/: ceval.json, ceval.csv, ceval.svg%s\n", o->out_dir,
                test_split ? ", submission.json" : "");
    for (size_t i = 0; i < 4; i++)
        free(texts[i]);
    free(table);
    eval_scores_free(&scores);
    if (status == EXIT_OK && stats->failed > 0) {
        cli_error("%d request%s failed (scored as wrong, not cached; run again to retry)",
                  stats->failed, stats->failed == 1 ? "" : "s");
        status = EXIT_PARTIAL;
    }
    return status;
}

static int cmd_eval_ceval(int argc, char **argv, cli_globals *g)
{
    ceval_opts o = {.rp = eval_default_run_params(), .out_dir = "docqa-eval"};
    int n_args;
    int status = ceval_parse(argc, argv, g, &o, &n_args);
    if (status != EXIT_OK || n_args < 1)
        return status;
    /* the store's own config is read without creating a store yet */
    status = cli_setup(g);
    if (status == EXIT_OK)
        status = ceval_llm_settings(&o, &g->cfg);
    if (status != EXIT_OK)
        return status;

    eval_set set = {0}, dev = {0};
    eval_answer *answers = NULL;
    rag_session *rag = NULL;
    if (ceval_read_questions(argv, n_args, &o, &set, &dev) < 0) {
        status = EXIT_ERROR;
        goto out;
    }
    g->needs |= CLI_CREATES_STORE; /* now that the questions are read */
    status = cli_setup(g);
    if (status == EXIT_OK && o.rp.rag)
        status = ceval_open_rag(g, &o.rp, &rag);
    if (status != EXIT_OK)
        goto out;
    answers = dq_calloc(set.n, sizeof *answers);
    eval_run_stats stats;
    status = ceval_ask(g->st, &set, &dev, &o, answers, &stats);
    if (status == EXIT_OK)
        status = ceval_report(&set, answers, &stats, &o);
out:
    if (answers)
        for (size_t i = 0; i < set.n; i++)
            eval_answer_free(&answers[i]);
    free(answers);
    rag_session_free(rag);
    eval_set_free(&set);
    eval_set_free(&dev);
    return status;
}

static int parse_modes(const char *list, retrieve_mode *modes, size_t *n)
{
    *n = 0;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        retrieve_mode m;
        if (k == 4 && !strncmp(p, "bm25", 4))
            m = RETRIEVE_BM25;
        else if (k == 5 && !strncmp(p, "dense", 5))
            m = RETRIEVE_DENSE;
        else if (k == 6 && !strncmp(p, "hybrid", 6))
            m = RETRIEVE_HYBRID;
        else {
            cli_error("unknown mode '%.*s' (bm25, dense, hybrid)", (int)k, p);
            return -1;
        }
        bool dup = false;
        for (size_t i = 0; i < *n; i++)
            dup |= modes[i] == m;
        if (!dup)
            modes[(*n)++] = m;
        p += k + (e ? 1 : 0);
    }
    if (*n == 0) {
        cli_error("--mode names no mode (bm25, dense, hybrid)");
        return -1;
    }
    return 0;
}

static const char *const retrieval_usage[] = {
    "docqa eval retrieval [<options>] <questions.jsonl>",
    NULL,
};

/* The questions of path, at most limit of them (0: all); 0, or -1 with the
 * error printed. */
static int retrieval_read_questions(const char *path, int limit, eval_rset *set)
{
    if (eval_read_questions(path, set) < 0) {
        cli_error("%s", dq_last_error());
        return -1;
    }
    for (size_t w = 0; w < set->n_warnings; w++)
        cli_error("%s (line skipped)", set->warnings[w]);
    if (limit > 0 && set->n > (size_t)limit) {
        for (size_t k = (size_t)limit; k < set->n; k++)
            eval_rquestion_free(&set->items[k]);
        set->n = (size_t)limit;
    }
    if (set->n == 0) {
        cli_error("'%s' has no questions", path);
        return -1;
    }
    return 0;
}

/* Runs each mode over set with a progress bar; *n_done modes finished. */
static int retrieval_run_modes(store *st, embedder *emb, const eval_rset *set,
                               const retrieve_mode *modes, size_t n_modes, bool no_scope, bool quiet,
                               eval_rmetrics *metrics, size_t *n_done)
{
    *n_done = 0;
    cli_catch_signals();
    for (size_t i = 0; i < n_modes && !cli_interrupted(); i++) {
        hook_ctx hc;
        eval_hooks hooks = {.ctx = &hc, .progress = on_progress, .stop = on_stop};
        char what[32];
        snprintf(what, sizeof what, "eval %s", eval_mode_name(modes[i]));
        progress_start(&hc.prog, what, "questions", quiet, (int)set->n, (long long)set->n);
        retrieve_params rp = retrieve_default_params();
        rp.no_scope = no_scope;
        int rc = eval_run_retrieval(st, emb, set, modes[i], &rp, &hooks, &metrics[i]);
        progress_finish(&hc.prog);
        if (rc < 0) {
            cli_error("%s: %s", eval_mode_name(modes[i]), dq_last_error());
            return EXIT_ERROR;
        }
        (*n_done)++;
    }
    if (cli_interrupted()) {
        cli_error("interrupted");
        return EXIT_INTERRUPTED;
    }
    return EXIT_OK;
}

/* Prints the table (or JSON) and writes the reports. */
static int retrieval_report(const eval_rmetrics *metrics, size_t n, const char *path,
                            size_t n_questions, const char *out_dir, bool json, bool quiet)
{
    char *table = eval_retrieval_table(metrics, n);
    char *texts[] = {
        eval_retrieval_json(metrics, n, path),
        eval_retrieval_csv(metrics, n),
        eval_retrieval_chart_svg(metrics, n, path, n_questions),
    };
    static const char *const names[] = {"retrieval.json", "retrieval.csv", "retrieval.svg"};
    fputs(json ? texts[0] : table, stdout);
    if (json)
        fputc('\n', stdout);
    int status = EXIT_OK;
    if (write_reports(out_dir, names, texts, 3) < 0)
        status = EXIT_ERROR;
    else if (!quiet)
        fprintf(stderr, "reports in %s/: retrieval.json, retrieval.csv, retrieval.svg\n", out_dir);
    for (size_t i = 0; i < 3; i++)
        free(texts[i]);
    free(table);
    return status;
}

static int cmd_eval_retrieval(int argc, char **argv, cli_globals *g)
{
    const char *mode_list = "bm25", *out_dir = "docqa-eval";
    bool json = false, quiet = false, no_scope = false;
    int limit = 0;
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_STR('m', "mode", &mode_list, "list", "retrievers to compare: bm25,dense,hybrid (bm25)"),
        OPT_BOOLEAN(0, "no-scope", &no_scope,
                    "search all documents even when a question names some"),
        OPT_NUMBER(0, "limit", &limit, "n", "only the first n questions"),
        OPT_STR('o', "out", &out_dir, "dir", "where reports go (docqa-eval)"),
        OPT_BOOLEAN(0, "json", &json, "print JSON instead of the table"),
        OPT_BOOLEAN('q', "quiet", &quiet, "no progress bar"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, retrieval_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args != 1) {
        cli_error(n_args ? "give one questions file" : "no questions file given");
        print_usage(stderr, retrieval_usage, opts);
        return EXIT_USAGE;
    }
    if (limit < 0) {
        cli_error("--limit must not be negative");
        return EXIT_USAGE;
    }
    retrieve_mode modes[3];
    size_t n_modes;
    if (parse_modes(mode_list, modes, &n_modes) < 0)
        return EXIT_USAGE;

    eval_rset set = {0};
    embedder *emb = NULL;
    int status = EXIT_ERROR;
    if (retrieval_read_questions(argv[0], limit, &set) < 0)
        goto out;
    g->needs |= CLI_NEEDS_STORE;
    status = cli_setup(g);
    if (status != EXIT_OK)
        goto out;
    bool need_emb = false;
    for (size_t i = 0; i < n_modes; i++)
        need_emb |= modes[i] != RETRIEVE_BM25;
    bool err = false;
    if (need_emb && !(emb = cli_open_embedder(&g->cfg, &err)) && err) {
        status = EXIT_ERROR;
        goto out;
    }
    eval_rmetrics metrics[3];
    size_t n_done;
    status = retrieval_run_modes(g->st, emb, &set, modes, n_modes, no_scope, quiet, metrics,
                                 &n_done);
    if (status == EXIT_OK)
        status = retrieval_report(metrics, n_done, argv[0], set.n, out_dir, json, quiet);
out:
    embedder_free(emb);
    eval_rset_free(&set);
    return status;
}

static void print_eval_help(FILE *out)
{
    fprintf(out, "usage: docqa eval ceval [<options>] <dir-or-csv>...\n"
                 "   or: docqa eval retrieval [<options>] <questions.jsonl>\n\n"
                 "    ceval       multiple-choice accuracy of an LLM endpoint on C-Eval-style CSVs\n"
                 "                (also CMMLU and MMLU), per subject and category\n"
                 "    retrieval   hit@k and MRR by document and by page, EM/F1 and latency of\n"
                 "                retrieval modes on questions with gold documents (and pages)\n\n"
                 "'docqa eval <kind> -h' lists a kind's options.\n");
}

int cmd_eval(int argc, char **argv, cli_globals *g)
{
    if (argc < 2) {
        print_eval_help(stderr);
        return EXIT_USAGE;
    }
    const char *kind = argv[1];
    if (!strcmp(kind, "-h") || !strcmp(kind, "--help")) {
        print_eval_help(stdout);
        return EXIT_OK;
    }
    if (!strcmp(kind, "ceval"))
        return cmd_eval_ceval(argc - 1, argv + 1, g);
    if (!strcmp(kind, "retrieval"))
        return cmd_eval_retrieval(argc - 1, argv + 1, g);
    cli_error("'%s' is not an eval kind (ceval, retrieval)", kind);
    print_eval_help(stderr);
    return EXIT_USAGE;
}
