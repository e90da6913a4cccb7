/*
 * sm_gen.h - synthetic agent batches for the collector benchmarks (bench/sm_feed.c,
 * bench/sm_stages.c). Header-only: both programs pre-encode exactly the same messages.
 *
 * The model: one client sensor and one server sensor. Connection i starts at
 *   t_i = T_REC + i * I + jitter   (I = 1e9 / rate ns, jitter < I / 2, so times are sorted)
 * and gives these records:
 *   client sensor: the client SYN at t_i and the SYN/ACK at t_i + 2D + A (without
 *                  client_synack, --no-client-synack, the client sees no answer: the old
 *                  3-record mix, whose delivered SYNs are reply_lost since verdict schema 2)
 *   server sensor: the SYN at t_i + D (masqueraded: other source address and port, MSS
 *                  clamped, TTL - 1) and its SYN/ACK at t_i + D + A
 * with D = 3 ms one-way delay and A = 50 us. missing_pct % of the connections lose the SYN
 * between the sensors: no server records, no SYN/ACK anywhere. v6_pct % are IPv6. ISNs,
 * ports and addresses come from a hash of (seed, i): deterministic, no state per connection.
 *
 * Each sensor's records are in time order; a batch holds up to `batch` of them and its
 * watermark is the time of its last record (what a live agent under load sends). Batches of
 * the two sensors are merged by watermark (ties: client first), after one empty heartbeat
 * per sensor at T_BASE (the capture start); records begin 2 s later. Each sensor ends with an
 * empty end_of_stream batch whose watermark is 10 s past the last record, so every group is
 * decided on event time (none as `unknown`, `after_server_capture`).
 *
 * Server batches carry the scope (198.19.10.10/32 and 2001:db8:10::10/128, any port), as a
 * live server agent does in every batch. Only 198.18.0.0/15 and 2001:db8::/32 are used.
 */
#ifndef SM_BENCH_GEN_H
#define SM_BENCH_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synmatch/record.h"
#include "synmatch/wire.h"

#define GEN_T_BASE INT64_C(1800000000000000000) /* 2027-01-15 */
#define GEN_T_REC (GEN_T_BASE + INT64_C(2000000000))
#define GEN_D INT64_C(3000000) /* one-way delay, ns */
#define GEN_A INT64_C(50000)   /* server think time, ns */

struct gen_opts {
    uint64_t connections; /* client SYN groups */
    double rate;          /* connections per second of event time */
    double missing_pct;   /* % of connections whose SYN never reaches the server */
    double v6_pct;
    double rewrite_pct;   /* % whose ISN a device between the sensors rewrote (as Cisco ASA) */
    bool client_synack; /* the client sensor also sees the SYN/ACK */
    size_t batch;       /* records per batch */
    uint32_t partitions; /* JetStream: parts per batch by the client's ISN (1: whole batches) */
    uint64_t seed;
};

static inline void gen_opts_default(struct gen_opts *o)
{
    o->connections = 2000000;
    o->rate = 50000;
    o->missing_pct = 1.0;
    o->v6_pct = 10.0;
    o->rewrite_pct = 0.0;
    o->client_synack = true;
    o->batch = 4096;
    o->partitions = 1;
    o->seed = 1;
}

/* Parses one generator option at argv[*i] (and its value); 1 if it was one, 0 if not,
 * -1 on a bad value. */
static inline int gen_opts_parse(struct gen_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(a, "--client-synack") == 0 || strcmp(a, "--no-client-synack") == 0) {
        o->client_synack = a[2] == 'c';
        return 1;
    }
    if (strcmp(a, "--connections") && strcmp(a, "--rate") && strcmp(a, "--missing") &&
        strcmp(a, "--v6") && strcmp(a, "--rewrite") && strcmp(a, "--batch") &&
        strcmp(a, "--seed") && strcmp(a, "--partitions"))
        return 0;
    if (v == NULL)
        return -1;
    char *end;
    double d = strtod(v, &end);
    if (*end || !(d >= 0))
        return -1;
    if (strcmp(a, "--connections") == 0)
        o->connections = (uint64_t)d;
    else if (strcmp(a, "--rate") == 0)
        o->rate = d;
    else if (strcmp(a, "--missing") == 0)
        o->missing_pct = d;
    else if (strcmp(a, "--v6") == 0)
        o->v6_pct = d;
    else if (strcmp(a, "--rewrite") == 0)
        o->rewrite_pct = d;
    else if (strcmp(a, "--batch") == 0)
        o->batch = (size_t)d;
    else if (strcmp(a, "--partitions") == 0)
        o->partitions = (uint32_t)d;
    else
        o->seed = (uint64_t)d;
    if (o->rate <= 0 || o->batch == 0 || o->batch > SM_WIRE_MAX_RECORDS || o->connections == 0 ||
        o->partitions == 0 || o->partitions > SM_WIRE_MAX_PARTITIONS)
        return -1;
    (*i)++;
    return 1;
}

