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

static int apply_retrieve(cli_config *cfg, const char *key, const char *value)
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

static int apply(cli_config *cfg, const char *section, const char *key, const char *value)
{
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
    char line[4096];
    char section[64] = "";
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
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
    fclose(f);
    return rc;
}

int cli_config_load(cli_config *cfg, const char *store_dir)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->min_score = NAN;
    cfg->ann_threshold = -1;
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
    return rc;
}

void cli_config_free(cli_config *cfg)
{
    free(cfg->embed_model);
    free(cfg->embed_url);
    free(cfg->embed_remote);
    free(cfg->embed_key);
    free(cfg->retrieve_mode);
    free(cfg->rerank_model);
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
