/* test_cli.c - the docqa command end to end: ingest, search, ask, status, as
 * a user runs them, on files the tests write (text, Markdown, PDFs made with
 * MuPDF's writer, broken files). */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "support/httpd.h"
#include "support/pdfgen.h"
#include "support/spawn.h"
#include "support/tmpdir.h"

typedef struct {
    int status; /* exit code, or 128 + signal */
    char *out;
    char *err;
} run_result;

static char workdir[256];

static const char *docqa_bin(void)
{
    const char *b = getenv("DOCQA_BIN");
    return b && *b ? b : DQ_BINARY_DIR "/docqa";
}

static char *slurp(const char *path)
{
    dq_buf b = DQ_BUF_INIT;
    dq_read_file(path, &b);
    return dq_buf_take(&b);
}

/* Runs docqa with args (NULL-terminated) in workdir, store in workdir/.docqa. */
static run_result docqa_argv(const char *const *args)
{
    char out_path[300], err_path[300];
    snprintf(out_path, sizeof out_path, "%s/.out", workdir);
    snprintf(err_path, sizeof err_path, "%s/.err", workdir);
    pid_t pid = spawn_docqa(docqa_bin(), workdir, out_path, err_path, args);
    cr_assert(pid >= 0);
    run_result r;
    r.status = spawn_wait(pid);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    return r;
}

#define DOCQA(...) docqa_argv((const char *const[]){__VA_ARGS__, NULL})

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static void write_text(const char *name, const char *text)
{
    cr_assert_eq(tmpdir_write_file(workdir, name, text), 0, "cannot write %s", name);
}

static void setup(void)
{
    snprintf(workdir, sizeof workdir, "/tmp/docqa-cli-XXXXXX");
    cr_assert(mkdtemp(workdir));
}

static void teardown(void)
{
    cr_expect_eq(tmpdir_remove(workdir), 0);
}

static const char *lease_md =
    "# 房屋租赁合同\n\n"
    "## 第一章 总则\n\n"
    "甲方同意将房屋出租给乙方使用，租期为两年。\n\n"
    "## 第三章 违约责任\n\n"
    "### 3.2 违约金\n\n"
    "乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付违约金。"
    "违约金总额不超过三个月租金。\n";

static const char *manual_txt =
    "Product manual\n\n"
    "The device charges in about two hours with the supplied cable.\n\n"
    "Warranty\n\n"
    "The warranty period is 24 months from the date of purchase. Keep your receipt.\n";

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);

Test(cli, help_and_usage_errors)
{
    run_result r = DOCQA("--help");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "ingest") && strstr(r.out, "ask") && strstr(r.out, "exit status"));
    run_free(&r);
    const char *cmds[] = {"ingest", "search", "ask", "status", "embed", "model", "index"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        r = DOCQA(cmds[i], "-h");
        cr_expect_eq(r.status, 0, "%s -h", cmds[i]);
        cr_expect(strstr(r.out, "usage: docqa"), "%s -h: %s", cmds[i], r.out);
        run_free(&r);
    }
    r = DOCQA("frobnicate");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "'frobnicate' is not a docqa command"));
    run_free(&r);
    r = DOCQA("ingest", "--bogus", "x");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "unknown option '--bogus'"));
    run_free(&r);
    r = DOCQA("ask");
    cr_expect_eq(r.status, 2);
    run_free(&r);
    /* Regression: a trailing --store was reported as an unknown option. */
    r = DOCQA("--store");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "docqa: option '--store' requires a value"), "%s", r.err);
    run_free(&r);
    /* README: --store goes before or after the command, embed included. */
    r = DOCQA("embed", "--store", "nowhere", "text");
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "no embedding model"), "%s", r.err);
    run_free(&r);
}

