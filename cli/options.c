/* options.c - the one option parser every subcommand uses. */
#include "cli/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const cli_option *find_long(const cli_option *opts, const char *name, size_t len)
{
    for (const cli_option *o = opts; o->type != OPT_END; o++)
        if (o->long_name && strlen(o->long_name) == len && !strncmp(o->long_name, name, len))
            return o;
    return NULL;
}

static const cli_option *find_short(const cli_option *opts, char c)
{
    for (const cli_option *o = opts; o->type != OPT_END; o++)
        if (o->type != OPT_GROUP && o->short_name == c)
            return o;
    return NULL;
}

static void describe(const cli_option *o, char *buf, size_t n)
{
    if (o->long_name)
        snprintf(buf, n, "--%s", o->long_name);
    else
        snprintf(buf, n, "-%c", o->short_name);
}

static int set_value(const cli_option *o, const char *arg)
{
    char name[64];
    describe(o, name, sizeof name);
    switch (o->type) {
    case OPT_STRING:
        *(const char **)o->value = arg;
        return 0;
    case OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(arg, &end, 10);
        if (errno || *end || end == arg || v < -1000000000L || v > 1000000000L) {
            fprintf(stderr, "docqa: option '%s' expects a number, not '%s'\n", name, arg);
            return -1;
        }
        *(int *)o->value = (int)v;
        return 0;
    }
    default:
        return -1;
    }
}

int parse_options(int argc, char **argv, const cli_option *opts, const char *const *usage,
                  int *n_args)
{
    int kept = 0;
    bool only_args = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_args || a[0] != '-' || a[1] == '\0') {
            argv[kept++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_args = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_usage(stdout, usage, opts);
            return PARSE_HELP;
        }
        const cli_option *o;
        const char *inline_arg = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(opts, name, len);
            bool negated = false;
            if (!o && len > 3 && !strncmp(name, "no-", 3)) {
                o = find_long(opts, name + 3, len - 3);
                negated = o && o->type == OPT_BOOL;
                if (!negated)
                    o = NULL;
            }
            if (!o) {
                fprintf(stderr, "docqa: unknown option '%.*s'\n", (int)len + 2, a);
                print_usage(stderr, usage, opts);
                return PARSE_ERROR;
            }
            if (o->type == OPT_BOOL) {
                if (eq) {
                    fprintf(stderr, "docqa: option '--%s' takes no value\n", o->long_name);
                    return PARSE_ERROR;
                }
                *(bool *)o->value = !negated;
                continue;
            }
            inline_arg = eq ? eq + 1 : NULL;
        } else {
            o = find_short(opts, a[1]);
            if (!o) {
                fprintf(stderr, "docqa: unknown switch '%c'\n", a[1]);
                print_usage(stderr, usage, opts);
                return PARSE_ERROR;
            }
            if (o->type == OPT_BOOL) {
                if (a[2]) {
                    fprintf(stderr, "docqa: switch '%c' takes no value\n", a[1]);
                    return PARSE_ERROR;
                }
                *(bool *)o->value = true;
                continue;
            }
            inline_arg = a[2] ? a + 2 : NULL;
        }
        if (!inline_arg) {
            if (i + 1 >= argc) {
                char name[64];
                describe(o, name, sizeof name);
                fprintf(stderr, "docqa: option '%s' requires a value\n", name);
                return PARSE_ERROR;
            }
            inline_arg = argv[++i];
        }
        if (set_value(o, inline_arg) < 0)
            return PARSE_ERROR;
    }
    *n_args = kept;
    return PARSE_OK;
}

void print_usage(FILE *out, const char *const *usage, const cli_option *opts)
{
    for (int i = 0; usage[i]; i++)
        fprintf(out, "%s%s\n", i == 0 ? "usage: " : "   or: ", usage[i]);
    fputc('\n', out);
    for (const cli_option *o = opts; o->type != OPT_END; o++) {
        if (o->type == OPT_GROUP) {
            fprintf(out, "\n%s\n", o->help);
            continue;
        }
        char left[80];
        int n = 0;
        if (o->short_name && o->long_name)
            n = snprintf(left, sizeof left, "-%c, --%s", o->short_name, o->long_name);
        else if (o->short_name)
            n = snprintf(left, sizeof left, "-%c", o->short_name);
        else
            n = snprintf(left, sizeof left, "--%s", o->long_name);
        if (o->argh && n > 0 && (size_t)n < sizeof left)
            snprintf(left + n, sizeof left - (size_t)n, " <%s>", o->argh);
        fprintf(out, "    %-26s %s\n", left, o->help);
    }
}
