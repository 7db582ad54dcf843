/* fuzz_redact.c - libFuzzer harness: net_text_redact on arbitrary text.
 *
 * What a client or a log may be shown of a message must keep no URL
 * secret: in the output, every "://" authority that holds an '@' shows
 * "***" before it, and redacting twice changes nothing more.
 */
#include "common/common.h"
#include "net/net.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Whether each URL's user part in s is "***" (or absent). */
static int authorities_clean(const char *s)
{
    for (const char *p = s; (p = strcasestr(p, "http")) != NULL; p++) {
        size_t head = !strncasecmp(p, "http://", 7) ? 7 : !strncasecmp(p, "https://", 8) ? 8 : 0;
        if (!head)
            continue;
        const char *auth = p + head;
        size_t n = strcspn(auth, " \t\r\n'\"<>`/?#");
        const char *inner[] = {strcasestr(auth, "http://"), strcasestr(auth, "https://")};
        for (int i = 0; i < 2; i++) /* a URL ends where another begins */
            if (inner[i] && (size_t)(inner[i] - auth) < n)
                n = (size_t)(inner[i] - auth);
        const char *at = memchr(auth, '@', n);
        if (!at)
            continue;
        /* the last '@' ends the user part; all before it is "***" */
        const char *last = at;
        while ((at = memchr(last + 1, '@', (size_t)(auth + n - last - 1))) != NULL)
            last = at;
        if (last - auth != 3 || memcmp(auth, "***", 3) != 0)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = dq_strndup((const char *)data, size); /* stops at a NUL, as C strings do */
    char *once = net_text_redact(text);
    char *twice = net_text_redact(once);
    if (!once || !twice || strcmp(once, twice) != 0 || !authorities_clean(once))
        abort();
    free(twice);
    free(once);
    free(text);
    return 0;
}
