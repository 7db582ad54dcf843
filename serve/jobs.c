/* jobs.c - background ingest jobs: `docqa ingest -q FILE...` as a child
 * process per upload, with progress read from the store.
 *
 * A child process rather than a thread: a crafted file that crashes or hangs
 * MuPDF costs its job, never the server, and the job runs the very code and
 * transaction rules of the command line (each file its own transaction, so
 * readers see whole documents only). Progress is what the store says: a file
 * is done once its row carries the uploaded file's size and mtime, with
 * status ok or failed and the reason.
 */
#include "serve/jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serve/context.h"
#include "serve/http.h"

extern char **environ;

enum { KEEP_FINISHED = 100 };

void jobs_init(serve_jobs *j)
{
    memset(j, 0, sizeof *j);
    pthread_mutex_init(&j->lock, NULL);
    j->next_id = 1;
}

static void job_free(serve_job *job)
{
    for (size_t i = 0; i < job->n_paths; i++) {
        free(job->paths[i]);
        free(job->names[i]);
    }
    free(job->paths);
    free(job->names);
    free(job->sizes);
    free(job->mtimes);
    dq_buf_free(&job->output);
    free(job);
}

typedef struct {
    serve_jobs *jobs;
    serve_job *job;
    int fd; /* the child's stderr */
} waiter_arg;

static void *waiter_main(void *p)
{
    waiter_arg *w = p;
    char buf[4096];
    dq_buf out = DQ_BUF_INIT;
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (out.len < 64 * 1024)
            dq_buf_append(&out, buf, (size_t)n);
    }
    close(w->fd);
    int status = 0;
    while (waitpid(w->job->pid, &status, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&w->jobs->lock);
    serve_job *job = w->job;
    dq_buf_free(&job->output);
    job->output = out;
    job->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    job->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    /* 0: all ingested; 3: finished, some files failed (each says why). */
    job->state = job->exit_code == 0 || job->exit_code == 3 ? JOB_DONE : JOB_FAILED;
    job->finished = dq_now();
    job->pid = 0;
    w->jobs->running--;
    pthread_mutex_unlock(&w->jobs->lock);
    free(w);
    return NULL;
}

/* Joins finished waiters and forgets the oldest finished jobs. Lock held. */
static void reap(serve_jobs *j)
{
    int kept = 0;
    for (serve_job **pp = &j->jobs; *pp;) {
        serve_job *job = *pp;
        if (job->state != JOB_RUNNING && job->waiter_joinable) {
            pthread_join(job->waiter, NULL);
            job->waiter_joinable = false;
        }
        if (job->state != JOB_RUNNING && ++kept > KEEP_FINISHED) {
            *pp = job->next;
            job_free(job);
            continue;
        }
        pp = &job->next;
    }
}

int jobs_start(serve_server *srv, char **paths, char **names, size_t n)
{
    serve_jobs *j = &srv->jobs;
    pthread_mutex_lock(&j->lock);
    reap(j);
    if (j->running >= (srv->p.max_jobs > 0 ? srv->p.max_jobs : 2)) {
        pthread_mutex_unlock(&j->lock);
        for (size_t i = 0; i < n; i++) {
            free(paths[i]);
            free(names[i]);
        }
        free(paths);
        free(names);
        return -2;
    }
    serve_job *job = dq_calloc(1, sizeof *job);
    job->paths = paths;
    job->names = names;
    job->n_paths = n;
    job->started = dq_now();
    job->sizes = dq_calloc(n ? n : 1, sizeof *job->sizes);
    job->mtimes = dq_calloc(n ? n : 1, sizeof *job->mtimes);
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (stat(paths[i], &sb) == 0) {
            job->sizes[i] = (int64_t)sb.st_size;
            job->mtimes[i] = (int64_t)sb.st_mtime;
        }
    }

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        dq_set_error("cannot start an ingest job: %s", strerror(errno));
        pthread_mutex_unlock(&j->lock);
        job_free(job);
        return -1;
    }
    const char **argv = dq_calloc(n + 8, sizeof *argv);
    size_t a = 0;
    argv[a++] = srv->docqa_bin;
    argv[a++] = "--store";
    argv[a++] = srv->store_dir;
    argv[a++] = "ingest";
    argv[a++] = "-q";
    argv[a++] = "--";
    for (size_t i = 0; i < n; i++)
        argv[a++] = paths[i];
    argv[a] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    pid_t pid;
    int err = posix_spawn(&pid, srv->docqa_bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    close(pipefd[1]);
    if (err != 0) {
        close(pipefd[0]);
        dq_set_error("cannot run '%s': %s", srv->docqa_bin, strerror(err));
        pthread_mutex_unlock(&j->lock);
        job_free(job);
        return -1;
    }
    job->pid = pid;
    job->id = j->next_id++;
    job->state = JOB_RUNNING;
    waiter_arg *w = dq_calloc(1, sizeof *w);
    *w = (waiter_arg){j, job, pipefd[0]};
    job->next = j->jobs;
    j->jobs = job;
    j->running++;
    if (pthread_create(&job->waiter, NULL, waiter_main, w) != 0) {
        /* Without a waiter nobody reaps the child: wait here instead. */
        close(pipefd[0]);
        free(w);
        int status;
        waitpid(pid, &status, 0);
        job->state = JOB_FAILED;
        job->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        job->pid = 0;
        j->running--;
    } else {
        job->waiter_joinable = true;
    }
    int id = job->id;
    pthread_mutex_unlock(&j->lock);
    return id;
}

