/* chat.c - chat templates: a conversation rendered into token ids.
 *
 * A template is a few pieces of text (what comes before the conversation,
 * each role's turn with a {content} slot, the assistant header that asks for
 * an answer), compiled once into runs of text and special-token ids. The
 * built-in ChatML and Llama 3 templates and a user's template file are the
 * same structure, so one renderer serves all. Specials are recognised only in
 * the template's own text; message content goes through bpe_encode, as plain
 * text, inside the run of text around it (the model saw it tokenized that way).
 */
#include "embed/bpe_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, N_ROLES };
static const char *const role_names[N_ROLES] = {"system", "user", "assistant"};

/* One run of a compiled template: text, a special token, or the content. */
typedef struct {
    enum { PART_TEXT, PART_SPECIAL, PART_CONTENT } kind;
    int32_t id;  /* PART_SPECIAL */
    char *text;  /* PART_TEXT, NUL-terminated */
    size_t len;
} chat_part;

typedef struct {
    chat_part *parts; /* (n) */
    size_t n;
    bool set;
} chat_seq;

#define CHAT_MAX_STOPS 8

struct chat_template {
    char kind[16];
    chat_seq begin;            /* before the first message */
    chat_seq turn[N_ROLES];    /* system unset: folded into the next user turn */
    chat_seq generation;       /* the assistant header an answer continues */
    char *default_system;      /* used when the conversation has none, or NULL */
    char *system_preamble;     /* put before the system content (Llama 3.1), or NULL */
    bool always_system;        /* a system turn even when there is no system text */
    bool trim;                 /* message content is stripped of surrounding white space */
    int32_t stops[CHAT_MAX_STOPS];
    size_t n_stops;
};

static void seq_free(chat_seq *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->parts[i].text);
    free(s->parts);
    *s = (chat_seq){0};
}

void chat_template_free(chat_template *ct)
{
    if (!ct)
        return;
    seq_free(&ct->begin);
    for (int r = 0; r < N_ROLES; r++)
        seq_free(&ct->turn[r]);
    seq_free(&ct->generation);
    free(ct->default_system);
    free(ct->system_preamble);
    free(ct);
}

const char *chat_template_kind(const chat_template *ct)
{
    return ct->kind;
}

const int32_t *chat_stop_ids(const chat_template *ct, size_t *n)
{
    *n = ct->n_stops;
    return ct->stops;
}

static void add_stop(chat_template *ct, int32_t id)
{
    if (id < 0 || ct->n_stops == CHAT_MAX_STOPS)
        return;
    for (size_t i = 0; i < ct->n_stops; i++)
        if (ct->stops[i] == id)
            return;
    ct->stops[ct->n_stops++] = id;
}

static void seq_push(chat_seq *s, chat_part p)
{
    s->parts = dq_realloc(s->parts, (s->n + 1) * sizeof *s->parts);
    s->parts[s->n++] = p;
}

static void seq_push_text(chat_seq *s, const char *text, size_t len)
{
    if (len)
        seq_push(s, (chat_part){PART_TEXT, -1, dq_strndup(text, len), len});
}

/* Compiles template text: the longest special token at each place is that
 * token, "{content}" the message (when with_content; exactly once). */
static int seq_compile(const bpe_tokenizer *t, const char *s, size_t n, bool with_content, chat_seq *out)
{
    static const char slot[] = "{content}";
    size_t text_start = 0, i = 0;
    int n_content = 0;
    *out = (chat_seq){0};
    out->set = true;
    while (i < n) {
        size_t len;
        int32_t id = bpe_match_special(t, s + i, n - i, &len);
        bool is_slot = with_content && n - i >= sizeof slot - 1 && memcmp(s + i, slot, sizeof slot - 1) == 0;
        if (id < 0 && !is_slot) {
            i++;
            continue;
        }
        seq_push_text(out, s + text_start, i - text_start);
        if (is_slot) {
            seq_push(out, (chat_part){PART_CONTENT, -1, NULL, 0});
            n_content++;
            i += sizeof slot - 1;
        } else {
            seq_push(out, (chat_part){PART_SPECIAL, id, NULL, 0});
            i += len;
        }
        text_start = i;
    }
    seq_push_text(out, s + text_start, n - text_start);
    if (with_content && n_content != 1) {
        dq_set_error("needs {content} exactly once (found %d)", n_content);
        seq_free(out);
        return -1;
    }
    return 0;
}

/* ---- rendering ------------------------------------------------------------ */

typedef struct {
    const bpe_tokenizer *t;
    bpe_ids *out;
    dq_buf text; /* text waiting for the next special token or the end */
} chat_out;

