/*
 * test_alloc.c - failing the Nth allocation (common/alloc.h) in the join, the collector's
 * books and the decoder, for every N a scenario makes: no crash (the sanitizer build runs
 * this too, for leaks and bad accesses), and what runs out of memory degrades honestly:
 * the join never calls a delivered SYN missing and gives every client SYN group one final
 * verdict; the books never hand on a record twice; the decoder counts what it could not
 * reassemble.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "sensors.h"
#include "synmatch/decode.h"
#include "synmatch/join.h"

#define SEC INT64_C(1000000000)
#define MS INT64_C(1000000)
#define T0 (INT64_C(1790000000) * SEC)
#define GROUPS 300

/* ---- the join ---- */

static unsigned finals[GROUPS + 1], missing_delivered, finals_total;

static void on_verdict(void *arg, const struct sm_verdict *v)
{
    (void)arg;
    if (v->kind == SM_V_SUSPECT)
        return;
    finals_total++;
    unsigned g = v->isn - 1000;
    if (g < GROUPS) {
        finals[g]++;
        if (v->kind == SM_V_MISSING && g % 5 != 0)
            missing_delivered++;
    }
}

static struct sm_record rec(unsigned g, int64_t ts, uint16_t flags, bool reply)
{
    struct sm_record r;
    memset(&r, 0, sizeof r);
    r.tuple.src.family = r.tuple.dst.family = SM_AF_INET;
    r.tuple.src.bytes[0] = 198, r.tuple.src.bytes[1] = 18, r.tuple.src.bytes[3] = 1;
    r.tuple.dst.bytes[0] = 198, r.tuple.dst.bytes[1] = 19, r.tuple.dst.bytes[3] = 1;
    r.tuple.sport = (uint16_t)(30000 + g);
    r.tuple.dport = 443;
    if (reply) {
        struct sm_tuple t = r.tuple;
        r.tuple.src = t.dst, r.tuple.dst = t.src, r.tuple.sport = t.dport, r.tuple.dport = t.sport;
        r.seq = 7000 + g;
        r.ack = 1000 + g + 1;
    } else {
        r.seq = 1000 + g;
    }
    r.ts_ns = ts;
    r.flags = flags;
    r.opts.present = SM_OPT_TS;
    r.opts.tsval = g * 10 + (uint32_t)(ts / SEC % 10);
    r.stream = SM_STREAM_NONE;
    return r;
}

/* Every fifth group is never seen at the server (missing); the others are, and some are
 * retransmitted first (the attempts beyond the first are allocated out of line). */
static bool run_join(bool live)
{
    memset(finals, 0, sizeof finals);
    missing_delivered = finals_total = 0;
    struct sm_join_config c = {
        .hold_unmatched = !live,
        .emit_suspect = live,
        .max_work = live ? 50 : 0,
        .on_verdict = on_verdict,
    };
    sm_join_t *j = sm_join_new(&c);
    if (j == NULL)
        return false;
    for (unsigned g = 0; g < GROUPS; g++) {
        int64_t t = T0 + (int64_t)g * 20 * MS;
        struct sm_record r = rec(g, t, SM_TH_SYN, false);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
        if (g % 3 == 0) {
            r = rec(g, t + SEC, SM_TH_SYN, false);
            sm_join_add(j, SM_ROLE_CLIENT, &r);
        }
        if (g % 5 != 0) {
            r = rec(g, t + (g % 3 == 0 ? SEC : 0) + MS, SM_TH_SYN, false);
            sm_join_add(j, SM_ROLE_SERVER, &r);
            r = rec(g, t + 2 * MS, SM_TH_SYN | SM_TH_ACK, true);
            sm_join_add(j, SM_ROLE_SERVER, &r);
            r = rec(g, t + 3 * MS, SM_TH_SYN | SM_TH_ACK, true);
            sm_join_add(j, SM_ROLE_CLIENT, &r);
        }
        if (g % 50 == 49)
            sm_join_blind(j, SM_ROLE_SERVER, SM_VIEW_ALL, t, t + 10 * MS, SM_V_TRANSPORT_LOSS);
        sm_join_watermark(j, SM_ROLE_CLIENT, t);
        sm_join_watermark(j, SM_ROLE_SERVER, t);
        while (live && sm_join_tick(j))
            ;
    }
    sm_join_end(j, SM_ROLE_CLIENT, T0 + 100 * SEC);
    sm_join_end(j, SM_ROLE_SERVER, T0 + 100 * SEC);
    sm_join_finish(j);
    sm_join_destroy(&j);
    return true;
}

