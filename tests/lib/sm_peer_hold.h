/*
 * sm_peer_hold.h - a test sender keeps its ZeroMQ connection until the collector closes it.
 *
 * With libzmq 4.3.4, a PUSH peer that disconnects while the collector's PULL is throttled at
 * its receive HWM loses what libzmq still held for it, and a fixed pause before closing is
 * never long enough for a sanitizer build on a loaded machine (one collector loop turn took
 * 6 s). A collector run with --exit-when-done closes the connection once it has read every
 * sensor's end of stream: that close is the signal.
 *
 *   void *mon = sm_hold_watch(ctx, push);    before zmq_connect
 *   ... send everything ...
 *   if (sm_hold_until_closed(mon, push, 280) != 0) ... the collector never closed
 */
#ifndef SM_PEER_HOLD_H
#define SM_PEER_HOLD_H

#include <stdio.h>
#include <zmq.h>

/* A monitor of SOCK's disconnections (a PAIR socket), or NULL with a message on stderr. */
static inline void *sm_hold_watch(void *ctx, void *sock)
{
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    if (mon == NULL ||
        zmq_socket_monitor(sock, "inproc://sm_peer_hold.mon", ZMQ_EVENT_DISCONNECTED) != 0 ||
        zmq_connect(mon, "inproc://sm_peer_hold.mon") != 0) {
        fprintf(stderr, "socket monitor: %s\n", zmq_strerror(zmq_errno()));
        if (mon != NULL)
            zmq_close(mon);
        return NULL;
    }
    return mon;
}

/* Waits at most SECONDS for the peer to close the connection, then closes MON and sets
 * SOCK's linger to 0 (everything was read, or the wait ran out). 0 if the peer closed, -1
 * if not. */
static inline int sm_hold_until_closed(void *mon, void *sock, long seconds)
{
    zmq_pollitem_t it = {.socket = mon, .events = ZMQ_POLLIN};
    int rc = zmq_poll(&it, 1, seconds * 1000);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(mon);
    return rc == 1 ? 0 : -1;
}

#endif