Test(cli, no_store_is_a_clear_error)
{
    run_result r = DOCQA("ask", "anything");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "docqa: "), "%s", r.err);
    cr_expect(strstr(r.err, "docqa ingest"), "message should say how to make one: %s", r.err);
    run_free(&r);

    /* naming only missing files creates no store */
    r = DOCQA("ingest", "typo.pdf");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "docqa: 'typo.pdf': No such file or directory"), "%s", r.err);
    run_free(&r);
    char path[512];
    snprintf(path, sizeof path, "%s/.docqa", workdir);
    cr_expect_neq(access(path, F_OK), 0, "an empty .docqa was left behind");

    /* a folder of the user's own files is not turned into a store */
    write_text("papers/notes.txt", "my notes\n");
    write_text("docs/manual.txt", manual_txt);
    r = DOCQA("--store", "papers", "ingest", "docs");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "'papers' is a folder of other files"), "%s", r.err);
    run_free(&r);
}

Test(cli, ingest_ask_search_status)
{
    write_text("docs/lease.md", lease_md);
    write_text("docs/manual.txt", manual_txt);
    run_result r = DOCQA("ingest", "--quiet", "docs");
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    run_free(&r);

    r = DOCQA("ask", "合同的违约金是多少？");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "千分之五向甲方支付违约金。 [1]"), "answer: %s", r.out);
    cr_expect(strstr(r.out, "[1] docs/lease.md p. 1, 房屋租赁合同 > 第三章 违约责任 > 3.2 违约金"),
              "sources: %s", r.out);
    run_free(&r);

    r = DOCQA("ask", "How long is the warranty period?");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "The warranty period is 24 months from the date of purchase. [1]"),
              "%s", r.out);
    cr_expect(strstr(r.out, "[1] docs/manual.txt p. 1"), "%s", r.out);
    run_free(&r);

    r = DOCQA("ask", "量子色动力学的渐近自由");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "文档中没有找到答案。"), "%s", r.out); /* in the question's language */
    run_free(&r);

    r = DOCQA("search", "--json", "违约金");
    cr_expect_eq(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(j, "json: %s", r.out);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0);
    cr_assert(first);
    cr_expect_str_eq(cJSON_GetObjectItem(first, "path")->valuestring, "docs/lease.md");
    cr_expect_eq(cJSON_GetObjectItem(first, "page_start")->valueint, 1);
    cr_expect(cJSON_GetObjectItem(first, "score")->valuedouble > 0);
    cr_expect(cJSON_GetArraySize(cJSON_GetObjectItem(first, "highlights")) >= 1);
    cJSON_Delete(j);
    run_free(&r);

    r = DOCQA("search", "violin");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "no chunks match 'violin'"), "%s", r.out);
    run_free(&r);

    r = DOCQA("status", "--json");
    cr_expect_eq(r.status, 0);
    j = cJSON_Parse(r.out);
    cr_assert(j, "%s", r.out);
    cr_expect_eq(cJSON_GetObjectItem(j, "files")->valueint, 2);
    cr_expect_eq(cJSON_GetObjectItem(j, "documents")->valueint, 2);
    cr_expect_eq(cJSON_GetObjectItem(j, "failed")->valueint, 0);
    cr_expect(cJSON_GetObjectItem(j, "chunks")->valueint >= 2);
    cJSON_Delete(j);
    run_free(&r);
}

Test(cli, hostile_file_names_give_valid_json_and_a_safe_terminal)
{
    /* a Latin-1 byte, and an escape sequence that would clear the screen */
    write_text("docs/caf\xE9.txt", manual_txt);
    write_text("docs/\x1b[2Jclear.md", "");
    run_result r = DOCQA("ingest", "docs");
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(!strchr(r.err, '\x1b'), "%s", r.err);
    cr_expect(strstr(r.err, "docs/?[2Jclear.md: empty file"), "%s", r.err);
    run_free(&r);

    r = DOCQA("search", "--json", "warranty period");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(utf8_valid(r.out, strlen(r.out)), "%s", r.out);
    cr_expect(strstr(r.out, "\"docs/caf\xEF\xBF\xBD.txt\""), "%s", r.out);
    run_free(&r);

    r = DOCQA("ask", "--json", "How long is the warranty period?");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(utf8_valid(r.out, strlen(r.out)), "%s", r.out);
    run_free(&r);

    r = DOCQA("status");
    cr_expect(!strchr(r.out, '\x1b'), "%s", r.out);
    run_free(&r);
}

