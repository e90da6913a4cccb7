/*
 * test_zap_failclosed.c - proves on this libzmq build what the collector relies on, for its
 * records socket (PULL) and its alerts socket (PUB) alike: a CURVE server with
 * ZMQ_ZAP_ENFORCE_DOMAIN (option 93, draft in Debian's zmq.h) accepts nothing
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

/* One ZAP handler for the whole test, bound once: rebinding inproc://zeromq.zap.01 right
 * after closing the previous handler races with libzmq's reaper. Its answer is changeable. */
static struct {
    void *sock;
    const char *volatile status;
    volatile bool stop;
} zap;

static void *zap_main(void *arg)
{
    (void)arg;
    while (!zap.stop) {
        zmq_pollitem_t it = {zap.sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        char reqid[64] = "";
        int n = 0, more = 1, rlen = 0;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            zmq_msg_recv(&m, zap.sock, 0);
            if (n == 1) {
                rlen = (int)(zmq_msg_size(&m) < sizeof reqid ? zmq_msg_size(&m) : 0);
                memcpy(reqid, zmq_msg_data(&m), (size_t)rlen);
            }
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
            n++;
        }
        zmq_send(zap.sock, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(zap.sock, reqid, (size_t)rlen, ZMQ_SNDMORE);
        zmq_send(zap.sock, zap.status, 3, ZMQ_SNDMORE);
        zmq_send(zap.sock, "", 0, ZMQ_SNDMORE);
        zmq_send(zap.sock, "sensor", 6, ZMQ_SNDMORE);
        zmq_send(zap.sock, "", 0, 0);
    }
    return NULL;
}

/* Sets up a CURVE PULL server (enforcing or not), a client that sends one message; returns
 * whether the server received it within wait_ms. The handler, if bound, answers zap.status. */
static bool delivered(bool enforce, int wait_ms)
{
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
    CHECK(zmq_connect(cli, ep) == 0);
    CHECK(zmq_send(cli, "batch", 5, 0) == 5);
    char buf[16];
    bool got = zmq_recv(srv, buf, sizeof buf, 0) == 5;
    zmq_close(cli);
    zmq_close(srv);
    return got;
}

/* The same for the alerts socket: a CURVE PUB server publishing every 20 ms for wait_ms, and
 * a SUB client; whether the client received a line. */
static bool published(bool enforce, int wait_ms)
{
    void *srv = zmq_socket(ctx, ZMQ_PUB);
    int one = 1, linger = 0;
    zmq_setsockopt(srv, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(srv, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(srv, ZMQ_CURVE_SECRETKEY, server_sec, 41);
    zmq_setsockopt(srv, ZMQ_ZAP_DOMAIN, "synmatch-alerts", 15);
    if (enforce)
        CHECK(zmq_setsockopt(srv, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) == 0);
    CHECK(zmq_bind(srv, "tcp://127.0.0.1:*") == 0);
    char ep[256];
    size_t eplen = sizeof ep;
    zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &eplen);

    void *cli = zmq_socket(ctx, ZMQ_SUB);
    zmq_setsockopt(cli, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(cli, ZMQ_SUBSCRIBE, "", 0);
    zmq_setsockopt(cli, ZMQ_CURVE_SERVERKEY, server_pub, 41);
    zmq_setsockopt(cli, ZMQ_CURVE_PUBLICKEY, client_pub, 41);
    zmq_setsockopt(cli, ZMQ_CURVE_SECRETKEY, client_sec, 41);
    CHECK(zmq_connect(cli, ep) == 0);
    bool got = false;
    for (int t = 0; t < wait_ms && !got; t += 20) {
        zmq_send(srv, "line", 4, ZMQ_DONTWAIT);
        zmq_pollitem_t it = {cli, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 20) == 1) {
            char buf[16];
            got = zmq_recv(cli, buf, sizeof buf, ZMQ_DONTWAIT) == 4;
        }
    }
    zmq_close(cli);
    zmq_close(srv);
    return got;
}

int main(void)
{
    ctx = zmq_ctx_new();
    CHECK(zmq_curve_keypair(server_pub, server_sec) == 0);
    CHECK(zmq_curve_keypair(client_pub, client_sec) == 0);
    /* A refused handshake never delivers; an accepted one may be slow on a loaded machine. */
    CHECK(delivered(false, 10000)); /* not enforced, no handler: libzmq lets it in */
    CHECK(!delivered(true, 1500));  /* enforced, no handler: closed */
    CHECK(published(false, 10000)); /* the alerts socket alike */
    CHECK(!published(true, 1500));

    zap.sock = zmq_socket(ctx, ZMQ_REP);
    CHECK(zmq_bind(zap.sock, "inproc://zeromq.zap.01") == 0);
    pthread_t th;
    zap.status = "500";
    CHECK(pthread_create(&th, NULL, zap_main, NULL) == 0);
    CHECK(!delivered(true, 1500)); /* enforced, handler failing: closed */
    CHECK(!published(true, 1500));
    zap.status = "400";
    CHECK(!delivered(true, 1500)); /* enforced, handler refusing: closed */
    CHECK(!published(true, 1500));
    zap.status = "200";
    CHECK(delivered(true, 10000)); /* enforced, handler allowing: open (the control) */
    CHECK(published(true, 10000));
    zap.stop = true;
    pthread_join(th, NULL);
    zmq_close(zap.sock);
    zmq_ctx_term(ctx);
    return check_done();
}
