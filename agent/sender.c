/*
 * sender.c - ZeroMQ PUSH (connect) with a bounded drop-oldest queue in front of it.
 *
 * Why a queue of our own when ZeroMQ queues too: ZeroMQ's buffer (ZMQ_SNDHWM) can only refuse
 * the NEWEST message when it is full, and it cannot tell us what it threw away at close. Our
 * queue drops the OLDEST batch, which is what a live feed wants (the collector cares most
 * about what is recent), and every drop is counted with its records and capture times so the
 * agent can declare it. ZeroMQ's buffer is kept small so that most of what an outage holds
 * sits here, where it is accounted for.
 *
 * Socket options: ZMQ_IMMEDIATE 0 so messages queue while the collector is away (the pipe
 * exists from zmq_connect() on); reconnect every 100 ms backing off to 1 s, so a collector
 * restart costs at most a second of delay; ZMQ_LINGER is set only at the end, to the time
 * left of the agent's bounded drain.
 */
#include "sender.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"

#define RECONNECT_IVL_MS 100
#define RECONNECT_IVL_MAX_MS 1000

struct queued {
    uint8_t *buf;
    size_t len;
    struct sm_sender_batch meta;
};

struct sm_sender {
    void *ctx;
    void *sock;
    char *endpoint;
    /* ring of queue_max entries: head is the oldest */
    struct queued *q;
    size_t qmax, head, count;
    struct sm_sender_stats st;
    bool unsent_pending;
    int64_t unsent_from, unsent_to;
    bool warned;
};

static int64_t mono_ms(void)
{
    return sm_clock_mono_ns() / SM_NS_PER_MS;
}

static bool endpoint_transport_ok(const char *ep)
{
    return strncmp(ep, "tcp://", 6) == 0 || strncmp(ep, "ipc://", 6) == 0;
}

sm_sender_t *sm_sender_new(const struct sm_sender_opts *o, char *errbuf, size_t errlen)
{
    if (!endpoint_transport_ok(o->endpoint)) {
        snprintf(errbuf, errlen, "collector %s: not a tcp:// or ipc:// endpoint", o->endpoint);
        return NULL;
    }
    sm_sender_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        goto nomem;
    s->qmax = o->queue_max ? o->queue_max : SM_SENDER_DEFAULT_QUEUE;
    s->q = calloc(s->qmax, sizeof *s->q);
    s->endpoint = strdup(o->endpoint);
    s->ctx = zmq_ctx_new();
    if (s->q == NULL || s->endpoint == NULL || s->ctx == NULL)
        goto nomem;
    s->sock = zmq_socket(s->ctx, ZMQ_PUSH);
    if (s->sock == NULL) {
        snprintf(errbuf, errlen, "collector %s: cannot create a socket: %s", o->endpoint,
                 zmq_strerror(errno));
        sm_sender_destroy(&s);
        return NULL;
    }
    int hwm = SM_SENDER_HWM, linger = 0, ivl = RECONNECT_IVL_MS, ivl_max = RECONNECT_IVL_MAX_MS;
    int immediate = 0, ipv6 = 1;
    if (zmq_setsockopt(s->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) == -1 ||
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger) == -1 ||
        zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) == -1 ||
        zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) == -1 ||
        zmq_setsockopt(s->sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate) == -1 ||
        zmq_setsockopt(s->sock, ZMQ_IPV6, &ipv6, sizeof ipv6) == -1) {
        snprintf(errbuf, errlen, "collector %s: cannot set socket options: %s", o->endpoint,
                 zmq_strerror(errno));
        sm_sender_destroy(&s);
        return NULL;
    }
    if (o->server_key &&
        (zmq_setsockopt(s->sock, ZMQ_CURVE_SERVERKEY, o->server_key, 41) == -1 ||
         zmq_setsockopt(s->sock, ZMQ_CURVE_PUBLICKEY, o->public_key, 41) == -1 ||
         zmq_setsockopt(s->sock, ZMQ_CURVE_SECRETKEY, o->secret_key, 41) == -1)) {
        snprintf(errbuf, errlen, "collector %s: cannot set CURVE keys: %s", o->endpoint,
                 zmq_strerror(errno));
        sm_sender_destroy(&s);
        return NULL;
    }
    if (zmq_connect(s->sock, o->endpoint) == -1) {
        int e = errno;
        snprintf(errbuf, errlen, "collector %s: %s", o->endpoint,
                 e == EINVAL ? "malformed endpoint" : zmq_strerror(e));
        sm_sender_destroy(&s);
        return NULL;
    }
    return s;
nomem:
    snprintf(errbuf, errlen, "collector %s: out of memory", o->endpoint);
    sm_sender_destroy(&s);
    return NULL;
}

static void free_queue(sm_sender_t *s)
{
    while (s->count > 0) {
        free(s->q[s->head].buf);
        s->q[s->head].buf = NULL;
        s->head = (s->head + 1) % s->qmax;
        s->count--;
    }
}

