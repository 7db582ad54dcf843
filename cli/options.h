/* options.h - options as data: each subcommand declares a table, one parser
 * reads them all, so -h/--help works everywhere and help cannot drift from the
 * code (after git's parse-options.h). */
#ifndef DQ_CLI_OPTIONS_H
#define DQ_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

typedef enum { OPT_END = 0, OPT_BOOL, OPT_STRING, OPT_INT, OPT_GROUP } opt_type;

typedef struct {
    opt_type type;
    char short_name;       /* 0 when none */
    const char *long_name; /* NULL when none */
    void *value;           /* bool *, const char **, int * */
    const char *argh;      /* argument name in help, "DIR" */
    const char *help;      /* one line */
} cli_option;

#define OPT_BOOLEAN(s, l, v, h) {OPT_BOOL, (s), (l), (v), NULL, (h)}
#define OPT_STR(s, l, v, a, h) {OPT_STRING, (s), (l), (v), (a), (h)}
#define OPT_NUMBER(s, l, v, a, h) {OPT_INT, (s), (l), (v), (a), (h)}
#define OPT_SECTION(h) {OPT_GROUP, 0, NULL, NULL, NULL, (h)}
#define OPT_FINISH {OPT_END, 0, NULL, NULL, NULL, NULL}

enum { PARSE_OK = 0, PARSE_HELP = 1, PARSE_ERROR = -1 };

/* Parses argv[1..argc) against opts; options and arguments may mix, "--"
 * ends options. Non-option arguments are moved to the front of argv and
 * counted in *n_args (argv[0..*n_args)). -h/--help prints usage to stdout and
 * returns PARSE_HELP; a bad option prints "docqa: <reason>" and the usage to
 * stderr and returns PARSE_ERROR. */
int parse_options(int argc, char **argv, const cli_option *opts, const char *const *usage,
                  int *n_args);
void print_usage(FILE *out, const char *const *usage, const cli_option *opts);

#endif
