/* config.c - docqa's settings: an INI-style file per user and per store,
 * then the environment, read once per command.
 *
 *     # ~/.config/docqa/config or <store>/config
 *     [embed]
 *     model = /models/bge-small-zh-v1.5    # a local BERT folder, or:
 *     url = http://127.0.0.1:8080/v1       # an OpenAI-compatible endpoint
 *     remote_model = bge-m3
 *     int8 = false
 *     threads = 0
 *     device = auto                        # or cpu, cuda
 *     [llm]
 *     url = http://127.0.0.1:8080/v1       # llama-server, Ollama (:11434/v1), vLLM
 *     model = qwen2.5-7b-instruct
 *     temperature = 0.2
 *     max_tokens = 512                     # the answer's budget
 *     context = 4096                       # the model's window
 *     kv_cache = f16                       # in process: f16, bf16 (faster long prompts) or f32
 *     timeout = 120                        # seconds without a byte
 *     connect_timeout = 5
 *     prompts = ~/.config/docqa/prompts    # zh.txt, en.txt
 *
 * The LLM's API key comes only from $DOCQA_LLM_API_KEY: a config file may
 * sit inside the store, which is no place for a secret.
 *     [ocr]
 *     mode = auto                          # auto|always|never, as --ocr
 *     lang = chi_sim+eng                   # Tesseract languages, as --ocr-lang
 *     [retrieve]
 *     mode = auto                          # bm25, dense, hybrid
 *     min_score = 0.35                     # relevance threshold (README)
 *     ann_threshold = 100000               # vectors from which search is approximate
 *     nprobe = 0                           # IVF lists searched (0: by index size)
 *     exact = false
 *     rerank_model = /models/bge-reranker-base   # cross-encoder rerank
 *
 * Unknown sections and keys are errors naming file and line, so a typo never
 * silently turns dense retrieval off. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "embed/lm.h"
#include "pipeline/pipeline.h"
#include "retrieve/retrieve.h"

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static void set_string(char **field, const char *value)
{
    free(*field);
    *field = *value ? dq_strdup(value) : NULL;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off"))
        *out = false;
    else
        return -1;
    return 0;
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi)
        return -1;
    *out = (int)n;
    return 0;
}

static int apply_llm(dq_config *cfg, const char *key, const char *value)
{
    if (!strcmp(key, "url"))
        set_string(&cfg->llm_url, value);
    else if (!strcmp(key, "model"))
        set_string(&cfg->llm_model, value);
    else if (!strcmp(key, "prompts"))
        set_string(&cfg->llm_prompts, value);
    else if (!strcmp(key, "chat_template"))
        set_string(&cfg->llm_chat_template, value);
    else if (!strcmp(key, "kv_cache")) {
        gguf_type t;
        if (lm_kv_type_parse(value, &t) < 0)
            return -1;
        set_string(&cfg->llm_kv_cache, value);
    }
    else if (!strcmp(key, "temperature")) {
        char *end;
        double t = strtod(value, &end);
        if (!*value || *end || !(t >= 0 && t <= 2))
            return -1;
        cfg->llm_temperature = t;
    } else if (!strcmp(key, "max_tokens"))
        return parse_int(value, 1, 1 << 20, &cfg->llm_max_tokens);
    else if (!strcmp(key, "context"))
        return parse_int(value, 256, 1 << 24, &cfg->llm_context);
    else if (!strcmp(key, "timeout"))
        return parse_int(value, 1, 86400, &cfg->llm_timeout);
    else if (!strcmp(key, "connect_timeout"))
        return parse_int(value, 1, 3600, &cfg->llm_connect_timeout);
    else
        return -1;
    return 0;
}

static int apply_retrieve(dq_config *cfg, const char *key, const char *value)
{
    char *end;
    if (!strcmp(key, "mode")) {
        retrieve_mode m;
        if (retrieve_parse_mode(value, &m) < 0)
            return -1;
        set_string(&cfg->retrieve_mode, value);
    } else if (!strcmp(key, "min_score")) {
        double x = strtod(value, &end);
        if (end == value || *end || x != x)
            return -1;
        cfg->min_score = x;
    } else if (!strcmp(key, "ann_threshold")) {
        long long n = strtoll(value, &end, 10);
        if (end == value || *end || n < 0)
            return -1;
        cfg->ann_threshold = n;
    } else if (!strcmp(key, "nprobe")) {
        long n = strtol(value, &end, 10);
        if (end == value || *end || n < 0 || n > 65536)
            return -1;
        cfg->nprobe = (int)n;
    } else if (!strcmp(key, "exact")) {
        return parse_bool(value, &cfg->exact);
    } else if (!strcmp(key, "rerank_model")) {
        set_string(&cfg->rerank_model, value);
    } else {
        return -1;
    }
    return 0;
}

static int apply(dq_config *cfg, const char *section, const char *key, const char *value)
{
    if (!strcmp(section, "llm"))
        return apply_llm(cfg, key, value);
    if (!strcmp(section, "ocr")) {
        if (!strcmp(key, "lang"))
            set_string(&cfg->ocr_lang, value);
        else if (!strcmp(key, "mode") &&
                 (!strcmp(value, "auto") || !strcmp(value, "always") || !strcmp(value, "never")))
            set_string(&cfg->ocr_mode, value);
        else
            return -1;
        return 0;
    }
    if (!strcmp(section, "retrieve"))
        return apply_retrieve(cfg, key, value);
    if (strcmp(section, "embed") != 0)
        return -1;
    if (!strcmp(key, "model"))
        set_string(&cfg->embed_model, value);
    else if (!strcmp(key, "url"))
        set_string(&cfg->embed_url, value);
    else if (!strcmp(key, "remote_model"))
        set_string(&cfg->embed_remote, value);
    else if (!strcmp(key, "api_key"))
        set_string(&cfg->embed_key, value);
    else if (!strcmp(key, "int8"))
        return parse_bool(value, &cfg->embed_int8);
    else if (!strcmp(key, "device"))
        return bert_parse_device(value, &cfg->embed_device);
    else if (!strcmp(key, "threads")) {
        char *end;
        long n = strtol(value, &end, 10);
        if (*end || n < 0 || n > 1024)
            return -1;
        cfg->embed_threads = (int)n;
    } else
        return -1;
    return 0;
}

static int load_file(dq_config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* a missing config file is the normal case */
    /* getline, not fgets: a fixed buffer would hand the rest of a long line
     * back as a line of its own, and only the length shows a NUL byte. */
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    char section[64] = "";
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            dq_set_error("'%s' line %d: NUL byte (not a text file?)", path, lineno);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || close[1]) {
                dq_set_error("'%s' line %d: malformed section header", path, lineno);
                rc = -1;
                break;
            }
            *close = '\0';
            snprintf(section, sizeof section, "%s", trim(s + 1));
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            dq_set_error("'%s' line %d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (apply(cfg, section, key, value) < 0) {
            dq_set_error("'%s' line %d: unknown or invalid setting '%s%s%s = %s'", path,
                         lineno, section, *section ? "." : "", key, value);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

char *dq_config_user_path(void)
{
    dq_buf path = DQ_BUF_INIT;
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        dq_buf_printf(&path, "%s/docqa/config", xdg);
    else if (home && *home)
        dq_buf_printf(&path, "%s/.config/docqa/config", home);
    return path.len ? dq_buf_take(&path) : NULL;
}

int dq_config_load(dq_config *cfg, const char *store_dir)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->llm_temperature = -1;
    cfg->min_score = NAN;
    cfg->ann_threshold = -1;
    dq_buf path = DQ_BUF_INIT;
    char *user = dq_config_user_path();
    if (user)
        dq_buf_puts(&path, user);
    free(user);
    int rc = path.len ? load_file(cfg, path.data) : 0;
    if (rc == 0 && store_dir) {
        dq_buf_clear(&path);
        dq_buf_printf(&path, "%s/config", store_dir);
        rc = load_file(cfg, path.data);
    }
    dq_buf_free(&path);
    const char *env;
    if ((env = getenv("DOCQA_EMBED_MODEL")))
        set_string(&cfg->embed_model, env);
    if ((env = getenv("DOCQA_EMBED_URL")))
        set_string(&cfg->embed_url, env);
    if ((env = getenv("DOCQA_EMBED_API_KEY")))
        set_string(&cfg->embed_key, env);
    /* The first fault is the one reported: a bad file line stays the message. */
    if ((env = getenv("DOCQA_EMBED_DEVICE")) && bert_parse_device(env, &cfg->embed_device) < 0 &&
        rc == 0) {
        dq_set_error("DOCQA_EMBED_DEVICE='%s': expected auto, cpu or cuda", env);
        rc = -1;
    }
    if ((env = getenv("DOCQA_LLM_URL")))
        set_string(&cfg->llm_url, env);
    if ((env = getenv("DOCQA_LLM_MODEL")))
        set_string(&cfg->llm_model, env);
    if ((env = getenv("DOCQA_LLM_API_KEY")))
        set_string(&cfg->llm_key, env);
    if (rc < 0)
        dq_config_free(cfg); /* a failed load owns nothing: callers just return */
    return rc;
}

