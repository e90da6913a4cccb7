/*
 * sm_shuffle_send.c - a hostile-but-honest sender for tests: turns a client and a server
 * capture into the batches two agents would send (small batches, real envelopes), then sends
 * them to a collector out of order (shuffled within a window), with duplicates and random
 * delays, interleaving the two sensors. The collector must reach the same verdicts as in order.
 *
 *   sm_shuffle_send [--seed N] [--window N] [--dup PCT] [--batch N] [--delay-us N]
 *                   CLIENT.pcap SERVER.pcap ENDPOINT SERVER_IP...
 *
 * It stays connected until the collector (run with --exit-when-done) closes the connection,
 * at most 120 s (exit 4 past it).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "addr.h"
#include "sm_peer_hold.h"
#include "synmatch/filesrc.h"
#include "synmatch/wire.h"

struct msg {
    uint8_t *buf;
    size_t len;
};

struct side {
    struct sm_wire_header h;
    size_t batch;
    struct sm_record *pend;
    size_t npend;
    struct msg *msgs;
    size_t nmsgs, cap;
    uint64_t emitted;
};

static void push_msg(struct side *sd, uint8_t *buf, size_t len)
{
    if (sd->nmsgs == sd->cap) {
        sd->cap = sd->cap ? sd->cap * 2 : 64;
        sd->msgs = realloc(sd->msgs, sd->cap * sizeof *sd->msgs);
        if (sd->msgs == NULL)
            exit(9);
    }
    sd->msgs[sd->nmsgs].buf = buf;
    sd->msgs[sd->nmsgs].len = len;
    sd->nmsgs++;
}

static void flush(struct side *sd, int64_t wm, bool eos)
{
    sd->h.watermark_ns = wm;
    sd->h.end_of_stream = eos;
    sd->emitted += sd->npend;
    sd->h.counters.records_emitted = sd->emitted;
    size_t len;
    uint8_t *buf = sm_wire_encode(&sd->h, sd->pend, sd->npend, true, &len);
    if (buf == NULL)
        exit(9);
    push_msg(sd, buf, len);
    sd->h.seq++;
    sd->npend = 0;
}

static int on_batch(void *arg, const struct sm_batch *b)
{
    struct side *sd = arg;
    if (b->have_first && sd->h.capture_start_ns == 0)
        sd->h.capture_start_ns = b->first_ns;
    for (size_t i = 0; i < b->n; i++) {
        sd->pend[sd->npend++] = b->recs[i];
        if (sd->npend == sd->batch)
            flush(sd, b->recs[i].ts_ns, false);
    }
    if (b->eof)
        flush(sd, b->wm, true);
    else if (sd->npend > 0 || b->n == 0)
        flush(sd, b->wm, false);
    return 0;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    unsigned window = 16, dup = 10, batch = 8, delay_us = 200;
    static const struct option opts[] = {
        {"seed", required_argument, NULL, 's'},   {"window", required_argument, NULL, 'w'},
        {"dup", required_argument, NULL, 'd'},    {"batch", required_argument, NULL, 'b'},
        {"delay-us", required_argument, NULL, 'u'}, {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        unsigned long v = strtoul(optarg, NULL, 10);
        switch (ch) {
        case 's':
            rng = v * 2654435761u + 1;
            break;
        case 'w':
            window = (unsigned)v;
            break;
        case 'd':
            dup = (unsigned)v;
            break;
        case 'b':
            batch = (unsigned)v;
            break;
        case 'u':
            delay_us = (unsigned)v;
            break;
        default:
            return 2;
        }
    }
    if (argc - optind < 4 || window == 0 || batch == 0) {
        fprintf(stderr, "usage: sm_shuffle_send [opts] CLIENT SERVER ENDPOINT SERVER_IP...\n");
        return 2;
    }
    const char *endpoint = argv[optind + 2];
    struct side sides[2];
    memset(sides, 0, sizeof sides);
    const char *ids[2] = {"client", "server"};
    for (int k = 0; k < 2; k++) {
        struct side *sd = &sides[k];
        sd->batch = batch;
        sd->pend = calloc(batch + 4096, sizeof *sd->pend);
        if (sd->pend == NULL)
            return 9;
        strcpy(sd->h.sensor_id, ids[k]);
        sd->h.role = k ? SM_ROLE_SERVER : SM_ROLE_CLIENT;
        sd->h.boot_epoch = 1000 + (uint64_t)k;
    }
    for (int i = optind + 3; i < argc && sides[1].h.nscope < SM_WIRE_MAX_SCOPE; i++) {
        struct sm_scope_entry *e = &sides[1].h.scope[sides[1].h.nscope];
        if (sm_addr_parse(argv[i], &e->addr) == -1)
            return 2;
        e->prefix_len = e->addr.family == SM_AF_INET ? 32 : 128;
        sides[1].h.nscope++;
    }
    for (int k = 0; k < 2; k++) {
        struct sm_filesrc_summary sum;
        struct sm_filesrc_opts fo = {.batch_records = 64};
        if (sm_filesrc_run(argv[optind + k], &fo, on_batch, &sides[k], &sum) == -1) {
            fprintf(stderr, "%s\n", sum.errmsg);
            return 3;
        }
        sm_filesrc_summary_free(&sum);
    }

    /* Interleave the two sensors' batches in send order, then shuffle within windows. */
    size_t total = sides[0].nmsgs + sides[1].nmsgs, n = 0, i0 = 0, i1 = 0;
    struct msg *order = calloc(total + 1, sizeof *order);
    if (order == NULL)
        return 9;
    while (i0 < sides[0].nmsgs || i1 < sides[1].nmsgs) {
        bool take0 = i1 >= sides[1].nmsgs || (i0 < sides[0].nmsgs && (next_rand() & 1));
        order[n++] = take0 ? sides[0].msgs[i0++] : sides[1].msgs[i1++];
    }
    for (size_t base = 0; base < n; base += window) {
        size_t len = n - base < window ? n - base : window;
        for (size_t k = len; k > 1; k--) {
            size_t r = next_rand() % k;
            struct msg t = order[base + k - 1];
            order[base + k - 1] = order[base + r];
            order[base + r] = t;
        }
    }
    void *ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    int linger = -1; /* everything must arrive, even on a loaded machine */
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    void *mon = sm_hold_watch(ctx, push);
    if (mon == NULL)
        return 3;
    if (zmq_connect(push, endpoint) == -1) {
        fprintf(stderr, "connect %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 3;
    }
    size_t sent = 0, dups = 0;
    for (size_t k = 0; k < n; k++) {
        zmq_send(push, order[k].buf, order[k].len, 0);
        sent++;
        if (next_rand() % 100 < dup) {
            zmq_send(push, order[k].buf, order[k].len, 0);
            dups++;
        }
        if (delay_us)
            usleep((useconds_t)(next_rand() % (delay_us + 1)));
    }
    fprintf(stderr, "sm_shuffle_send: %zu batches (%zu client, %zu server), %zu duplicates\n",
            sent, sides[0].nmsgs, sides[1].nmsgs, dups);
    /* connected until the collector (--exit-when-done) has read it all: sm_peer_hold.h */
    int held = sm_hold_until_closed(mon, push, 120);
    zmq_close(push);
    zmq_ctx_term(ctx);
    free(order);
    for (int k = 0; k < 2; k++) {
        for (size_t m = 0; m < sides[k].nmsgs; m++)
            free(sides[k].msgs[m].buf);
        free(sides[k].msgs);
        free(sides[k].pend);
    }
    if (held != 0) {
        fprintf(stderr, "sm_shuffle_send: the collector kept the connection open for 120 s\n");
        return 4;
    }
    return 0;
}