Test(cli, incremental_ingest)
{
    write_text("docs/lease.md", lease_md);
    write_text("docs/manual.txt", manual_txt);
    run_result r = DOCQA("ingest", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "ingested 2 files"), "%s", r.err);
    run_free(&r);

    r = DOCQA("ingest", "docs");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.err, "ingested 0 files (0 pages, 0 chunks), 2 unchanged"), "%s", r.err);
    run_free(&r);

    /* a copy is linked to the stored content, not extracted again */
    write_text("docs/copy/lease-copy.md", lease_md);
    r = DOCQA("ingest", "docs");
    cr_expect(strstr(r.err, "2 unchanged, 1 linked"), "%s", r.err);
    run_free(&r);

    /* a changed file replaces its chunks: the old text is gone from search */
    write_text("docs/manual.txt", "Product manual\n\nThe battery lasts ten hours.\n");
    r = DOCQA("ingest", "docs");
    cr_expect(strstr(r.err, "ingested 1 file"), "%s", r.err);
    run_free(&r);
    r = DOCQA("search", "warranty");
    cr_expect(strstr(r.out, "no chunks match"), "%s", r.out);
    run_free(&r);

    /* a deleted file is pruned when its folder is ingested again */
    char path[512];
    snprintf(path, sizeof path, "%s/docs/copy/lease-copy.md", workdir);
    cr_assert_eq(unlink(path), 0);
    r = DOCQA("ingest", "docs");
    cr_expect(strstr(r.err, "1 removed"), "%s", r.err);
    run_free(&r);
    r = DOCQA("status", "--json");
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(j);
    cr_expect_eq(cJSON_GetObjectItem(j, "files")->valueint, 2);
    cr_expect_eq(cJSON_GetObjectItem(j, "documents")->valueint, 2);
    cJSON_Delete(j);
    run_free(&r);
}

Test(cli, bad_files_do_not_stop_the_batch)
{
    write_text("docs/a-good.md", lease_md);
    write_text("docs/b-fake.pdf", "this is not a pdf at all\n");
    write_text("docs/c-empty.txt", "");
    write_text("docs/d-good.txt", manual_txt);
    run_result r = DOCQA("ingest", "--quiet", "docs", "missing.pdf");
    cr_expect_eq(r.status, 3, "exit code for a partial ingest; stderr: %s", r.err);
    cr_expect(strstr(r.err, "docqa: 'docs/b-fake.pdf': not a PDF file"), "%s", r.err);
    cr_expect(strstr(r.err, "docqa: 'docs/c-empty.txt': empty file"), "%s", r.err);
    cr_expect(strstr(r.err, "'missing.pdf': No such file or directory"), "%s", r.err);
    run_free(&r);

    r = DOCQA("status");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "files:      4 (2 failed)"), "%s", r.out);
    cr_expect(strstr(r.out, "docs/b-fake.pdf: not a PDF file"), "%s", r.out);
    run_free(&r);

    r = DOCQA("ask", "warranty period");
    cr_expect(strstr(r.out, "24 months"), "the good files are searchable: %s", r.out);
    run_free(&r);

    /* Regression: a file of headings alone was said to have no text. */
    write_text("notes/toc.md", "# 租赁合同\n\n## 第三章 违约责任\n");
    r = DOCQA("ingest", "notes");
    cr_expect_eq(r.status, 3);
    cr_expect(strstr(r.err, "docqa: 'notes/toc.md': only headings, no body text to index"), "%s",
              r.err);
    run_free(&r);
}

/* Regression: a symlink back up the tree (loop -> ..) made the walk descend
 * until ELOOP, storing every file ~40 times under ever longer paths; two
 * links to one folder stored it twice. */
Test(cli, symlink_loops_walked_once)
{
    write_text("docs/a.md", lease_md);
    write_text("docs/sub/b.txt", manual_txt);
    char link[512], link2[512];
    snprintf(link, sizeof link, "%s/docs/sub/loop", workdir);
    snprintf(link2, sizeof link2, "%s/docs/zlink", workdir);
    cr_assert_eq(symlink("..", link), 0);
    cr_assert_eq(symlink("sub", link2), 0);
    run_result r = DOCQA("ingest", "docs");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "ingested 2 files"), "%s", r.err);
    run_free(&r);
    r = DOCQA("status");
    cr_expect(strstr(r.out, "files:      2 (0 failed)"), "%s", r.out);
    run_free(&r);
}

