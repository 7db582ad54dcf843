/* jobs.h - background ingest jobs: `docqa ingest -q FILE...` as a child
 * process per upload, with progress read from the store (jobs.c). */
#ifndef DQ_SERVE_JOBS_H
#define DQ_SERVE_JOBS_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/common.h"
#include "index/index.h"
#include "serve/serve.h"

typedef enum { JOB_RUNNING, JOB_DONE, JOB_FAILED } job_state;

typedef struct serve_job {
    int id;
    job_state state;
    pid_t pid;           /* the `docqa ingest` child while running */
    char **paths;        /* (n_paths) absolute paths of the uploaded files */
    char **names;        /* (n_paths) the names shown to users */
    int64_t *sizes;      /* (n_paths) as saved, to know the store's row is this upload's */
    int64_t *mtimes;     /* (n_paths) */
    size_t n_paths;
    double started, finished;
    int exit_code;       /* the child's exit status once done */
    int term_signal;     /* the signal that killed the child, else 0 */
    dq_buf output;       /* the child's stderr (failure lines) */
    pthread_t waiter;    /* reads output, then reaps the child */
    bool waiter_joinable;
    struct serve_job *next;
} serve_job;

typedef struct {
    pthread_mutex_t lock;
    serve_job *jobs; /* newest first, owned */
    int next_id;
    int running;
} serve_jobs;

void jobs_init(serve_jobs *j);
/* Starts `docqa ingest` on paths (taking ownership of both arrays); the job
 * id, or -1 with the error set; -2 when max_jobs are already running. */
int jobs_start(serve_server *srv, char **paths, char **names, size_t n);
/* True when max_jobs are running, so a new upload would be refused. */
bool jobs_full(serve_server *srv);
/* Adds job id's JSON (or all jobs when id < 0) to out; 0 when no such job. */
int jobs_describe(serve_server *srv, long long id, store *st, cJSON **out);
/* Stops running jobs (SIGTERM) and reaps them; frees every job. */
void jobs_shutdown(serve_jobs *j);

#endif
