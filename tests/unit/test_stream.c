/*
 * test_stream.c - the tcp.stream table at its cap: the least recently used pair is forgotten,
 * the table never holds more than the cap, the first inexact frame is the one that forced
 * the first eviction, a forgotten pair gets a new index, a kept one its old index; tables
 * doubled in place keep every pair; out of memory degrades to eviction, reported, never
 * a crash; and numbering headers eight behind their preparation (as the file reader does)
 * gives every header the index that numbering each at once gives, across growth, in both
 * tables (test_filesrc checks the reader itself).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "alloc.h"
#include "check.h"
#include "synmatch/stream.h"

/* A header of pair k (client 198.18.0.k:40000+k -> 198.18.1.1:80) at frame. */
static struct sm_tcp_view pkt(unsigned k, uint16_t flags, uint64_t frame)
{
    struct sm_tcp_view v;
    memset(&v, 0, sizeof v);
    v.rec.tuple.src.family = v.rec.tuple.dst.family = SM_AF_INET;
    v.rec.tuple.src.bytes[0] = 198, v.rec.tuple.src.bytes[1] = 18;
    v.rec.tuple.src.bytes[2] = (uint8_t)(k >> 8), v.rec.tuple.src.bytes[3] = (uint8_t)k;
    v.rec.tuple.dst.bytes[0] = 198, v.rec.tuple.dst.bytes[1] = 18;
    v.rec.tuple.dst.bytes[2] = 1, v.rec.tuple.dst.bytes[3] = 1;
    v.rec.tuple.sport = (uint16_t)(40000 + k);
    v.rec.tuple.dport = 80;
    v.rec.flags = flags;
    v.rec.seq = 1000 + k;
    v.rec.ack = flags & SM_TH_ACK ? 5000 : 0;
    v.rec.frame = frame;
    v.rec.stream = SM_STREAM_NONE;
    v.analyzable = true;
    return v;
}

static int64_t put(sm_streams_t *s, unsigned k, uint16_t flags, uint64_t frame)
{
    struct sm_tcp_view v = pkt(k, flags, frame);
    return sm_streams_assign(s, &v);
}

static void test_lru_at_cap(void)
{
    sm_streams_t *s = sm_streams_new(4);
    for (unsigned k = 0; k < 4; k++)
        CHECK_EQ_U(put(s, k, SM_TH_SYN, k + 1), k);
    CHECK(sm_streams_exact(s));
    CHECK_EQ_U(put(s, 0, SM_TH_ACK, 5), 0); /* pair 0 used again: pair 1 is now the oldest */
    CHECK_EQ_U(put(s, 4, SM_TH_SYN, 6), 4); /* a fifth pair: one must go */
    CHECK(!sm_streams_exact(s));
    CHECK_EQ_U(sm_streams_evicted(s), 1);
    CHECK_EQ_U(sm_streams_first_inexact_frame(s), 6);
    CHECK_EQ_U(sm_streams_pairs(s), 4);
    CHECK_EQ_U(put(s, 0, SM_TH_ACK, 7), 0); /* kept */
    CHECK_EQ_U(put(s, 3, SM_TH_ACK, 8), 3); /* kept */
    CHECK_EQ_U(put(s, 1, SM_TH_ACK, 9), 5); /* forgotten: tshark would say 1 */
    CHECK_EQ_U(sm_streams_first_inexact_frame(s), 6);
    /* Many more pairs: the cap holds. */
    for (unsigned k = 10; k < 2000; k++) {
        put(s, k, SM_TH_SYN, 100 + k);
        if (sm_streams_pairs(s) > 4)
            break;
    }
    CHECK_EQ_U(sm_streams_pairs(s), 4);
    CHECK(sm_streams_evicted(s) >= 1990);
    CHECK_EQ_U(sm_streams_first_inexact_frame(s), 6);
    sm_streams_destroy(&s);
    CHECK(s == NULL);
}

static void test_big_cap_exact(void)
{
    /* Below the cap nothing is forgotten, whatever the growth of the table. */
    sm_streams_t *s = sm_streams_new(100000);
    int bad = 0;
    for (unsigned k = 0; k < 50000; k++)
        bad += put(s, k, SM_TH_SYN, k + 1) != (int64_t)k;
    for (unsigned k = 0; k < 50000; k += 7)
        bad += put(s, k, SM_TH_ACK, 60000 + k) != (int64_t)k;
    CHECK_EQ_U(bad, 0);
    CHECK(sm_streams_exact(s));
    CHECK_EQ_U(sm_streams_pairs(s), 50000);
    sm_streams_destroy(&s);
}