static void flush_text(chat_out *o)
{
    if (o->text.len)
        bpe_encode(o->t, o->text.data, o->text.len, o->out);
    dq_buf_clear(&o->text);
}

static void put_content(chat_out *o, const char *content, bool trim)
{
    size_t len = strlen(content);
    if (trim) {
        /* Jinja's trim is Python's str.strip(): Unicode white space, so a
         * Chinese paragraph's leading U+3000 goes too. */
        int k;
        while (len && bpe_is_white_space(utf8_at(content, len, 0, &k)))
            content += k, len -= (size_t)k;
        while (len) {
            size_t start = len - 1;
            while (start > 0 && (content[start] & 0xC0) == 0x80 && len - start < 4)
                start--;
            if (!bpe_is_white_space(utf8_at(content, len, start, &k)) || start + (size_t)k != len)
                break;
            len = start;
        }
    }
    dq_buf_append(&o->text, content, len);
}

/* content: NULL for a sequence without a slot. */
static void render_seq(chat_out *o, const chat_seq *s, const char *prefix, const char *content, bool trim)
{
    for (size_t i = 0; i < s->n; i++) {
        const chat_part *p = &s->parts[i];
        if (p->kind == PART_TEXT) {
            dq_buf_append(&o->text, p->text, p->len);
        } else if (p->kind == PART_SPECIAL) {
            flush_text(o);
            bpe_ids_push(o->out, p->id);
        } else {
            if (prefix)
                dq_buf_puts(&o->text, prefix);
            put_content(o, content ? content : "", trim);
        }
    }
}

static int role_of(const char *role)
{
    for (int r = 0; r < N_ROLES; r++)
        if (role && strcmp(role, role_names[r]) == 0)
            return r;
    return -1;
}

int chat_render(const chat_template *ct, const bpe_tokenizer *t, const chat_message *msgs, size_t n,
                bool add_generation_prompt, bpe_ids *out)
{
    for (size_t i = 0; i < n; i++)
        if (role_of(msgs[i].role) < 0) {
            dq_set_error("chat message %zu has role '%s' (system, user or assistant)", i + 1,
                         msgs[i].role ? msgs[i].role : "(none)");
            return -1;
        }
    chat_out o = {t, out, DQ_BUF_INIT};
    render_seq(&o, &ct->begin, NULL, NULL, false);
    bool has_system = n > 0 && role_of(msgs[0].role) == ROLE_SYSTEM;
    const char *system = has_system ? msgs[0].content : ct->default_system;
    dq_buf folded = DQ_BUF_INIT; /* system text waiting for the first user turn */
    if ((system || ct->always_system) && ct->turn[ROLE_SYSTEM].set) {
        render_seq(&o, &ct->turn[ROLE_SYSTEM], ct->system_preamble, system, ct->trim);
    } else if (system) {
        dq_buf_puts(&folded, system);
        dq_buf_puts(&folded, "\n\n");
    }
    for (size_t i = has_system ? 1 : 0; i < n; i++) {
        int r = role_of(msgs[i].role);
        const char *content = msgs[i].content ? msgs[i].content : "";
        if (r == ROLE_SYSTEM && !ct->turn[ROLE_SYSTEM].set) {
            dq_buf_puts(&folded, content);
            dq_buf_puts(&folded, "\n\n");
            continue;
        }
        if (r == ROLE_USER && folded.len) {
            dq_buf_puts(&folded, content);
            render_seq(&o, &ct->turn[r], NULL, folded.data, ct->trim);
            dq_buf_clear(&folded);
            continue;
        }
        render_seq(&o, &ct->turn[r], NULL, content, ct->trim); /* the preamble is the first turn's */
    }
    if (add_generation_prompt)
        render_seq(&o, &ct->generation, NULL, NULL, false);
    flush_text(&o);
    dq_buf_free(&o.text);
    dq_buf_free(&folded);
    return 0;
}

/* ---- built-in templates ----------------------------------------------------- */

typedef struct {
    const char *kind;
    const char *begin;
    const char *turn[N_ROLES];
    const char *generation;
    const char *stops[2];
    bool trim;
} builtin_spec;

static const builtin_spec chatml = {
    "chatml", "",
    {"<|im_start|>system\n{content}<|im_end|>\n", "<|im_start|>user\n{content}<|im_end|>\n",
     "<|im_start|>assistant\n{content}<|im_end|>\n"},
    "<|im_start|>assistant\n", {"<|im_end|>", NULL}, false,
};

