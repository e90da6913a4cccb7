/*
 * sm_pull_dump.c - a test receiver for agent batches: binds a ZeroMQ PULL socket, decodes and
 * validates every message with sm_wire_decode() (the collector's own validation), and prints
 * one line per batch and one per record, for shell tests to check.
 *
 *   sm_pull_dump ENDPOINT [--eos N] [--timeout-ms N] [--rcvhwm N] [--stall-after N MS]
 *
 * Output (stdout, flushed per message; numbers in decimal):
 *   L ENDPOINT                       once the socket is bound
 *   B SENSOR SEQ WATERMARK NRECORDS EOS key=value...
 *       keys: epoch role recv_ns pcap_received pcap_dropped pcap_ifdropped records_emitted
 *             records_unsent batches_unsent decode_errors unsent_from unsent_to nscope
 *   R TS FAMILY SRC SPORT DST DPORT SEQ ACK FLAGS FRAME STREAM VLAN   one per record
 *       (FLAGS in hex; VLAN is - untagged, OUTER or OUTER.INNER)
 *   S ADDR/PREFIX PORT               the batch's scope, when it differs from the last printed
 *   X REASON LENGTH                  a message the validation rejected
 * --rcvhwm sets ZeroMQ's receive high-water mark (default 1000); --stall-after N MS stops
 * reading for MS ms after N messages, once (a collector busy while an agent ends).
 * Exits 0 after N end_of_stream batches (default 1), 3 when --timeout-ms passes first (default
 * 60000), 2 on a usage or socket error.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "addr.h"
#include "synmatch/wire.h"

static int64_t now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct sm_wire_header last_scope_hdr;
static bool scope_printed;

static bool same_scope(const struct sm_wire_header *a, const struct sm_wire_header *b)
{
    if (a->nscope != b->nscope)
        return false;
    for (size_t i = 0; i < a->nscope; i++)
        if (!sm_addr_eq(&a->scope[i].addr, &b->scope[i].addr) ||
            a->scope[i].prefix_len != b->scope[i].prefix_len ||
            a->scope[i].port != b->scope[i].port)
            return false;
    return true;
}

static void print_batch(const struct sm_wire_header *h, const struct sm_record *r, size_t n)
{
    printf("B %s %" PRIu64 " %" PRId64 " %zu %d epoch=%" PRIu64 " role=%s recv_ns=%" PRId64
           " pcap_received=%" PRIu64 " pcap_dropped=%" PRIu64 " pcap_ifdropped=%" PRIu64
           " records_emitted=%" PRIu64 " records_unsent=%" PRIu64 " batches_unsent=%" PRIu64
           " decode_errors=%" PRIu64 " unsent_from=%" PRId64 " unsent_to=%" PRId64
           " nscope=%zu\n",
           h->sensor_id, h->seq, h->watermark_ns, n, h->end_of_stream ? 1 : 0, h->boot_epoch,
           h->role == SM_ROLE_SERVER ? "server" : "client", now_ns(CLOCK_REALTIME),
           h->counters.pcap_received, h->counters.pcap_dropped, h->counters.pcap_ifdropped,
           h->counters.records_emitted, h->counters.records_unsent, h->counters.batches_unsent,
           h->counters.decode_errors, h->unsent_from_ns, h->unsent_to_ns, h->nscope);
    for (size_t i = 0; i < n; i++) {
        char src[SM_ADDR_STRLEN], dst[SM_ADDR_STRLEN];
        char vlan[16] = "-";
        if (r[i].nvlan == 1)
            snprintf(vlan, sizeof vlan, "%u", r[i].vlan[0]);
        else if (r[i].nvlan >= 2)
            snprintf(vlan, sizeof vlan, "%u.%u", r[i].vlan[0], r[i].vlan[1]);
        printf("R %" PRId64 " %d %s %u %s %u %" PRIu32 " %" PRIu32 " 0x%03x %" PRIu64 " %" PRId64
               " %s\n",
               r[i].ts_ns, r[i].tuple.src.family, sm_addr_format(&r[i].tuple.src, src, sizeof src),
               r[i].tuple.sport, sm_addr_format(&r[i].tuple.dst, dst, sizeof dst),
               r[i].tuple.dport, r[i].seq, r[i].ack, r[i].flags, r[i].frame, r[i].stream, vlan);
    }
    if (!scope_printed || !same_scope(h, &last_scope_hdr)) {
        for (size_t i = 0; i < h->nscope; i++) {
            char a[SM_ADDR_STRLEN];
            printf("S %s/%u %u\n", sm_addr_format(&h->scope[i].addr, a, sizeof a),
                   h->scope[i].prefix_len, h->scope[i].port);
        }
        last_scope_hdr.nscope = h->nscope;
        memcpy(last_scope_hdr.scope, h->scope, h->nscope * sizeof h->scope[0]);
        scope_printed = true;
    }
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sm_pull_dump ENDPOINT [--eos N] [--timeout-ms N] [--rcvhwm N] "
                        "[--stall-after N MS]\n");
        return 2;
    }
    const char *endpoint = argv[1];
    long want_eos = 1, timeout_ms = 60000, rcvhwm = 1000, stall_after = -1, stall_ms = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rcvhwm") == 0) {
            rcvhwm = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--stall-after") == 0 && i + 2 < argc) {
            stall_after = strtol(argv[i + 1], NULL, 10);
            stall_ms = strtol(argv[i + 2], NULL, 10);
            i++;
        } else if (strcmp(argv[i], "--eos") == 0)
            want_eos = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout_ms = strtol(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "sm_pull_dump: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_PULL);
    int64_t maxsize = SM_WIRE_MAX_MESSAGE;
    int linger = 0, ipv6 = 1, hwm = (int)rcvhwm;
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_IPV6, &ipv6, sizeof ipv6);
    if (zmq_bind(sock, endpoint) == -1) {
        fprintf(stderr, "sm_pull_dump: bind %s: %s\n", endpoint, zmq_strerror(errno));
        zmq_close(sock);
        zmq_ctx_term(ctx);
        return 2;
    }
    /* Live agents drop to nobody after start-up: like the collector, make the socket
     * connectable (the test's directory decides who can reach it). */
    if (strncmp(endpoint, "ipc://", 6) == 0)
        chmod(endpoint + 6, 0666);
    printf("L %s\n", endpoint);
    fflush(stdout);

    int64_t deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000000;
    long eos = 0, got = 0;
    int rc = 3;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (!stop && now_ns(CLOCK_MONOTONIC) < deadline) {
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) == -1)
            continue;
        if (++got == stall_after) {
            struct timespec ts = {stall_ms / 1000, stall_ms % 1000 * 1000000};
            nanosleep(&ts, NULL);
        }
        struct sm_wire_header h;
        struct sm_record *recs;
        size_t n;
        enum sm_wire_reject why = sm_wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &h,
                                                 &recs, &n);
        if (why != SM_WIRE_OK) {
            printf("X %s %zu\n", sm_wire_reject_name(why), zmq_msg_size(&msg));
        } else {
            print_batch(&h, recs, n);
            free(recs);
            if (h.end_of_stream)
                eos++;
        }
        fflush(stdout);
        if (eos >= want_eos) {
            rc = 0;
            break;
        }
    }
    zmq_msg_close(&msg);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    if (rc != 0)
        fprintf(stderr, "sm_pull_dump: %ld of %ld end_of_stream batches before the end\n", eos,
                want_eos);
    return rc;
}
