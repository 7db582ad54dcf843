/* chat.c - `docqa chat`: questions in turn, with follow-ups understood.
 *
 * Each question is first made standalone for retrieval: with an LLM, the
 * model rewrites it from the last few turns ("那押金呢？" after a question
 * about 违约金 becomes "合同中押金是多少？"); without one, a question that
 * reads as a follow-up (short, or leaning on "it", "that", 这, 那, 呢) is
 * searched together with the previous query. The answer then comes as in
 * `ask`, with the earlier turns in the model's context. Lines come from
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

#define HISTORY_TURNS 3     /* turns the model sees */
#define HISTORY_ANSWER 1200 /* bytes of each earlier answer it sees */

typedef struct {
    char *question; /* as asked */
    char *answer;   /* as answered */
} chat_turn;

typedef struct {
    store *st;
    cli_config *cfg;
    llm_client *llm; /* NULL: extractive (none configured, or unreachable) */
    embedder *emb;   /* the question's embedding model for dense/hybrid, or NULL */
    retrieve_params rp; /* rp.reranker owned */
    answer_params ap;
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
    }
    s->n_turns = 0;
    free(s->last_query);
    s->last_query = NULL;
    free_sources(s);
}

static void add_turn(chat_session *s, const char *q, const char *a, const char *query)
{
    DQ_GROW(s->turns, s->cap_turns, s->n_turns + 1);
    s->turns[s->n_turns].question = dq_strdup(q);
    s->turns[s->n_turns].answer = dq_strdup(a);
    s->n_turns++;
    free(s->last_query);
    s->last_query = dq_strdup(query);
}

/* The last turns as chat messages; strings point into s. */
static size_t history_messages(const chat_session *s, llm_message *msgs, dq_buf *cut)
{
    size_t first = s->n_turns > HISTORY_TURNS ? s->n_turns - HISTORY_TURNS : 0, n = 0;
    for (size_t i = first; i < s->n_turns; i++) {
        msgs[n++] = (llm_message){"user", s->turns[i].question};
        const char *a = s->turns[i].answer;
        if (strlen(a) > HISTORY_ANSWER) {
            size_t k = HISTORY_ANSWER;
            while (k > 0 && ((unsigned char)a[k] & 0xC0) == 0x80)
                k--;
            dq_buf_clear(&cut[i - first]);
            dq_buf_append(&cut[i - first], a, k);
            a = cut[i - first].data;
        }
        msgs[n++] = (llm_message){"assistant", a};
    }
    return n;
}

/* A question that leans on what came before. */
static bool is_followup(const char *q)
{
    static const char *const words[] = {"it", "its", "that", "this", "these", "those", "they",
                                        "them", "their", "he", "she", "there", "what about",
                                        "how about", "and", "also", NULL};
    static const char *const zh[] = {"它", "这", "那", "其", "该", "他", "她", "呢", "上述", NULL};
    for (int i = 0; zh[i]; i++)
        if (strstr(q, zh[i]))
            return true;
    size_t n = strlen(q);
    int latin_words = 0, cjk = 0;
    bool in_word = false;
    dq_buf lower = DQ_BUF_INIT;
    dq_buf_putc(&lower, ' ');
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = utf8_at(q, n, i, &len);
        bool letter = cp < 128 && ((cp | 32) >= 'a' && (cp | 32) <= 'z');
        if (letter && !in_word)
            latin_words++;
        in_word = letter;
        if (uc_is_cjk(cp))
            cjk++;
        dq_buf_putc(&lower, letter ? (char)(cp | 32) : ' ');
        i += (size_t)len;
    }
    dq_buf_putc(&lower, ' ');
    bool hit = false;
    for (int i = 0; words[i] && !hit; i++) {
        char pat[32];
        snprintf(pat, sizeof pat, " %s ", words[i]);
        hit = strstr(lower.data, pat) != NULL;
    }
    dq_buf_free(&lower);
    return hit || (latin_words + cjk / 2 < 3);
}

static const char rewrite_instructions[] =
    "Rewrite the user's last message as a standalone question that can be understood without "
    "the conversation, in the same language as that message. Keep names, numbers and terms. "
    "Reply with the question only.";

/* The query to retrieve with. Caller frees. */
static char *standalone_query(chat_session *s, const char *q)
{
    if (s->n_turns == 0)
        return dq_strdup(q);
    if (s->llm) {
        llm_message msgs[2 * HISTORY_TURNS + 2];
        dq_buf cut[HISTORY_TURNS];
        memset(cut, 0, sizeof cut);
        msgs[0] = (llm_message){"system", rewrite_instructions};
        size_t n = 1 + history_messages(s, msgs + 1, cut);
        msgs[n++] = (llm_message){"user", q};
        llm_request req = {.stream = false, .max_tokens = 96, .should_stop = cli_interrupted};
        llm_reply r;
        llm_status st = llm_chat(s->llm, msgs, n, &req, NULL, NULL, &r);
        for (int i = 0; i < HISTORY_TURNS; i++)
            dq_buf_free(&cut[i]);
        if (st == LLM_OK && r.text) {
            /* one line, no quotes around it */
            char *t = r.text;
            while (*t == ' ' || *t == '\n' || *t == '"')
                t++;
            size_t len = strcspn(t, "\n");
            while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '"'))
                len--;
            if (len > 0) {
                char *out = dq_strndup(t, len);
                for (char *c = out; *c; c++) /* it is shown on the terminal */
                    if ((unsigned char)*c < 0x20 || *c == 0x7f)
                        *c = ' ';
                llm_reply_free(&r);
                return out;
            }
        }
        llm_reply_free(&r);
        if (cli_interrupted())
            return NULL;
    }
    if (s->last_query && is_followup(q)) {
        dq_buf b = DQ_BUF_INIT;
        dq_buf_printf(&b, "%s %s", s->last_query, q);
        return dq_buf_take(&b);
    }
    return dq_strdup(q);
}

