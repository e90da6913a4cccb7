/*
 * httpd.h - the metrics endpoint: GET /metrics over HTTP, served by libmicrohttpd in a thread
 * of its own (docs/METRICS.md).
 *
 * libmicrohttpd parses the requests: a request line or headers that are malformed or larger
 * than the connection's memory (32 KiB) get its 400/413/414/431 answers and never reach us;
 * a connection that stays idle is closed after 10 s; at most 32 connections at a time, 16 from
 * one address. Only GET and HEAD of /metrics are answered with the body render() makes (in
 * this thread: it must not block on the caller's loop); other paths get 404, other methods
 * 405. Every answer is counted by status (struct sm_httpd_stats). Nothing is logged per
 * request.
 */
#ifndef SYNMATCH_HTTPD_H
#define SYNMATCH_HTTPD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "promtext.h"

typedef struct sm_httpd sm_httpd_t;

/* Fills out with the exposition; returns 0, or -1 when there is nothing to serve yet (503). */
typedef int (*sm_httpd_render_fn)(void *arg, struct sm_prom *out);

struct sm_httpd_stats {
    uint64_t ok, not_found, not_allowed, unavailable; /* 200, 404, 405, 503 */
    uint64_t refused;     /* answered by libmicrohttpd itself: malformed, too large, ... */
    uint64_t connections; /* accepted */
};

/*
 * Parses where to listen: ADDR:PORT (an IPv4 literal), [ADDR]:PORT (IPv6), or PORT or :PORT
 * alone (127.0.0.1: loopback unless told otherwise). Names are not resolved. Returns 0, or -1
 * with one line in errbuf.
 */
int sm_httpd_parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *sslen,
                          char *errbuf, size_t errlen);

/* True when the address is a loopback one (127.0.0.0/8, ::1). */
bool sm_httpd_addr_is_loopback(const struct sockaddr_storage *ss);

/* Listens on listen and serves render's body; NULL with one line in errbuf (a bad address,
 * the port in use, out of memory). arg is render's. */
sm_httpd_t *sm_httpd_new(const char *listen, sm_httpd_render_fn render, void *arg, char *errbuf,
                         size_t errlen);

/* The port listened on (useful with port 0: the kernel's choice). */
uint16_t sm_httpd_port(const sm_httpd_t *d);

/* Whether it listens on a loopback address only. */
bool sm_httpd_loopback(const sm_httpd_t *d);

/* Writes synmatch_http_requests_total (the requests answered before this one, by status)
 * into an exposition: the part of /metrics every endpoint shares. */
struct sm_prom;
void sm_httpd_prom(const sm_httpd_t *d, struct sm_prom *p);

void sm_httpd_stats(const sm_httpd_t *d, struct sm_httpd_stats *out);

/* Stops the thread and closes the socket. NULL-safe. */
void sm_httpd_destroy(sm_httpd_t **d_p);

#endif