static const builtin_spec llama3 = {
    "llama3", "",
    {"<|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>",
     "<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>",
     "<|start_header_id|>assistant<|end_header_id|>\n\n{content}<|eot_id|>"},
    "<|start_header_id|>assistant<|end_header_id|>\n\n", {"<|eot_id|>", "<|eom_id|>"}, true,
};

/* The special tokens a built-in template needs must be the vocabulary's. */
static bool has_specials(const bpe_tokenizer *t, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = bpe_token_id(t, *names, strlen(*names));
        if (id < 0 || bpe_token_kind(t, id) != BPE_TOKEN_CONTROL) {
            dq_set_error("the chat template uses %s, which the vocabulary lacks as a control token", *names);
            return false;
        }
    }
    return true;
}

static chat_template *builtin(const bpe_tokenizer *t, const builtin_spec *b, const char *kind,
                              const char *generation)
{
    chat_template *ct = dq_calloc(1, sizeof *ct);
    snprintf(ct->kind, sizeof ct->kind, "%s", kind);
    ct->trim = b->trim;
    seq_compile(t, b->begin, strlen(b->begin), false, &ct->begin);
    for (int r = 0; r < N_ROLES; r++)
        seq_compile(t, b->turn[r], strlen(b->turn[r]), true, &ct->turn[r]);
    seq_compile(t, generation, strlen(generation), false, &ct->generation);
    for (size_t i = 0; i < 2 && b->stops[i]; i++)
        add_stop(ct, bpe_token_id(t, b->stops[i], strlen(b->stops[i])));
    add_stop(ct, bpe_eos(t));
    add_stop(ct, bpe_eot(t));
    return ct;
}