static const char *state_name(job_state s)
{
    return s == JOB_RUNNING ? "running" : s == JOB_DONE ? "done" : "failed";
}

static cJSON *job_json(serve_server *srv, serve_job *job, store *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", job->id);
    cJSON_AddStringToObject(o, "state", state_name(job->state));
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    int done = 0, failed = 0;
    const char *in_flight = NULL; /* the first file the job had not recorded */
    for (size_t i = 0; i < job->n_paths; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", job->names[i]);
        /* the path the ingest run records the upload under */
        char *rel = store_rel_path(store_root(st), job->paths[i]);
        cJSON_AddStringToObject(f, "path", rel);
        store_file sf;
        int have = store_get_file(st, rel, &sf);
        bool mine = have > 0 && sf.size == job->sizes[i] && sf.mtime == job->mtimes[i];
        const char *status = mine ? sf.status : job->state == JOB_RUNNING ? "pending" : "failed";
        cJSON_AddStringToObject(f, "status", status);
        if (mine && sf.error) {
            char *shown = serve_public_text(srv, sf.error);
            cJSON_AddStringToObject(f, "error", shown);
            free(shown);
        }
        else if (!mine && job->state != JOB_RUNNING)
            cJSON_AddStringToObject(f, "error", "not ingested (see the job's message)");
        if (mine && sf.doc_id)
            cJSON_AddNumberToObject(f, "doc_id", (double)sf.doc_id);
        if (!mine && !in_flight)
            in_flight = job->names[i];
        done += mine;
        failed += !strcmp(status, "failed");
        store_file_free(&sf);
        free(rel);
        cJSON_AddItemToArray(files, f);
    }
    cJSON_AddNumberToObject(o, "files_total", (double)job->n_paths);
    cJSON_AddNumberToObject(o, "files_done", done);
    cJSON_AddNumberToObject(o, "files_failed", failed);
    double end = job->state == JOB_RUNNING ? dq_now() : job->finished;
    cJSON_AddNumberToObject(o, "elapsed_s", end - job->started);
    if (job->state != JOB_RUNNING) {
        cJSON_AddNumberToObject(o, "exit_code", job->exit_code);
        dq_buf msg = DQ_BUF_INIT;
        dq_buf_puts(&msg, job->output.data ? job->output.data : "");
        /* A killed child leaves no message of its own: say what killed it and where. */
        if (job->term_signal)
            dq_buf_printf(&msg, "%sdocqa ingest was killed by %s (signal %d)%s%s%s",
                          msg.len ? "\n" : "",
                          sigabbrev_np(job->term_signal) ? sigabbrev_np(job->term_signal) : "?",
                          job->term_signal, in_flight ? " while reading '" : "",
                          in_flight ? in_flight : "", in_flight ? "'" : "");
        char *shown = serve_public_text(srv, msg.data ? msg.data : "");
        cJSON_AddStringToObject(o, "message", shown);
        free(shown);
        dq_buf_free(&msg);
    }
    return o;
}

bool jobs_full(serve_server *srv)
{
    pthread_mutex_lock(&srv->jobs.lock);
    bool full = srv->jobs.running >= (srv->p.max_jobs > 0 ? srv->p.max_jobs : 2);
    pthread_mutex_unlock(&srv->jobs.lock);
    return full;
}

int jobs_describe(serve_server *srv, long long id, store *st, cJSON **out)
{
    serve_jobs *j = &srv->jobs;
    *out = NULL;
    pthread_mutex_lock(&j->lock);
    if (id < 0) {
        cJSON *arr = cJSON_CreateArray();
        for (serve_job *job = j->jobs; job; job = job->next)
            cJSON_AddItemToArray(arr, job_json(srv, job, st));
        *out = arr;
    } else {
        for (serve_job *job = j->jobs; job && !*out; job = job->next)
            if (job->id == id)
                *out = job_json(srv, job, st);
    }
    pthread_mutex_unlock(&j->lock);
    return *out ? 1 : 0;
}

void jobs_shutdown(serve_jobs *j)
{
    pthread_mutex_lock(&j->lock);
    for (serve_job *job = j->jobs; job; job = job->next)
        if (job->state == JOB_RUNNING && job->pid > 0)
            kill(job->pid, SIGTERM); /* docqa ingest stops between files */
    pthread_mutex_unlock(&j->lock);
    /* The waiters take the lock to finish, so join without holding it. */
    for (serve_job *job = j->jobs; job; job = job->next)
        if (job->waiter_joinable) {
            pthread_join(job->waiter, NULL);
            job->waiter_joinable = false;
        }
    while (j->jobs) {
        serve_job *next = j->jobs->next;
        job_free(j->jobs);
        j->jobs = next;
    }
}
