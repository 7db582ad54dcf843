/* run.c - answering a C-Eval set: prompts, the cache, concurrent requests.
 *
 * The calling thread owns the store: it builds each prompt (retrieving
 * passages with --rag), looks its key up in the answer cache, and queues
 * only what is missing. N worker threads, each with its own llm_client (a
 * curl handle is not shared between threads), take jobs in order and hand
 * finished ones back through a queue; the calling thread writes each answer
 * to the cache as it arrives, so Ctrl-C or a crash loses at most the
 * requests in flight, and the next run resumes from there.
 *
 * A refused connection stops the whole run (nobody is serving, every
 * request would fail the same way); any other failed request is counted and
 * not cached, so a re-run asks it again.
 */
#include "eval/eval.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"

eval_run_params eval_default_run_params(void)
{
    eval_run_params p = {
        .llm = llm_default_params(),
        .rag_k = 3,
        .rag_chars = 300,
        .parallel = 1,
        .cache = true,
    };
    p.llm.temperature = 0; /* an exam is graded on the model's best answer */
    return p;
}

typedef struct {
    size_t index;      /* into the set */
    eval_prompt prompt;
    char key[65];
    eval_answer result;
    llm_status status;
    char *error;       /* the request's error message, when it failed */
} job;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *jobs;         /* (n_jobs) */
    size_t n_jobs;
    size_t next;       /* next job to take */
    size_t *done;      /* (n_done) finished jobs not yet collected */
    size_t n_done;
    int running;       /* workers still running */
    bool stop;
    bool stopped_now;  /* a worker saw should_stop */
    char *fatal;       /* why the run stopped, when a request said nobody serves */
    llm_request req;
} pool;