/* Answers one question; prints the answer and its sources. */
static void chat_turn_run(chat_session *s, const char *q)
{
    char *query = standalone_query(s, q);
    if (!query) {
        cli_error("interrupted");
        cli_clear_interrupt();
        return;
    }
    if (s->tty && strcmp(query, q))
        fprintf(stderr, "(searching: %s)\n", query);
    retrieve_result res = {0};
    if (retrieve_search(s->st, s->emb, query, &s->rp, &res) < 0) {
        cli_error("search failed: %s", dq_last_error());
        free(query);
        return;
    }
    bool extractive = s->llm == NULL;
    if (s->llm) {
        llm_message msgs[2 * HISTORY_TURNS];
        dq_buf cut[HISTORY_TURNS];
        memset(cut, 0, sizeof cut);
        size_t n = history_messages(s, msgs, cut);
        rag_answer ans;
        if (rag_generate(s->llm, s->cfg, q, &res, msgs, n, stdout, &ans) == 0) {
            const char *text = ans.reply.text ? ans.reply.text : "";
            if (*text && text[strlen(text) - 1] != '\n')
                putchar('\n');
            fflush(stdout);
            if (ans.status == LLM_OK) {
                rag_print_sources(stdout, &ans);
                keep_sources(s, ans.pr.sources, ans.pr.n_sources);
                add_turn(s, q, text, query);
            } else if (ans.status == LLM_ERR_CANCELLED) {
                cli_error("interrupted");
                cli_clear_interrupt();
            } else if (rag_unreachable(&ans)) {
                cli_error("%s; answering from the passages for the rest of this chat (extractive)",
                          ans.error);
                llm_free(s->llm);
                s->llm = NULL;
                extractive = true;
            } else {
                cli_error("%s", ans.error);
            }
        }
        rag_answer_free(&ans);
        for (int i = 0; i < HISTORY_TURNS; i++)
            dq_buf_free(&cut[i]);
    }
    if (extractive) {
        answer a = {0};
        if (answer_extractive(query, &res, &s->ap, &a) < 0) {
            cli_error("cannot answer: %s", dq_last_error());
        } else {
            rag_print_extractive(stdout, &a);
            dq_buf text = DQ_BUF_INIT;
            for (size_t i = 0; i < a.n_sentences; i++)
                dq_buf_printf(&text, "%s%s [%d]", i ? " " : "", a.sentences[i].text,
                              a.sentences[i].source);
            keep_sources(s, a.sources, a.n_sources);
            add_turn(s, q, text.data ? text.data : "", query);
            dq_buf_free(&text);
        }
        answer_free(&a);
    }
    putchar('\n');
    fflush(stdout);
    retrieve_result_free(&res);
    free(query);
}

static void print_sources(const chat_session *s)
{
    if (s->n_sources == 0) {
        puts("no sources yet: ask a question first");
        return;
    }
    for (size_t i = 0; i < s->n_sources; i++) {
        char *line = answer_format_source(&s->sources[i]);
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
    s.rp = retrieve_default_params();
    s.ap = answer_default_params();
    cli_retrieval_flags rf = {0};
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_NUMBER('k', "top", &s.rp.top_k, "n", "chunks to answer each question from (5)"),
        CLI_RETRIEVAL_OPTIONS(&rf),
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
    if (s.rp.top_k < 1 || s.rp.top_k > 100) {
        cli_error("--top must be 1-100");
        return EXIT_USAGE;
    }
    s.st = cli_open_store(g, false);
    if (!s.st)
        return EXIT_ERROR;
    cli_config cfg;
    bool err = cli_config_load(&cfg, store_dir(s.st)) < 0;
    if (!err && !no_llm)
        s.llm = cli_open_llm(&cfg, &err);
    int status = err ? EXIT_ERROR : cli_retrieval_setup(s.st, &rf, &s.rp, &s.emb);
    if (status != EXIT_OK) {
        llm_free(s.llm);
        embedder_free(s.emb);
        reranker_free(s.rp.reranker);
        cli_config_free(&cfg);
        store_close(s.st);
        return status;
    }
    s.cfg = &cfg;
    s.tty = isatty(0) && isatty(1);
    cli_catch_signals();
    if (s.tty)
        printf("docqa chat: ask about your documents (%s); /sources, /clear, /quit\n",
               s.llm ? llm_base_url(s.llm) : "extractive answers, no LLM configured");
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
    llm_free(s.llm);
    embedder_free(s.emb);
    reranker_free(s.rp.reranker);
    cli_config_free(&cfg);
    store_close(s.st);
    return EXIT_OK;
}
