/* chat.c - `docqa chat`: questions in turn, with follow-ups understood.
 *
 * Each question is one answer turn (pipeline/answer.c) with the earlier
 * turns as its history, so follow-ups are made standalone for retrieval and
 * the model sees the conversation. Lines come from
 * libedit when stdin is a terminal (history, editing) and are read plainly
 * otherwise, so scripts and tests can pipe questions in. Ctrl-C stops the
 * answer being written and returns to the prompt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef DQ_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/rag.h"
#include "common/common.h"
#include "generate/generate.h"

typedef struct {
    char *question; /* as asked */
    char *answer;   /* as answered */
    /* The user message as an in-process model read it (passages and all), so
     * the next prompt starts with the tokens already in its KV cache and only
     * the new turn is prefilled; NULL: the question stands for the turn. */
    char *sent;
} chat_turn;

typedef struct {
    rag_session *rag;
    bool no_llm;      /* extractive: none configured, --no-llm, or it became unreachable */
    chat_turn *turns; /* (n_turns) oldest first */
    size_t n_turns, cap_turns;
    char *last_query;        /* the standalone query of the last turn */
    answer_source *sources;  /* (n_sources) the passages of the last answer */
    size_t n_sources;
    bool tty;
} chat_session;

static void free_sources(chat_session *s)
{
    for (size_t i = 0; i < s->n_sources; i++)
        answer_source_clear(&s->sources[i]);
    free(s->sources);
    s->sources = NULL;
    s->n_sources = 0;
}

static void keep_sources(chat_session *s, const answer_source *src, size_t n)
{
    free_sources(s);
    s->sources = dq_calloc(n ? n : 1, sizeof *s->sources);
    for (size_t i = 0; i < n; i++)
        answer_source_copy(&s->sources[i], &src[i]);
    s->n_sources = n;
}

static void chat_forget(chat_session *s)
{
    for (size_t i = 0; i < s->n_turns; i++) {
        free(s->turns[i].question);
        free(s->turns[i].answer);
        free(s->turns[i].sent);
    }
    s->n_turns = 0;
    free(s->last_query);
    s->last_query = NULL;
    free_sources(s);
}

static void add_turn(chat_session *s, const char *q, const char *a, const char *query,
                     const char *sent)
{
    DQ_GROW(s->turns, s->cap_turns, s->n_turns + 1);
    s->turns[s->n_turns].question = dq_strdup(q);
    s->turns[s->n_turns].sent = sent ? dq_strdup(sent) : NULL;
    s->turns[s->n_turns].answer = dq_strdup(a);
    s->n_turns++;
    free(s->last_query);
    s->last_query = dq_strdup(query);
}

static void show_query(const rag_turn *t, const char *query)
{
    if (strcmp(query, t->question))
        fprintf(stderr, "(searching: %s)\n", query);
}

/* Answers one question; prints the answer and its sources. */
static void chat_turn_run(chat_session *s, const char *q)
{
    llm_message *hist = dq_calloc(2 * s->n_turns + 1, sizeof *hist);
    for (size_t i = 0; i < s->n_turns; i++) {
        const chat_turn *ct = &s->turns[i];
        hist[2 * i] = (llm_message){"user", ct->sent ? ct->sent : ct->question};
        hist[2 * i + 1] = (llm_message){"assistant", s->turns[i].answer};
    }
    cli_answer_out o = {stdout, false};
    rag_turn t = cli_rag_turn(q, &o);
    t.history = hist;
    t.n_history = 2 * s->n_turns;
    t.prev_query = s->last_query;
    t.no_llm = s->no_llm;
    if (s->tty)
        t.on_query = show_query;
    rag_reply r;
    int rc = rag_answer_turn(s->rag, &t, &r);
    if (rc == 0 && r.mode == RAG_LLM) {
        if (*r.text && r.text[strlen(r.text) - 1] != '\n')
            putchar('\n');
        fflush(stdout);
        rag_print_sources(stdout, &r);
    } else if (rc == 0) {
        if (r.llm_error) {
            cli_error("%s; answering from the passages for the rest of this chat (extractive)",
                      r.llm_error);
            s->no_llm = true;
        }
        if (r.no_document)
            puts(r.text);
        else
            rag_print_extractive(stdout, q, &r.extractive);
    } else {
        if (o.printed)
            putchar('\n');
        fflush(stdout);
        cli_error("%s", dq_last_error());
        if (rc == RAG_ERR_STOPPED)
            cli_clear_interrupt();
    }
    if (rc == 0) {
        keep_sources(s, r.sources, r.n_sources);
        bool kv = r.mode == RAG_LLM && llm_is_local(s->rag->llm) && r.llm.pr.msgs[1].content;
        add_turn(s, q, r.found || r.mode == RAG_LLM ? r.text : "", r.query,
                 kv ? r.llm.pr.msgs[1].content : NULL);
    }
    putchar('\n');
    fflush(stdout);
    rag_reply_free(&r);
    free(hist);
}