typedef struct {
    pool *p;
    llm_client *client;
    pthread_t thread;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->p;
    for (;;) {
        /* stop_now is checked here too: the collecting thread may be far
         * behind a fast server, and every job taken is a request sent */
        bool now = p->req.should_stop && p->req.should_stop();
        pthread_mutex_lock(&p->mu);
        if (now)
            p->stop = p->stopped_now = true;
        if (p->stop || p->next >= p->n_jobs) {
            p->running--;
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        job *j = &p->jobs[p->next++];
        pthread_mutex_unlock(&p->mu);

        llm_reply r = {0};
        j->status = llm_chat(w->client, j->prompt.msgs, j->prompt.n, &p->req, NULL, NULL, &r);
        if (j->status == LLM_OK) {
            j->result.choice = eval_choose(&r, &j->result.method);
            j->result.text = dq_strdup(r.text ? r.text : "");
        } else {
            j->result.failed = true;
            j->error = dq_strdup(dq_last_error()); /* the error is per thread */
        }
        llm_reply_free(&r);

        pthread_mutex_lock(&p->mu);
        p->done[p->n_done++] = (size_t)(j - p->jobs);
        if (j->status == LLM_ERR_CONNECT && !p->fatal) {
            p->fatal = dq_strdup(j->error);
            p->stop = true;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

/* The dev examples for q: the first k of its subject that have an answer,
 * leaving out q itself when the dev split is what is being evaluated. */
static size_t pick_shots(const eval_set *dev, const eval_question *q, int k,
                         const eval_question **out)
{
    size_t n = 0;
    for (size_t i = 0; dev && i < dev->n && n < (size_t)k; i++) {
        const eval_question *d = &dev->items[i];
        if (!d->answer || strcmp(d->subject, q->subject) != 0)
            continue;
        if (!strcmp(d->file, q->file) && !strcmp(d->id, q->id))
            continue;
        bool again = false; /* the same dev file reached by two paths */
        for (size_t k = 0; k < n && !again; k++)
            again = !strcmp(out[k]->id, d->id) && !strcmp(out[k]->question, d->question);
        if (!again)
            out[n++] = d;
    }
    return n;
}

/* What the answers are cached under: the model name asked for, else the URL
 * with the ids the server says it serves. A server without /models is
 * known by its URL alone; one that does not answer stops the run here (-1),
 * since nothing can be said about which model's answers would apply; -2 for
 * settings the client refuses. */
static int model_identity(const llm_params *lp, char *out, size_t cap)
{
    if (lp->model_file || lp->model) {
        snprintf(out, cap, "%s", lp->model_file ? lp->model_file : lp->model);
        return 0;
    }
    llm_client *c = llm_new(lp);
    if (!c)
        return -2; /* bad settings, not an absent server */
    char **ids = NULL;
    size_t n = 0;
    llm_status st = llm_models(c, &ids, &n);
    llm_free(c);
    if (st == LLM_ERR_CONNECT || st == LLM_ERR_TIMEOUT || st == LLM_ERR_CANCELLED)
        return -1;
    dq_buf b = DQ_BUF_INIT;
    dq_buf_puts(&b, lp->base_url);
    for (size_t i = 0; st == LLM_OK && i < n; i++)
        dq_buf_printf(&b, "%s%s", i ? "," : " ", ids[i]);
    snprintf(out, cap, "%s", b.data);
    dq_buf_free(&b);
    llm_models_free(ids, n);
    return 0;
}

/* Passages for q through params->rag_search; *out NULL when nothing matched. */
static int rag_passages(const eval_question *q, const eval_run_params *params, char **out)
{
    *out = NULL;
    if (!params->rag_search) {
        dq_set_error("--rag: no retrieval to find passages with");
        return -1;
    }
    dq_buf query = DQ_BUF_INIT;
    dq_buf_puts(&query, q->question);
    for (int k = 0; k < 4; k++)
        dq_buf_printf(&query, " %s", q->choices[k]);
    char *match = retrieve_build_match(query.data);
    if (!match) { /* nothing searchable (a formula, say): no passages */
        dq_buf_free(&query);
        return 0;
    }
    free(match);
    retrieve_result res = {0};
    int rc = params->rag_search(params->rag_ctx, query.data, params->rag_k, &res) < 0 ? -1 : 0;
    if (rc == 0)
        *out = eval_format_passages(&res, params->rag_chars);
    retrieve_result_free(&res);
    dq_buf_free(&query);
    return rc;
}

static void from_cache(eval_answer *a, const store_cached_answer *c)
{
    a->choice = c->choice && c->choice[0] >= 'A' && c->choice[0] <= 'D' ? c->choice[0] : 0;
    a->method = eval_method_parse(c->method);
    a->text = dq_strdup(c->text ? c->text : "");
    a->cached = true;
}

static int to_cache(store *st, const job *j, const char *model)
{
    char choice[2] = {j->result.choice, '\0'};
    store_cached_answer c = {
        .model = (char *)model,
        .choice = choice,
        .method = (char *)eval_method_name(j->result.method),
        .text = j->result.text,
    };
    return store_put_cached_answer(st, j->key, &c);
}

static void free_jobs(job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        eval_prompt_free(&jobs[i].prompt);
        eval_answer_free(&jobs[i].result);
        free(jobs[i].error);
    }
    free(jobs);
}

int eval_run_ceval(store *st, const eval_set *set, const eval_set *dev,
                   const eval_run_params *params, const eval_hooks *hooks,
                   eval_answer *answers, eval_run_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    int mi = model_identity(&params->llm, stats->model, sizeof stats->model);
    if (mi < 0) {
        stats->unreachable = mi == -1;
        return -1;
    }
    const char *model = stats->model;
    int max_tokens = params->max_tokens > 0 ? params->max_tokens : params->cot ? 1024 : 32;
    int top_logprobs = params->cot ? 0 : 5;
    char settings[160];
    snprintf(settings, sizeof settings, "max_tokens=%d;top_logprobs=%d;temperature=%g", max_tokens,
             top_logprobs, params->llm.temperature);
    size_t done = 0;

    /* Prompts and the cache, in the calling thread. */
    job *jobs = dq_calloc(set->n ? set->n : 1, sizeof *jobs);
    size_t n_jobs = 0;
    const eval_question **shots = dq_calloc((size_t)params->shots + 1, sizeof *shots);
    int rc = 0;
    for (size_t i = 0; i < set->n; i++) {
        const eval_question *q = &set->items[i];
        size_t n_shots = pick_shots(dev, q, params->shots, shots);
        if (params->shots > 0 && n_shots == 0) {
            dq_set_error("no dev examples for subject '%s' to take %d shots from (give its "
                         "_dev.csv or use --shots 0)",
                         q->subject, params->shots);
            rc = -1;
            goto out;
        }
        char *passages = NULL;
        if (params->rag && rag_passages(q, params, &passages) < 0) {
            rc = -1;
            goto out;
        }
        const eval_subject_info *info = eval_subject_find(q->subject);
        job *j = &jobs[n_jobs];
        j->index = i;
        eval_build_prompt(q, info ? info->name : q->subject, shots, n_shots, params->cot,
                          passages, &j->prompt);
        free(passages);
        eval_prompt_key(&j->prompt, model, settings, j->key);
        store_cached_answer c;
        int found = params->cache ? store_get_cached_answer(st, j->key, &c) : 0;
        if (found < 0) {
            eval_prompt_free(&j->prompt);
            rc = -1;
            goto out;
        }
        if (found) {
            from_cache(&answers[i], &c);
            store_cached_answer_free(&c);
            eval_prompt_free(&j->prompt);
            stats->cached++;
            done++;
            continue;
        }
        n_jobs++;
    }
    if (hooks && hooks->progress)
        hooks->progress(hooks->ctx, done, set->n);
    if (n_jobs == 0)
        goto out;

    pool p = {.jobs = jobs, .n_jobs = n_jobs};
    static const char *const letters[] = {"A", "B", "C", "D", " A", " B", " C", " D", NULL};
    p.req = (llm_request){.stream = false, .max_tokens = max_tokens, .top_logprobs = top_logprobs,
                          .score_tokens = letters,
                          .should_stop = hooks ? hooks->stop_now : NULL};
    p.done = dq_calloc(n_jobs, sizeof *p.done);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    int n_workers = params->parallel < 1 ? 1 : params->parallel;
    if (params->llm.model_file)
        n_workers = 1; /* one model in memory; its requests would only queue */
    if ((size_t)n_workers > n_jobs)
        n_workers = (int)n_jobs;
    worker *ws = dq_calloc((size_t)n_workers, sizeof *ws);
    int started = 0;
    for (int w = 0; w < n_workers; w++) {
        ws[w].p = &p;
        ws[w].client = llm_new(&params->llm);
        if (!ws[w].client) {
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        p.running = n_workers;
        for (int w = 0; w < n_workers; w++) {
            int err = pthread_create(&ws[w].thread, NULL, worker_main, &ws[w]);
            if (err) {
                pthread_mutex_lock(&p.mu);
                p.running -= n_workers - w;
                p.stop = true;
                pthread_mutex_unlock(&p.mu);
                dq_set_error("cannot start a request thread: %s", strerror(err));
                rc = -1;
                break;
            }
            started++;
        }
    }

    /* Collect answers as they come; the store is written from here only. */
    size_t *batch = dq_calloc(n_jobs, sizeof *batch);
    pthread_mutex_lock(&p.mu);
    for (;;) {
        while (p.n_done == 0 && p.running > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L; /* wake to notice Ctrl-C */
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p.cv, &p.mu, &ts);
            if (hooks && hooks->stop && !p.stop && hooks->stop(hooks->ctx)) {
                p.stop = true;
                stats->stopped = true;
            }
        }
        if (p.stopped_now)
            stats->stopped = true;
        size_t n = p.n_done;
        memcpy(batch, p.done, n * sizeof *batch);
        p.n_done = 0;
        bool finished = p.running == 0;
        pthread_mutex_unlock(&p.mu);
        for (size_t b = 0; b < n; b++) {
            job *j = &jobs[batch[b]];
            if (j->result.failed) {
                stats->failed++;
                if (j->status != LLM_ERR_CONNECT)
                    stats->requests++;
            } else {
                stats->requests++;
                if (params->cache && rc == 0 && to_cache(st, j, model) < 0)
                    rc = -1; /* keep collecting: threads still hold jobs */
            }
            answers[j->index] = j->result;
            memset(&j->result, 0, sizeof j->result);
            done++;
            if (hooks && hooks->progress)
                hooks->progress(hooks->ctx, done, set->n);
        }
        if (rc < 0 || (hooks && hooks->stop && hooks->stop(hooks->ctx))) {
            pthread_mutex_lock(&p.mu);
            if (!p.stop && rc == 0)
                stats->stopped = true;
            p.stop = true;
            pthread_mutex_unlock(&p.mu);
        }
        pthread_mutex_lock(&p.mu);
        if (finished && p.n_done == 0)
            break;
    }
    pthread_mutex_unlock(&p.mu);
    free(batch);
    for (int w = 0; w < started; w++)
        pthread_join(ws[w].thread, NULL);
    for (int w = 0; w < n_workers; w++)
        llm_free(ws[w].client);
    free(ws);
    if (p.fatal && rc == 0) {
        dq_set_error("%s", p.fatal);
        stats->unreachable = true;
        rc = -1;
    }
    /* Questions never sent (stopped early) count as failed, not as answered. */
    for (size_t k = 0; k < n_jobs; k++) {
        job *j = &jobs[k];
        if (!answers[j->index].text && !answers[j->index].failed && !answers[j->index].cached)
            answers[j->index].failed = true;
    }
    free(p.fatal);
    free(p.done);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
out:
    free(shots);
    free_jobs(jobs, n_jobs);
    return rc;
}
