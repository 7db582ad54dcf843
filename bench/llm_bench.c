/* llm_bench.c - the latency a client adds between an LLM server's first
 * token and the client's output: docqa's chat client in process, or any
 * command (docqa ask, curl -N) writing to a pipe.
 *
 * A loopback server thread plays llama-server: it answers /tokenize with 404
 * (as Ollama would, so docqa estimates), waits PREFILL ms on a chat request
 * (standing in for prompt processing), notes the time, and sends a first
 * content event holding a marker, then the rest of the stream. The client's
 * side notes when the marker reaches it: the callback (library mode) or the
 * command's stdout pipe (command mode). Both times come from one monotonic
 * clock in one process, so their difference is the overhead itself.
 *
 *     llm_bench [-n RUNS] [-t TOKENS] lib
 *     llm_bench [-n RUNS] [-t TOKENS] cmd -- PROGRAM ARGS...   ({URL} is the server's base)
 *
 * Prints: runs, median, p90 and max first-token overhead in ms, and the time
 * from the first to the last token's arrival for TOKENS tokens.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "generate/llm.h"

#define MARKER "\xce\xa9" "FIRST" /* ΩFIRST */
#define PREFILL_MS 30

static int listen_fd, port, n_tokens = 200;
static volatile double first_sent; /* set by the server thread */

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

static void send_chunk(int fd, const char *s)
{
    char head[32];
    int k = snprintf(head, sizeof head, "%zx\r\n", strlen(s));
    send_all(fd, head, (size_t)k);
    send_all(fd, s, strlen(s));
    send_all(fd, "\r\n", 2);
}

static void serve(int fd)
{
    dq_buf in = DQ_BUF_INIT;
    char buf[8192];
    size_t need = 0;
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k <= 0)
            break;
        dq_buf_append(&in, buf, (size_t)k);
        char *end = strstr(in.data, "\r\n\r\n");
        if (end && !need) {
            char *cl = strcasestr(in.data, "\ncontent-length:");
            need = (size_t)(end + 4 - in.data) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
        }
        if (need && in.len >= need)
            break;
    }
    if (!in.data) {
        close(fd);
        return;
    }
    if (strncmp(in.data, "POST /v1/chat/completions", 25) != 0) {
        const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        send_all(fd, nf, strlen(nf));
    } else {
        const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                           "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        send_all(fd, head, strlen(head));
        struct timespec ts = {0, PREFILL_MS * 1000000L};
        nanosleep(&ts, NULL);
        char ev[512];
        snprintf(ev, sizeof ev,
                 "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\""
                 MARKER "\"}}],\"object\":\"chat.completion.chunk\"}\n\n");
        first_sent = dq_now();
        send_chunk(fd, ev);
        for (int i = 1; i < n_tokens; i++) {
            snprintf(ev, sizeof ev,
                     "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":"
                     "\" tok%d\"}}],\"object\":\"chat.completion.chunk\"}\n\n",
                     i);
            send_chunk(fd, ev);
        }
        send_chunk(fd, "data: {\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"delta\":{}}],"
                       "\"object\":\"chat.completion.chunk\"}\n\ndata: [DONE]\n\n");
        send_all(fd, "0\r\n\r\n", 5);
    }
    dq_buf_free(&in);
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void *server_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        serve(fd);
    }
    return NULL;
}