Test(cli, pdf_pages_and_sections)
{
    pdfgen_line p1[] = {
        {"房屋租赁合同", 20, true},
        {"第一章 总则", 16, true},
        {"甲方同意将房屋出租给乙方使用，租期为两年。", 11, false},
    };
    pdfgen_line p2[] = {
        {"第三章 违约责任", 16, true},
        {"3.2 违约金", 13, true},
        {"乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付违约金。", 11, false},
    };
    pdfgen_page pages[] = {{p1, 3, false}, {p2, 3, false}};
    char path[512];
    snprintf(path, sizeof path, "%s/lease.pdf", workdir);
    cr_assert_eq(pdfgen_write(path, pages, 2, NULL), 0, "%s", dq_last_error());

    run_result r = DOCQA("ingest", "--quiet", "lease.pdf");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = DOCQA("ask", "违约金是多少");
    cr_expect(strstr(r.out, "千分之五"), "%s", r.out);
    cr_expect(strstr(r.out, "[1] lease.pdf p. 2, "), "%s", r.out);
    cr_expect(strstr(r.out, "第三章 违约责任 > 3.2 违约金"), "%s", r.out);
    run_free(&r);
}

Test(cli, killed_ingest_leaves_a_usable_store)
{
    /* Many small files so the kill lands mid-run. */
    for (int i = 0; i < 150; i++) {
        char name[64], text[256];
        snprintf(name, sizeof name, "many/doc%03d.txt", i);
        snprintf(text, sizeof text,
                 "Document %d\n\nThis file talks about topic number %d and the "
                 "warranty of item %d.\n",
                 i, i, i);
        write_text(name, text);
    }
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (chdir(workdir) < 0)
            _exit(99);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(docqa_bin(), "docqa", "ingest", "--quiet", "many", (char *)NULL);
        _exit(98);
    }
    /* kill once the store exists (on a loaded machine, or under ASan, 150 ms
     * can pass before docqa has created it, and then there is nothing to test) */
    char db[400];
    snprintf(db, sizeof db, "%s/.docqa/docqa.sqlite", workdir);
    for (int waited = 0; waited < 10000 && access(db, F_OK) != 0; waited += 5)
        usleep(5 * 1000);
    usleep(100 * 1000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    run_result r = DOCQA("status", "--json");
    cr_assert_eq(r.status, 0, "store unusable after kill -9: %s", r.err);
    run_free(&r);
    r = DOCQA("ingest", "--quiet", "many");
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = DOCQA("status", "--json");
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(j);
    cr_expect_eq(cJSON_GetObjectItem(j, "files")->valueint, 150);
    cr_expect_eq(cJSON_GetObjectItem(j, "documents")->valueint, 150);
    cr_expect_eq(cJSON_GetObjectItem(j, "chunks")->valueint, 150);
    cJSON_Delete(j);
    run_free(&r);
}

/* The files a store holds, from status --json; -1 when it cannot say yet. */
static int stored_files(const char *store_dir)
{
    run_result r = DOCQA("status", "--json", "--store", store_dir);
    cJSON *j = r.status == 0 ? cJSON_Parse(r.out) : NULL;
    cJSON *files = cJSON_GetObjectItem(j, "files");
    int n = cJSON_IsNumber(files) ? files->valueint : -1;
    cJSON_Delete(j);
    run_free(&r);
    return n;
}

/* The processes whose command line holds needle (a unique path). */
static int processes_with(const char *needle)
{
    int n = 0;
    DIR *d = opendir("/proc");
    cr_assert(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        dq_buf b = DQ_BUF_INIT;
        if (dq_read_file(path, &b) == 0) {
            for (size_t i = 0; i < b.len; i++) /* NUL-separated arguments */
                if (!b.data[i])
                    b.data[i] = ' ';
            n += b.data && strstr(b.data, needle) != NULL;
        }
        dq_buf_free(&b);
    }
    closedir(d);
    return n;
}

