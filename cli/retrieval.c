/* retrieval.c - the retrieval settings of `search` (rag_retrieval_setup,
 * with the message printed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"

int cli_retrieval_setup(const dq_config *cfg, const cli_retrieval_flags *f, retrieve_params *rp,
                        embedder **emb)
{
    *emb = NULL;
    int rc = rag_retrieval_setup(cfg, f, NULL, rp, emb);
    if (rc < 0)
        cli_error("%s", dq_last_error());
    return rc == 0 ? EXIT_OK : rc == RAG_ERR_SETTING ? EXIT_USAGE : EXIT_ERROR;
}
