/* lmgen.c - see lmgen.h. */
#include "support/lmgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MODELS DQ_BINARY_DIR "/test-models"
#define QWEN MODELS "/qwen-chat.gguf"

const char *lmgen_chat_model(void)
{
    struct stat st;
    if (stat(QWEN, &st) == 0)
        return QWEN;
    mkdir(MODELS, 0755);
    char tmp[600], cmd[1600];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", QWEN, (int)getpid());
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/scripts/lm_reference.py chat --vocab "
             "%s/tests/fixtures/bpe/qwen3-vocab.gguf.gz %s",
             DQ_SOURCE_DIR, DQ_SOURCE_DIR, tmp);
    if (system(cmd) != 0 || rename(tmp, QWEN) != 0) {
        unlink(tmp);
        return NULL;
    }
    return QWEN;
}
