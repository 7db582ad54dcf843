/* config.c - docqa's settings: an INI-style file per user and per store,
 * then the environment.
 *
 *     # ~/.config/docqa/config or <store>/config
 *     [embed]
 *     model = /models/bge-small-zh-v1.5    # a local BERT folder, or:
 *     url = http://127.0.0.1:8080/v1       # an OpenAI-compatible endpoint
 *     remote_model = bge-m3
 *     int8 = false
 *     threads = 0
 *     [llm]
 *     url = http://127.0.0.1:8080/v1       # llama-server, Ollama (:11434/v1), vLLM
 *     model = qwen2.5-7b-instruct
 *     temperature = 0.2
 *     max_tokens = 512                     # the answer's budget
 *     context = 4096                       # the model's window
 *     timeout = 120                        # seconds without a byte
 *     connect_timeout = 5
 *     prompts = ~/.config/docqa/prompts    # zh.txt, en.txt
 *
 * The LLM's API key comes only from $DOCQA_LLM_API_KEY: a config file may
 * sit inside the store, which is no place for a secret.
 *
 * Unknown sections and keys are errors naming file and line, so a typo never
 * silently turns dense retrieval off. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"

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

static int apply_llm(cli_config *cfg, const char *key, const char *value)
{
    if (!strcmp(key, "url"))
        set_string(&cfg->llm_url, value);
    else if (!strcmp(key, "model"))
        set_string(&cfg->llm_model, value);
    else if (!strcmp(key, "prompts"))
        set_string(&cfg->llm_prompts, value);
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

static int apply(cli_config *cfg, const char *section, const char *key, const char *value)
{
    if (!strcmp(section, "llm"))
        return apply_llm(cfg, key, value);
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

static int load_file(cli_config *cfg, const char *path)
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
            cli_error("'%s' line %d: NUL byte (not a text file?)", path, lineno);
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
                cli_error("'%s' line %d: malformed section header", path, lineno);
                rc = -1;
                break;
            }
            *close = '\0';
            snprintf(section, sizeof section, "%s", trim(s + 1));
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            cli_error("'%s' line %d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (apply(cfg, section, key, value) < 0) {
            cli_error("'%s' line %d: unknown or invalid setting '%s%s%s = %s'", path, lineno,
                      section, *section ? "." : "", key, value);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

int cli_config_load(cli_config *cfg, const char *store_dir)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->llm_temperature = -1;
    dq_buf path = DQ_BUF_INIT;
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        dq_buf_printf(&path, "%s/docqa/config", xdg);
    else if (home && *home)
        dq_buf_printf(&path, "%s/.config/docqa/config", home);
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
    if ((env = getenv("DOCQA_LLM_URL")))
        set_string(&cfg->llm_url, env);
    if ((env = getenv("DOCQA_LLM_MODEL")))
        set_string(&cfg->llm_model, env);
    if ((env = getenv("DOCQA_LLM_API_KEY")))
        set_string(&cfg->llm_key, env);
    return rc;
}

void cli_config_free(cli_config *cfg)
{
    free(cfg->embed_model);
    free(cfg->embed_url);
    free(cfg->embed_remote);
    free(cfg->embed_key);
    free(cfg->llm_url);
    free(cfg->llm_model);
    free(cfg->llm_key);
    free(cfg->llm_prompts);
    memset(cfg, 0, sizeof *cfg);
}

embedder *cli_open_embedder(const cli_config *cfg, bool *err)
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
    embedder *e = embedder_open(&ec);
    if (!e) {
        cli_error("%s", dq_last_error());
        *err = true;
    }
    return e;
}