void dq_config_free(dq_config *cfg)
{
    free(cfg->embed_model);
    free(cfg->embed_url);
    free(cfg->embed_remote);
    free(cfg->embed_key);
    free(cfg->llm_url);
    free(cfg->llm_model);
    free(cfg->llm_key);
    free(cfg->llm_prompts);
    free(cfg->llm_chat_template);
    free(cfg->llm_kv_cache);
    free(cfg->rerank_model);
    free(cfg->ocr_mode);
    free(cfg->ocr_lang);
    free(cfg->retrieve_mode);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- writing one setting --------------------------------------------------- */

/* The section a line opens ("[embed]" -> "embed"), or NULL when it opens none. */
static bool section_line(const char *line, size_t n, char *out, size_t cap)
{
    while (n && isspace((unsigned char)*line))
        line++, n--;
    if (!n || *line != '[')
        return false;
    const char *close = memchr(line, ']', n);
    if (!close)
        return false;
    size_t k = (size_t)(close - line - 1);
    while (k && isspace((unsigned char)line[1]))
        line++, k--;
    while (k && isspace((unsigned char)line[k]))
        k--;
    if (k >= cap)
        k = cap - 1;
    memcpy(out, line + 1, k);
    out[k] = '\0';
    return true;
}

/* Whether a line sets key (comments and spacing aside). */
static bool key_line(const char *line, size_t n, const char *key)
{
    while (n && isspace((unsigned char)*line))
        line++, n--;
    size_t kl = strlen(key);
    if (n < kl || strncmp(line, key, kl) != 0)
        return false;
    line += kl;
    n -= kl;
    while (n && (*line == ' ' || *line == '\t'))
        line++, n--;
    return n && *line == '=';
}

int dq_config_set(const char *path, const char *section, const char *key, const char *value)
{
    if (strpbrk(value, "#\n\r")) {
        dq_set_error("cannot write '%s = %s' to '%s': the value holds '#' or a line break, "
                     "which the config format cannot keep",
                     key, value, path);
        return -1;
    }
    dq_buf old = DQ_BUF_INIT, out = DQ_BUF_INIT;
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        if (dq_read_file(path, &old) < 0)
            return -1;
    }
    /* Walk the lines: replace the key's line in its section; failing that,
     * add it after the section's last setting; failing that, add the section. */
    const char *p = old.data ? old.data : "", *end = p + old.len;
    char cur[64] = "";
    bool done = false;
    size_t insert_at = (size_t)-1; /* after the section's last non-blank line */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t next = (size_t)(p - (old.data ? old.data : "")) + n + (nl ? 1 : 0);
        char sec[64];
        if (section_line(p, n, sec, sizeof sec)) {
            snprintf(cur, sizeof cur, "%s", sec);
        } else if (!done && !strcmp(cur, section) && key_line(p, n, key)) {
            dq_buf_printf(&out, "%s = %s\n", key, value);
            done = true;
            p = old.data + next;
            continue;
        }
        dq_buf_append(&out, p, n);
        dq_buf_putc(&out, '\n');
        bool blank = true;
        for (size_t i = 0; i < n; i++)
            blank &= isspace((unsigned char)p[i]) != 0;
        if (!strcmp(cur, section) && !blank)
            insert_at = out.len;
        p = old.data + next;
    }
    if (!done && insert_at != (size_t)-1) {
        dq_buf line = DQ_BUF_INIT;
        dq_buf_printf(&line, "%s = %s\n", key, value);
        dq_buf merged = DQ_BUF_INIT;
        dq_buf_append(&merged, out.data, insert_at);
        dq_buf_append(&merged, line.data, line.len);
        dq_buf_append(&merged, out.data + insert_at, out.len - insert_at);
        dq_buf_free(&line);
        dq_buf_free(&out);
        out = merged;
        done = true;
    }
    if (!done)
        dq_buf_printf(&out, "%s[%s]\n%s = %s\n", out.len ? "\n" : "", section, key, value);
    int rc = 0;
    char *dir = dq_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        rc = dq_mkdirs(dir);
    }
    free(dir);
    if (rc == 0)
        rc = dq_write_file_atomic(path, out.data ? out.data : "", out.len);
    dq_buf_free(&old);
    dq_buf_free(&out);
    return rc;
}

embedder *dq_config_open_embedder(const dq_config *cfg, bert_pool *pool, bool *err)
{
    *err = false;
    if (!cfg->embed_model && !cfg->embed_url)
        return NULL;
    embedder_config ec = {0};
    ec.model_dir = cfg->embed_model;
    ec.url = cfg->embed_model ? NULL : cfg->embed_url;
    ec.remote_model = cfg->embed_remote;
    ec.api_key = cfg->embed_key;
    ec.bert = bert_default_params();
    ec.bert.int8 = cfg->embed_int8;
    ec.bert.n_threads = cfg->embed_threads;
    ec.bert.pool = pool;
    ec.bert.device = cfg->embed_device;
    embedder *e = embedder_open(&ec);
    *err = e == NULL;
    return e;
}

store_vindex_params dq_config_vindex_params(const dq_config *cfg)
{
    store_vindex_params vp = store_vindex_default_params();
    if (cfg->ann_threshold >= 0)
        vp.ann_threshold = cfg->ann_threshold;
    vp.nprobe = cfg->nprobe;
    vp.exact = cfg->exact;
    return vp;
}
