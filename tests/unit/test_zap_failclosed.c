/*
 * test_zap_failclosed.c - proves on this libzmq build what the collector relies on: a CURVE
 * server with ZMQ_ZAP_ENFORCE_DOMAIN (option 93, draft in Debian's zmq.h) accepts nothing
 * when no ZAP handler is bound or the handler fails, and accepts with a handler that says
 * 200. Without option 93, libzmq lets clients in when no handler is bound: the option is what
 * makes the collector fail closed.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <zmq.h>

#include "check.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

static void *ctx;
static char server_pub[41], server_sec[41], client_pub[41], client_sec[41];

struct zap {
    void *sock;
    const char *status;
    volatile bool stop;
};

static void *zap_main(void *arg)
{
    struct zap *z = arg;
    while (!z->stop) {
        zmq_pollitem_t it = {z->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        char reqid[64] = "";
        int n = 0, more = 1, rlen = 0;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            zmq_msg_recv(&m, z->sock, 0);
            if (n == 1) {
                rlen = (int)(zmq_msg_size(&m) < sizeof reqid ? zmq_msg_size(&m) : 0);
                memcpy(reqid, zmq_msg_data(&m), (size_t)rlen);
            }
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
            n++;
        }
        zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(z->sock, reqid, (size_t)rlen, ZMQ_SNDMORE);
        zmq_send(z->sock, z->status, 3, ZMQ_SNDMORE);
        zmq_send(z->sock, "", 0, ZMQ_SNDMORE);
        zmq_send(z->sock, "sensor", 6, ZMQ_SNDMORE);
        zmq_send(z->sock, "", 0, 0);
    }
    return NULL;
}

/* Sets up a CURVE PULL server (enforcing or not), a client that sends one message; returns
 * whether the server received it within wait_ms. zap_status NULL = no handler bound. */
static bool delivered(bool enforce, const char *zap_status, int wait_ms)
{
    struct zap z = {0};
    pthread_t th;
    if (zap_status) {
        z.sock = zmq_socket(ctx, ZMQ_REP);
        z.status = zap_status;
        zmq_bind(z.sock, "inproc://zeromq.zap.01");
        pthread_create(&th, NULL, zap_main, &z);
    }
    void *srv = zmq_socket(ctx, ZMQ_PULL);
    int one = 1, linger = 0, timeout = wait_ms;
    zmq_setsockopt(srv, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(srv, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(srv, ZMQ_CURVE_SECRETKEY, server_sec, 41);
    zmq_setsockopt(srv, ZMQ_ZAP_DOMAIN, "synmatch", 8);
    if (enforce)
        CHECK(zmq_setsockopt(srv, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) == 0);
    zmq_setsockopt(srv, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    CHECK(zmq_bind(srv, "tcp://127.0.0.1:*") == 0);
    char ep[256];
    size_t eplen = sizeof ep;
    zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &eplen);

    void *cli = zmq_socket(ctx, ZMQ_PUSH);
    zmq_setsockopt(cli, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(cli, ZMQ_CURVE_SERVERKEY, server_pub, 41);
    zmq_setsockopt(cli, ZMQ_CURVE_PUBLICKEY, client_pub, 41);
    zmq_setsockopt(cli, ZMQ_CURVE_SECRETKEY, client_sec, 41);
    zmq_connect(cli, ep);
    zmq_send(cli, "batch", 5, ZMQ_DONTWAIT);
    char buf[16];
    bool got = zmq_recv(srv, buf, sizeof buf, 0) == 5;
    zmq_close(cli);
    zmq_close(srv);
    if (zap_status) {
        z.stop = true;
        pthread_join(th, NULL);
        zmq_close(z.sock);
    }
    return got;
}

int main(void)
{
    ctx = zmq_ctx_new();
    CHECK(zmq_curve_keypair(server_pub, server_sec) == 0);
    CHECK(zmq_curve_keypair(client_pub, client_sec) == 0);
    /* A refused handshake never delivers; an accepted one may be slow on a loaded machine. */
    CHECK(!delivered(true, NULL, 1500));  /* enforced, no handler: closed */
    CHECK(!delivered(true, "500", 1500)); /* enforced, handler failing: closed */
    CHECK(!delivered(true, "400", 1500)); /* enforced, handler refusing: closed */
    CHECK(delivered(true, "200", 10000)); /* enforced, handler allowing: open (the control) */
    CHECK(delivered(false, NULL, 10000)); /* not enforced, no handler: libzmq lets it in */
    zmq_ctx_term(ctx);
    return check_done();
}