#define GEN_OPTS_USAGE                                                                        \
    "  --connections N   client SYN groups [2000000]\n"                                       \
    "  --rate R          connections per second of event time [50000]\n"                     \
    "  --missing PCT     %% whose SYN never reaches the server [1]\n"                          \
    "  --v6 PCT          %% IPv6 [10]\n"                                                       \
    "  --rewrite PCT     %% whose ISN a device between the sensors rewrote: the server sees\n"  \
    "                    another seq (the second matcher's path) [0]\n"                         \
    "  --no-client-synack  the client sensor sees no SYN/ACK (3 records per connection, not\n" \
    "                    4: every delivered SYN is then reply_lost)\n"                          \
    "  --batch N         records per batch [4096]\n"                                          \
    "  --partitions P    JetStream: each batch as P parts by the client's ISN [1]\n"             \
    "  --seed S          [1]\n"

static inline uint64_t gen_mix(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

struct gen_conn {
    int64_t t;
    bool missing, v6, ecn;
    uint32_t isn, sisn, tsval, stsval;
    uint32_t server_isn; /* the client's ISN as the server sees it (rewritten or not) */
    uint16_t sport, nport, dport, ipid;
    uint32_t host; /* client host number */
};

static inline void gen_conn_of(const struct gen_opts *o, uint64_t i, struct gen_conn *c)
{
    uint64_t r1 = gen_mix(o->seed * UINT64_C(0x100000001b3) ^ gen_mix(4 * i + 1));
    uint64_t r2 = gen_mix(r1 ^ (4 * i + 2));
    uint64_t r3 = gen_mix(r2 ^ (4 * i + 3));
    int64_t step = (int64_t)(1e9 / o->rate);
    if (step < 2)
        step = 2;
    c->t = GEN_T_REC + (int64_t)i * step + (int64_t)(r1 % (uint64_t)(step / 2));
    c->missing = (double)((r1 >> 20) % 1000000) < o->missing_pct * 10000.0;
    c->v6 = (double)((r1 >> 40) % 10000) < o->v6_pct * 100.0;
    c->ecn = (r3 >> 60) == 0; /* 1/16 with ECE|CWR */
    c->isn = (uint32_t)r2;
    c->sisn = (uint32_t)(r2 >> 32);
    /* a per-connection random offset, never 0 (bits the other fields do not draw on) */
    bool rewritten = (double)((r3 >> 44) % 10000) < o->rewrite_pct * 100.0;
    c->server_isn = c->isn + (rewritten ? (uint32_t)(gen_mix(r3) | 1) : 0);
    c->tsval = (uint32_t)r3;
    c->stsval = (uint32_t)(r3 >> 32) ^ 0x5a5a5a5au;
    c->sport = (uint16_t)(32768 + (r1 >> 8) % 28232);
    c->nport = (uint16_t)(1024 + (r3 >> 8) % 64000);
    c->dport = ((r1 >> 60) < 13) ? 443 : 8443; /* ~80% 443 */
    c->ipid = (uint16_t)(r2 >> 16);
    c->host = (uint32_t)((i / 100) % 65000); /* about one client host per 100 connections */
}

static inline void gen_client_addr(const struct gen_conn *c, struct sm_addr *a)
{
    memset(a, 0, sizeof *a);
    if (c->v6) {
        static const uint8_t p[8] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0c, 0, 0};
        a->family = SM_AF_INET6;
        memcpy(a->bytes, p, 8);
        a->bytes[14] = (uint8_t)(c->host >> 8);
        a->bytes[15] = (uint8_t)c->host | 1;
    } else {
        a->family = SM_AF_INET;
        a->bytes[0] = 198;
        a->bytes[1] = 18;
        a->bytes[2] = (uint8_t)(c->host >> 8);
        a->bytes[3] = (uint8_t)c->host | 1;
    }
}

