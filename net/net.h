/* net.h - docqa's one HTTP client setup, shared by the embeddings client
 * (embed/http.c), the LLM client (generate/llm.c) and the model downloader
 * (hub/hub.c).
 *
 * Each client keeps one libcurl easy handle (so connections are reused) and
 * prepares it per request with net_request_setup: the same rules for every
 * request docqa sends - timeouts without signals (safe in threads), http and
 * https only (redirects too), docqa's user agent, certificate checks on, and
 * proxies from the environment (https_proxy, http_proxy, no_proxy, as libcurl
 * reads them). net_result_of turns libcurl's outcome into a status the
 * client acts on; the client words the message, since it knows what it
 * called (an embeddings endpoint, an LLM, the hub).
 */
#ifndef DQ_NET_H
#define DQ_NET_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* A new easy handle, libcurl's global setup done first (once per process).
 * NULL with the error set. Free with curl_easy_cleanup. */
CURL *net_handle_new(void);

typedef struct {
    const char *user_agent;     /* NULL: "docqa" */
    long connect_timeout_s;     /* seconds to connect; 0: libcurl's default */
    long timeout_s;             /* the whole transfer; 0: none */
    long stall_timeout_s;       /* fail after this long without a byte; 0: none */
    struct curl_slist *headers; /* not owned; NULL: none */
    char *errbuf;               /* CURL_ERROR_SIZE bytes for libcurl's message, or NULL;
                                 * net_request_done detaches it */
} net_request;

/* Resets h and prepares it for one request to url with rq's settings; the
 * caller adds its body, callbacks and method, then runs curl_easy_perform. */
void net_request_setup(CURL *h, const char *url, const net_request *rq);
/* After curl_easy_perform: forgets the error buffer, which may go out of
 * scope (a later request on h must not write into it). */
void net_request_done(CURL *h);

/* The headers of a JSON API request: Content-Type JSON, no "Expect:
 * 100-continue" round trip, accept (NULL: none) and an Authorization
 * bearer token (NULL or empty: none). Free with curl_slist_free_all. */
struct curl_slist *net_json_headers(const char *accept, const char *bearer);

/* url as it may be shown, logged, returned or kept in a model's identity:
 * a password or user in it ("http://user:pw@host/") becomes "***@", and the
 * value of a query parameter that names a secret (key, token, secret,
 * password, signature, auth, credential, code: "?api-key=..." ) becomes
 * "***". Anything else is kept, so the user still recognises the URL.
 * Caller frees; NULL for NULL. */
char *net_url_redact(const char *url);
/* text (an error message, a log line) with every http:// or https:// URL in
 * it passed through net_url_redact. Caller frees; NULL for NULL. */
char *net_text_redact(const char *text);

typedef enum {
    NET_OK = 0,
    NET_UNREACHABLE,     /* no connection: refused, no route, or the host name did not resolve */
    NET_BAD_URL,         /* a URL libcurl cannot use (malformed, not http or https) */
    NET_CONNECT_TIMEOUT, /* no connection within the limit */
    NET_TIMEOUT,         /* connected, then the time limit or the stall limit passed */
    NET_DROPPED,         /* the connection closed or broke before the answer was whole */
    NET_FAILED,          /* anything else (TLS, redirects, a callback refused the data) */
} net_status;

typedef struct {
    net_status status;
    CURLcode code;    /* libcurl's own */
    bool no_host;     /* NET_UNREACHABLE because the host name did not resolve */
    int os_errno;     /* the system's reason for a failed connect, or 0 */
    char reason[CURL_ERROR_SIZE]; /* libcurl's message (the error buffer's when set) */
} net_result;

/* What a finished transfer on h came to (rc from curl_easy_perform, errbuf
 * the request's, or NULL). */
void net_result_of(CURL *h, CURLcode rc, const char *errbuf, net_result *out);

#endif