chat_template *chat_template_detect(const bpe_tokenizer *t, const char *jinja, int *err)
{
    static const char *const chatml_needs[] = {"<|im_start|>", "<|im_end|>", NULL};
    static const char *const llama3_needs[] = {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", NULL};
    *err = CHAT_ERR_UNKNOWN;
    if (!jinja) {
        dq_set_error("the model file has no chat template (set [llm] chat_template = FILE, "
                     "see docs/chat-template.md)");
        return NULL;
    }
    chat_template *ct = NULL;
    if (strstr(jinja, "<|im_start|>") && strstr(jinja, "<|im_end|>")) {
        if (!has_specials(t, chatml_needs)) {
            *err = CHAT_ERR_TEMPLATE;
            return NULL;
        }
        /* Qwen3 thinks aloud unless told not to; answers from documents
         * come straight, as its template does with enable_thinking=false. */
        bool qwen3 = strstr(jinja, "enable_thinking") != NULL;
        ct = builtin(t, &chatml, qwen3 ? "chatml-qwen3" : "chatml",
                     qwen3 ? "<|im_start|>assistant\n<think>\n\n</think>\n\n" : chatml.generation);
        /* Qwen2/2.5 templates put in a system turn of their own when the
         * conversation has none. */
        static const char *const defaults[] = {
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
            "You are a helpful assistant.",
        };
        for (size_t i = 0; i < 2 && !qwen3; i++)
            if (strstr(jinja, defaults[i])) {
                ct->default_system = dq_strdup(defaults[i]);
                break;
            }
    } else if (strstr(jinja, "<|start_header_id|>") && strstr(jinja, "<|eot_id|>")) {
        if (!has_specials(t, llama3_needs)) {
            *err = CHAT_ERR_TEMPLATE;
            return NULL;
        }
        ct = builtin(t, &llama3, "llama3", llama3.generation);
        if (bpe_bos(t) >= 0)
            seq_push(&ct->begin, (chat_part){PART_SPECIAL, bpe_bos(t), NULL, 0});
        /* Llama 3.1 and later always open with a system turn that dates
         * the model's knowledge (the template's defaults). */
        if (strstr(jinja, "Cutting Knowledge Date")) {
            snprintf(ct->kind, sizeof ct->kind, "llama3.1");
            ct->system_preamble = dq_strdup("Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
            ct->always_system = true;
        }
    } else {
        dq_set_error("the model's chat template is neither ChatML nor Llama 3 (set [llm] chat_template = "
                     "FILE, see docs/chat-template.md)");
        return NULL;
    }
    *err = 0;
    return ct;
}

/* ---- template files ------------------------------------------------------- */

/* One value: the rest of the line, \n \t \r \s (space) \\ unescaped. */
static int unescape(const char *s, size_t n, dq_buf *out)
{
    dq_buf_clear(out);
    dq_buf_reserve(out, n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            dq_buf_putc(out, s[i]);
            continue;
        }
        if (++i == n)
            return -1;
        switch (s[i]) {
        case 'n': dq_buf_putc(out, '\n'); break;
        case 't': dq_buf_putc(out, '\t'); break;
        case 'r': dq_buf_putc(out, '\r'); break;
        case 's': dq_buf_putc(out, ' '); break;
        case '\\': dq_buf_putc(out, '\\'); break;
        default: return -1;
        }
    }
    return 0;
}

static int parse_line(chat_template *ct, const bpe_tokenizer *t, const char *key, size_t key_len,
                      const char *value, size_t len)
{
#define KEY_IS(k) (key_len == sizeof k - 1 && memcmp(key, k, key_len) == 0)
    if (KEY_IS("trim")) {
        if (len == 4 && memcmp(value, "true", 4) == 0)
            ct->trim = true;
        else if (len == 5 && memcmp(value, "false", 5) == 0)
            ct->trim = false;
        else {
            dq_set_error("trim must be true or false");
            return -1;
        }
        return 0;
    }
    if (KEY_IS("stop")) {
        size_t l;
        int32_t id = bpe_match_special(t, value, len, &l);
        if (id < 0 || l != len) {
            dq_set_error("stop '%.*s' is not a special token of the vocabulary", (int)len, value);
            return -1;
        }
        if (ct->n_stops >= CHAT_MAX_STOPS - 2) { /* room left for EOS and EOT */
            dq_set_error("at most %d stop tokens", CHAT_MAX_STOPS - 2);
            return -1;
        }
        add_stop(ct, id);
        return 0;
    }
    chat_seq *seq = KEY_IS("begin") ? &ct->begin : KEY_IS("generation") ? &ct->generation : NULL;
    int role = -1;
    for (int r = 0; r < N_ROLES && !seq; r++)
        if (key_len == strlen(role_names[r]) && memcmp(key, role_names[r], key_len) == 0)
            seq = &ct->turn[role = r];
    if (!seq) {
        dq_set_error("unknown key '%.*s' (begin, system, user, assistant, generation, stop, trim)",
                     (int)key_len, key);
        return -1;
    }
    if (seq->set) {
        dq_set_error("'%.*s' is given twice", (int)key_len, key);
        return -1;
    }
    return seq_compile(t, value, len, role >= 0, seq);
#undef KEY_IS
}

chat_template *chat_template_parse(const bpe_tokenizer *t, const char *text, size_t len, const char *name)
{
    chat_template *ct = dq_calloc(1, sizeof *ct);
    snprintf(ct->kind, sizeof ct->kind, "file");
    dq_buf value = DQ_BUF_INIT;
    int line = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len, e = end;
        const char *s = text + i;
        line++;
        i = end + (nl ? 1 : 0);
        if (e > (size_t)(s - text) && text[e - 1] == '\r')
            e--;
        size_t n = e - (size_t)(s - text);
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        if (n == 0 || *s == '#')
            continue;
        const char *eq = memchr(s, '=', n);
        if (!eq) {
            dq_set_error("'%s' line %d: expected key = value", name, line);
            goto fail;
        }
        size_t key_len = (size_t)(eq - s);
        while (key_len && (s[key_len - 1] == ' ' || s[key_len - 1] == '\t'))
            key_len--;
        const char *v = eq + 1;
        size_t vn = n - (size_t)(v - s);
        while (vn && (*v == ' ' || *v == '\t'))
            v++, vn--;
        if (unescape(v, vn, &value) < 0) {
            dq_set_error("'%s' line %d: a backslash must start \\n, \\t, \\r, \\s or \\\\", name, line);
            goto fail;
        }
        if (parse_line(ct, t, s, key_len, value.data ? value.data : "", value.len) < 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", dq_last_error());
            dq_set_error("'%s' line %d: %s", name, line, msg);
            goto fail;
        }
    }
    if (!ct->turn[ROLE_USER].set || !ct->turn[ROLE_ASSISTANT].set || !ct->generation.set) {
        dq_set_error("'%s': a chat template needs user, assistant and generation", name);
        goto fail;
    }
    add_stop(ct, bpe_eos(t));
    add_stop(ct, bpe_eot(t));
    dq_buf_free(&value);
    return ct;
fail:
    dq_buf_free(&value);
    chat_template_free(ct);
    return NULL;
}

chat_template *chat_template_load(const bpe_tokenizer *t, const char *path)
{
    dq_buf text = DQ_BUF_INIT;
    if (dq_read_file(path, &text) < 0)
        return NULL;
    chat_template *ct = chat_template_parse(t, text.data ? text.data : "", text.len, path);
    dq_buf_free(&text);
    return ct;
}