static inline void gen_server_addr(bool v6, struct sm_addr *a)
{
    memset(a, 0, sizeof *a);
    if (v6) {
        static const uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0,
                                       0,    0,    0,    0,    0, 0,    0, 0x10};
        a->family = SM_AF_INET6;
        memcpy(a->bytes, s6, 16);
    } else {
        static const uint8_t s4[4] = {198, 19, 10, 10};
        a->family = SM_AF_INET;
        memcpy(a->bytes, s4, 4);
    }
}

static inline void gen_nat_addr(bool v6, struct sm_addr *a)
{
    memset(a, 0, sizeof *a);
    if (v6) {
        static const uint8_t n6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x0f, 0, 0,
                                       0,    0,    0,    0,    0, 0,    0, 1};
        a->family = SM_AF_INET6;
        memcpy(a->bytes, n6, 16);
    } else {
        static const uint8_t n4[4] = {198, 19, 0, 1};
        a->family = SM_AF_INET;
        memcpy(a->bytes, n4, 4);
    }
}

/* Record kinds, one sub-stream each. */
enum gen_kind { GEN_CSYN, GEN_CSYNACK, GEN_SSYN, GEN_SSYNACK };

static inline void gen_record(const struct gen_conn *c, enum gen_kind k, struct sm_record *r)
{
    memset(r, 0, sizeof *r);
    r->frame = 0;
    r->stream = SM_STREAM_NONE;
    struct sm_addr cl, sv, nat;
    gen_client_addr(c, &cl);
    gen_server_addr(c->v6, &sv);
    gen_nat_addr(c->v6, &nat);
    uint16_t mss = c->v6 ? 1440 : 1460, clamp = c->v6 ? 1380 : 1400;
    r->opts.present = SM_OPT_MSS | SM_OPT_WSCALE | SM_OPT_SACKOK | SM_OPT_TS;
    r->opts.wscale = 7;
    r->ip_id = c->v6 ? 0 : c->ipid;
    switch (k) {
    case GEN_CSYN:
    case GEN_SSYN:
        r->ts_ns = c->t + (k == GEN_SSYN ? GEN_D : 0);
        r->tuple.src = k == GEN_SSYN ? nat : cl;
        r->tuple.sport = k == GEN_SSYN ? c->nport : c->sport;
        r->tuple.dst = sv;
        r->tuple.dport = c->dport;
        r->seq = k == GEN_SSYN ? c->server_isn : c->isn;
        r->flags = SM_TH_SYN | (c->ecn ? SM_TH_ECE | SM_TH_CWR : 0);
        r->window = 64240;
        r->ttl = k == GEN_SSYN ? 63 : 64;
        r->opts.mss = k == GEN_SSYN ? clamp : mss;
        r->opts.tsval = c->tsval;
        break;
    case GEN_CSYNACK:
    case GEN_SSYNACK:
        r->ts_ns = c->t + GEN_D + GEN_A + (k == GEN_CSYNACK ? GEN_D : 0);
        r->tuple.src = sv;
        r->tuple.sport = c->dport;
        r->tuple.dst = k == GEN_CSYNACK ? cl : nat;
        r->tuple.dport = k == GEN_CSYNACK ? c->sport : c->nport;
        r->seq = c->sisn;
        r->ack = (k == GEN_SSYNACK ? c->server_isn : c->isn) + 1;
        r->flags = SM_TH_SYN | SM_TH_ACK;
        r->window = 65160;
        r->ttl = k == GEN_CSYNACK ? 63 : 64;
        r->opts.mss = k == GEN_CSYNACK ? clamp : mss;
        r->opts.tsval = c->stsval;
        r->opts.tsecr = c->tsval;
        break;
    }
}

/* One sorted sub-stream: records of one kind over connections 0..n-1. */
struct gen_sub {
    enum gen_kind kind;
    bool enabled, skip_missing;
    uint64_t next; /* next connection index */
    bool have;
    struct gen_conn c; /* the peeked connection */
};

static inline void gen_sub_peek(const struct gen_opts *o, struct gen_sub *s)
{
    while (!s->have && s->enabled && s->next < o->connections) {
        gen_conn_of(o, s->next++, &s->c);
        if (s->skip_missing && s->c.missing)
            continue;
        s->have = true;
    }
}

static inline int64_t gen_sub_ts(const struct gen_sub *s)
{
    switch (s->kind) {
    case GEN_CSYN:
        return s->c.t;
    case GEN_SSYN:
        return s->c.t + GEN_D;
    case GEN_SSYNACK:
        return s->c.t + GEN_D + GEN_A;
    default:
        return s->c.t + 2 * GEN_D + GEN_A;
    }
}