static void print_sources(const chat_session *s)
{
    if (s->n_sources == 0) {
        puts("no sources yet: ask a question first");
        return;
    }
    for (size_t i = 0; i < s->n_sources; i++) {
        char *line = cli_shown(answer_format_source(&s->sources[i]));
        printf("[%d] %s\n", s->sources[i].number, line);
        free(line);
    }
}

/* The next line without its newline, or NULL at end of input. */
static char *read_line(bool tty)
{
#ifdef DQ_HAVE_LIBEDIT
    if (tty) {
        char *l = readline("> ");
        if (l && *l)
            add_history(l);
        return l;
    }
#endif
    if (tty) {
        fputs("> ", stdout);
        fflush(stdout);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

static const char *const chat_usage[] = {
    "docqa chat [<options>]",
    "",
    "Type a question and press Enter. Commands: /sources (the passages of the",
    "last answer), /clear (forget the conversation), /quit (or Ctrl-D).",
    NULL,
};

int cmd_chat(int argc, char **argv, cli_globals *g)
{
    bool no_llm = false;
    chat_session s = {0};
    rag_session_params sp = {.top_k = retrieve_default_params().top_k};
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_NUMBER('k', "top", &sp.top_k, "n", "chunks to answer each question from (5)"),
        CLI_RETRIEVAL_OPTIONS(&sp.flags),
        OPT_BOOLEAN(0, "no-llm", &no_llm, "answer extractively even when [llm] is configured"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, chat_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args > 0) {
        cli_error("chat takes no arguments; type questions after it starts");
        return EXIT_USAGE;
    }
    if (sp.top_k < 1 || sp.top_k > 100) {
        cli_error("--top must be 1-100");
        return EXIT_USAGE;
    }
    sp.no_llm = no_llm;
    int status;
    s.rag = cli_rag_session(g, &sp, &status);
    if (!s.rag)
        return status;
    s.no_llm = s.rag->llm == NULL;
    if (s.rag->llm_error)
        cli_error("%s; answering from the passages instead (extractive)", s.rag->llm_error);
    s.tty = isatty(0) && isatty(1);
    cli_catch_signals();
    if (s.tty)
        printf("docqa chat: ask about your documents (%s); /sources, /clear, /quit\n",
               s.rag->llm ? llm_base_url(s.rag->llm) : "extractive answers, no LLM configured");
    for (;;) {
        char *line = read_line(s.tty);
        if (!line) {
            if (cli_interrupted()) { /* Ctrl-C at the prompt: a fresh line */
                cli_clear_interrupt();
                putchar('\n');
                continue;
            }
            break;
        }
        char *q = trim(line);
        if (!*q) {
            free(line);
            continue;
        }
        if (q[0] == '/') {
            bool quit = false;
            if (!strcmp(q, "/quit") || !strcmp(q, "/exit") || !strcmp(q, "/q"))
                quit = true;
            else if (!strcmp(q, "/sources"))
                print_sources(&s);
            else if (!strcmp(q, "/clear")) {
                chat_forget(&s);
                puts("conversation cleared");
            } else if (!strcmp(q, "/help"))
                puts("/sources  the passages behind the last answer\n"
                     "/clear    forget the conversation (follow-ups start afresh)\n"
                     "/quit     leave (or Ctrl-D)");
            else
                cli_error("unknown command '%s'; try /help", q);
            fflush(stdout);
            free(line);
            if (quit)
                break;
            continue;
        }
        chat_turn_run(&s, q);
        free(line);
    }
    chat_forget(&s);
    free(s.turns);
    rag_session_free(s.rag);
    return EXIT_OK;
}
