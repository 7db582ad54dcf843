/* model.c - `docqa model`: info on a model folder (an embedding model or a
 * cross-encoder reranker), and pull / list / use / rm for models fetched from
 * the Hugging Face hub or a mirror (embed/hub.h) into the XDG cache.
 *
 * `use` writes the user config (~/.config/docqa/config): [embed] model for
 * an embedding model, [retrieve] rerank_model for a reranker, changing that
 * one line and keeping the rest. The next `docqa ingest` then embeds every
 * chunk with the new model (the store notices the identity change).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/common.h"
#include "generate/llm_local.h"
#include "hub/hub.h"

static const char *const model_usage[] = {
    "docqa model info [--int8] <dir|name>",
    "docqa model pull [-q] <name>[@<revision>]",
    "docqa model list [--aliases]",
    "docqa model use <name|dir>",
    "docqa model rm [--force] <name>",
    NULL,
};

static char *join(const char *dir, const char *name)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "%s/%s", dir, name);
    return dq_buf_take(&b);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* realpath, or a copy when the path does not resolve */
static char *real(const char *path)
{
    char buf[PATH_MAX];
    return dq_strdup(path && realpath(path, buf) ? buf : path ? path : "");
}

static bool same_path(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    char *ra = real(a), *rb = real(b);
    bool same = strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

static char *pulled_dir(const char *name);
static cJSON *read_record(const char *dir);

/* Parses a subcommand's options and wants exactly n_want arguments after
 * them. False with *exit_code set when the command is done: --help shown,
 * or a usage error printed. */
static bool parse_sub(int argc, char **argv, const cli_option *opts,
                      const char *const *usage, int n_want, int *exit_code)
{
    int n_args;
    int p = parse_options(argc, argv, opts, usage, &n_args);
    if (p != PARSE_OK) {
        *exit_code = p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
        return false;
    }
    if (n_args != n_want) {
        print_usage(stderr, usage, opts);
        *exit_code = EXIT_USAGE;
        return false;
    }
    return true;
}

/* Loads the model in dir with the engine its folder calls for (a
 * cross-encoder reranker or an embedding model), so a folder docqa cannot
 * run is caught here. With describe, *describe gets its description (caller
 * frees). -1 after printing why. */
static int load_model(const char *dir, const bert_params *bp, char **describe)
{
    if (reranker_folder(dir)) {
        /* a cross-encoder: same engine, a classification head on top */
        reranker *r = reranker_open(dir, bp);
        if (!r) {
            cli_error("%s", dq_last_error());
            return -1;
        }
        if (describe)
            *describe = reranker_describe(r);
        reranker_free(r);
    } else {
        bert_model *m = bert_load(dir, bp);
        if (!m) {
            cli_error("%s", dq_last_error());
            return -1;
        }
        if (describe)
            *describe = bert_describe(m);
        bert_free(m);
    }
    return 0;
}

/* ---- info ------------------------------------------------------------------ */

/* "1.53 GiB", "12.4 MiB" */
static const char *size_text(uint64_t bytes, char *buf, size_t n)
{
    if (bytes >= (1ull << 30))
        snprintf(buf, n, "%.2f GiB", (double)bytes / (1ull << 30));
    else
        snprintf(buf, n, "%.1f MiB", (double)bytes / (1 << 20));
    return buf;
}

/* A GGUF decoder model: its shape, types, template and the memory it takes
 * at the context asked for (the KV cache grows with it). */
static int gguf_info(const char *path, int n_ctx)
{
    lm_load_params lp = lm_default_load_params();
    lp.check_memory = false; /* info tells how much; loading to run it refuses */
    llm_gguf g;
    lm_model *m = lm_load(path, &lp);
    if (!m) {
        cli_error("%s", dq_last_error());
        return EXIT_ERROR;
    }
    const lm_hparams *hp = lm_model_hparams(m);
    if (n_ctx <= 0)
        n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    char types[256];
    lm_model_types(m, types, sizeof types);
    printf("file: %s\n", path);
    if (*hp->name)
        printf("name: %s\n", hp->name);
    printf("architecture: %s\n", hp->arch);
    printf("parameters: %.2f B (%llu)\n", hp->n_params / 1e9, (unsigned long long)hp->n_params);
    printf("layers: %d, embedding %d, feed-forward %d, heads %d (kv %d, dim %d), vocabulary %d\n",
           hp->n_layer, hp->n_embd, hp->n_ff, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_vocab);
    printf("tensor types: %s\n", types);
    printf("context length: %d (trained)\n", hp->n_ctx_train);
    /* the tokenizer and template as a chat would use them */
    int status = EXIT_OK;
    lm_free(m);
    if (llm_gguf_open(&g, path, NULL, 0) == 0) {
        printf("tokenizer: byte-level BPE, %s pre-tokenizer, %zu tokens\n", bpe_pre_name(g.tok),
               bpe_n_tokens(g.tok));
        printf("chat template: %s\n", chat_template_kind(g.tmpl));
        uint64_t w = lm_weight_bytes(g.model), kv = lm_kv_bytes(g.model, n_ctx);
        uint64_t all = lm_memory_estimate(g.model, n_ctx);
        char a[32], b[32], c[32], d[32];
        printf("memory: %s (weights %s, F16 KV cache %s at %d tokens, buffers %s)\n",
               size_text(all, a, sizeof a), size_text(w, b, sizeof b), size_text(kv, c, sizeof c),
               n_ctx, size_text(all - w - kv, d, sizeof d));
        llm_gguf_close(&g);
    } else {
        printf("chat template: none usable (%s)\n", dq_last_error());
        status = EXIT_ERROR;
    }
    return status;
}

static int model_info(int argc, char **argv)
{
    bool int8 = false;
    const char *device = "auto";
    int n_ctx = 0;
    const cli_option opts[] = {
        OPT_BOOLEAN(0, "int8", &int8, "load with int8 linear layers, as [embed] int8 = true does"),
        OPT_STR(0, "device", &device, "dev", "auto, cpu or cuda: where to load it (auto)"),
        OPT_NUMBER(0, "context", &n_ctx, "n", "GGUF: the KV cache size to count (the trained length, at most 4096)"),
        OPT_FINISH,
    };
    static const char *const usage[] = {"docqa model info [--int8] <dir|name>",
                                        "docqa model info [--context <n>] <file.gguf>", NULL};
    int code;
    if (!parse_sub(argc, argv, opts, usage, 1, &code))
        return code;
    if (llm_is_model_file(argv[0]))
        return gguf_info(argv[0], n_ctx);
    bert_params bp = bert_default_params();
    bp.int8 = int8;
    if (bert_parse_device(device, &bp.device) < 0) {
        cli_error("--device '%s': expected auto, cpu or cuda", device);
        return EXIT_USAGE;
    }
    char *text = NULL;
    /* a folder, or the name of a pulled model */
    char *dir = NULL;
    if (!is_dir(argv[0])) {
        hub_name hn;
        if (hub_parse_name(argv[0], &hn) == 0 && !(dir = pulled_dir(argv[0])))
            return EXIT_ERROR;
    }
    int loaded = load_model(dir ? dir : argv[0], &bp, &text);
    free(dir);
    if (loaded < 0)
        return EXIT_ERROR;
    fputs(text, stdout);
    if (text[0] && text[strlen(text) - 1] != '\n')
        putchar('\n');
    free(text);
    return EXIT_OK;
}

/* ---- pull ------------------------------------------------------------------- */

typedef struct {
    bool quiet;
    progress bar;
    char file[256]; /* the file the bar is for, "" when none */
} pull_view;

/* Files under a megabyte get no bar: they come and go in a blink. */
static bool on_pull_progress(void *ctx, const char *file, long long done, long long total)
{
    pull_view *v = ctx;
    if (strcmp(v->file, file) != 0) {
        progress_finish(&v->bar);
        v->file[0] = '\0';
        if (total >= 1000000) {
            snprintf(v->file, sizeof v->file, "%s", file);
            progress_start_bytes(&v->bar, v->file, v->quiet, total, done);
        }
    }
    if (v->file[0])
        progress_update(&v->bar, 0, done, 0);
    return !cli_interrupted();
}

/* Whether dir holds a partial download worth keeping for a resume. */
static bool has_partial(const char *dir)
{
    DIR *d = opendir(dir);
    bool found = false;
    struct dirent *e;
    while (d && !found && (e = readdir(d)))
        found = strstr(e->d_name, ".incomplete") != NULL;
    if (d)
        closedir(d);
    return found;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

static int remove_tree(const char *dir)
{
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0) {
        dq_set_error("cannot remove '%s': %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int model_pull(int argc, char **argv)
{
    pull_view v = {0};
    const char *quant = NULL, *file = NULL;
    const cli_option opts[] = {
        OPT_BOOLEAN('q', "quiet", &v.quiet, "no progress bar"),
        OPT_STR(0, "quant", &quant, "type", "an LLM alias's quantization (Q4_K_M, Q8_0, ...)"),
        OPT_STR(0, "file", &file, "name", "the one GGUF file of a repository to pull"),
        OPT_FINISH,
    };
    /* <name>: an alias ('docqa model list --aliases') or org/name */
    static const char *const usage[] = {
        "docqa model pull [-q] <name>[@<revision>]",
        "docqa model pull [-q] [--quant <type> | --file <name.gguf>] <llm-name>[@<revision>]", NULL};
    int code;
    if (!parse_sub(argc, argv, opts, usage, 1, &code))
        return code;
    hub_name hn;
    if (hub_parse_name(argv[0], &hn) < 0) {
        cli_error("%s", dq_last_error());
        return EXIT_USAGE;
    }
    /* an LLM is one GGUF file of a repository that holds one per quantization */
    char gguf[256] = "";
    if (file)
        snprintf(gguf, sizeof gguf, "%s", file);
    else if (hn.alias && hn.alias->gguf)
        hub_gguf_file(hn.alias, quant, gguf, sizeof gguf);
    else if (quant) {
        cli_error("--quant is for the LLM aliases ('docqa model list --aliases'); name the file of "
                  "'%s' with --file",
                  hn.repo);
        return EXIT_USAGE;
    }
    if (*gguf && quant && file) {
        cli_error("--quant and --file pick the same thing: give one");
        return EXIT_USAGE;
    }
    char *models = hub_models_dir();
    if (!models) {
        cli_error("%s", dq_last_error());
        return EXIT_ERROR;
    }
    char *folder = hub_folder_name(&hn);
    char *dir = join(models, folder);
    bool existed = is_dir(dir);
    cli_catch_signals();
    hub_options ho = {.progress = on_pull_progress, .progress_ctx = &v};
    hub *h = hub_new(&ho);
    int rc = EXIT_ERROR;
    if (!h) {
        cli_error("%s", dq_last_error());
        goto out;
    }
    if (!v.quiet)
        fprintf(stderr, "pulling %s@%s from %s\n", hn.repo, hn.revision, hub_endpoint(h));
    hub_pull_result res;
    int r = *gguf ? hub_pull_gguf(h, hn.repo, hn.revision, gguf, dir, &res)
                  : hub_pull(h, hn.repo, hn.revision, dir, &res);
    progress_finish(&v.bar);
    if (r == HUB_NOT_FOUND && *gguf)
        cli_error("%s has no file '%s'%s", hn.repo, gguf,
                  file ? "" : "; pick another --quant, or a file with --file");
    if (r == HUB_CANCELLED) {
        cli_error("%s", dq_last_error());
        rc = EXIT_INTERRUPTED;
    } else if (r != 0) {
        if (!(r == HUB_NOT_FOUND && *gguf))
            cli_error("%s", dq_last_error());
        /* keep partial downloads for a resume; a folder this run made and
         * that holds nothing worth keeping goes */
        if (!existed && !has_partial(dir))
            remove_tree(dir);
    } else {
        if (*gguf)
            printf("pulled %s (commit %.10s) into %s: %s, %.1f MB, an LLM\n", hn.repo,
                   *res.commit ? res.commit : "unknown", dir, gguf, (double)res.bytes / 1e6);
        else
            printf("pulled %s (commit %.10s) into %s: %d files, %.1f MB, %s model\n", hn.repo,
                   *res.commit ? res.commit : "unknown", dir, res.n_files,
                   (double)res.bytes / 1e6, res.reranker ? "a reranker" : "an embedding");
        printf("use it with: docqa model use %s\n", hn.alias && !strcmp(hn.revision, "main")
                                                        ? hn.alias->name
                                                        : argv[0]);
        rc = EXIT_OK;
    }
out:
    hub_free(h);
    free(models);
    free(folder);
    free(dir);
    return rc;
}

/* ---- finding pulled models ------------------------------------------------ */

/* The pulled folder a name means: an alias or repo id (with @revision), or a
 * folder name under the models folder. NULL after printing why. */
static char *pulled_dir(const char *name)
{
    char *models = hub_models_dir();
    if (!models) {
        cli_error("%s", dq_last_error());
        return NULL;
    }
    char *dir = NULL;
    hub_name hn;
    if (hub_parse_name(name, &hn) == 0) {
        char *folder = hub_folder_name(&hn);
        dir = join(models, folder);
        free(folder);
    } else if (!strchr(name, '/') && strcmp(name, "..") && strcmp(name, ".")) {
        dir = join(models, name);
    }
    if (!dir || !is_dir(dir)) {
        cli_error("'%s' is not pulled (not in '%s'); 'docqa model pull %s' fetches it", name,
                  models, name);
        free(dir);
        dir = NULL;
    }
    free(models);
    return dir;
}

/* The repository a pulled folder came from (its record), or NULL. */
static cJSON *read_record(const char *dir)
{
    char *path = join(dir, HUB_RECORD);
    dq_buf b = DQ_BUF_INIT;
    cJSON *j = NULL;
    if (dq_read_file(path, &b) == 0)
        j = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
    dq_buf_free(&b);
    free(path);
    return j;
}

/* ---- list ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int model_list(int argc, char **argv, cli_globals *g)
{
    bool show_aliases = false;
    const cli_option opts[] = {
        OPT_BOOLEAN(0, "aliases", &show_aliases, "the short names 'model pull' knows"),
        OPT_FINISH,
    };
    static const char *const usage[] = {"docqa model list [--aliases]", NULL};
    int code;
    if (!parse_sub(argc, argv, opts, usage, 0, &code))
        return code;
    char *models = hub_models_dir();
    if (!models) {
        cli_error("%s", dq_last_error());
        return EXIT_ERROR;
    }
    if (show_aliases) {
        size_t n;
        const hub_alias *a = hub_aliases(&n);
        printf("%-24s %-38s %-10s %s\n", "NAME", "REPOSITORY", "KIND", "PULLED");
        for (size_t i = 0; i < n; i++) {
            hub_name hn = {.alias = &a[i]};
            snprintf(hn.repo, sizeof hn.repo, "%s", a[i].repo);
            snprintf(hn.revision, sizeof hn.revision, "main");
            char *folder = hub_folder_name(&hn), *dir = join(models, folder);
            printf("%-24s %-38s %-10s %s\n", a[i].name, a[i].repo,
                   a[i].gguf ? "llm" : a[i].reranker ? "reranker" : "embedding",
                   is_dir(dir) ? "yes" : "");
            free(folder);
            free(dir);
        }
        free(models);
        return EXIT_OK;
    }
    dq_config cfg;
    if (cli_load_config(&cfg, g->store_dir) < 0) {
        free(models);
        return EXIT_ERROR;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(models);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        DQ_GROW(names, cap, n + 1);
        names[n++] = dq_strdup(e->d_name);
    }
    if (d)
        closedir(d);
    if (n == 0) {
        printf("no models in %s yet; 'docqa model pull bge-small-zh-v1.5' fetches one\n",
               models);
    } else {
        qsort(names, n, sizeof *names, cmp_str);
        printf("models in %s:\n", models);
        printf("%-40s %-10s %10s  %s\n", "NAME", "KIND", "SIZE", "CONFIGURED");
        for (size_t i = 0; i < n; i++) {
            char *dir = join(models, names[i]);
            cJSON *rec = read_record(dir);
            const cJSON *repo = cJSON_GetObjectItemCaseSensitive(rec, "repo");
            const cJSON *rev = cJSON_GetObjectItemCaseSensitive(rec, "revision");
            char label[300];
            if (cJSON_IsString(repo))
                snprintf(label, sizeof label, "%s%s%s", repo->valuestring,
                         cJSON_IsString(rev) && strcmp(rev->valuestring, "main") ? "@" : "",
                         cJSON_IsString(rev) && strcmp(rev->valuestring, "main")
                             ? rev->valuestring
                             : "");
            else
                snprintf(label, sizeof label, "%s", names[i]);
            const cJSON *gguf = cJSON_GetObjectItem(rec, "gguf");
            const char *kind = !rec                      ? "incomplete"
                               : cJSON_IsString(gguf)    ? "llm"
                               : reranker_folder(dir)    ? "reranker"
                                                         : "embedding";
            const char *conf = same_path(cfg.embed_model, dir)    ? "[embed] model"
                               : same_path(cfg.rerank_model, dir) ? "[retrieve] rerank_model"
                                                                  : "";
            printf("%-40s %-10s %7.1f MB  %s\n", label, kind, (double)hub_folder_bytes(dir) / 1e6, conf);
            cJSON_Delete(rec);
            free(dir);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    dq_config_free(&cfg);
    free(models);
    return EXIT_OK;
}

/* ---- use ------------------------------------------------------------------------ */

/* [llm] model = the GGUF file, once it loads with its tokenizer and template. */
static int use_llm(const char *file, cli_globals *g)
{
    char *path = real(file);
    llm_gguf gg;
    if (llm_gguf_open(&gg, path, NULL, 0) < 0) {
        cli_error("%s", dq_last_error());
        free(path);
        return EXIT_ERROR;
    }
    llm_gguf_close(&gg);
    char *conf = dq_config_user_path();
    int rc = EXIT_ERROR;
    if (!conf) {
        cli_error("no user config: neither XDG_CONFIG_HOME nor HOME is set");
    } else if (dq_config_set(conf, "llm", "model", path) < 0) {
        cli_error("%s", dq_last_error());
    } else {
        printf("[llm] model = %s written to %s\n", path, conf);
        dq_config cfg;
        if (cli_load_config(&cfg, g->store_dir) == 0) {
            if (!same_path(cfg.llm_model, path))
                cli_error("warning: %s overrides it with '%s'",
                          getenv("DOCQA_LLM_MODEL") ? "DOCQA_LLM_MODEL" : "the store's config",
                          cfg.llm_model ? cfg.llm_model : "");
            else
                printf("'docqa ask' answers with it in process\n");
            dq_config_free(&cfg);
        }
        rc = EXIT_OK;
    }
    free(conf);
    free(path);
    return rc;
}

static int model_use(int argc, char **argv, cli_globals *g)
{
    const cli_option opts[] = {OPT_FINISH};
    static const char *const usage[] = {"docqa model use <name|dir>", NULL};
    int code;
    if (!parse_sub(argc, argv, opts, usage, 1, &code))
        return code;
    char *dir = NULL;
    char probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s/config.json", argv[0]);
    if (llm_is_model_file(argv[0]) && !is_dir(argv[0]))
        return use_llm(argv[0], g);
    if (is_dir(argv[0]) && access(probe, F_OK) == 0) {
        dir = real(argv[0]); /* a local model folder */
    } else if (!(dir = pulled_dir(argv[0]))) {
        return EXIT_ERROR;
    } else {
        cJSON *rec = read_record(dir);
        const cJSON *gguf = cJSON_GetObjectItem(rec, "gguf");
        if (cJSON_IsString(gguf)) { /* a pulled LLM: its one file */
            char *path = join(dir, gguf->valuestring);
            int rc = use_llm(path, g);
            free(path);
            cJSON_Delete(rec);
            free(dir);
            return rc;
        }
        cJSON_Delete(rec);
        if (!rec) {
            cli_error("'%s' is an unfinished pull; 'docqa model pull %s' completes it",
                      argv[0], argv[0]);
            free(dir);
            return EXIT_ERROR;
        }
        char *r = real(dir);
        free(dir);
        dir = r;
    }
    /* load it once: a folder docqa cannot run must not reach the config */
    bool rerank = reranker_folder(dir);
    bert_params bp = bert_default_params();
    bp.max_batch = 1;
    if (load_model(dir, &bp, NULL) < 0) {
        free(dir);
        return EXIT_ERROR;
    }
    const char *section = rerank ? "retrieve" : "embed";
    const char *key = rerank ? "rerank_model" : "model";
    char *path = dq_config_user_path();
    int rc = EXIT_ERROR;
    if (!path) {
        cli_error("no user config: neither XDG_CONFIG_HOME nor HOME is set");
        goto out;
    }
    if (dq_config_set(path, section, key, dir) < 0) {
        cli_error("%s", dq_last_error());
        goto out;
    }
    printf("[%s] %s = %s written to %s\n", section, key, dir, path);
    /* a setting further down the chain would win over the one just written */
    dq_config cfg;
    if (cli_load_config(&cfg, g->store_dir) == 0) {
        const char *now = rerank ? cfg.rerank_model : cfg.embed_model;
        if (!same_path(now, dir))
            cli_error("warning: %s overrides it with '%s'",
                      !rerank && getenv("DOCQA_EMBED_MODEL") ? "DOCQA_EMBED_MODEL"
                                                             : "the store's config",
                      now ? now : "");
        else if (!rerank)
            printf("the next 'docqa ingest' embeds every chunk with it\n");
        dq_config_free(&cfg);
    }
    rc = EXIT_OK;
out:
    free(path);
    free(dir);
    return rc;
}

/* ---- rm --------------------------------------------------------------------------- */

static int model_rm(int argc, char **argv, cli_globals *g)
{
    bool force = false;
    const cli_option opts[] = {
        OPT_BOOLEAN('f', "force", &force, "remove it even when the config names it"),
        OPT_FINISH,
    };
    static const char *const usage[] = {"docqa model rm [--force] <name>", NULL};
    int code;
    if (!parse_sub(argc, argv, opts, usage, 1, &code))
        return code;
    char *dir = pulled_dir(argv[0]);
    if (!dir)
        return EXIT_ERROR;
    dq_config cfg;
    int rc = EXIT_ERROR;
    if (cli_load_config(&cfg, g->store_dir) < 0) {
        free(dir);
        return EXIT_ERROR;
    }
    const char *which = same_path(cfg.embed_model, dir)    ? "[embed] model"
                        : same_path(cfg.rerank_model, dir) ? "[retrieve] rerank_model"
                                                           : NULL;
    if (which && !force) {
        cli_error("'%s' is the configured %s; 'docqa model use' another one first, or "
                  "remove it with --force",
                  argv[0], which);
        goto out;
    }
    long long bytes = hub_folder_bytes(dir);
    if (remove_tree(dir) < 0) {
        cli_error("%s", dq_last_error());
        goto out;
    }
    printf("removed %s (%.1f MB)\n", dir, (double)bytes / 1e6);
    if (which)
        cli_error("warning: the config still names it as %s", which);
    rc = EXIT_OK;
out:
    dq_config_free(&cfg);
    free(dir);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------- */

int cmd_model(int argc, char **argv, cli_globals *g)
{
    static const cli_option none[] = {OPT_FINISH};
    const char *sub = argc >= 2 ? argv[1] : NULL;
    if (sub && (!strcmp(sub, "-h") || !strcmp(sub, "--help"))) {
        print_usage(stdout, model_usage, none);
        return EXIT_OK;
    }
    if (!sub) {
        print_usage(stderr, model_usage, none);
        return EXIT_USAGE;
    }
    if (!strcmp(sub, "info"))
        return model_info(argc - 1, argv + 1);
    if (!strcmp(sub, "pull"))
        return model_pull(argc - 1, argv + 1);
    if (!strcmp(sub, "list"))
        return model_list(argc - 1, argv + 1, g);
    if (!strcmp(sub, "use"))
        return model_use(argc - 1, argv + 1, g);
    if (!strcmp(sub, "rm"))
        return model_rm(argc - 1, argv + 1, g);
    cli_error("unknown model subcommand '%s'", sub);
    print_usage(stderr, model_usage, none);
    return EXIT_USAGE;
}