/* Starts `docqa ingest --jobs 3` of 600 files into store_dir (n bytes) and
 * returns its pid once some documents are stored, while its readers (and
 * the spawner that forks them) run. */
static pid_t ingest_in_the_background(char *store_dir, size_t n)
{
    for (int i = 0; i < 600; i++) {
        char name[64], text[256];
        snprintf(name, sizeof name, "many/doc%03d.txt", i);
        snprintf(text, sizeof text, "Document %d\n\nThis file is about part number %d and the "
                 "repair of unit %d.\n", i, i, i);
        write_text(name, text);
    }
    char out[300], err[300];
    snprintf(store_dir, n, "%s/.docqa-jobs", workdir);
    snprintf(out, sizeof out, "%s/.out", workdir);
    snprintf(err, sizeof err, "%s/.err", workdir);
    pid_t pid = spawn_docqa(docqa_bin(), workdir, out, err,
                            (const char *const[]){"ingest", "--quiet", "--jobs", "3", "--store",
                                                  store_dir, "many", NULL});
    cr_assert(pid >= 0);
    /* Interrupt once some documents are stored (a fixed delay saw none on a
     * loaded machine): status reads the store beside the running writer. */
    for (int waited = 0; waited < 20000 && stored_files(store_dir) < 1; waited += 50)
        usleep(50 * 1000);
    cr_assert_geq(processes_with(store_dir), 1, "the probe does not see docqa itself");
    return pid;
}

Test(cli, ctrl_c_with_several_readers_running_leaves_none_behind)
{
    char store_dir[300];
    pid_t pid = ingest_in_the_background(store_dir, sizeof store_dir);
    kill(pid, SIGINT);
    cr_expect_eq(spawn_wait(pid), 130, "not interrupted mid-run (600 files)");
    cr_expect_eq(processes_with(store_dir), 0, "a reader outlived docqa");

    run_result r = DOCQA("status", "--json", "--store", store_dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(j);
    int files = cJSON_GetObjectItem(j, "files")->valueint;
    cr_expect(files > 0 && files < 600, "%d files", files);
    cr_expect_eq(cJSON_GetObjectItem(j, "documents")->valueint, files, "whole documents only");
    cJSON_Delete(j);
    run_free(&r);
}

Test(cli, kill_9_with_several_readers_running_leaves_none_behind)
{
    char store_dir[300];
    pid_t pid = ingest_in_the_background(store_dir, sizeof store_dir);
    kill(pid, SIGKILL);
    spawn_wait(pid);
    /* The readers, children the spawner made for docqa (CLONE_PARENT), and
     * the spawner die with it (their parent-death signal), a moment after. */
    int left = processes_with(store_dir);
    for (int waited = 0; waited < 5000 && left > 0; waited += 10) {
        usleep(10 * 1000);
        left = processes_with(store_dir);
    }
    cr_expect_eq(left, 0, "a reader or the spawner outlived docqa");
    run_result r = DOCQA("status", "--json", "--store", store_dir);
    cr_expect_eq(r.status, 0, "store unusable after kill -9: %s", r.err);
    run_free(&r);
}

/* A tiny BERT folder from tests/fixtures (random weights, real layout). */
#define TINY_MODEL DQ_SOURCE_DIR "/tests/fixtures/bert-tiny-cls"
#define TINY_MODEL_MEAN DQ_SOURCE_DIR "/tests/fixtures/bert-tiny-mean"

Test(cli, model_info_and_embed)
{
    run_result r = DOCQA("model", "info", TINY_MODEL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "identity: bert:"), "%s", r.out);
    run_free(&r);

    r = DOCQA("embed", "--model", TINY_MODEL, "hello world", "合同");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(j, "%s", r.out);
    int dim = cJSON_GetObjectItem(j, "dim")->valueint;
    cr_expect_eq(dim, 64);
    cJSON *vecs = cJSON_GetObjectItem(j, "vectors");
    cr_expect_eq(cJSON_GetArraySize(vecs), 2);
    cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(vecs, 0), "embedding");
    cr_expect_eq(cJSON_GetArraySize(v), dim);
    double norm = 0;
    for (int i = 0; i < dim; i++) {
        double x = cJSON_GetArrayItem(v, i)->valuedouble;
        norm += x * x;
    }
    cr_expect_float_eq(norm, 1.0, 1e-3, "vectors are L2-normalised");
    cJSON_Delete(j);
    run_free(&r);

    r = DOCQA("model", "info", "/nonexistent/model");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "/nonexistent/model"), "%s", r.err);
    run_free(&r);

    r = DOCQA("embed", "some text");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "no embedding model"), "%s", r.err);
    run_free(&r);
}

