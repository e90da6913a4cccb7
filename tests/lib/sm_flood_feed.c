/*
 * sm_flood_feed.c - a test peer playing two agents during a SYN flood: a server sensor whose
 * capture sees N SYNs from N distinct spoofed IPv6 sources (2001:db8:f::/48, one address per
 * SYN) and a client sensor that sees none of them (heartbeats only), sent to a collector's
 * PULL endpoint as batches with watermarks on event time, then end of stream.
 *
 *   sm_flood_feed [--syns N] [--rate R] [--ports P] ENDPOINT
 *
 * The SYNs go to 2001:db8:10::10 at R a second of event time (default 2^20 at 100,000/s):
 * half to port 443, the other half spread over P ports (default 4096) from 10000 on, so
 * that the collector's service table meets its bound. The server sensor announces
 * 2001:db8:10::10/128. Prints "syns N ports P first_ns F" on stdout. Only 2001:db8::/32 is
 * used.
 *
 * It then keeps the connection until the collector closes it (a collector run with
 * --exit-when-done does once it has read the end of stream), at most --hold S seconds
 * (default 280; exit 3 past it): why, in sm_peer_hold.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "sm_peer_hold.h"
#include "synmatch/wire.h"

#define T_BASE INT64_C(1800000000000000000)
#define BATCH 4096

static uint64_t mix(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static void send_batch(void *push, struct sm_wire_header *h, const struct sm_record *r, size_t n)
{
    size_t len;
    uint8_t *buf = sm_wire_encode(h, r, n, false, &len);
    if (buf == NULL) {
        fprintf(stderr, "sm_flood_feed: out of memory\n");
        exit(1);
    }
    if (zmq_send(push, buf, len, 0) != (int)len) {
        fprintf(stderr, "sm_flood_feed: send: %s\n", zmq_strerror(zmq_errno()));
        exit(1);
    }
    free(buf);
    h->seq++;
}

int main(int argc, char **argv)
{
    uint64_t syns = UINT64_C(1) << 20, ports = 4096;
    double rate = 100000;
    long hold_s = 280;
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--syns") == 0)
            syns = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--rate") == 0)
            rate = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--ports") == 0)
            ports = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--hold") == 0)
            hold_s = strtol(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (i + 1 != argc || rate <= 0 || ports == 0 || syns == 0 || syns > (UINT64_C(1) << 32) ||
        hold_s <= 0) {
        fprintf(stderr,
                "usage: sm_flood_feed [--syns N] [--rate R] [--ports P] [--hold S] ENDPOINT\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    /* every batch delivered, however slow the collector (a sanitizer build on a loaded
     * machine took longer than a 5 s linger, and the end of stream was dropped): the test
     * bounds the wait */
    int hwm = 1000, linger = -1;
    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    void *mon = sm_hold_watch(ctx, push);
    if (mon == NULL)
        return 1;
    if (zmq_connect(push, argv[i]) != 0) {
        fprintf(stderr, "sm_flood_feed: %s: %s\n", argv[i], zmq_strerror(zmq_errno()));
        return 1;
    }
    struct sm_wire_header srv, cli;
    memset(&srv, 0, sizeof srv);
    memset(&cli, 0, sizeof cli);
    snprintf(srv.sensor_id, sizeof srv.sensor_id, "flood-server");
    snprintf(cli.sensor_id, sizeof cli.sensor_id, "flood-client");
    srv.role = SM_ROLE_SERVER;
    cli.role = SM_ROLE_CLIENT;
    srv.boot_epoch = cli.boot_epoch = (uint64_t)T_BASE;
    srv.capture_start_ns = cli.capture_start_ns = T_BASE;
    struct sm_addr server = {.family = SM_AF_INET6,
                             .bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                       0x10}};
    srv.nscope = 1;
    srv.scope[0].addr = server;
    srv.scope[0].prefix_len = 128;
    /* heartbeats at the base, then the flood from 2 s on */
    srv.watermark_ns = cli.watermark_ns = T_BASE;
    send_batch(push, &cli, NULL, 0);
    send_batch(push, &srv, NULL, 0);
    static struct sm_record recs[BATCH];
    int64_t step = (int64_t)(1e9 / rate), t0 = T_BASE + INT64_C(2000000000), t = t0;
    uint64_t emitted = 0;
    for (uint64_t k = 0; k < syns;) {
        size_t n = 0;
        for (; n < BATCH && k < syns; n++, k++) {
            struct sm_record *r = &recs[n];
            memset(r, 0, sizeof *r);
            uint64_t x = mix(k);
            r->ts_ns = t;
            t += step;
            r->tuple.src.family = SM_AF_INET6;
            static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0f};
            memcpy(r->tuple.src.bytes, pfx, sizeof pfx);
            for (int b = 0; b < 8; b++) /* one address per SYN: k in the low 64 bits */
                r->tuple.src.bytes[8 + b] = (uint8_t)(k >> (56 - 8 * b));
            r->tuple.dst = server;
            r->tuple.sport = (uint16_t)(1024 + x % 60000);
            r->tuple.dport = k % 2 == 0 ? 443 : (uint16_t)(10000 + (x >> 20) % ports);
            r->seq = (uint32_t)(x >> 32);
            r->flags = SM_TH_SYN;
            r->window = 1024;
            r->ttl = 64;
            r->stream = SM_STREAM_NONE;
        }
        emitted += n;
        srv.watermark_ns = cli.watermark_ns = t - step;
        srv.counters.records_emitted = emitted;
        srv.counters.pcap_received = emitted;
        send_batch(push, &srv, recs, n);
        send_batch(push, &cli, NULL, 0);
    }
    srv.watermark_ns = cli.watermark_ns = t + INT64_C(10000000000);
    srv.end_of_stream = cli.end_of_stream = true;
    send_batch(push, &srv, NULL, 0);
    send_batch(push, &cli, NULL, 0);
    printf("syns %" PRIu64 " ports %" PRIu64 " first_ns %" PRId64 "\n", syns, ports, t0);
    fflush(stdout);
    int rc = sm_hold_until_closed(mon, push, hold_s);
    zmq_close(push);
    zmq_ctx_term(ctx);
    if (rc != 0) {
        fprintf(stderr, "sm_flood_feed: the collector kept the connection open for %ld s\n",
                hold_s);
        return 3;
    }
    return 0;
}