static void test_join(bool live)
{
    sm_alloc_fail_at(UINT64_MAX, false); /* count only */
    CHECK(run_join(live));
    uint64_t n = sm_alloc_count();
    CHECK(n > 3);
    CHECK_EQ_U(finals_total, GROUPS);
    unsigned runs = 0, bad_once = 0, bad_missing = 0;
    for (int persist = 0; persist < 2; persist++) {
        for (uint64_t k = 1; k <= n + 1; k++) {
            sm_alloc_fail_at(k, persist);
            bool made = run_join(live);
            sm_alloc_fail_at(0, false);
            if (!made)
                continue; /* the engine could not be made: nothing to judge */
            runs++;
            for (unsigned g = 0; g < GROUPS; g++)
                bad_once += finals[g] != 1;
            bad_missing += missing_delivered;
        }
    }
    CHECK(runs > 0);
    CHECK_EQ_U(bad_once, 0);    /* every group: exactly one final verdict */
    CHECK_EQ_U(bad_missing, 0); /* never a delivered SYN called missing */
}

/* ---- the books ---- */

static uint64_t delivered;
static uint8_t seen[4096];
static unsigned twice;

static void on_records(void *arg, enum sm_role role, const struct sm_record *recs, size_t n)
{
    (void)arg, (void)role;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = recs[i].seq % 4096;
        twice += seen[id]++ != 0;
        delivered++;
    }
}

static void on_blind(void *arg, enum sm_role role, uint32_t view, int64_t from, int64_t to,
                     enum sm_verdict_kind kind)
{
    (void)arg, (void)role, (void)view, (void)from, (void)to, (void)kind;
}

static void on_event(void *arg, const struct sm_sensor_event *ev)
{
    (void)arg, (void)ev;
}

static bool run_books(void)
{
    delivered = 0;
    twice = 0;
    memset(seen, 0, sizeof seen);
    struct sm_sensors_sink sink = {on_records, on_blind, on_event, NULL, NULL, NULL};
    struct sm_sensors_config cfg = {.reorder_window = 8, .max_sensors = 4};
    sm_sensors_t *s = sm_sensors_new(&cfg, &sink);
    if (s == NULL)
        return false;
    /* Three sensors, batches out of order, a duplicate and a gap. */
    static const uint64_t order[] = {0, 2, 1, 1, 3, 6, 4, 5, 7};
    uint32_t id = 0;
    for (int sensor = 0; sensor < 3; sensor++) {
        for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
            struct sm_wire_header h;
            memset(&h, 0, sizeof h);
            snprintf(h.sensor_id, sizeof h.sensor_id, "s%d", sensor);
            h.role = sensor == 0 ? SM_ROLE_SERVER : SM_ROLE_CLIENT;
            h.boot_epoch = 1;
            h.seq = order[k];
            h.watermark_ns = T0 + (int64_t)order[k] * SEC;
            size_t n = 3;
            struct sm_record *recs = sm_malloc(n * sizeof *recs);
            if (recs == NULL)
                continue; /* the receiver could not take it: a gap the books detect */
            for (size_t i = 0; i < n; i++) {
                memset(&recs[i], 0, sizeof recs[i]);
                recs[i].ts_ns = h.watermark_ns - 1;
                recs[i].flags = SM_TH_SYN;
                recs[i].seq = (uint32_t)(sensor * 1000 + order[k] * 10 + i) + (k == 3) * 0;
                recs[i].tuple.src.family = recs[i].tuple.dst.family = SM_AF_INET;
                recs[i].tuple.sport = recs[i].tuple.dport = 1;
            }
            (void)id;
            sm_sensors_batch(s, &h, recs, n, (int64_t)k * MS);
        }
    }
    for (int64_t now = 0; now < 5 * SEC; now += 100 * MS)
        sm_sensors_tick(s, now);
    sm_sensors_destroy(&s);
    return true;
}