static void write_config(const char *model)
{
    char text[600];
    snprintf(text, sizeof text, "[embed]\nmodel = %s\n", model);
    write_text(".docqa/config", text);
}

Test(cli, ingest_stores_vectors_and_reembeds_on_model_change)
{
    write_text("docs/lease.md", lease_md);
    write_text("docs/manual.txt", manual_txt);
    write_config(TINY_MODEL);
    run_result r = DOCQA("ingest", "--quiet", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = DOCQA("status", "--json");
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(j, "%s", r.out);
    int chunks = cJSON_GetObjectItem(j, "chunks")->valueint;
    cr_expect(chunks >= 2);
    cr_expect_eq(cJSON_GetObjectItem(j, "vectors")->valueint, chunks);
    char *first_model = dq_strdup(cJSON_GetObjectItem(j, "embedding_model")->valuestring);
    cr_expect(!strncmp(first_model, "bert:", 5), "%s", first_model);
    cJSON_Delete(j);
    run_free(&r);

    /* another model: every chunk is embedded again, nothing mixed */
    write_config(TINY_MODEL_MEAN);
    r = DOCQA("ingest", "docs");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "embedding model changed"), "%s", r.err);
    run_free(&r);
    r = DOCQA("status", "--json");
    j = cJSON_Parse(r.out);
    cr_assert(j);
    cr_expect_eq(cJSON_GetObjectItem(j, "vectors")->valueint, chunks);
    cr_expect_str_neq(cJSON_GetObjectItem(j, "embedding_model")->valuestring, first_model);
    cJSON_Delete(j);
    run_free(&r);
    free(first_model);

    /* a config typo is an error naming the file and line, not silence */
    write_text(".docqa/config", "[embed]\nmodle = x\n");
    r = DOCQA("ingest", "docs");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "config' line 2"), "%s", r.err);
    run_free(&r);
}

Test(cli, encrypted_pdf_needs_password)
{
    pdfgen_line lines[] = {{"The secret code word is marmalade.", 11, false}};
    pdfgen_page page = {lines, 1, false};
    pdfgen_opts opts = {"hunter2", NULL};
    char path[512];
    snprintf(path, sizeof path, "%s/secret.pdf", workdir);
    cr_assert_eq(pdfgen_write(path, &page, 1, &opts), 0, "%s", dq_last_error());

    run_result r = DOCQA("ingest", "--quiet", "secret.pdf");
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(strstr(r.err, "docqa: 'secret.pdf': file is encrypted (use --password)"), "%s",
              r.err);
    run_free(&r);

    r = DOCQA("ingest", "--quiet", "--password", "wrong", "secret.pdf");
    cr_expect_eq(r.status, 3);
    cr_expect(strstr(r.err, "wrong password"), "%s", r.err);
    run_free(&r);

    /* the unchanged file is tried again because a password was given */
    r = DOCQA("ingest", "--quiet", "--password", "hunter2", "secret.pdf");
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = DOCQA("ask", "what is the secret code word");
    cr_expect(strstr(r.out, "marmalade"), "%s", r.out);
    run_free(&r);
}

