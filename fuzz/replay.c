/* replay.c - runs a libFuzzer harness over saved inputs without libFuzzer, for `make test`.
 *
 * Each harness is also linked with this main() in the ordinary and the
 * sanitizer builds, and ctest runs it over fuzz/corpus/<name>/ (the seeds) and
 * fuzz/regressions/<name>/ (every input a fuzzer once crashed on, kept when
 * the bug was fixed). A harness aborts on a broken invariant and the
 * sanitizers report the rest, so a fixed bug that returns fails the test.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int replay_file(const char *path)
{
    dq_buf b = DQ_BUF_INIT;
    if (dq_read_file(path, &b) < 0) {
        fprintf(stderr, "replay: %s\n", dq_last_error());
        return -1;
    }
    /* A copy of exactly the input's size, so reading past it is caught. */
    unsigned char *copy = dq_malloc(b.len ? b.len : 1);
    if (b.len)
        memcpy(copy, b.data, b.len);
    LLVMFuzzerTestOneInput(copy, b.len);
    free(copy);
    dq_buf_free(&b);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0)
            continue; /* no regressions yet for this harness */
        if (!S_ISDIR(st.st_mode)) {
            failed += replay_file(argv[i]) < 0;
            n++;
            continue;
        }
        struct dirent **names;
        int k = scandir(argv[i], &names, NULL, alphasort);
        for (int j = 0; j < k; j++) {
            if (names[j]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
                failed += replay_file(path) < 0;
                n++;
            }
            free(names[j]);
        }
        free(names);
    }
    printf("replayed %d inputs\n", n);
    return failed || n == 0 ? 1 : 0;
}