static void close_socket(sm_sender_t *s, int linger_ms)
{
    if (s->sock != NULL) {
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        zmq_close(s->sock);
        s->sock = NULL;
    }
    if (s->ctx != NULL) {
        while (zmq_ctx_term(s->ctx) == -1 && errno == EINTR)
            ;
        s->ctx = NULL;
    }
}

void sm_sender_destroy(sm_sender_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_sender_t *s = *self_p;
    close_socket(s, 0);
    if (s->q != NULL)
        free_queue(s);
    free(s->q);
    free(s->endpoint);
    free(s);
    *self_p = NULL;
}

static void widen_span(sm_sender_t *s, int64_t from, int64_t to)
{
    if (!s->unsent_pending) {
        s->unsent_pending = true;
        s->unsent_from = from;
        s->unsent_to = to;
        return;
    }
    if (from < s->unsent_from)
        s->unsent_from = from;
    if (to > s->unsent_to)
        s->unsent_to = to;
}

/* Counts a batch that will never be sent; its records, and any span it was carrying, go to
 * the span the next batch declares. */
static void count_unsent(sm_sender_t *s, const struct sm_sender_batch *b)
{
    s->st.batches_unsent++;
    s->st.records_unsent += b->nrecs;
    if (b->nrecs > 0)
        widen_span(s, b->min_ts, b->max_ts);
    if (b->declares)
        widen_span(s, b->unsent_from, b->unsent_to);
}

void sm_sender_discard(sm_sender_t *s, const struct sm_sender_batch *b)
{
    count_unsent(s, b);
}

static void drop_oldest(sm_sender_t *s)
{
    assert(s->count > 0);
    struct queued *e = &s->q[s->head];
    count_unsent(s, &e->meta);
    free(e->buf);
    e->buf = NULL;
    s->head = (s->head + 1) % s->qmax;
    s->count--;
}

/* 1 sent, 0 would block (or interrupted: try again later), -1 error. */
static int try_send(sm_sender_t *s, const struct queued *e)
{
    if (s->sock == NULL)
        return -1;
    if (zmq_send(s->sock, e->buf, e->len, ZMQ_DONTWAIT) != -1) {
        s->st.batches_sent++;
        s->st.records_sent += e->meta.nrecs;
        return 1;
    }
    if (errno == EAGAIN || errno == EINTR)
        return 0;
    if (!s->warned) {
        s->warned = true;
        sm_log_warnx("collector %s: send failed: %s", s->endpoint, zmq_strerror(errno));
    }
    return -1;
}

int sm_sender_pump(sm_sender_t *s)
{
    while (s->count > 0) {
        struct queued *e = &s->q[s->head];
        int rc = try_send(s, e);
        if (rc <= 0)
            return rc;
        free(e->buf);
        e->buf = NULL;
        s->head = (s->head + 1) % s->qmax;
        s->count--;
    }
    return 0;
}

void sm_sender_make_room(sm_sender_t *s)
{
    sm_sender_pump(s);
    if (s->count == s->qmax)
        drop_oldest(s);
}

bool sm_sender_take_unsent(sm_sender_t *s, int64_t *from_ns, int64_t *to_ns)
{
    if (!s->unsent_pending)
        return false;
    *from_ns = s->unsent_from;
    *to_ns = s->unsent_to;
    s->unsent_pending = false;
    return true;
}

void sm_sender_push(sm_sender_t *s, uint8_t **buf_p, size_t len, const struct sm_sender_batch *b)
{
    struct queued e = {*buf_p, len, *b};
    *buf_p = NULL;
    if (s->count == 0 && try_send(s, &e) == 1) {
        free(e.buf);
        return;
    }
    if (s->count == s->qmax)
        drop_oldest(s);
    s->q[(s->head + s->count) % s->qmax] = e;
    s->count++;
}

int sm_sender_finish(sm_sender_t *s, unsigned timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    int64_t left = timeout_ms;
    while (sm_sender_pump(s) == 0 && s->count > 0 && (left = deadline - mono_ms()) > 0) {
        zmq_pollitem_t it = {.socket = s->sock, .events = ZMQ_POLLOUT};
        zmq_poll(&it, 1, left < 50 ? (long)left : 50);
    }
    left = deadline - mono_ms();
    if (left < 0)
        left = 0;
    size_t stuck = s->count;
    while (s->count > 0)
        drop_oldest(s);
    s->unsent_pending = false; /* nothing follows that could declare it */

    /* ZeroMQ gets the time left to deliver what it holds; it cannot say whether it did, but a
     * close that used up the whole linger means it still held messages at the deadline. */
    int64_t t0 = mono_ms();
    close_socket(s, (int)left);
    bool zmq_drained = mono_ms() - t0 < left;
    if (stuck > 0)
        sm_log_warnx("collector %s: not reachable; %zu queued batches were not sent", s->endpoint,
                     stuck);
    else if (!zmq_drained)
        sm_log_warnx("collector %s: not reachable; the last batches may not have been delivered",
                     s->endpoint);
    return stuck == 0 && zmq_drained ? 0 : -1;
}

void sm_sender_stats(const sm_sender_t *s, struct sm_sender_stats *out)
{
    *out = s->st;
    out->queued = s->count;
}