struct gen_sensor {
    struct sm_wire_header h;
    struct gen_sub a, b;
    uint64_t emitted;
    uint64_t *part_emitted;    /* [partitions] */
    struct sm_record *scratch; /* a batch sorted by partition */
    int64_t wm, last_ts;
    bool heartbeat_sent, eos_sent;
    struct sm_record *recs;
    size_t n; /* records in the peeked batch */
    bool have_batch, batch_eos;
};

struct gen_msg {
    uint8_t *buf;
    uint32_t len;
    uint32_t nrecs;
    uint32_t partition;
    uint64_t seq;
    uint8_t role, eos;
};

struct gen_result {
    struct gen_msg *msgs;
    size_t nmsgs;
    uint64_t records, records_client, records_server, bytes, missing;
};

static inline void gen_sensor_init(const struct gen_opts *o, struct gen_sensor *s,
                                   enum sm_role role)
{
    memset(s, 0, sizeof *s);
    snprintf(s->h.sensor_id, sizeof s->h.sensor_id, "%s",
             role == SM_ROLE_SERVER ? "bench-server" : "bench-client");
    s->h.role = role;
    s->h.boot_epoch = (uint64_t)GEN_T_BASE;
    s->h.capture_start_ns = GEN_T_BASE;
    if (role == SM_ROLE_SERVER) {
        s->h.nscope = 2;
        gen_server_addr(false, &s->h.scope[0].addr);
        s->h.scope[0].prefix_len = 32;
        gen_server_addr(true, &s->h.scope[1].addr);
        s->h.scope[1].prefix_len = 128;
        s->a = (struct gen_sub){.kind = GEN_SSYN, .enabled = true, .skip_missing = true};
        s->b = (struct gen_sub){.kind = GEN_SSYNACK, .enabled = true, .skip_missing = true};
    } else {
        s->a = (struct gen_sub){.kind = GEN_CSYN, .enabled = true};
        s->b = (struct gen_sub){.kind = GEN_CSYNACK, .enabled = o->client_synack,
                                .skip_missing = true};
    }
    s->wm = GEN_T_BASE;
    s->recs = malloc(o->batch * sizeof *s->recs);
    s->scratch = malloc(o->batch * sizeof *s->scratch);
    s->part_emitted = calloc(o->partitions, sizeof *s->part_emitted);
}

/* Fills the sensor's next batch (heartbeat, records, or end of stream) unless one is peeked. */
static inline void gen_sensor_peek(const struct gen_opts *o, struct gen_sensor *s)
{
    if (s->have_batch || s->eos_sent)
        return;
    s->n = 0;
    s->batch_eos = false;
    s->have_batch = true;
    if (!s->heartbeat_sent) {
        s->heartbeat_sent = true;
        return; /* empty, watermark T_BASE */
    }
    while (s->n < o->batch) {
        gen_sub_peek(o, &s->a);
        gen_sub_peek(o, &s->b);
        struct gen_sub *p = NULL;
        if (s->a.have && (!s->b.have || gen_sub_ts(&s->a) <= gen_sub_ts(&s->b)))
            p = &s->a;
        else if (s->b.have)
            p = &s->b;
        if (p == NULL)
            break;
        gen_record(&p->c, p->kind, &s->recs[s->n++]);
        p->have = false;
    }
    if (s->n > 0) {
        s->last_ts = s->recs[s->n - 1].ts_ns;
        s->wm = s->last_ts;
    } else {
        s->batch_eos = true;
        s->wm = s->last_ts + INT64_C(10000000000);
    }
}

/* Encodes recs[0..n) as one message (part partition of the batch when partitioned). */
static inline int gen_encode(struct gen_sensor *s, struct gen_result *res, size_t cap,
                             const struct sm_record *recs, size_t n, uint32_t partition)
{
    if (res->nmsgs == cap)
        return -1;
    size_t len;
    uint8_t *buf = sm_wire_encode(&s->h, recs, n, false, &len);
    if (buf == NULL)
        return -1;
    struct gen_msg *m = &res->msgs[res->nmsgs++];
    m->buf = buf;
    m->len = (uint32_t)len;
    m->nrecs = (uint32_t)n;
    m->partition = partition;
    m->seq = s->h.seq;
    m->role = (uint8_t)s->h.role;
    m->eos = s->batch_eos;
    res->bytes += len;
    return 0;
}