static void test_books(void)
{
    sm_alloc_fail_at(UINT64_MAX, false);
    CHECK(run_books());
    uint64_t n = sm_alloc_count();
    CHECK_EQ_U(delivered, 3 * 8 * 3); /* the duplicate batch is dropped */
    CHECK_EQ_U(twice, 0);
    unsigned runs = 0, bad = 0;
    for (int persist = 0; persist < 2; persist++) {
        for (uint64_t k = 1; k <= n + 1; k++) {
            sm_alloc_fail_at(k, persist);
            if (run_books()) {
                runs++;
                bad += twice != 0 || delivered > 3 * 8 * 3;
            }
            sm_alloc_fail_at(0, false);
        }
    }
    CHECK(runs > 0);
    CHECK_EQ_U(bad, 0);
}

/* ---- the decoder ---- */

static unsigned tcp_seen;

static void on_tcp(void *arg, const struct sm_tcp_view *v)
{
    (void)arg, (void)v;
    tcp_seen++;
}

/* An IPv4 SYN (raw IP link type) split into two fragments, datagram id. */
static size_t fragment(uint8_t *f, int part, uint16_t id)
{
    uint8_t tcp[40] = {0x9c, 0x40, 0x01, 0xbb, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0xa0, 0x02, 0xff, 0xff};
    tcp[20] = 2, tcp[21] = 4, tcp[22] = 0x05, tcp[23] = 0xb4; /* MSS, then NOPs */
    memset(tcp + 24, 1, 16);
    size_t off = part == 0 ? 0 : 24, len = part == 0 ? 24 : 16;
    memset(f, 0, 20);
    f[0] = 0x45;
    uint16_t tot = (uint16_t)(20 + len);
    f[2] = (uint8_t)(tot >> 8), f[3] = (uint8_t)tot;
    f[4] = (uint8_t)(id >> 8), f[5] = (uint8_t)id;
    uint16_t fo = (uint16_t)((part == 0 ? 0x2000 : 0) | (off / 8));
    f[6] = (uint8_t)(fo >> 8), f[7] = (uint8_t)fo;
    f[8] = 64, f[9] = 6;
    f[12] = 198, f[13] = 18, f[15] = 1, f[16] = 198, f[17] = 19, f[19] = 1;
    memcpy(f + 20, tcp + off, len);
    return 20 + len;
}

static bool run_decoder(uint64_t *frag_lost)
{
    tcp_seen = 0;
    sm_decoder_t *d = sm_decoder_new(NULL);
    if (d == NULL)
        return false;
    uint8_t buf[128];
    for (uint16_t id = 1; id <= 8; id++) {
        for (int part = 0; part < 2; part++) {
            struct sm_frame fr = {.data = buf, .linktype = 101, .number = id * 2u + (unsigned)part};
            fr.caplen = fr.wirelen = (uint32_t)fragment(buf, part, id);
            sm_decode_frame(d, &fr, on_tcp, NULL);
        }
    }
    const uint64_t *c = sm_decoder_counters(d);
    *frag_lost = c[SM_DC_FRAG_EVICTED];
    sm_decoder_destroy(&d);
    return true;
}

static void test_decoder(void)
{
    uint64_t lost;
    sm_alloc_fail_at(UINT64_MAX, false);
    CHECK(run_decoder(&lost));
    uint64_t n = sm_alloc_count();
    CHECK_EQ_U(tcp_seen, 8);
    CHECK_EQ_U(lost, 0);
    unsigned runs = 0, bad = 0;
    for (int persist = 0; persist < 2; persist++) {
        for (uint64_t k = 1; k <= n + 1; k++) {
            sm_alloc_fail_at(k, persist);
            if (run_decoder(&lost)) {
                runs++;
                /* every SYN is reported, or its loss is counted (the numbering is then
                 * marked inexact) */
                bad += tcp_seen + lost < 8;
            }
            sm_alloc_fail_at(0, false);
        }
    }
    CHECK(runs > 0);
    CHECK_EQ_U(bad, 0);
}

int main(void)
{
    test_join(false);
    test_join(true);
    test_books();
    test_decoder();
    return check_done();
}