static void test_growth_then_eviction(void)
{
    /* Doubled in place five times (IPv4 tables in huge pages from 2,048 slots, SM_HUGE_FROM):
     * every pair keeps its index. The hash keys are random per table, and a doubling moves members out of turn
     * only when a probe run wraps around the table's end: 32 tables make that certain. */
    int bad = 0;
    for (int trial = 0; trial < 32; trial++) {
        sm_streams_t *s = sm_streams_new(1000000);
        for (unsigned k = 0; k < 40000; k++)
            bad += put(s, k, SM_TH_SYN, k + 1) != (int64_t)k;
        for (unsigned k = 0; k < 40000; k++)
            bad += put(s, k, SM_TH_ACK, 50000 + k) != (int64_t)k;
        sm_streams_destroy(&s);
    }
    CHECK_EQ_U(bad, 0);
    /* Then full: once pairs are forgotten, each lookup finds its own pair's index or,
     * forgotten, a new one, never another pair's. */
    sm_streams_t *s = sm_streams_new(40000);
    for (unsigned k = 0; k < 50000; k++)
        bad += put(s, k, SM_TH_SYN, k + 1) != (int64_t)k;
    CHECK_EQ_U(bad, 0);
    CHECK_EQ_U(sm_streams_pairs(s), 40000);
    CHECK_EQ_U(sm_streams_evicted(s), 10000);
    for (unsigned k = 0; k < 50000; k++) {
        int64_t st = put(s, k, SM_TH_ACK, 200000 + k);
        bad += st != (int64_t)k && st < 50000;
    }
    CHECK_EQ_U(bad, 0);
    CHECK_EQ_U(sm_streams_pairs(s), 40000);
    sm_streams_destroy(&s);
}

static void test_out_of_memory(void)
{
    /* With allocations failing from the k-th on, the table stops growing and forgets pairs
     * instead: it says so, and indices stay unique. */
    for (uint64_t k = 1; k < 8; k++) {
        sm_alloc_fail_at(k, true);
        sm_streams_t *s = sm_streams_new(1000000);
        if (s) {
            int64_t last = -1;
            int bad = 0;
            for (unsigned p = 0; p < 20000; p++) {
                int64_t st = put(s, p, SM_TH_SYN, p + 1);
                bad += st <= last;
                last = st;
            }
            CHECK_EQ_U(bad, 0);
            if (sm_alloc_failed() > 0)
                CHECK(!sm_streams_exact(s) || sm_streams_pairs(s) == 20000);
        }
        sm_alloc_fail_at(0, false);
        sm_streams_destroy(&s);
    }
}

/*
 * The file reader prepares a header (key, hash, prefetch) when the decoder hands it over and
 * numbers it eight headers later: tables grow and forget pairs in between. Against a table fed
 * one header at a time, every index must be the same (with each header numbered with the
 * preparation of the one after it, nearly every index differs). At the cap the two tables
 * forget different pairs (the sample is random per table): there the cap must hold.
 */
/* An IPv4 address a.b.c.d as the IPv6 prefix's ::a.b.c.d. */
static void in_v6(struct sm_addr *a, const struct sm_addr *prefix)
{
    struct sm_addr v6 = *prefix;
    memcpy(v6.bytes + 12, a->bytes, 4);
    *a = v6;
}

static void run_ahead(size_t cap, unsigned pairs, unsigned headers, bool exact)
{
    enum { AHEAD = 8 };
    sm_streams_t *now = sm_streams_new(cap), *later = sm_streams_new(cap);
    struct sm_tcp_view ring[AHEAD];
    struct sm_streams_prep prep[AHEAD];
    int64_t want[AHEAD];
    uint64_t x = 0x9e3779b97f4a7c15u;
    int bad = 0;
    struct sm_addr prefix;
    CHECK(sm_addr_parse("2001:db8::", &prefix) == 0);
    for (unsigned i = 0; i < headers + AHEAD; i++) {
        unsigned slot = i % AHEAD;
        if (i >= AHEAD) /* the header prepared AHEAD ago */
            bad += sm_streams_assign_prepared(later, &ring[slot], &prep[slot]) != want[slot];
        if (i >= headers)
            continue;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        static const uint16_t flags[4] = {SM_TH_SYN, SM_TH_SYN | SM_TH_ACK, SM_TH_ACK,
                                          SM_TH_RST};
        unsigned k = (unsigned)(x % pairs);
        ring[slot] = pkt(k, flags[x >> 32 & 3], i + 1);
        if (k % 4 == 0) { /* a quarter of the pairs in IPv6 */
            in_v6(&ring[slot].rec.tuple.src, &prefix);
            in_v6(&ring[slot].rec.tuple.dst, &prefix);
        }
        ring[slot].rec.seq += (uint32_t)(x >> 40 & 1); /* now and then a SYN with a new ISN */
        if (x >> 50 & 1) { /* and the reply direction */
            struct sm_tuple t = ring[slot].rec.tuple;
            ring[slot].rec.tuple.src = t.dst, ring[slot].rec.tuple.dst = t.src;
            ring[slot].rec.tuple.sport = t.dport, ring[slot].rec.tuple.dport = t.sport;
        }
        want[slot] = sm_streams_assign(now, &ring[slot]);
        sm_streams_prepare(later, &ring[slot].rec.tuple, &prep[slot]);
    }
    if (exact) {
        CHECK_EQ_U(bad, 0);
        CHECK_EQ_U(sm_streams_count(later), sm_streams_count(now));
        CHECK(sm_streams_exact(later));
    } else {
        CHECK(sm_streams_pairs(later) <= cap);
        CHECK(!sm_streams_exact(later));
    }
    sm_streams_destroy(&now);
    sm_streams_destroy(&later);
}

static void test_prepared_ahead(void)
{
    run_ahead(100000, 30000, 200000, true); /* grows to 32,768 and 16,384 slots */
    run_ahead(500, 3000, 50000, false);     /* forgets pairs all the time */
}

int main(void)
{
    test_lru_at_cap();
    test_big_cap_exact();
    test_growth_then_eviction();
    test_out_of_memory();
    test_prepared_ahead();
    return check_done();
}