static inline int gen_sensor_emit(const struct gen_opts *o, struct gen_sensor *s,
                                  struct gen_result *res, size_t cap)
{
    struct sm_wire_header *h = &s->h;
    h->watermark_ns = s->wm;
    h->end_of_stream = s->batch_eos;
    s->emitted += s->n;
    h->counters.pcap_received = s->emitted;
    if (o->partitions <= 1) {
        h->counters.records_emitted = s->emitted;
        if (gen_encode(s, res, cap, s->recs, s->n, 0) == -1)
            return -1;
    } else {
        /* as an agent does: by the client's ISN, every part with the envelope, empty too */
        size_t start[SM_WIRE_MAX_PARTITIONS + 1] = {0}, fill[SM_WIRE_MAX_PARTITIONS];
        for (size_t i = 0; i < s->n; i++)
            start[sm_partition_of(sm_partition_key(&s->recs[i]), o->partitions) + 1]++;
        for (uint32_t p = 0; p < o->partitions; p++)
            start[p + 1] += start[p];
        memcpy(fill, start, o->partitions * sizeof fill[0]);
        for (size_t i = 0; i < s->n; i++)
            s->scratch[fill[sm_partition_of(sm_partition_key(&s->recs[i]), o->partitions)]++] =
                s->recs[i];
        h->partition_count = o->partitions;
        for (uint32_t p = 0; p < o->partitions; p++) {
            h->partition = p;
            s->part_emitted[p] += start[p + 1] - start[p];
            h->counters.records_emitted = s->part_emitted[p];
            if (gen_encode(s, res, cap, s->scratch + start[p], start[p + 1] - start[p], p) == -1)
                return -1;
        }
    }
    res->records += s->n;
    if (h->role == SM_ROLE_SERVER)
        res->records_server += s->n;
    else
        res->records_client += s->n;
    h->seq++;
    s->have_batch = false;
    if (s->batch_eos)
        s->eos_sent = true;
    return 0;
}

/* Generates and encodes every message, in the order they are to be sent. 0 or -1 (no memory). */
static inline int gen_all(const struct gen_opts *o, struct gen_result *res)
{
    memset(res, 0, sizeof *res);
    uint64_t recs_per_conn = o->client_synack ? 4 : 3;
    size_t cap = ((size_t)(o->connections * recs_per_conn / o->batch) + 16) * o->partitions;
    res->msgs = calloc(cap, sizeof *res->msgs);
    struct gen_sensor s[2];
    gen_sensor_init(o, &s[SM_ROLE_CLIENT], SM_ROLE_CLIENT);
    gen_sensor_init(o, &s[SM_ROLE_SERVER], SM_ROLE_SERVER);
    if (res->msgs == NULL || s[0].recs == NULL || s[1].recs == NULL || s[0].scratch == NULL ||
        s[1].scratch == NULL || s[0].part_emitted == NULL || s[1].part_emitted == NULL)
        return -1;
    /* Heartbeats first, the server's first (see the header comment). */
    gen_sensor_peek(o, &s[SM_ROLE_SERVER]);
    if (gen_sensor_emit(o, &s[SM_ROLE_SERVER], res, cap) == -1)
        return -1;
    for (;;) {
        gen_sensor_peek(o, &s[0]);
        gen_sensor_peek(o, &s[1]);
        struct gen_sensor *p = NULL;
        bool c = s[0].have_batch, v = s[1].have_batch;
        if (c && v) /* records before end of stream; then the smaller watermark, ties client */
            p = (s[0].batch_eos != s[1].batch_eos) ? (s[0].batch_eos ? &s[1] : &s[0])
                : s[0].wm <= s[1].wm             ? &s[0]
                                                 : &s[1];
        else if (c)
            p = &s[0];
        else if (v)
            p = &s[1];
        if (p == NULL)
            break;
        if (gen_sensor_emit(o, p, res, cap) == -1)
            return -1;
    }
    for (uint64_t i = 0; i < o->connections; i++) {
        struct gen_conn cc;
        gen_conn_of(o, i, &cc);
        res->missing += cc.missing;
    }
    for (int k = 0; k < 2; k++) {
        free(s[k].recs);
        free(s[k].scratch);
        free(s[k].part_emitted);
    }
    return 0;
}

static inline void gen_free(struct gen_result *res)
{
    for (size_t i = 0; i < res->nmsgs; i++)
        free(res->msgs[i].buf);
    free(res->msgs);
    memset(res, 0, sizeof *res);
}

#endif
