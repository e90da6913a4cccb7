/*
 * httpd.c - GET /metrics with libmicrohttpd (see httpd.h).
 *
 * One internal polling thread (MHD_USE_INTERNAL_POLLING_THREAD with poll): requests are
 * answered one after the other, so render() is never called twice at once. The answer is
 * built before it is queued (libmicrohttpd frees it when sent).
 */
#include "httpd.h"

#include "promtext.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECTIONS    32
#define PER_ADDRESS    16
#define IDLE_SECONDS   10
#define REQUEST_MEMORY (32 * 1024)
#define CONTENT_TYPE   "text/plain; version=0.0.4; charset=utf-8"

struct sm_httpd {
    struct MHD_Daemon *d;
    sm_httpd_render_fn render;
    void *arg;
    uint16_t port;
    bool loopback; /* listens on a loopback address only */
    atomic_uint_fast64_t ok, not_found, not_allowed, unavailable, refused, connections;
};

int sm_httpd_parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *sslen,
                          char *errbuf, size_t errlen)
{
    memset(ss, 0, sizeof *ss);
    char host[64] = "127.0.0.1";
    const char *port;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - text - 1) >= sizeof host) {
            snprintf(errbuf, errlen, "'%s': expected [IPV6]:PORT", text);
            return -1;
        }
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL) {
            port = text;
        } else {
            if ((size_t)(colon - text) >= sizeof host) {
                snprintf(errbuf, errlen, "'%s': expected ADDR:PORT", text);
                return -1;
            }
            if (colon > text) {
                memcpy(host, text, (size_t)(colon - text));
                host[colon - text] = '\0';
            }
            port = colon + 1;
        }
    }
    char *end;
    errno = 0;
    unsigned long p = strtoul(port, &end, 10);
    if (*port < '0' || *port > '9' || *end != '\0' || errno != 0 || p > 65535) {
        snprintf(errbuf, errlen, "'%s': not a port number: '%s'", text, port);
        return -1;
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)p);
        *sslen = sizeof *in4;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        *sslen = sizeof *in6;
    } else {
        snprintf(errbuf, errlen, "'%s': not an IPv4 address or a bracketed IPv6 address: '%s'",
                 text, host);
        return -1;
    }
    return 0;
}

bool sm_httpd_addr_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return false;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
                              bool must_free, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == MHD_HTTP_OK ? CONTENT_TYPE : "text/plain; charset=utf-8");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    struct sm_httpd *d = cls;
    static char not_found[] = "not found: the metrics are at /metrics\n";
    static char not_allowed[] = "method not allowed: GET or HEAD /metrics\n";
    static char unavailable[] = "no metrics yet\n";
    /* answered at the first call: nothing here takes a request body */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        atomic_fetch_add_explicit(&d->not_allowed, 1, memory_order_relaxed);
        return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, sizeof not_allowed - 1, false,
                      "GET, HEAD");
    }
    if (strcmp(url, "/metrics") != 0) {
        atomic_fetch_add_explicit(&d->not_found, 1, memory_order_relaxed);
        return answer(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof not_found - 1, false, NULL);
    }
    struct sm_prom p;
    sm_prom_init(&p);
    if (d->render(d->arg, &p) == -1 || p.oom || p.buf == NULL) {
        sm_prom_free(&p);
        atomic_fetch_add_explicit(&d->unavailable, 1, memory_order_relaxed);
        return answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, unavailable, sizeof unavailable - 1,
                      false, NULL);
    }
    atomic_fetch_add_explicit(&d->ok, 1, memory_order_relaxed);
    return answer(conn, MHD_HTTP_OK, p.buf, p.len, true, NULL);
}

/* libmicrohttpd says why it refused a request or a connection: counted, not printed. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
    (void)fmt;
    (void)ap;
    struct sm_httpd *d = cls;
    atomic_fetch_add_explicit(&d->refused, 1, memory_order_relaxed);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)conn;
    (void)socket_context;
    struct sm_httpd *d = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add_explicit(&d->connections, 1, memory_order_relaxed);
}

sm_httpd_t *sm_httpd_new(const char *listen, sm_httpd_render_fn render, void *arg, char *errbuf,
                         size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (sm_httpd_parse_listen(listen, &ss, &sslen, errbuf, errlen) == -1)
        return NULL;
    struct sm_httpd *d = calloc(1, sizeof *d);
    if (d == NULL) {
        snprintf(errbuf, errlen, "metrics on %s: out of memory", listen);
        return NULL;
    }
    d->render = render;
    d->arg = arg;
    d->loopback = sm_httpd_addr_is_loopback(&ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    d->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, d, MHD_OPTION_EXTERNAL_LOGGER, on_log, d,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_ADDRESS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_SECONDS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)REQUEST_MEMORY, MHD_OPTION_NOTIFY_CONNECTION, on_connection, d, MHD_OPTION_END);
    if (d->d == NULL) {
        int e = errno;
        snprintf(errbuf, errlen, "cannot serve metrics on %s: %s", listen,
                 e ? strerror(e) : "the HTTP server did not start");
        free(d);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->d, MHD_DAEMON_INFO_BIND_PORT);
    d->port = info ? info->port : 0;
    return d;
}

uint16_t sm_httpd_port(const sm_httpd_t *d)
{
    return d->port;
}

bool sm_httpd_loopback(const sm_httpd_t *d)
{
    return d->loopback;
}

void sm_httpd_prom(const sm_httpd_t *d, struct sm_prom *p)
{
    struct sm_httpd_stats hs;
    sm_httpd_stats(d, &hs);
    sm_prom_family(p, "synmatch_http_requests_total", "counter",
                   "Requests to this endpoint, by status (refused: malformed or too large, "
                   "answered by the HTTP library).");
    static const char *const codes[] = {"200", "404", "405", "503", "refused"};
    uint64_t vals[] = {hs.ok, hs.not_found, hs.not_allowed, hs.unavailable, hs.refused};
    for (int k = 0; k < 5; k++) /* answered before this one */
        sm_prom_u64(p, "synmatch_http_requests_total", (const char *[]){"code", codes[k], NULL},
                    vals[k]);
}

void sm_httpd_stats(const sm_httpd_t *cd, struct sm_httpd_stats *out)
{
    struct sm_httpd *d = (struct sm_httpd *)cd;
    out->ok = atomic_load_explicit(&d->ok, memory_order_relaxed);
    out->not_found = atomic_load_explicit(&d->not_found, memory_order_relaxed);
    out->not_allowed = atomic_load_explicit(&d->not_allowed, memory_order_relaxed);
    out->unavailable = atomic_load_explicit(&d->unavailable, memory_order_relaxed);
    out->refused = atomic_load_explicit(&d->refused, memory_order_relaxed);
    out->connections = atomic_load_explicit(&d->connections, memory_order_relaxed);
}

void sm_httpd_destroy(sm_httpd_t **d_p)
{
    struct sm_httpd *d = *d_p;
    if (d == NULL)
        return;
    MHD_stop_daemon(d->d);
    free(d);
    *d_p = NULL;
}