/* An embeddings endpoint on loopback: each text's vector is (len, 1, 0). */
static void fake_embeddings(void *ctx, const httpd_request *req, httpd_response *resp)
{
    (void)ctx;
    cJSON *in = cJSON_Parse(req->body);
    cJSON *texts = cJSON_GetObjectItem(in, "input");
    dq_buf_puts(&resp->body, "{\"data\":[");
    for (int i = 0; i < cJSON_GetArraySize(texts); i++)
        dq_buf_printf(&resp->body, "%s{\"index\":%d,\"embedding\":[%d,1,0]}", i ? "," : "", i,
                      (int)strlen(cJSON_GetArrayItem(texts, i)->valuestring));
    dq_buf_puts(&resp->body, "]}");
    cJSON_Delete(in);
}

Test(cli, embeddings_endpoint)
{
    httpd *srv = httpd_start(fake_embeddings, NULL);
    cr_assert(srv);
    char url[128];
    snprintf(url, sizeof url, "%s/v1", httpd_url(srv));
    run_result r = DOCQA("embed", "--url", url, "abc", "hello");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(j, "%s", r.out);
    cr_expect_eq(cJSON_GetObjectItem(j, "dim")->valueint, 3);
    cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "vectors"), 1),
                                   "embedding");
    cr_expect_float_eq(cJSON_GetArrayItem(v, 0)->valuedouble, 5.0, 1e-6);
    cJSON_Delete(j);
    run_free(&r);

    /* ingest with the endpoint configured stores a vector per chunk */
    write_text("docs/manual.txt", manual_txt);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "[embed]\nurl = %s\n", url);
    write_text(".docqa/config", cfg);
    r = DOCQA("ingest", "--quiet", "docs");
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = DOCQA("status", "--json");
    j = cJSON_Parse(r.out);
    cr_assert(j, "%s", r.out);
    cr_expect_eq(cJSON_GetObjectItem(j, "vectors")->valueint,
                 cJSON_GetObjectItem(j, "chunks")->valueint);
    cr_expect(strstr(cJSON_GetObjectItem(j, "embedding_model")->valuestring, "http:"));
    cJSON_Delete(j);
    run_free(&r);
    httpd_stop(srv);

    /* the endpoint gone: a clear error naming it, exit 1 */
    r = DOCQA("embed", "--url", url, "abc");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "cannot reach embeddings endpoint"), "%s", r.err);
    run_free(&r);
}

Test(cli, model_info_reranker)
{
    run_result r = DOCQA("model", "info", DQ_SOURCE_DIR "/tests/fixtures/bert-tiny-rerank");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "kind: reranker"), "%s", r.out);
    cr_expect(strstr(r.out, "1 label (score = the logit)"), "%s", r.out);
    run_free(&r);

    /* a RoBERTa (byte-level BPE) reranker: one line saying why not */
    write_text("rob/config.json", "{\"model_type\": \"roberta\", \"architectures\": "
                                  "[\"RobertaForSequenceClassification\"]}");
    r = DOCQA("model", "info", "rob");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "'rob': roberta reranker is not supported yet"), "%s", r.err);
    cr_expect(strchr(r.err, '\n') == strrchr(r.err, '\n'), "one line: %s", r.err);
    run_free(&r);
}

/* ---- dense and hybrid retrieval, the vector index ------------------------ */

#define TINY_RERANK DQ_SOURCE_DIR "/tests/fixtures/bert-tiny-rerank"

static cJSON *search_json(const char *mode, const char *query)
{
    run_result r = DOCQA("search", "--json", "--mode", mode, query);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert(j, "%s", r.out);
    run_free(&r);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "mode")->valuestring,
                     strcmp(mode, "auto") ? mode : "hybrid");
    return j;
}

static bool results_mention(cJSON *j, const char *path)
{
    cJSON *res = cJSON_GetObjectItem(j, "results");
    for (int i = 0; i < cJSON_GetArraySize(res); i++)
        if (strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(res, i), "path")->valuestring, path))
            return true;
    return false;
}