static int start_server(void)
{
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(listen_fd, 16) < 0 ||
        getsockname(listen_fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    port = ntohs(a.sin_port);
    pthread_t t;
    return pthread_create(&t, NULL, server_main, NULL) ? -1 : 0;
}

typedef struct {
    double first, last;
    int pieces;
} lib_run;

static int on_piece(void *ctx, const char *piece, size_t len)
{
    lib_run *r = ctx;
    double now = dq_now();
    if (r->pieces++ == 0 && memmem(piece, len, MARKER, strlen(MARKER)))
        r->first = now;
    r->last = now;
    return 0;
}

static int run_lib(const char *base, double *overhead, double *stream)
{
    llm_params p = llm_default_params();
    p.base_url = base;
    llm_client *c = llm_new(&p);
    llm_message m[] = {{"user", "hi"}};
    llm_request req = {.stream = true};
    lib_run r = {0};
    llm_reply out;
    llm_status st = llm_chat(c, m, 1, &req, on_piece, &r, &out);
    llm_reply_free(&out);
    llm_free(c);
    if (st != LLM_OK || r.first == 0) {
        fprintf(stderr, "llm_bench: %s\n", dq_last_error());
        return -1;
    }
    *overhead = r.first - first_sent;
    *stream = r.last - r.first;
    return 0;
}

static int run_cmd(char **argv, const char *base, double *overhead, double *stream)
{
    char *args[64];
    int n = 0;
    for (; argv[n] && n < 63; n++) {
        const char *u = strstr(argv[n], "{URL}");
        if (u) {
            dq_buf b = DQ_BUF_INIT;
            dq_buf_append(&b, argv[n], (size_t)(u - argv[n]));
            dq_buf_puts(&b, base);
            dq_buf_puts(&b, u + 5);
            args[n] = dq_buf_take(&b);
        } else {
            args[n] = dq_strdup(argv[n]);
        }
    }
    args[n] = NULL;
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        char env[160];
        snprintf(env, sizeof env, "DOCQA_LLM_URL=%s", base);
        putenv(env);
        execvp(args[0], args);
        _exit(127);
    }
    close(pipefd[1]);
    dq_buf out = DQ_BUF_INIT;
    double first = 0, last = 0;
    char buf[65536];
    first_sent = 0;
    for (;;) {
        ssize_t k = read(pipefd[0], buf, sizeof buf);
        if (k <= 0)
            break;
        double now = dq_now();
        dq_buf_append(&out, buf, (size_t)k);
        if (!first && strstr(out.data, MARKER))
            first = now;
        if (first)
            last = now;
    }
    close(pipefd[0]);
    int st;
    waitpid(pid, &st, 0);
    for (int i = 0; i < n; i++)
        free(args[i]);
    int rc = 0;
    if (!first || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "llm_bench: the command failed or printed no first token (status %d)\n",
                WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        rc = -1;
    }
    *overhead = first - first_sent;
    *stream = last - first;
    dq_buf_free(&out);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int runs = 20, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            n_tokens = atoi(argv[++i]);
        else
            break;
    }
    if (i >= argc || runs < 1 || n_tokens < 1 ||
        (strcmp(argv[i], "lib") && strcmp(argv[i], "cmd"))) {
        fprintf(stderr, "usage: llm_bench [-n RUNS] [-t TOKENS] lib | cmd -- PROGRAM ARGS...\n");
        return 2;
    }
    bool lib = !strcmp(argv[i], "lib");
    char **cmd = argv + i + 1;
    if (!lib && *cmd && !strcmp(*cmd, "--"))
        cmd++;
    if (!lib && !*cmd) {
        fprintf(stderr, "llm_bench: cmd needs a program\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (start_server() < 0) {
        fprintf(stderr, "llm_bench: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        return 1;
    }
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", port);
    double *ov = calloc((size_t)runs, sizeof *ov), *sm = calloc((size_t)runs, sizeof *sm);
    for (int r = 0; r < runs; r++)
        if ((lib ? run_lib(base, &ov[r], &sm[r]) : run_cmd(cmd, base, &ov[r], &sm[r])) < 0)
            return 1;
    qsort(ov, (size_t)runs, sizeof *ov, cmp_double);
    qsort(sm, (size_t)runs, sizeof *sm, cmp_double);
    printf("runs %d\nfirst_token_overhead_ms_median %.3f\nfirst_token_overhead_ms_p90 %.3f\n"
           "first_token_overhead_ms_max %.3f\ntokens %d\nstream_ms_median %.3f\n",
           runs, ov[runs / 2] * 1e3, ov[(runs * 9) / 10 < runs ? (runs * 9) / 10 : runs - 1] * 1e3,
           ov[runs - 1] * 1e3, n_tokens, sm[runs / 2] * 1e3);
    free(ov);
    free(sm);
    return 0;
}
