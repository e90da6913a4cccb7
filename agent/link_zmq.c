/*
 * link_zmq.c - ZeroMQ PUSH (connect) to one collector (link.h).
 *
 * Socket options: ZMQ_IMMEDIATE 0 so messages queue while the collector is away (the pipe
 * exists from zmq_connect() on); a small ZMQ_SNDHWM, so that most of what an outage holds
 * sits in the sender's own queue where it is accounted for; reconnect every 100 ms backing
 * off to 1 s, so a collector restart costs at most a second of delay; ZMQ_LINGER is set only
 * at the close, to the time left of the agent's bounded drain. ZeroMQ cannot say whether it
 * delivered what it held at the close: a close that used up the whole linger means it still
 * held messages at the deadline.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "clock.h"
#include "link.h"
#include "log.h"

#define SNDHWM 100 /* messages ZeroMQ itself may hold */
#define RECONNECT_IVL_MS 100
#define RECONNECT_IVL_MAX_MS 1000

struct zlink {
    struct sm_link base;
    void *ctx;
    void *sock;
    char endpoint[256];
    bool warned;
};

static int zsend(sm_link_t *l, const uint8_t *buf, size_t len, uint32_t partition, uint64_t seq)
{
    struct zlink *z = (struct zlink *)l;
    (void)partition;
    (void)seq;
    if (zmq_send(z->sock, buf, len, ZMQ_DONTWAIT) != -1)
        return 1;
    if (errno == EAGAIN || errno == EINTR)
        return 0;
    if (!z->warned) {
        z->warned = true;
        sm_log_warnx("collector %s: send failed: %s", z->endpoint, zmq_strerror(errno));
    }
    return -1;
}

static void zwait(sm_link_t *l, int timeout_ms)
{
    struct zlink *z = (struct zlink *)l;
    zmq_pollitem_t it = {.socket = z->sock, .events = ZMQ_POLLOUT};
    zmq_poll(&it, 1, timeout_ms);
}

static void zfree(struct zlink *z, int linger_ms)
{
    if (z->sock != NULL) {
        zmq_setsockopt(z->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        zmq_close(z->sock);
    }
    if (z->ctx != NULL)
        while (zmq_ctx_term(z->ctx) == -1 && errno == EINTR)
            ;
    free(z);
}

static int zclose(sm_link_t *l, int linger_ms)
{
    int64_t t0 = sm_clock_mono_ns();
    zfree((struct zlink *)l, linger_ms);
    return sm_clock_mono_ns() - t0 < (int64_t)linger_ms * SM_NS_PER_MS ? 0 : -1;
}

static uint64_t zfailed(const sm_link_t *l)
{
    (void)l;
    return 0; /* what ZeroMQ took and lost is never known: the collector sees the gap */
}

static const struct sm_link_ops zmq_ops = {zsend, zwait, zclose, zfailed};

sm_link_t *sm_link_zmq_open(const struct sm_link_opts *o, char *errbuf, size_t errlen)
{
    struct zlink *z = calloc(1, sizeof *z);
    if (z == NULL) {
        snprintf(errbuf, errlen, "collector %s: out of memory", o->endpoint);
        return NULL;
    }
    z->base.ops = &zmq_ops;
    z->base.partitions = 1;
    snprintf(z->endpoint, sizeof z->endpoint, "%s", o->endpoint);
    if ((z->ctx = zmq_ctx_new()) == NULL || (z->sock = zmq_socket(z->ctx, ZMQ_PUSH)) == NULL) {
        snprintf(errbuf, errlen, "collector %s: cannot create a socket: %s", o->endpoint,
                 zmq_strerror(errno));
        zfree(z, 0);
        return NULL;
    }
    int hwm = SNDHWM, linger = 0, ivl = RECONNECT_IVL_MS, ivl_max = RECONNECT_IVL_MAX_MS;
    int immediate = 0, ipv6 = 1;
    if (zmq_setsockopt(z->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) == -1 ||
        zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger) == -1 ||
        zmq_setsockopt(z->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) == -1 ||
        zmq_setsockopt(z->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) == -1 ||
        zmq_setsockopt(z->sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate) == -1 ||
        zmq_setsockopt(z->sock, ZMQ_IPV6, &ipv6, sizeof ipv6) == -1) {
        snprintf(errbuf, errlen, "collector %s: cannot set socket options: %s", o->endpoint,
                 zmq_strerror(errno));
        zfree(z, 0);
        return NULL;
    }
    if (o->server_key &&
        (zmq_setsockopt(z->sock, ZMQ_CURVE_SERVERKEY, o->server_key, 41) == -1 ||
         zmq_setsockopt(z->sock, ZMQ_CURVE_PUBLICKEY, o->public_key, 41) == -1 ||
         zmq_setsockopt(z->sock, ZMQ_CURVE_SECRETKEY, o->secret_key, 41) == -1)) {
        snprintf(errbuf, errlen, "collector %s: cannot set CURVE keys: %s", o->endpoint,
                 zmq_strerror(errno));
        zfree(z, 0);
        return NULL;
    }
    if (zmq_connect(z->sock, o->endpoint) == -1) {
        int e = errno;
        snprintf(errbuf, errlen, "collector %s: %s", o->endpoint,
                 e == EINVAL ? "malformed endpoint" : zmq_strerror(e));
        zfree(z, 0);
        return NULL;
    }
    return &z->base;
}