Test(cli, search_modes_and_the_vector_index)
{
    write_text("docs/lease.md", lease_md);
    write_text("docs/manual.txt", manual_txt);
    write_config(TINY_MODEL);
    run_result r = DOCQA("ingest", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "built vectors.faiss"), "%s", r.err);
    run_free(&r);

    /* auto is hybrid once vectors exist: each hit has both scores or a null */
    cJSON *j = search_json("auto", "warranty period");
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0);
    cr_assert(first);
    cJSON *sc = cJSON_GetObjectItem(first, "scores");
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(sc, "rrf")));
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(sc, "cosine")));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(sc, "rerank")));
    cr_expect(cJSON_GetObjectItem(first, "page_start"));
    cr_expect(cJSON_GetObjectItem(first, "section"));
    cJSON_Delete(j);

    j = search_json("dense", "warranty period");
    sc = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0), "scores");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(sc, "bm25")));
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(sc, "cosine")));
    /* every chunk is a dense candidate: both files show up */
    cr_expect(results_mention(j, "manual.txt") && results_mention(j, "lease.md"));
    cJSON_Delete(j);

    j = search_json("bm25", "warranty period");
    sc = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0), "scores");
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(sc, "bm25")));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(sc, "cosine")));
    cJSON_Delete(j);

    r = DOCQA("index", "check");
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "ok: the index file agrees"), "%s", r.out);
    run_free(&r);

    /* a removed file leaves FAISS too */
    char path[512];
    snprintf(path, sizeof path, "%s/docs/manual.txt", workdir);
    cr_assert_eq(unlink(path), 0);
    r = DOCQA("ingest", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = DOCQA("index", "check");
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    j = search_json("dense", "warranty period");
    cr_expect(!results_mention(j, "manual.txt"));
    cJSON_Delete(j);

    /* a corrupt index file is noticed by check and repaired by the next search */
    write_text(".docqa/vectors.faiss", "DQVINDEX but not really an index");
    r = DOCQA("index", "check");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.out, "truncated header"), "%s", r.out);
    run_free(&r);
    j = search_json("dense", "违约金");
    cr_expect(results_mention(j, "lease.md"));
    cJSON_Delete(j);
    r = DOCQA("index", "check");
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    r = DOCQA("index", "rebuild");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "rebuilt vectors.faiss"), "%s", r.out);
    run_free(&r);

    /* a threshold nothing reaches says so instead of returning garbage */
    r = DOCQA("search", "--mode", "dense", "--min-score", "1.5", "违约金");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "no relevant passage found"), "%s", r.out);
    run_free(&r);
    r = DOCQA("search", "--min-score", "high", "违约金");
    cr_expect_eq(r.status, 2);
    run_free(&r);
    r = DOCQA("search", "--mode", "fuzzy", "违约金");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "unknown mode 'fuzzy'"), "%s", r.err);
    run_free(&r);

    /* rerank: every result carries the cross-encoder's score, best first */
    r = DOCQA("search", "--json", "--rerank", TINY_RERANK, "违约金");
    cr_assert_eq(r.status, 0, "%s", r.err);
    j = cJSON_Parse(r.out);
    cJSON *res = cJSON_GetObjectItem(j, "results");
    cr_assert(cJSON_GetArraySize(res) >= 2);
    double prev = INFINITY;
    for (int i = 0; i < cJSON_GetArraySize(res); i++) {
        cJSON *o = cJSON_GetArrayItem(res, i);
        double s = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "scores"), "rerank")->valuedouble;
        cr_expect_float_eq(cJSON_GetObjectItem(o, "score")->valuedouble, s, 1e-9);
        cr_expect_leq(s, prev);
        prev = s;
    }
    cJSON_Delete(j);
    run_free(&r);

    /* ask goes through the same retrieval */
    r = DOCQA("ask", "--mode", "hybrid", "--json", "违约金是多少");
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_free(&r);
}

Test(cli, dense_without_a_model_is_a_usage_error)
{
    write_text("docs/manual.txt", manual_txt);
    run_result r = DOCQA("ingest", "--quiet", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = DOCQA("search", "--mode", "dense", "warranty");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "needs an embedding model"), "%s", r.err);
    run_free(&r);
    r = DOCQA("index", "check");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "has no vectors"), "%s", r.err);
    run_free(&r);
    /* auto without a model is BM25 */
    r = DOCQA("search", "--json", "warranty");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "\"mode\":\t\"bm25\""), "%s", r.out);
    run_free(&r);
}
