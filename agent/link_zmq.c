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
 *
 * Over ipc:// the close waits for more. libzmq 4.3.4 (measured, tests/golden/test_agent_file.sh
 * "stalled"): when the sending side of a Unix socket closes while the receiver is not reading
 * (its queue at the high-water mark: a collector busy for a moment), the receiver's I/O thread
 * sees the hang-up, and once its queue has room it ends the connection without reading what
 * the kernel still holds: the last batches, the end of stream with them, are lost. So the link
 * watches its connection's file descriptor (a socket monitor), keeps a duplicate of it across
 * the close (ZeroMQ's close then does not hang up), and lets go only once the collector has
 * read everything (SIOCOUTQ 0), within the linger. Over tcp:// the receiver sees an end of
 * stream, not a hang-up, and reads to the end: nothing to do.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "link.h"
#include "log.h"

#define SNDHWM 100 /* messages ZeroMQ itself may hold */
#define RECONNECT_IVL_MS 100
#define RECONNECT_IVL_MAX_MS 1000
#define OUTQ_POLL_MS 5

struct zlink {
    struct sm_link base;
    void *ctx;
    void *sock;
    void *mon; /* ipc:// only: the socket's connections, to find their descriptor */
    int fd;    /* the connected descriptor (ZeroMQ's, not ours), or -1 */
    char endpoint[256];
    bool warned;
};

/* Takes the monitor's events: the descriptor of the current connection. */
static void watch_fd(struct zlink *z)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, z->mon, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&ev);
            return;
        }
        if (zmq_msg_size(&ev) == 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
            if (event == ZMQ_EVENT_CONNECTED)
                z->fd = (int)value;
            else if (event == ZMQ_EVENT_DISCONNECTED && (int)value == z->fd)
                z->fd = -1;
        }
        bool more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) { /* the event's second frame: the endpoint */
            zmq_msg_init(&addr);
            zmq_msg_recv(&addr, z->mon, ZMQ_DONTWAIT);
            zmq_msg_close(&addr);
        }
    }
}

/* A duplicate of the current connection's descriptor, checked to be a Unix socket connected
 * to our endpoint (not a descriptor closed and reused meanwhile), or -1. */
static int hold_connection(struct zlink *z)
{
    watch_fd(z);
    if (z->fd < 0)
        return -1;
    int fd = dup(z->fd);
    if (fd == -1)
        return -1;
    struct sockaddr_un peer;
    socklen_t len = sizeof peer;
    const char *path = z->endpoint + 6; /* after ipc:// */
    bool ok = getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
              peer.sun_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path);
    if (ok && path[0] == '@') /* abstract: a leading NUL, no terminating one */
        ok = peer.sun_path[0] == '\0' &&
             len - offsetof(struct sockaddr_un, sun_path) - 1 == strlen(path + 1) &&
             memcmp(peer.sun_path + 1, path + 1, strlen(path + 1)) == 0;
    else if (ok)
        ok = strncmp(peer.sun_path, path, sizeof peer.sun_path) == 0;
    if (!ok) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Waits until the peer has read everything sent on fd, at most until deadline (monotonic
 * ns); then closes fd. 0 if everything was read. */
static int release_connection(int fd, int64_t deadline)
{
    int rc = -1;
    for (;;) {
        int outq = 0;
        if (ioctl(fd, SIOCOUTQ, &outq) == -1 || outq == 0) {
            rc = 0; /* read to the end (or the peer closed: nothing more can be read) */
            break;
        }
        if (sm_clock_mono_ns() >= deadline)
            break;
        struct timespec ts = {0, OUTQ_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    close(fd);
    return rc;
}

static int zsend(sm_link_t *l, const uint8_t *buf, size_t len, uint32_t partition, uint64_t seq)
{
    struct zlink *z = (struct zlink *)l;
    (void)partition;
    (void)seq;
    if (z->mon != NULL)
        watch_fd(z); /* keeps the monitor's queue short */
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
    if (z->mon != NULL) {
        int zero = 0;
        zmq_socket_monitor(z->sock, NULL, 0);
        zmq_setsockopt(z->mon, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(z->mon);
    }
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
    struct zlink *z = (struct zlink *)l;
    int64_t deadline = sm_clock_mono_ns() + (int64_t)linger_ms * SM_NS_PER_MS;
    int held = z->mon != NULL ? hold_connection(z) : -1;
    zfree(z, linger_ms);
    int rc = sm_clock_mono_ns() < deadline ? 0 : -1;
    if (held >= 0 && release_connection(held, deadline) == -1)
        rc = -1;
    return rc;
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
    z->fd = -1;
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
    if (strncmp(o->endpoint, "ipc://", 6) == 0) {
        char mon[64];
        snprintf(mon, sizeof mon, "inproc://sm-link-%p", (void *)z);
        if ((z->mon = zmq_socket(z->ctx, ZMQ_PAIR)) == NULL ||
            zmq_socket_monitor(z->sock, mon, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) != 0 ||
            zmq_connect(z->mon, mon) != 0) {
            snprintf(errbuf, errlen, "collector %s: cannot watch the connection: %s",
                     o->endpoint, zmq_strerror(errno));
            zfree(z, 0);
            return NULL;
        }
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
