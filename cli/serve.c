/* serve.c - `docqa serve`: the store over HTTP (JSON API, OpenAI-compatible
 * endpoint, web page) until SIGINT or SIGTERM, which stop it gracefully:
 * requests in flight finish, running ingest jobs stop between files.
 *
 * Signals are blocked before the server's threads start (they inherit the
 * mask) and taken here with sigwait, so no handler runs inside MHD. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/rag.h"
#include "common/common.h"
#include "serve/serve.h"

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    fprintf(stderr, "%s %s\n", ts, line);
}

static const char *const serve_usage[] = {
    "docqa serve [<options>]",
    NULL,
};

int cmd_serve(int argc, char **argv, cli_globals *g)
{
    serve_params sp = serve_default_params();
    const char *token = NULL, *uploads = NULL, *allow_host = NULL;
    int max_upload_mb = (int)(sp.max_upload_bytes >> 20);
    bool quiet = false;
    rag_session_params rsp = {.top_k = retrieve_default_params().top_k};
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_STR(0, "host", &sp.host, "addr", "address to listen on (127.0.0.1)"),
        OPT_NUMBER('p', "port", &sp.port, "n", "port to listen on (8080; 0 picks a free one)"),
        OPT_STR(0, "token", &token, "secret",
                "require 'Authorization: Bearer <secret>' (default $DOCQA_TOKEN); "
                "needed off loopback"),
        OPT_STR(0, "allow-host", &allow_host, "name",
                "also answer to this Host name (a proxy's; repeat or comma-separate)"),
        OPT_STR(0, "uploads", &uploads, "dir", "where uploaded files are kept (<store>/uploads)"),
        OPT_NUMBER(0, "max-upload", &max_upload_mb, "mb", "largest upload request (200 MB)"),
        OPT_NUMBER(0, "max-jobs", &sp.max_jobs, "n", "ingest jobs running at once (2)"),
        OPT_NUMBER(0, "max-connections", &sp.max_connections, "n",
                   "connections held at once (1024, within the open-file limit); past it a "
                   "new one closes the oldest idle one"),
        OPT_NUMBER(0, "search-cache", &sp.search_cache, "n",
                   "search replies kept for repeated queries (256; 0: none; at most 65536), "
                   "dropped on any change to the store"),
        OPT_NUMBER('k', "top", &rsp.top_k, "n", "chunks an answer reads (5)"),
        CLI_RETRIEVAL_OPTIONS(&rsp.flags),
        OPT_BOOLEAN(0, "no-llm", &rsp.no_llm, "answer extractively even when [llm] is configured"),
        OPT_BOOLEAN('q', "quiet", &quiet, "no access log"),
        OPT_FINISH,
    };
    /* --allow-host may be repeated: the values are joined here, as the
     * parser keeps the last one only. */
    char allow[1024] = "";
    size_t allow_len = 0;
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--allow-host") && i + 1 < argc)
            v = argv[++i];
        else if (!strncmp(argv[i], "--allow-host=", 13))
            v = argv[i] + 13;
        if (v)
            allow_len += (size_t)snprintf(allow + allow_len, sizeof allow - allow_len, "%s%s",
                                          allow_len ? "," : "", v);
        if (allow_len >= sizeof allow) {
            cli_error("--allow-host: too many names (at most %zu characters)", sizeof allow - 1);
            return EXIT_USAGE;
        }
    }
    int n_args;
    int p = parse_options(argc, argv, opts, serve_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args > 0) {
        cli_error("serve takes no arguments ('%s')", argv[0]);
        return EXIT_USAGE;
    }
    if (sp.port < 0 || sp.port > 65535 || max_upload_mb < 1 || sp.max_jobs < 1 ||
        rsp.top_k < 1 || rsp.top_k > 100 || sp.max_connections < 1 || sp.search_cache < 0 ||
        sp.search_cache > 65536) {
        cli_error("--port must be 0-65535, --max-upload, --max-jobs and --max-connections at "
                  "least 1, --top 1-100, --search-cache 0-65536");
        return EXIT_USAGE;
    }
    if (!token && getenv("DOCQA_TOKEN") && *getenv("DOCQA_TOKEN"))
        token = getenv("DOCQA_TOKEN");
    if (!serve_host_is_loopback(sp.host) && !token) {
        cli_error("listening on '%s' (not loopback) needs a token: pass --token or set "
                  "DOCQA_TOKEN",
                  sp.host);
        return EXIT_USAGE;
    }
    sp.token = token;
    sp.max_upload_bytes = (size_t)max_upload_mb << 20;
    sp.upload_dir = uploads;
    sp.allow_hosts = allow_host ? allow : NULL;

    /* The store (created when missing: people upload their documents
     * through the page), its config, and the question's embedding model,
     * the reranker and the LLM, as ask would use them. */
    int status;
    rag_session *rag = cli_rag_session(g, &rsp, &status);
    if (!rag)
        return status;
    status = EXIT_ERROR;
    /* ask falls back to the passages for one answer; a server would do so
     * silently for every answer until someone reads its log */
    if (rag->llm_error) {
        cli_error("%s (fix [llm] model, or serve extractive answers with --no-llm)",
                  rag->llm_error);
        goto out;
    }
    sp.session = rag;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        cli_error("cannot find the docqa program for ingest jobs: %s", strerror(errno));
        goto out;
    }
    self[n] = '\0';
    sp.store_dir = store_dir(rag->st);
    sp.docqa_bin = self;
    if (!quiet)
        sp.log = log_line;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Each connection is a descriptor: the soft open-file limit (often
     * 1024) is raised to the hard one so the connection limit is not cut
     * down to fit it (serve_start fits it to what is left). */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    serve_server *srv = serve_start(&sp);
    if (!srv) {
        cli_error("%s", dq_last_error());
        goto out;
    }
    bool v6 = strchr(sp.host, ':') != NULL;
    fprintf(stderr, "docqa: serving '%s' at http://%s%s%s:%d/%s\n", sp.store_dir, v6 ? "[" : "",
            sp.host, v6 ? "]" : "", serve_port(srv), token ? " (token required)" : "");
    if (rag->llm)
        fprintf(stderr, "docqa: answers from the LLM at %s (extractive when it is unreachable)\n",
                llm_base_url(rag->llm));
    else
        fprintf(stderr, "docqa: answers are extractive (no [llm] configured)\n");
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "docqa: %s: finishing requests in flight, then stopping\n",
            sig == SIGTERM ? "SIGTERM" : "interrupted");
    serve_stop(srv);
    status = EXIT_OK;
out:
    rag_session_free(rag);
    return status;
}
