/*
 * test_join.c - the join engine on synthetic records. Event time is injected through
 * watermarks; nothing sleeps.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "addr.h"
#include "synmatch/join.h"
#include "synmatch/report.h"

#define MS INT64_C(1000000)
#define US INT64_C(1000)
#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1790000000) * SEC)

#define MAXV 4096
static struct sm_verdict got[MAXV];
static size_t ngot;

static void collect(void *arg, const struct sm_verdict *v)
{
    (void)arg;
    if (ngot < MAXV)
        got[ngot++] = *v;
}

static void count_only(void *arg, const struct sm_verdict *v)
{
    (void)arg;
    (void)v;
}

static size_t count_kind(enum sm_verdict_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < ngot; i++)
        n += got[i].kind == k;
    return n;
}

static size_t count_final(void)
{
    return ngot - count_kind(SM_V_SUSPECT);
}

static struct sm_tuple tup(const char *src, unsigned sport, const char *dst, unsigned dport)
{
    struct sm_tuple t;
    memset(&t, 0, sizeof t);
    sm_addr_parse(src, &t.src);
    sm_addr_parse(dst, &t.dst);
    t.sport = (uint16_t)sport;
    t.dport = (uint16_t)dport;
    return t;
}

static bool sm_tuple_eq_test(const struct sm_tuple *a, const struct sm_tuple *b)
{
    return sm_addr_eq(&a->src, &b->src) && sm_addr_eq(&a->dst, &b->dst) &&
           a->sport == b->sport && a->dport == b->dport;
}

static struct sm_tuple rev(struct sm_tuple t)
{
    struct sm_tuple r = {t.dst, t.src, t.dport, t.sport};
    return r;
}

static struct sm_record rec(struct sm_tuple t, int64_t ts, uint16_t flags, uint32_t seq,
                            uint32_t ack)
{
    struct sm_record r;
    memset(&r, 0, sizeof r);
    r.tuple = t;
    r.ts_ns = ts;
    r.flags = flags;
    r.seq = seq;
    r.ack = ack;
    r.stream = SM_STREAM_NONE;
    return r;
}

/* The server's SYN/ACK for isn, sent on server tuple st at ts (server clock) and received on
 * client tuple ct at tc (client clock): the reply leg of a healthy handshake. */
static void synack(sm_join_t *j, struct sm_tuple ct, struct sm_tuple st, uint32_t isn,
                   int64_t ts, int64_t tc)
{
    struct sm_record r = rec(rev(st), ts, SM_TH_SYN | SM_TH_ACK, 90000, isn + 1);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(rev(ct), tc, SM_TH_SYN | SM_TH_ACK, 90000, isn + 1);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
}

static sm_join_t *engine(bool hold, bool suspect, size_t max_pending)
{
    ngot = 0;
    struct sm_join_config c = {
        .hold_unmatched = hold,
        .emit_suspect = suspect,
        .max_pending = max_pending,
        .on_verdict = collect,
    };
    return sm_join_new(&c);
}

static void both_wm(sm_join_t *j, int64_t t)
{
    sm_join_watermark(j, SM_ROLE_CLIENT, t);
    sm_join_watermark(j, SM_ROLE_SERVER, t);
}

static void test_matched_with_synack(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40000, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 1000, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(c, T0 + 2 * MS, SM_TH_SYN, 1000, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(rev(c), T0 + 3 * MS, SM_TH_SYN | SM_TH_ACK, 5000, 1001);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(rev(c), T0 + 5 * MS, SM_TH_SYN | SM_TH_ACK, 5000, 1001);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 2 * SEC);
    CHECK_EQ_U(ngot, 0); /* not due yet: retransmissions could still come */
    both_wm(j, T0 + 10 * SEC);
    CHECK_EQ_U(ngot, 1);
    CHECK(got[0].kind == SM_V_MATCHED);
    CHECK(got[0].client_answer == SM_ANSWER_SYNACK);
    CHECK_EQ_U(got[0].reply_attempts, 1);
    CHECK_EQ_U(got[0].replies_received, 1);
    int64_t rd = 0;
    CHECK(sm_verdict_reply_delay(&got[0], &rd) && rd == 2 * MS);
    CHECK_EQ_U(got[0].isn, 1000);
    CHECK_EQ_U(got[0].attempts, 1);
    CHECK_EQ_U(got[0].lost_before, 0);
    CHECK(got[0].has_server);
    CHECK(got[0].server_answer == SM_ANSWER_SYNACK);
    CHECK_EQ_U(got[0].delay_ns, 2 * MS);
    sm_join_destroy(&j);
    CHECK(j == NULL);
}

static void test_missing_with_retransmissions(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40001, "198.18.1.1", 80);
    int64_t at[] = {0, 1 * SEC, 3 * SEC};
    for (int i = 0; i < 3; i++) {
        struct sm_record r = rec(c, T0 + at[i], SM_TH_SYN, 777, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
        both_wm(j, T0 + at[i]);
    }
    both_wm(j, T0 + 8 * SEC);
    CHECK_EQ_U(ngot, 0); /* quiet period after a 2 s gap is 6 s, plus 1 s skew */
    both_wm(j, T0 + 10 * SEC);
    CHECK_EQ_U(ngot, 1);
    CHECK(got[0].kind == SM_V_MISSING);
    CHECK_EQ_U(got[0].attempts, 3);
    CHECK_EQ_U(got[0].first_ns, T0);
    CHECK_EQ_U(got[0].last_ns, T0 + 3 * SEC);
    CHECK(!got[0].has_server);
    sm_join_destroy(&j);
}

/* Linux backoff (1, 2, 4, 8 s gaps) stays one group with the final attempt count. */
static void test_backoff_one_group(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40002, "198.18.1.1", 443);
    int64_t at[] = {0, 1, 3, 7, 15};
    for (int i = 0; i < 5; i++) {
        struct sm_record r = rec(c, T0 + at[i] * SEC, SM_TH_SYN, 4242, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
        both_wm(j, T0 + at[i] * SEC);
    }
    both_wm(j, T0 + 100 * SEC);
    CHECK_EQ_U(ngot, 1);
    CHECK(got[0].kind == SM_V_MISSING);
    CHECK_EQ_U(got[0].attempts, 5);
    sm_join_destroy(&j);
}

static void test_lost_then_delivered(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40003, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 9, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(c, T0 + SEC, SM_TH_SYN, 9, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(c, T0 + SEC + 500000, SM_TH_SYN, 9, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    synack(j, c, c, 9, T0 + SEC + 600000, T0 + SEC + 900000);
    both_wm(j, T0 + 20 * SEC);
    CHECK_EQ_U(ngot, 1);
    CHECK(got[0].kind == SM_V_MATCHED);
    CHECK_EQ_U(got[0].attempts, 2);
    CHECK_EQ_U(got[0].lost_before, 1);
    CHECK_EQ_U(got[0].delay_ns, 500000);
    sm_join_destroy(&j);
}

/* The server's SYN is known before the client's retransmission is fed: the delivered attempt
 * is still found, by TSval when there is one, else by time. */
static void test_delivered_attempt_when_server_first(void)
{
    for (int with_ts = 0; with_ts < 2; with_ts++) {
        sm_join_t *j = engine(true, false, 0);
        struct sm_tuple c = tup("198.18.0.1", 40020, "198.18.1.1", 80);
        struct sm_record a0 = rec(c, T0, SM_TH_SYN, 500, 0);
        struct sm_record a1 = rec(c, T0 + SEC, SM_TH_SYN, 500, 0);
        struct sm_record sv = rec(c, T0 + SEC + 200000, SM_TH_SYN, 500, 0);
        if (with_ts) {
            a0.opts.present = a1.opts.present = sv.opts.present = SM_OPT_TS;
            a0.opts.tsval = 1000;
            a1.opts.tsval = sv.opts.tsval = 2000;
        }
        sm_join_add(j, SM_ROLE_SERVER, &sv);
        sm_join_add(j, SM_ROLE_CLIENT, &a0);
        sm_join_add(j, SM_ROLE_CLIENT, &a1);
        synack(j, c, c, 500, sv.ts_ns + 10000, sv.ts_ns + 300000);
        sm_join_finish(j);
        CHECK_EQ_U(ngot, 1);
        CHECK(got[0].kind == SM_V_MATCHED);
        CHECK_EQ_U(got[0].attempts, 2);
        CHECK_EQ_U(got[0].lost_before, 1);
        CHECK_EQ_U(got[0].delay_ns, 200000);
        sm_join_destroy(&j);
    }
}

static void test_server_first_and_nat(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40004, "198.18.1.1", 80);
    struct sm_tuple s = tup("198.19.0.1", 61000, "198.18.1.1", 80); /* masqueraded */
    /* The server's clock runs 300 ms behind: its record is earlier and arrives first. */
    struct sm_record r = rec(s, T0 - 300 * MS, SM_TH_SYN, 31337, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(rev(s), T0 - 299 * MS, SM_TH_RST | SM_TH_ACK, 0, 31338);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(c, T0, SM_TH_SYN, 31337, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(rev(c), T0 + 2 * MS, SM_TH_RST | SM_TH_ACK, 0, 31338);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 20 * SEC);
    CHECK_EQ_U(ngot, 1);
    CHECK(got[0].kind == SM_V_REFUSED); /* the server's RST reached the client */
    CHECK(got[0].server_answer == SM_ANSWER_RST);
    CHECK_EQ_U(got[0].server.sport, 61000);
    CHECK_EQ_U(got[0].client.sport, 40004);
    CHECK(got[0].delay_ns == -300 * MS);
    sm_join_destroy(&j);
}

static void test_answered_by_middlebox(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("2001:db8::1", 40005, "2001:db8::2", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 123, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(rev(c), T0 + MS, SM_TH_SYN | SM_TH_ACK, 999, 124);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    struct sm_tuple c2 = tup("2001:db8::1", 40006, "2001:db8::2", 80);
    r = rec(c2, T0, SM_TH_SYN, 456, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(rev(c2), T0 + MS, SM_TH_RST | SM_TH_ACK, 0, 457);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 20 * SEC);
    CHECK_EQ_U(ngot, 2);
    CHECK_EQ_U(count_kind(SM_V_ANSWERED_BY_MIDDLEBOX), 2);
    for (size_t i = 0; i < ngot; i++)
        CHECK(got[i].client_answer == (got[i].isn == 123 ? SM_ANSWER_SYNACK : SM_ANSWER_RST));
    sm_join_destroy(&j);
}

/* A silent server sensor (no watermark) never turns a SYN into a false alert. */
static void test_no_server_watermark_no_verdict(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40007, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 1, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    sm_join_watermark(j, SM_ROLE_CLIENT, T0 + 3600 * SEC);
    CHECK_EQ_U(ngot, 0);
    /* The server capture ends 2 s after the SYN: it could not have witnessed it. */
    sm_join_end(j, SM_ROLE_SERVER, T0 + 2 * SEC);
    CHECK_EQ_U(ngot, 1);
    CHECK(got[0].kind == SM_V_UNKNOWN);
    CHECK_EQ_S(got[0].reason, "after_server_capture");
    sm_join_destroy(&j);
}

static void test_before_coverage_and_loss(void)
{
    sm_join_t *j = engine(true, false, 0);
    sm_join_coverage_start(j, SM_ROLE_SERVER, T0 + 10 * SEC);
    sm_join_blind(j, SM_ROLE_SERVER, SM_VIEW_ALL, T0 + 30 * SEC, T0 + 31 * SEC, SM_V_SENSOR_CAPTURE_LOSS);
    struct sm_tuple c = tup("198.18.0.1", 40008, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0 + 5 * SEC, SM_TH_SYN, 11, 0); /* before the capture */
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(c, T0 + 30 * SEC + 500 * MS, SM_TH_SYN, 22, 0); /* during the drops */
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(c, T0 + 50 * SEC, SM_TH_SYN, 33, 0); /* clean */
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 100 * SEC);
    CHECK_EQ_U(ngot, 0); /* held: offline mode decides unmatched groups at the end */
    sm_join_end(j, SM_ROLE_CLIENT, T0 + 100 * SEC);
    sm_join_end(j, SM_ROLE_SERVER, T0 + 100 * SEC);
    sm_join_finish(j);
    CHECK_EQ_U(ngot, 3);
    for (size_t i = 0; i < ngot; i++) {
        if (got[i].isn == 11) {
            CHECK(got[i].kind == SM_V_UNKNOWN);
            CHECK_EQ_S(got[i].reason, "before_server_capture");
        } else if (got[i].isn == 22) {
            CHECK(got[i].kind == SM_V_SENSOR_CAPTURE_LOSS);
        } else {
            CHECK(got[i].kind == SM_V_MISSING);
        }
    }
    sm_join_destroy(&j);
}

/* Views: port 80 is served by server view 1, port 81 by view 2. */
static int32_t view_by_port(void *arg, const struct sm_tuple *t)
{
    (void)arg;
    return t->dport == 80 ? 1 : t->dport == 81 ? 2 : SM_SCOPE_OUT;
}

/* One server sensor's blind time (its view) makes only the SYNs to what it serves unknown;
 * a blind interval of all views reaches every view; host hints are per view too. */
static void test_blind_views(void)
{
    ngot = 0;
    struct sm_join_config cfg = {.on_verdict = collect, .in_scope = view_by_port};
    sm_join_t *j = sm_join_new(&cfg);
    sm_join_blind(j, SM_ROLE_SERVER, 2, T0 + 10 * SEC, T0 + 12 * SEC, SM_V_SENSOR_DOWN);
    sm_join_blind(j, SM_ROLE_SERVER, SM_VIEW_ALL, T0 + 30 * SEC, T0 + 31 * SEC,
                  SM_V_TRANSPORT_LOSS);
    sm_join_hint(j, 1, T0 + 50 * SEC, T0 + 51 * SEC, SM_HINT_LISTEN_OVERFLOW);
    struct {
        int64_t at;
        unsigned dport;
        bool answered_by_server; /* the server saw it and sent nothing */
    } c[] = {{10, 80, false}, {10, 81, false}, {30, 80, false}, {30, 81, false},
             {50, 80, true},  {50, 81, true}};
    for (unsigned i = 0; i < 6; i++) {
        struct sm_tuple t = tup("198.18.0.1", 40200 + i, "198.18.1.1", c[i].dport);
        struct sm_record r = rec(t, T0 + c[i].at * SEC, SM_TH_SYN, 1200 + i, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
        if (c[i].answered_by_server) {
            struct sm_record sr = rec(t, T0 + c[i].at * SEC + MS, SM_TH_SYN, 1200 + i, 0);
            sm_join_add(j, SM_ROLE_SERVER, &sr);
        }
    }
    both_wm(j, T0 + 100 * SEC);
    CHECK_EQ_U(ngot, 6);
    for (size_t i = 0; i < ngot; i++) {
        switch (got[i].isn - 1200) {
        case 0:
            CHECK(got[i].kind == SM_V_MISSING); /* view 1 saw that time */
            break;
        case 1:
            CHECK(got[i].kind == SM_V_SENSOR_DOWN);
            CHECK_EQ_S(got[i].reason, "server_sensor_down");
            break;
        case 2:
        case 3:
            CHECK(got[i].kind == SM_V_TRANSPORT_LOSS);
            break;
        case 4:
            CHECK(got[i].kind == SM_V_UNANSWERED);
            CHECK_EQ_S(got[i].reason, "listen_queue_overflow");
            break;
        case 5:
            CHECK(got[i].kind == SM_V_UNANSWERED);
            CHECK(got[i].reason == NULL); /* the overflow was view 1's host */
            break;
        }
    }
    sm_join_destroy(&j);
}

/* Evidence gaps of each kind name the verdict; the most serious kind wins; a client-side
 * capture gap also prevents `missing` (a SYN/ACK may have been lost from view). */
static void test_blind_kinds(void)
{
    sm_join_t *j = engine(false, false, 0);
    sm_join_blind(j, SM_ROLE_SERVER, SM_VIEW_ALL, T0 + 10 * SEC, T0 + 11 * SEC, SM_V_TRANSPORT_LOSS);
    sm_join_blind(j, SM_ROLE_SERVER, SM_VIEW_ALL, T0 + 20 * SEC, T0 + 21 * SEC, SM_V_SENSOR_CAPTURE_LOSS);
    sm_join_blind(j, SM_ROLE_SERVER, SM_VIEW_ALL, T0 + 20 * SEC + 500 * MS, T0 + 30 * SEC, SM_V_SENSOR_DOWN);
    sm_join_blind(j, SM_ROLE_CLIENT, SM_VIEW_ALL, T0 + 40 * SEC, T0 + 40 * SEC, SM_V_SENSOR_CAPTURE_LOSS);
    int64_t at[] = {10, 20, 40, 60};
    for (int i = 0; i < 4; i++) {
        struct sm_tuple c = tup("198.18.0.1", 40100 + (unsigned)i, "198.18.1.1", 80);
        struct sm_record r = rec(c, T0 + at[i] * SEC, SM_TH_SYN, 900 + (uint32_t)i, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
    }
    both_wm(j, T0 + 100 * SEC);
    CHECK_EQ_U(ngot, 4);
    for (size_t i = 0; i < ngot; i++) {
        switch (got[i].isn) {
        case 900:
            CHECK(got[i].kind == SM_V_TRANSPORT_LOSS);
            CHECK_EQ_S(got[i].reason, "server_records_lost");
            break;
        case 901:
            CHECK(got[i].kind == SM_V_SENSOR_DOWN);
            break;
        case 902:
            CHECK(got[i].kind == SM_V_SENSOR_CAPTURE_LOSS);
            CHECK_EQ_S(got[i].reason, "client_capture_drops");
            break;
        default:
            CHECK(got[i].kind == SM_V_MISSING);
        }
    }
    sm_join_destroy(&j);
}

static int32_t only_dst_80(void *arg, const struct sm_tuple *t)
{
    (void)arg;
    return t->dport == 80 ? (int32_t)SM_VIEW_ALL : SM_SCOPE_OUT;
}

static void test_scope(void)
{
    ngot = 0;
    struct sm_join_config cfg = {.on_verdict = collect, .in_scope = only_dst_80};
    sm_join_t *j = sm_join_new(&cfg);
    struct sm_tuple in = tup("198.18.0.1", 40009, "198.18.1.1", 80);
    struct sm_tuple out = tup("198.18.0.1", 40010, "198.18.1.1", 53);
    struct sm_record r = rec(in, T0, SM_TH_SYN, 1, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(out, T0, SM_TH_SYN, 2, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 20 * SEC);
    CHECK_EQ_U(ngot, 1);
    CHECK_EQ_U(got[0].isn, 1);
    struct sm_join_stats st;
    sm_join_get_stats(j, &st);
    CHECK_EQ_U(st.out_of_scope, 1);
    CHECK_EQ_U(st.pending, 0);
    sm_join_destroy(&j);
}

static void test_ambiguous(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40011, "198.18.1.1", 80);
    struct sm_tuple s1 = tup("198.19.0.1", 1000, "198.18.1.1", 80);
    struct sm_tuple s2 = tup("198.19.0.2", 2000, "198.18.1.1", 80);
    struct sm_record r = rec(s1, T0 + MS, SM_TH_SYN, 55, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(s2, T0 + MS, SM_TH_SYN, 55, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(c, T0, SM_TH_SYN, 55, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 20 * SEC);
    CHECK_EQ_U(ngot, 1);
    CHECK(got[0].kind == SM_V_AMBIGUOUS);
    CHECK_EQ_U(got[0].candidates, 2);
    sm_join_destroy(&j);
}

/* Ambiguity does not depend on which side arrives first (review finding). */
static void test_ambiguous_any_order(void)
{
    for (int order = 0; order < 3; order++) {
        sm_join_t *j = engine(false, false, 0);
        struct sm_tuple c = tup("198.18.0.1", 40040, "198.18.1.1", 80);
        struct sm_tuple s1 = tup("198.19.0.1", 1000, "198.18.1.1", 80);
        struct sm_tuple s2 = tup("198.19.0.2", 2000, "198.18.1.1", 80);
        struct sm_record rc = rec(c, T0, SM_TH_SYN, 57, 0);
        struct sm_record r1 = rec(s1, T0 + 10 * MS, SM_TH_SYN, 57, 0);
        struct sm_record r2 = rec(s2, T0 + 20 * MS, SM_TH_SYN, 57, 0);
        const struct sm_record *seq3[3][3] = {{&rc, &r1, &r2}, {&r1, &rc, &r2}, {&r1, &r2, &rc}};
        for (int k = 0; k < 3; k++)
            sm_join_add(j, seq3[order][k] == &rc ? SM_ROLE_CLIENT : SM_ROLE_SERVER,
                        seq3[order][k]);
        both_wm(j, T0 + 20 * SEC);
        CHECK_EQ_U(ngot, 1);
        CHECK(got[0].kind == SM_V_AMBIGUOUS);
        sm_join_destroy(&j);
    }
    /* Two client groups, one server SYN: both ambiguous, neither missing. */
    for (int order = 0; order < 2; order++) {
        sm_join_t *j = engine(false, false, 0);
        struct sm_tuple c1 = tup("198.18.0.1", 40041, "198.18.1.1", 80);
        struct sm_tuple c2 = tup("198.18.0.2", 40042, "198.18.1.1", 80);
        struct sm_tuple sv = tup("198.19.0.1", 1000, "198.18.1.1", 80);
        struct sm_record a = rec(c1, T0, SM_TH_SYN, 58, 0), b = rec(c2, T0, SM_TH_SYN, 58, 0);
        struct sm_record r = rec(sv, T0 + MS, SM_TH_SYN, 58, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &a);
        if (order == 0) {
            sm_join_add(j, SM_ROLE_CLIENT, &b);
            sm_join_add(j, SM_ROLE_SERVER, &r);
        } else {
            sm_join_add(j, SM_ROLE_SERVER, &r);
            sm_join_add(j, SM_ROLE_CLIENT, &b);
        }
        both_wm(j, T0 + 20 * SEC);
        CHECK_EQ_U(ngot, 2);
        CHECK_EQ_U(count_kind(SM_V_AMBIGUOUS), 2);
        sm_join_destroy(&j);
    }
}

/* Coverage is judged before an answer: a SYN the server capture could not have seen is
 * unknown even when the client got a SYN/ACK; the last attempt decides the end. */
static void test_coverage_before_answer(void)
{
    sm_join_t *j = engine(true, false, 0);
    sm_join_coverage_start(j, SM_ROLE_SERVER, T0 + 60 * SEC);
    struct sm_tuple c = tup("198.18.0.1", 40050, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 71, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(rev(c), T0 + MS, SM_TH_SYN | SM_TH_ACK, 5, 72);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    struct sm_tuple c2 = tup("198.18.0.1", 40051, "198.18.1.1", 80);
    int64_t at[] = {61, 62, 64, 68};
    for (int i = 0; i < 4; i++) {
        r = rec(c2, T0 + at[i] * SEC, SM_TH_SYN, 72, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
    }
    sm_join_end(j, SM_ROLE_CLIENT, T0 + 100 * SEC);
    sm_join_end(j, SM_ROLE_SERVER, T0 + 70 * SEC); /* before the last attempt + 4 s */
    sm_join_finish(j);
    /* The second group's first three attempts could have been seen (61 + 3 + 1 <= 70 ...),
     * its last could not: partly outside, never missing. */
    CHECK_EQ_U(ngot, 2);
    for (size_t i = 0; i < ngot; i++) {
        CHECK(got[i].kind == SM_V_UNKNOWN);
        CHECK_EQ_S(got[i].reason,
                   got[i].isn == 71 ? "before_server_capture" : "partly_outside_server_capture");
        CHECK_EQ_U(got[i].attempts_inside, got[i].isn == 71 ? 0 : 3);
    }
    sm_join_destroy(&j);
}

/* Hostile timestamps far apart do not overflow (UBSan checks this test). */
static void test_extreme_timestamps(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40060, "198.18.1.1", 80);
    struct sm_record r = rec(c, INT64_MIN + 5, SM_TH_SYN, 81, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(c, INT64_MAX - 5, SM_TH_SYN, 81, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    sm_join_finish(j);
    CHECK(ngot >= 1);
    sm_join_destroy(&j);
}

/* The heap follows the live entries even when the horizon never moves (review finding). */
static void test_heap_bounded_without_watermark(void)
{
    sm_join_t *j = engine(false, false, 100);
    struct sm_tuple c = tup("198.18.0.1", 40070, "198.18.1.1", 80);
    for (int i = 0; i < 200000; i++) {
        struct sm_record r = rec(c, T0, SM_TH_SYN, (uint32_t)(i % 5000), 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
    }
    struct sm_join_stats st;
    sm_join_get_stats(j, &st);
    CHECK(st.pending <= 100);
    CHECK(sm_join_heap_size(j) <= 2 * 100 + 1024 + 1);
    sm_join_destroy(&j);
}

/* Decisions per call are bounded; sm_join_tick() works through the backlog. */
static void test_bounded_work(void)
{
    ngot = 0;
    struct sm_join_config cfg = {.on_verdict = collect, .max_work = 100};
    sm_join_t *j = sm_join_new(&cfg);
    for (unsigned i = 0; i < 1000; i++) {
        struct sm_tuple c = tup("198.18.0.1", 20000 + i, "198.18.1.1", 80);
        struct sm_record r = rec(c, T0 + i * MS, SM_TH_SYN, 3000 + i, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
    }
    both_wm(j, T0 + 60 * SEC);
    CHECK(ngot <= 200); /* two watermark calls, 100 each at most */
    int ticks = 0;
    while (sm_join_tick(j) && ticks < 100)
        ticks++;
    CHECK_EQ_U(ngot, 1000);
    CHECK(ticks >= 7);
    sm_join_destroy(&j);
}

/* Clocks further apart than the allowance: matches still found (and measured); SYNs that
 * depend on the offset become unknown, never missing. */
/* Twenty healthy handshakes with the server's clock off by `off`, then a SYN the server never
 * saw, all given before any watermark (the estimate is confident before the first decision,
 * and the groups linked before it are moved with the correction); no_correction as given. */
static sm_join_t *offset_run(int64_t off, bool no_correction, unsigned port)
{
    ngot = 0;
    struct sm_join_config cfg = {.on_verdict = collect, .no_clock_correction = no_correction};
    sm_join_t *j = sm_join_new(&cfg);
    for (unsigned i = 0; i < 20; i++) {
        struct sm_tuple c = tup("198.18.0.1", port + i, "198.18.1.1", 80);
        struct sm_record r = rec(c, T0 + i * SEC, SM_TH_SYN, port * 10 + i, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
        r.ts_ns += off + MS;
        sm_join_add(j, SM_ROLE_SERVER, &r);
        synack(j, c, c, port * 10 + i, r.ts_ns + 10000, T0 + i * SEC + 2 * MS);
    }
    struct sm_tuple lost = tup("198.18.0.1", port + 100, "198.18.1.1", 80);
    struct sm_record r = rec(lost, T0 + 30 * SEC, SM_TH_SYN, port * 10 + 100, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    sm_join_watermark(j, SM_ROLE_CLIENT, T0 + 100 * SEC);
    sm_join_watermark(j, SM_ROLE_SERVER, T0 + 100 * SEC + off);
    return j;
}

static void test_clock_offset(void)
{
    /* Measured from the handshakes and corrected: the lost SYN is missing, the matched ones'
     * delay is the one-way delay (1 ms), the verdicts carry the offset. */
    for (int sign = -1; sign <= 1; sign += 2) {
        int64_t off = sign * 3 * SEC;
        sm_join_t *j = offset_run(off, false, 21000);
        CHECK_EQ_U(count_kind(SM_V_MATCHED), 20);
        CHECK_EQ_U(count_kind(SM_V_MISSING), 1);
        struct sm_clock_estimate ce;
        sm_join_get_clock(j, &ce);
        CHECK(ce.confident && ce.corrected && ce.two_legs);
        CHECK(ce.offset_ns > off - MS && ce.offset_ns < off + MS);
        CHECK(ce.pairs == 20 && ce.back_pairs == 20 && ce.steps == 0);
        CHECK(ce.changes >= 1);
        for (size_t k = 0; k < ngot; k++) {
            CHECK(got[k].clock_corrected);
            if (got[k].kind == SM_V_MATCHED) {
                CHECK(got[k].delay_ns > 0 && got[k].delay_ns < 2 * MS);
                /* the server's own clock in the verdict */
                CHECK(got[k].server_first_ns - got[k].first_ns > off);
            }
        }
        sm_join_destroy(&j);
    }
    /* Told not to correct: measured all the same; the lost SYN cannot be judged. */
    for (int sign = -1; sign <= 1; sign += 2) {
        int64_t off = sign * 3 * SEC;
        sm_join_t *j = offset_run(off, true, 23000);
        CHECK_EQ_U(count_kind(SM_V_MATCHED), 20);
        CHECK_EQ_U(count_kind(SM_V_MISSING), 0);
        CHECK_EQ_U(count_kind(SM_V_UNKNOWN), 1);
        struct sm_clock_estimate ce;
        sm_join_get_clock(j, &ce);
        CHECK(ce.confident && !ce.corrected);
        CHECK(ce.offset_ns > off - MS && ce.offset_ns < off + MS);
        struct sm_join_stats st;
        sm_join_get_stats(j, &st);
        CHECK(st.offset_ns > off - 10 * MS && st.offset_ns < off + 10 * MS);
        sm_join_destroy(&j);
    }
    /* Clocks that agree (1 ms of one-way delay, no offset): nothing is translated. */
    {
        sm_join_t *j = offset_run(0, false, 25000);
        CHECK_EQ_U(count_kind(SM_V_MISSING), 1);
        struct sm_clock_estimate ce;
        sm_join_get_clock(j, &ce);
        CHECK(ce.confident && !ce.corrected);
        CHECK(ce.offset_ns > -MS && ce.offset_ns < MS);
        for (size_t k = 0; k < ngot; k++)
            CHECK(!got[k].clock_corrected && got[k].clock_offset_ns == 0);
        sm_join_destroy(&j);
    }
}

static unsigned wild_every; /* observe_pairs: a wild pair before every n-th (0 = none) */

/* n connections from t0, one per gap, the server's clock at off(t) ahead: shown to the
 * estimator only (sm_join_observe), the server's side first when server_first. */
static void observe_pairs(sm_join_t *j, unsigned n, int64_t t0, int64_t gap, uint32_t isn0,
                          int64_t (*off)(int64_t), bool answers, bool server_first)
{
    struct sm_record c[2], s[2];
    for (unsigned i = 0; i < n; i++) {
        if (wild_every && i % wild_every == 0) {
            /* an ISN two connections shared: any delta within 20 s either way */
            struct sm_tuple t = tup("198.18.0.2", 2000 + i, "198.18.1.1", 443);
            int64_t tc = t0 + (int64_t)i * gap;
            struct sm_record wc = rec(t, tc, SM_TH_SYN, 900000 + i, 0);
            struct sm_record ws = rec(t, tc + (int64_t)(i * 7919 % 40) * SEC - 20 * SEC,
                                      SM_TH_SYN, 900000 + i, 0);
            sm_join_observe(j, SM_ROLE_CLIENT, &wc, 1);
            sm_join_observe(j, SM_ROLE_SERVER, &ws, 1);
        }
        struct sm_tuple t = tup("198.18.0.1", 1024 + i % 60000, "198.18.1.1", 443);
        int64_t tc = t0 + (int64_t)i * gap, o = off(tc);
        c[0] = rec(t, tc, SM_TH_SYN, isn0 + i, 0);
        s[0] = rec(t, tc + o + MS, SM_TH_SYN, isn0 + i, 0);
        s[1] = rec(rev(t), tc + o + MS + 20000, SM_TH_SYN | SM_TH_ACK, 7, isn0 + i + 1);
        c[1] = rec(rev(t), tc + 2 * MS + 20000, SM_TH_SYN | SM_TH_ACK, 7, isn0 + i + 1);
        size_t k = answers ? 2 : 1;
        if (server_first) {
            sm_join_observe(j, SM_ROLE_SERVER, s, k);
            sm_join_observe(j, SM_ROLE_CLIENT, c, k);
        } else {
            sm_join_observe(j, SM_ROLE_CLIENT, c, k);
            sm_join_observe(j, SM_ROLE_SERVER, s, k);
        }
    }
}

static int64_t off_days(int64_t t)
{
    (void)t;
    return -3 * 86400 * SEC;
}

static int64_t off_step(int64_t t)
{
    return t < T0 + 100 * SEC ? 5 * SEC : 7 * SEC;
}

static int64_t off_drift(int64_t t)
{
    return 2 * SEC + (t - T0) / 5000; /* 200 ppm */
}

static void test_clock_estimator(void)
{
    struct sm_clock_estimate ce;
    /* Days apart, wild pairs among them (ISNs two connections shared, a replayed capture):
     * the medians outvote them. */
    {
        sm_join_t *j = engine(false, false, 0);
        wild_every = 16;
        observe_pairs(j, 200, T0, 500 * MS, 100000, off_days, true, false);
        wild_every = 0;
        sm_join_get_clock(j, &ce);
        CHECK(ce.confident && ce.corrected && ce.two_legs && ce.steps == 0);
        CHECK(ce.offset_ns > off_days(0) - MS && ce.offset_ns < off_days(0) + MS);
        CHECK(ce.applied_ns > off_days(0) - MS && ce.applied_ns < off_days(0) + MS);
        CHECK(ce.pairs == 213 && ce.back_pairs == 200);
        sm_join_destroy(&j);
    }
    /* The server's side shown first changes nothing. */
    {
        sm_join_t *j = engine(false, false, 0);
        observe_pairs(j, 100, T0, 500 * MS, 200000, off_days, true, true);
        sm_join_get_clock(j, &ce);
        CHECK(ce.offset_ns > off_days(0) - MS && ce.offset_ns < off_days(0) + MS);
        sm_join_destroy(&j);
    }
    /* A step of +2 s at 100 s is a new segment, not averaged away. */
    {
        sm_join_t *j = engine(false, false, 0);
        observe_pairs(j, 400, T0, 500 * MS, 300000, off_step, true, false);
        sm_join_get_clock(j, &ce);
        CHECK_EQ_U(ce.steps, 1);
        CHECK(ce.offset_ns > 7 * SEC - MS && ce.offset_ns < 7 * SEC + MS);
        CHECK(ce.segment_from_ns >= T0 + 99 * SEC && ce.segment_from_ns <= T0 + 100 * SEC);
        /* server times before the step are read with the old offset, after with the new */
        CHECK(sm_join_client_time(j, SM_ROLE_SERVER, T0 + 50 * SEC + 5 * SEC) ==
              T0 + 50 * SEC);
        CHECK(sm_join_client_time(j, SM_ROLE_SERVER, T0 + 150 * SEC + 7 * SEC) ==
              T0 + 150 * SEC);
        sm_join_destroy(&j);
    }
    /* 200 ppm of drift over 10 minutes: the line through the knots, read at the middle. */
    {
        sm_join_t *j = engine(false, false, 0);
        observe_pairs(j, 1200, T0, 500 * MS, 400000, off_drift, true, false);
        sm_join_get_clock(j, &ce);
        CHECK(ce.steps == 0);
        CHECK(ce.drift_ppm > 195 && ce.drift_ppm < 205);
        int64_t want = off_drift(ce.at_ns);
        CHECK(ce.offset_ns > want - MS && ce.offset_ns < want + MS);
        CHECK(ce.at_ns > T0 + 290 * SEC && ce.at_ns < T0 + 310 * SEC);
        sm_join_destroy(&j);
    }
    /* SYNs alone: the forward delta stands for the offset, one-way delay included. */
    {
        sm_join_t *j = engine(false, false, 0);
        observe_pairs(j, 50, T0, 500 * MS, 500000, off_days, false, false);
        sm_join_get_clock(j, &ce);
        CHECK(ce.confident && !ce.two_legs && ce.back_pairs == 0);
        CHECK(ce.offset_ns == off_days(0) + MS);
        sm_join_destroy(&j);
    }
    /* Nothing seen by both: nothing measured, nothing corrected. */
    {
        sm_join_t *j = engine(false, false, 0);
        observe_pairs(j, 10, T0, 500 * MS, 600000, off_days, true, false);
        sm_join_get_clock(j, &ce);
        CHECK(!ce.confident && !ce.corrected && ce.pairs == 10);
        CHECK(sm_join_client_time(j, SM_ROLE_SERVER, T0) == T0);
        sm_join_destroy(&j);
    }
}

/* ISNs rewritten between the captures: matched by fingerprint, offline, only when unique. */
static void test_fingerprint(void)
{
    sm_join_t *j = engine(true, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40000, "198.18.1.1", 443);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 1111, 0);
    r.opts.present = SM_OPT_TS;
    r.opts.tsval = 500;
    r.ip_id = 77;
    r.window = 64240;
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    struct sm_record s = r;
    s.seq = 987654;
    s.ts_ns = T0 + MS;
    sm_join_add(j, SM_ROLE_SERVER, &s);
    /* the server acknowledges the ISN it saw; the device gives the client its own back */
    struct sm_record sa = rec(rev(c), T0 + 2 * MS, SM_TH_SYN | SM_TH_ACK, 9, 987655);
    sm_join_add(j, SM_ROLE_SERVER, &sa);
    struct sm_record ca = rec(rev(c), T0 + 3 * MS, SM_TH_SYN | SM_TH_ACK, 9, 1112);
    sm_join_add(j, SM_ROLE_CLIENT, &ca);
    /* two server SYNs a group cannot tell apart: another ISN each, the same prints */
    struct sm_tuple c2 = tup("198.18.0.2", 40001, "198.18.1.1", 443);
    struct sm_record g2 = rec(c2, T0 + 10 * SEC, SM_TH_SYN, 2222, 0);
    g2.opts.present = SM_OPT_TS;
    g2.opts.tsval = 900;
    sm_join_add(j, SM_ROLE_CLIENT, &g2);
    for (uint32_t k = 0; k < 2; k++) {
        struct sm_record t = g2;
        t.seq = 5000 + k;
        t.ts_ns = T0 + 10 * SEC + MS;
        sm_join_add(j, SM_ROLE_SERVER, &t);
    }
    both_wm(j, T0 + 60 * SEC);
    sm_join_end(j, SM_ROLE_CLIENT, T0 + 60 * SEC);
    sm_join_end(j, SM_ROLE_SERVER, T0 + 60 * SEC);
    sm_join_finish(j);
    CHECK_EQ_U(count_kind(SM_V_MATCHED), 1);
    CHECK_EQ_U(count_kind(SM_V_AMBIGUOUS), 1);
    CHECK_EQ_U(count_kind(SM_V_MISSING), 0);
    for (size_t k = 0; k < ngot; k++) {
        if (got[k].kind == SM_V_MATCHED) {
            CHECK(got[k].fingerprint);
            CHECK_EQ_U(got[k].server_seq, 987654);
            CHECK_EQ_U(got[k].isn, 1111);
        }
    }
    struct sm_join_stats st;
    sm_join_get_stats(j, &st);
    CHECK_EQ_U(st.isn_rewritten, 1);
    sm_join_destroy(&j);
}

/*
 * A reused source port's two connections in one millisecond carry one TSval, and the
 * second's first SYN met the first's TIME_WAIT (challenge ACK), so it was sent twice: the
 * attempt counts tell the two rewritten server SYNs apart (found in the lab through the
 * ISN-randomizing firewall). Offline and live.
 */
static void test_fp_attempts_tie(void)
{
    for (int hold = 0; hold <= 1; hold++) {
        sm_join_t *j = engine(hold, false, 0);
        struct sm_tuple c = tup("198.18.0.1", 61080, "198.18.1.1", 8080);
        struct sm_record r = rec(c, T0, SM_TH_SYN, 1000, 0);
        r.opts.present = SM_OPT_TS;
        r.opts.tsval = 126;
        r.window = 64240;
        /* client: A once, B twice (12 ms apart, the second with a later TSval) */
        struct sm_record a = r, b1 = r, b2 = r;
        b1.seq = b2.seq = 2000;
        b1.ts_ns = T0 + MS;
        b2.ts_ns = T0 + 13 * MS;
        b2.opts.tsval = 138;
        /* the server sees each with its rewritten ISN */
        struct sm_record sa = a, sb1 = b1, sb2 = b2;
        sa.seq = 700000;
        sb1.seq = sb2.seq = 900000;
        sa.ts_ns += 100 * 1000;
        sb1.ts_ns += 100 * 1000;
        sb2.ts_ns += 100 * 1000;
        sm_join_add(j, SM_ROLE_CLIENT, &a);
        sm_join_add(j, SM_ROLE_SERVER, &sa);
        sm_join_add(j, SM_ROLE_CLIENT, &b1);
        sm_join_add(j, SM_ROLE_SERVER, &sb1);
        sm_join_add(j, SM_ROLE_CLIENT, &b2);
        sm_join_add(j, SM_ROLE_SERVER, &sb2);
        struct sm_record ans = rec(rev(c), T0 + 20 * MS, SM_TH_SYN | SM_TH_ACK, 9, 1001);
        sm_join_add(j, SM_ROLE_CLIENT, &ans);
        ans = rec(rev(c), T0 + 20 * MS, SM_TH_SYN | SM_TH_ACK, 9, 700001);
        sm_join_add(j, SM_ROLE_SERVER, &ans);
        ans = rec(rev(c), T0 + 30 * MS, SM_TH_SYN | SM_TH_ACK, 19, 2001);
        sm_join_add(j, SM_ROLE_CLIENT, &ans);
        ans = rec(rev(c), T0 + 30 * MS, SM_TH_SYN | SM_TH_ACK, 19, 900001);
        sm_join_add(j, SM_ROLE_SERVER, &ans);
        for (int64_t t = 1; t <= 120; t++)
            both_wm(j, T0 + t * SEC);
        sm_join_end(j, SM_ROLE_CLIENT, T0 + 120 * SEC);
        sm_join_end(j, SM_ROLE_SERVER, T0 + 120 * SEC);
        sm_join_finish(j);
        CHECK_EQ_U(count_kind(SM_V_MATCHED), 2);
        for (size_t k = 0; k < ngot; k++) {
            if (got[k].kind != SM_V_MATCHED)
                continue;
            CHECK(got[k].fingerprint);
            CHECK_EQ_U(got[k].server_seq, got[k].isn == 1000 ? 700000u : 900000u);
        }
        sm_join_destroy(&j);
    }
}

/*
 * Behind a rewriting device, a client SYN with nothing but its ports (IPv6 without
 * timestamps) is unknown (isn_rewritten_unmatchable) when the server saw SYNs to its port
 * that could have been it, but missing when the server saw no SYN to that port at all.
 * Offline and live.
 */
static void test_fp_port_unseen(void)
{
    for (int hold = 0; hold <= 1; hold++) {
        sm_join_t *j = engine(hold, false, 0);
        /* a rewrite seen: a timestamped SYN matched by fingerprint */
        struct sm_tuple c = tup("198.18.0.1", 40000, "198.18.1.1", 443);
        struct sm_record r = rec(c, T0, SM_TH_SYN, 1111, 0);
        r.opts.present = SM_OPT_TS;
        r.opts.tsval = 500;
        r.window = 64240;
        sm_join_add(j, SM_ROLE_CLIENT, &r);
        struct sm_record sv = r;
        sv.seq = 987654;
        sv.ts_ns = T0 + MS;
        sm_join_add(j, SM_ROLE_SERVER, &sv);
        struct sm_record ans = rec(rev(c), T0 + 2 * MS, SM_TH_SYN | SM_TH_ACK, 9, 1112);
        sm_join_add(j, SM_ROLE_CLIENT, &ans);
        ans.ack = 987655;
        sm_join_add(j, SM_ROLE_SERVER, &ans);
        for (int64_t t = 1; t <= 10; t++)
            both_wm(j, T0 + t * SEC);
        /* then two SYNs with no print, unanswered: one to port 80, where the server saw a
         * SYN it cannot tell apart, one to port 8081, where it saw none */
        struct sm_record w80 = rec(tup("198.18.0.1", 40001, "198.18.1.1", 80), T0 + 20 * SEC,
                                   SM_TH_SYN, 2222, 0);
        struct sm_record w81 = rec(tup("198.18.0.1", 40002, "198.18.1.1", 8081), T0 + 20 * SEC,
                                   SM_TH_SYN, 3333, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &w80);
        sm_join_add(j, SM_ROLE_CLIENT, &w81);
        struct sm_record o80 = rec(tup("198.18.0.7", 50000, "198.18.1.1", 80), T0 + 20 * SEC + MS,
                                   SM_TH_SYN, 4444, 0);
        sm_join_add(j, SM_ROLE_SERVER, &o80);
        for (int64_t t = 11; t <= 120; t++)
            both_wm(j, T0 + t * SEC);
        sm_join_end(j, SM_ROLE_CLIENT, T0 + 120 * SEC);
        sm_join_end(j, SM_ROLE_SERVER, T0 + 120 * SEC);
        sm_join_finish(j);
        for (size_t k = 0; k < ngot; k++) {
            if (got[k].kind == SM_V_SUSPECT)
                continue;
            if (got[k].isn == 2222) {
                CHECK_EQ_U(got[k].kind, SM_V_UNKNOWN);
                CHECK_EQ_S(got[k].reason, "isn_rewritten_unmatchable");
            } else if (got[k].isn == 3333) {
                CHECK_EQ_U(got[k].kind, SM_V_MISSING);
            } else {
                CHECK_EQ_U(got[k].isn, 1111);
                CHECK(got[k].fingerprint);
            }
        }
        CHECK_EQ_U(count_final(), 3);
        sm_join_destroy(&j);
    }
}

/* A destination port that survives NAT breaks the tie between two ISN-equal server SYNs. */
static void test_port_disambiguates(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40012, "198.18.1.1", 443);
    struct sm_tuple s1 = tup("198.19.0.1", 1000, "198.18.1.1", 80);
    struct sm_tuple s2 = tup("198.19.0.1", 1001, "198.18.1.1", 443);
    struct sm_record r = rec(s1, T0 + MS, SM_TH_SYN, 56, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(s2, T0 + MS, SM_TH_SYN, 56, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(c, T0, SM_TH_SYN, 56, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    synack(j, c, s2, 56, T0 + 2 * MS, T0 + 3 * MS);
    both_wm(j, T0 + 20 * SEC);
    CHECK_EQ_U(ngot, 1);
    CHECK(got[0].kind == SM_V_MATCHED);
    CHECK_EQ_U(got[0].server.sport, 1001);
    sm_join_destroy(&j);
}

/* The same ISN minutes apart is two connections: the later server SYN must not rescue the
 * earlier, held, missing group (found on the benchmark pair). */
static void test_isn_reused_later(void)
{
    sm_join_t *j = engine(true, false, 0);
    struct sm_tuple a = tup("198.18.0.1", 40030, "198.18.1.1", 443);
    struct sm_tuple b = tup("198.18.0.2", 40031, "198.18.1.1", 443);
    struct sm_record r = rec(a, T0, SM_TH_SYN, 3462956269u, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 170 * SEC);
    r = rec(b, T0 + 172 * SEC, SM_TH_SYN, 3462956269u, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(b, T0 + 172 * SEC + 3 * MS, SM_TH_SYN, 3462956269u, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    synack(j, b, b, 3462956269u, T0 + 172 * SEC + 4 * MS, T0 + 172 * SEC + 7 * MS);
    sm_join_finish(j);
    CHECK_EQ_U(ngot, 2);
    for (size_t i = 0; i < ngot; i++) {
        if (got[i].client.sport == 40030)
            CHECK(got[i].kind == SM_V_MISSING);
        else
            CHECK(got[i].kind == SM_V_MATCHED && got[i].delay_ns == 3 * MS);
    }
    sm_join_destroy(&j);
}

/* A lone server SYN with IPv4 ID id and source port sport at t, no timestamp. */
static void lone_server_syn(sm_join_t *j, unsigned sport, int64_t t, uint32_t isn, uint16_t id)
{
    struct sm_record r = rec(tup("198.18.0.9", sport, "198.18.1.1", 443), t, SM_TH_SYN, isn, 0);
    r.ip_id = id;
    r.window = 64240;
    sm_join_add(j, SM_ROLE_SERVER, &r);
}

/* A client group whose ISN the server never saw, answered (a rewriting device's SYN/ACK), so
 * that the second matcher tries it; decided by the end of the function. */
static void answered_group(sm_join_t *j, unsigned sport, int64_t t, uint32_t isn, uint16_t id)
{
    struct sm_tuple c = tup("198.18.0.1", sport, "198.18.1.1", 443);
    struct sm_record r = rec(c, t, SM_TH_SYN, isn, 0);
    r.ip_id = id;
    r.window = 64240;
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(rev(c), t + 3 * MS, SM_TH_SYN | SM_TH_ACK, 9, isn + 1);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
}

/* Final verdicts linked by fingerprint (matched, or answered_by_middlebox when the lone
 * server SYN went unanswered, as here). */
static size_t count_fingerprint_links(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ngot; i++)
        n += got[i].kind != SM_V_SUSPECT && got[i].fingerprint;
    return n;
}

/*
 * Live: two server SYNs fit a group equally (one IPv4 ID, other ports), but the index's
 * chain for that ID may be full when they come (many earlier SYNs with it), so that one or
 * neither was filed. The lookup must know the chain may hold less than was put in: never a
 * unique link (found with a load tool's constant IP ID and the ring sized small). How many
 * earlier SYNs fill the chain depends on where the ports' keys fall, so a range is tried.
 */
static void test_fp_chain_bound(void)
{
    for (unsigned early = 48; early <= 72; early++) {
        sm_join_t *j = engine(false, false, 0);
        for (unsigned k = 0; k < early; k++)
            lone_server_syn(j, 1000 + k, T0 + k * MS, 7000 + k, 7);
        both_wm(j, T0 + 30 * SEC);
        lone_server_syn(j, 3000, T0 + 60 * SEC, 8000, 7);
        lone_server_syn(j, 3001, T0 + 60 * SEC, 8001, 7);
        both_wm(j, T0 + 60 * SEC + 100 * MS);
        answered_group(j, 4000, T0 + 60 * SEC + MS, 9000, 7);
        for (int64_t t = 61; t <= 300; t++)
            both_wm(j, T0 + t * SEC);
        CHECK_EQ_U(count_fingerprint_links(), 0);
        CHECK_EQ_U(count_final(), 1);
        sm_join_destroy(&j);
    }
}

/*
 * Live, the ring (an eighth of --max-pending: 1,024 here) wrote over lone server SYNs of a
 * group's window: the one left with its IPv4 ID is not sure to be the only one (ambiguous),
 * one that finds nothing is unknown (fingerprint_incomplete), never answered_by_middlebox;
 * a group whose window the ring still holds whole is matched.
 */
static void test_fp_ring_lost(void)
{
    sm_join_t *j = engine(false, false, 8192);
    for (unsigned k = 0; k < 1100; k++)
        lone_server_syn(j, 1000 + k, T0 + k * MS, 7000 + k, (uint16_t)(1 + k));
    lone_server_syn(j, 5000, T0 + 30 * SEC, 20000, 5555);
    for (int64_t t = 1; t <= 40; t++)
        both_wm(j, T0 + t * SEC);
    answered_group(j, 4000, T0 + SEC, 9000, 1 + 1099); /* the last of the 1,100 survives */
    answered_group(j, 4001, T0 + 30 * SEC, 9001, 5555);
    /* nothing left fits this one: its server SYN may have been among those lost, so it is
     * neither a middlebox's answer nor missing */
    answered_group(j, 4002, T0 + 50 * MS, 9002, 60000);
    for (int64_t t = 41; t <= 300; t++)
        both_wm(j, T0 + t * SEC);
    CHECK_EQ_U(count_fingerprint_links(), 1);
    CHECK_EQ_U(count_kind(SM_V_AMBIGUOUS), 1);
    CHECK_EQ_U(count_kind(SM_V_UNKNOWN), 1);
    for (size_t i = 0; i < ngot; i++) {
        if (got[i].kind == SM_V_UNKNOWN)
            CHECK_EQ_S(got[i].reason, "fingerprint_incomplete");
        CHECK(got[i].kind != SM_V_ANSWERED_BY_MIDDLEBOX || got[i].has_server);
    }
    for (size_t i = 0; i < ngot; i++)
        if (got[i].fingerprint)
            CHECK_EQ_U(got[i].server_seq, 20000);
    sm_join_destroy(&j);
}

/* A SYN with a TCP timestamp, as seen by role on tuple t (options and window as Linux's). */
static void ts_syn(sm_join_t *j, enum sm_role role, struct sm_tuple t, int64_t ts, uint32_t isn,
                   uint32_t tsval)
{
    struct sm_record r = rec(t, ts, SM_TH_SYN, isn, 0);
    r.window = 64240;
    r.opts.present = SM_OPT_MSS | SM_OPT_WSCALE | SM_OPT_SACKOK | SM_OPT_TS;
    r.opts.wscale = 7;
    r.opts.mss = 1460;
    r.opts.tsval = tsval;
    sm_join_add(j, role, &r);
}

/*
 * Offline, the second matcher's round one runs as the horizon moves (fp_sweep_due): over
 * 400 s of connections every one rewritten, most are decided before the captures end, and
 * the choices are those of one pass at the end: every connection matched to its own server
 * SYN, and two groups 3 s apart that name one server SYN both ambiguous, although the
 * first is swept a second before the second.
 */
static void test_fp_sweeps(void)
{
    sm_join_t *j = engine(true, false, 0);
    const unsigned n = 2000;
    int64_t t = T0;
    for (unsigned k = 0; k < n; k++, t += 200 * MS) {
        struct sm_tuple c = tup("198.18.0.1", 20000 + k, "198.18.1.1", 443);
        ts_syn(j, SM_ROLE_CLIENT, c, t, 1000000 + k, 50000 + 7 * k);
        ts_syn(j, SM_ROLE_SERVER, c, t + MS, 3000000 + k, 50000 + 7 * k); /* rewritten */
        /* the server acknowledges the ISN it saw; the device gives the client its own back */
        struct sm_record sa = rec(rev(c), t + 2 * MS, SM_TH_SYN | SM_TH_ACK, 9, 3000001 + k);
        sm_join_add(j, SM_ROLE_SERVER, &sa);
        struct sm_record ca = rec(rev(c), t + 3 * MS, SM_TH_SYN | SM_TH_ACK, 9, 1000001 + k);
        sm_join_add(j, SM_ROLE_CLIENT, &ca);
        if (k == 1000) { /* A, then B 3 s later, both with the TSval of one server SYN */
            struct sm_tuple a = tup("198.18.0.2", 30000, "198.18.1.1", 443);
            struct sm_tuple b = tup("198.18.0.3", 30001, "198.18.1.1", 443);
            ts_syn(j, SM_ROLE_CLIENT, a, t + 10 * MS, 7000001, 99);
            struct sm_record ra = rec(rev(a), t + 13 * MS, SM_TH_SYN | SM_TH_ACK, 9, 7000002);
            sm_join_add(j, SM_ROLE_CLIENT, &ra);
            ts_syn(j, SM_ROLE_SERVER, tup("198.18.0.4", 30002, "198.18.1.1", 443),
                   t + 2500 * MS, 7000003, 99);
            ts_syn(j, SM_ROLE_CLIENT, b, t + 3000 * MS, 7000004, 99);
            struct sm_record rb = rec(rev(b), t + 3003 * MS, SM_TH_SYN | SM_TH_ACK, 9, 7000005);
            sm_join_add(j, SM_ROLE_CLIENT, &rb);
        }
        both_wm(j, t + 5 * MS);
    }
    size_t before_end = count_kind(SM_V_MATCHED);
    sm_join_end(j, SM_ROLE_CLIENT, t + 60 * SEC);
    sm_join_end(j, SM_ROLE_SERVER, t + 60 * SEC);
    sm_join_finish(j);
    /* the last ~130 s (window, late slack, quiet time) wait for the end */
    CHECK(before_end >= n / 2);
    CHECK_EQ_U(count_kind(SM_V_MATCHED), n);
    CHECK_EQ_U(count_kind(SM_V_AMBIGUOUS), 2);
    CHECK_EQ_U(count_kind(SM_V_MISSING), 0);
    size_t wrong = 0;
    for (size_t k = 0; k < ngot; k++)
        if (got[k].kind == SM_V_MATCHED)
            wrong += !got[k].fingerprint || got[k].server_seq != got[k].isn + 2000000;
    CHECK_EQ_U(wrong, 0);
    sm_join_destroy(&j);
}

/*
 * Behind a device that rewrites ISNs, a rewritten ISN now and then equals another
 * connection's own, in its window: the connection it belongs to is not there to make it
 * ambiguous, so the TCP timestamp must show one clock could have sent both, else it is not
 * that group's (found at 5,000 rewritten connections a second: one wrong match, and the
 * victim's server SYN taken, per 300,000).
 */
static void test_isn_collision_behind_rewriter(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple a = tup("198.18.0.1", 41000, "198.18.1.1", 443);
    struct sm_tuple b = tup("198.18.0.2", 41001, "198.18.1.1", 443);
    struct sm_tuple c = tup("198.18.0.3", 41002, "198.18.1.1", 443);
    /* a: rewritten 100 -> 777; seen so, it shows the device */
    ts_syn(j, SM_ROLE_CLIENT, a, T0, 100, 5000);
    struct sm_record r = rec(rev(a), T0 + 2 * MS, SM_TH_SYN | SM_TH_ACK, 1, 101);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    ts_syn(j, SM_ROLE_SERVER, a, T0 + MS, 777, 5000);
    r = rec(rev(a), T0 + MS + 100 * US, SM_TH_SYN | SM_TH_ACK, 1, 778);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    for (int64_t t = 1; t <= 10; t++)
        both_wm(j, T0 + t * SEC);
    /* b: rewritten 200 -> 888; c (another client, no client sensor) rewritten to 200 */
    ts_syn(j, SM_ROLE_CLIENT, b, T0 + 10 * SEC, 200, 9000);
    r = rec(rev(b), T0 + 10 * SEC + 2 * MS, SM_TH_SYN | SM_TH_ACK, 2, 201);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    ts_syn(j, SM_ROLE_SERVER, c, T0 + 10 * SEC + 500 * US, 200, 123456789);
    ts_syn(j, SM_ROLE_SERVER, b, T0 + 10 * SEC + MS, 888, 9000);
    r = rec(rev(b), T0 + 10 * SEC + MS + 100 * US, SM_TH_SYN | SM_TH_ACK, 2, 889);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    for (int64_t t = 11; t <= 60; t++)
        both_wm(j, T0 + t * SEC);
    CHECK_EQ_U(count_final(), 2);
    for (size_t i = 0; i < ngot; i++) {
        CHECK_EQ_S(sm_verdict_name(got[i].kind), "matched");
        CHECK(got[i].fingerprint);
        CHECK_EQ_U(got[i].server_seq, got[i].isn == 100 ? 777 : 888);
    }
    sm_join_destroy(&j);
}

static void test_overload(void)
{
    sm_join_t *j = engine(false, false, 4);
    for (unsigned i = 0; i < 10; i++) {
        struct sm_tuple c = tup("198.18.0.1", 41000 + i, "198.18.1.1", 80);
        struct sm_record r = rec(c, T0 + i * MS, SM_TH_SYN, 100 + i, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
    }
    struct sm_join_stats st;
    sm_join_get_stats(j, &st);
    CHECK_EQ_U(st.evicted, 6);
    CHECK(st.pending <= 4);
    CHECK_EQ_U(count_kind(SM_V_COLLECTOR_OVERLOAD), 6);
    CHECK_EQ_U(got[0].isn, 100); /* oldest first */
    both_wm(j, T0 + 20 * SEC);
    CHECK_EQ_U(count_kind(SM_V_MISSING), 4);
    sm_join_destroy(&j);
}

static void test_hold_then_late_match(void)
{
    sm_join_t *j = engine(true, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 40013, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 77, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 20 * SEC);
    CHECK_EQ_U(ngot, 0);
    /* A server record far out of order still joins a held group. */
    r = rec(c, T0 + 2 * MS, SM_TH_SYN, 77, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    synack(j, c, c, 77, T0 + 3 * MS, T0 + 5 * MS);
    sm_join_finish(j);
    CHECK_EQ_U(ngot, 1);
    CHECK(got[0].kind == SM_V_MATCHED);
    sm_join_destroy(&j);
}

static void test_suspect_then_missing(void)
{
    sm_join_t *j = engine(false, true, 0);
    struct sm_tuple c = tup("198.18.0.1", 40014, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 88, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 3500 * MS);
    CHECK_EQ_U(ngot, 0); /* suspect waits for timeout + skew at the server: 4 s */
    r = rec(c, T0 + 1 * SEC, SM_TH_SYN, 88, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 4 * SEC);
    CHECK_EQ_U(ngot, 1);
    CHECK(got[0].kind == SM_V_SUSPECT);
    both_wm(j, T0 + 30 * SEC);
    CHECK_EQ_U(ngot, 2);
    CHECK(got[1].kind == SM_V_MISSING);
    CHECK_EQ_U(got[1].attempts, 2);
    sm_join_destroy(&j);
}

/* Random traffic: every client group ends in exactly one final verdict, nothing leaks. */
static void test_invariant_random(void)
{
    ngot = 0;
    struct sm_join_config cfg = {.on_verdict = collect, .max_pending = 500};
    sm_join_t *j = sm_join_new(&cfg);
    uint64_t x = 88172645463325252ull;
    size_t finals = 0;
    int64_t t = T0;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t += (int64_t)(x % (2 * MS));
        struct sm_tuple c = tup("198.18.0.1", 1024 + (unsigned)(x % 4000), "198.18.1.1",
                                80 + (unsigned)((x >> 20) % 3));
        uint32_t isn = (uint32_t)((x >> 32) % 3000);
        enum sm_role role = (x >> 12) & 1 ? SM_ROLE_SERVER : SM_ROLE_CLIENT;
        uint16_t fl = (x >> 14) % 5 == 0 ? (SM_TH_SYN | SM_TH_ACK) : SM_TH_SYN;
        struct sm_record r = rec(fl & SM_TH_ACK ? rev(c) : c, t, fl, fl & SM_TH_ACK ? 5 : isn,
                                 isn + 1);
        sm_join_add(j, role, &r);
        if (i % 50 == 0) {
            both_wm(j, t);
            finals += count_final();
            ngot = 0;
        }
    }
    sm_join_finish(j);
    finals += count_final();
    struct sm_join_stats st;
    sm_join_get_stats(j, &st);
    uint64_t sum = 0;
    for (int k = 0; k < SM_V_COUNT; k++)
        sum += k == SM_V_SUSPECT ? 0 : st.verdicts[k];
    CHECK_EQ_U(sum, st.client_groups);
    CHECK_EQ_U(finals, st.client_groups);
    CHECK_EQ_U(st.pending, 0);
    CHECK(st.peak_pending <= 500);
    sm_join_destroy(&j);
}

/*
 * The ISN index under churn: 60,000 connections with distinct ISNs, each server SYN arriving
 * just before or just after its client SYN, entries decided and freed while others arrive (the
 * index grows, and its slots are deleted and shifted back all along), plus 300 client SYNs
 * sharing one ISN threaded through. Every connection must be found: all matched.
 */
static void test_index_churn(void)
{
    ngot = 0;
    struct sm_join_config cfg = {.on_verdict = count_only};
    sm_join_t *j = sm_join_new(&cfg);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int64_t t = T0;
    const uint32_t n = 60000;
    for (uint32_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t += 50 * 1000; /* 20,000 connections per second */
        uint32_t isn = i * 2654435761u; /* distinct for distinct i */
        struct sm_tuple c = tup("198.18.0.1", 1024 + i % 60000, "198.18.1.1", 443);
        struct sm_tuple s = tup("198.19.0.1", 1024 + (i * 7) % 60000, "198.18.1.1", 443);
        struct sm_record rc = rec(c, t, SM_TH_SYN, isn, 0);
        struct sm_record rs = rec(s, t + (int64_t)(x % (3 * MS)), SM_TH_SYN, isn, 0);
        if (x & 1) {
            sm_join_add(j, SM_ROLE_SERVER, &rs);
            sm_join_add(j, SM_ROLE_CLIENT, &rc);
        } else {
            sm_join_add(j, SM_ROLE_CLIENT, &rc);
            sm_join_add(j, SM_ROLE_SERVER, &rs);
        }
        synack(j, c, s, isn, rs.ts_ns + 10000, rs.ts_ns + 3 * MS);
        if (i % 200 == 0) {
            struct sm_tuple f = tup("198.18.0.9", 1024 + i / 200, "198.18.1.1", 80);
            struct sm_record rf = rec(f, t, SM_TH_SYN, 0x5eed, 0);
            sm_join_add(j, SM_ROLE_CLIENT, &rf);
        }
        if (i % 100 == 0)
            both_wm(j, t - 10 * MS);
    }
    sm_join_finish(j);
    struct sm_join_stats st;
    sm_join_get_stats(j, &st);
    CHECK_EQ_U(st.verdicts[SM_V_MATCHED], n);
    /* the first 64 of one ISN are judged, the rest refused (MAX_SAME_ISN) */
    CHECK_EQ_U(st.verdicts[SM_V_MISSING], 64);
    CHECK_EQ_U(st.verdicts[SM_V_UNKNOWN], 236);
    CHECK_EQ_U(st.isn_flood, 236);
    CHECK_EQ_U(st.client_groups, n + 300);
    CHECK_EQ_U(st.pending, 0);
    CHECK(st.peak_pending < 2 * 20000 * 5); /* about (timeout + skew) x rate x 2 entries */
    sm_join_destroy(&j);
}

/*
 * A flood with one constant ISN, through to the server: no quadratic walk (100,000 SYNs must
 * take well under the test's timeout), every client SYN one final verdict, none `missing`
 * (the server saw SYNs of that ISN it could not consider), the refusals counted.
 */
static void test_isn_flood(void)
{
    ngot = 0;
    struct sm_join_config cfg = {.on_verdict = count_only};
    sm_join_t *j = sm_join_new(&cfg);
    const uint32_t n = 100000;
    int64_t t = T0;
    for (uint32_t i = 0; i < n; i++) {
        t += 10 * 1000;
        char src[32];
        snprintf(src, sizeof src, "198.18.%u.%u", (i >> 8) & 0xff, i & 0xff);
        struct sm_tuple c = tup(src, 1024 + i % 60000, "198.18.1.1", 80);
        struct sm_record rc = rec(c, t, SM_TH_SYN, 0xabcdef01, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &rc);
        struct sm_record rs = rec(c, t + 1 * MS, SM_TH_SYN, 0xabcdef01, 0);
        sm_join_add(j, SM_ROLE_SERVER, &rs);
        if (i % 1000 == 0)
            both_wm(j, t - 10 * MS);
    }
    sm_join_finish(j);
    struct sm_join_stats st;
    sm_join_get_stats(j, &st);
    uint64_t finals = 0;
    for (int k = 0; k < SM_V_COUNT; k++)
        finals += k == SM_V_SUSPECT ? 0 : st.verdicts[k];
    CHECK_EQ_U(st.client_groups, n);
    CHECK_EQ_U(finals, n);
    CHECK_EQ_U(st.verdicts[SM_V_MISSING], 0);
    CHECK(st.isn_flood > n / 2);
    CHECK(st.verdicts[SM_V_UNKNOWN] > n / 4);
    CHECK_EQ_U(st.pending, 0);
    sm_join_destroy(&j);
}

/*
 * A refused server SYN is remembered for client SYNs that arrive after it (a server's records
 * often come first): 64 flood SYNs fill the ISN at the server, the real server SYN at 1.5 s is
 * refused, the flood entries expire, then the client's SYN of 1.49 s arrives. Not `missing`.
 */
static void test_isn_flood_refusal_remembered(void)
{
    sm_join_t *j = engine(false, false, 0);
    for (unsigned i = 0; i < 64; i++) {
        struct sm_record f = rec(tup("198.18.9.9", 1024 + i, "198.18.1.1", 80), T0 + i * MS,
                                 SM_TH_SYN, 0x7777, 0);
        sm_join_add(j, SM_ROLE_SERVER, &f);
    }
    struct sm_tuple c = tup("198.18.0.1", 40000, "198.18.1.1", 80);
    struct sm_record rs = rec(c, T0 + 1500 * MS, SM_TH_SYN, 0x7777, 0);
    sm_join_add(j, SM_ROLE_SERVER, &rs);
    sm_join_watermark(j, SM_ROLE_SERVER, T0 + 2500 * MS);
    sm_join_watermark(j, SM_ROLE_CLIENT, T0 + 1300 * MS);
    struct sm_record rc = rec(c, T0 + 1490 * MS, SM_TH_SYN, 0x7777, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &rc);
    both_wm(j, T0 + 30 * SEC);
    sm_join_finish(j);
    CHECK_EQ_U(count_final(), 1);
    CHECK_EQ_U(count_kind(SM_V_MISSING), 0);
    CHECK_EQ_U(count_kind(SM_V_AMBIGUOUS), 1);
    struct sm_join_stats st;
    sm_join_get_stats(j, &st);
    CHECK_EQ_U(st.isn_flood, 1);
    CHECK_EQ_U(st.pending, 0);
    sm_join_destroy(&j);
}

/*
 * The handshake in order: what the server sent (seen at the server) against what the client
 * received (seen at the client), every combination of the table in docs/VERDICTS.md, live
 * and offline (held until the end).
 */
static void test_handshake_matrix(void)
{
    static const enum sm_answer ans[] = {SM_ANSWER_SYNACK, SM_ANSWER_RST, SM_ANSWER_NONE};
    static const enum sm_verdict_kind want[3][3] = {
        /* server sent SYN/ACK: client got SYN/ACK, RST, nothing */
        {SM_V_MATCHED, SM_V_ANSWERED_BY_MIDDLEBOX, SM_V_REPLY_LOST},
        /* server sent RST */
        {SM_V_ANSWERED_BY_MIDDLEBOX, SM_V_REFUSED, SM_V_REPLY_LOST},
        /* server sent nothing */
        {SM_V_ANSWERED_BY_MIDDLEBOX, SM_V_ANSWERED_BY_MIDDLEBOX, SM_V_UNANSWERED},
    };
    for (int hold = 0; hold < 2; hold++) {
        for (int sa = 0; sa < 3; sa++) {
            for (int ca = 0; ca < 3; ca++) {
                sm_join_t *j = engine(hold, false, 0);
                struct sm_tuple c = tup("198.18.0.1", 42000, "198.18.1.1", 80);
                struct sm_record r = rec(c, T0, SM_TH_SYN, 3000, 0);
                sm_join_add(j, SM_ROLE_CLIENT, &r);
                r = rec(c, T0 + MS, SM_TH_SYN, 3000, 0);
                sm_join_add(j, SM_ROLE_SERVER, &r);
                uint16_t fl[] = {SM_TH_SYN | SM_TH_ACK, SM_TH_RST | SM_TH_ACK};
                if (ans[sa] != SM_ANSWER_NONE) {
                    for (int k = 0; k < 2; k++) { /* the answer, then its retransmission */
                        r = rec(rev(c), T0 + 2 * MS + k * SEC, fl[sa], 8000, 3001);
                        sm_join_add(j, SM_ROLE_SERVER, &r);
                    }
                }
                if (ans[ca] != SM_ANSWER_NONE) {
                    r = rec(rev(c), T0 + 3 * MS, fl[ca], 8000, 3001);
                    sm_join_add(j, SM_ROLE_CLIENT, &r);
                }
                both_wm(j, T0 + 20 * SEC);
                if (hold) {
                    sm_join_end(j, SM_ROLE_CLIENT, T0 + 30 * SEC);
                    sm_join_end(j, SM_ROLE_SERVER, T0 + 30 * SEC);
                    sm_join_finish(j);
                }
                CHECK_EQ_U(ngot, 1);
                CHECK_EQ_S(sm_verdict_name(got[0].kind), sm_verdict_name(want[sa][ca]));
                CHECK(got[0].has_server);
                CHECK(got[0].server_answer == ans[sa] && got[0].client_answer == ans[ca]);
                CHECK_EQ_U(got[0].reply_attempts, ans[sa] == SM_ANSWER_NONE ? 0 : 2);
                CHECK_EQ_U(got[0].replies_received, ans[ca] == SM_ANSWER_NONE ? 0 : 1);
                CHECK(sm_verdict_is_failure(got[0].kind) ==
                      (want[sa][ca] != SM_V_MATCHED && want[sa][ca] != SM_V_REFUSED));
                sm_join_destroy(&j);
            }
        }
    }
}

/*
 * A SYN proxy (nftables synproxy) answers the client with its own SYN/ACK, and opens its own
 * connection to the server (the client's ISN) only after the client's handshake: the verdict
 * is the server's answer, marked proxied. A device that rewrites the server's ISN changes the
 * SYN/ACK's seq too, but its SYN/ACK follows the server's SYN: not a proxy.
 */
static void test_proxied(void)
{
    static const enum sm_answer ans[] = {SM_ANSWER_SYNACK, SM_ANSWER_RST, SM_ANSWER_NONE};
    static const enum sm_verdict_kind want[] = {SM_V_MATCHED, SM_V_REFUSED, SM_V_UNANSWERED};
    for (int hold = 0; hold < 2; hold++) {
        for (int sa = 0; sa < 4; sa++) { /* 3: the rewriting device, not a proxy */
            sm_join_t *j = engine(hold, false, 0);
            bool rewriter = sa == 3;
            struct sm_tuple c = tup("198.18.0.1", 42100, "198.18.1.1", 80);
            struct sm_record r = rec(c, T0, SM_TH_SYN, 3000, 0);
            sm_join_add(j, SM_ROLE_CLIENT, &r);
            /* the proxy's SYN/ACK (its own ISN 7777) reaches the client at 1 ms; the
             * rewriter's (the server's 8000 rewritten) at 3 ms, after the server's SYN */
            r = rec(rev(c), T0 + (rewriter ? 3 : 1) * MS, SM_TH_SYN | SM_TH_ACK, 7777, 3001);
            sm_join_add(j, SM_ROLE_CLIENT, &r);
            r = rec(c, T0 + 2 * MS, SM_TH_SYN, 3000, 0);
            sm_join_add(j, SM_ROLE_SERVER, &r);
            enum sm_answer a = rewriter ? SM_ANSWER_SYNACK : ans[sa];
            if (a != SM_ANSWER_NONE) {
                r = rec(rev(c), T0 + 2 * MS + 100 * US,
                        a == SM_ANSWER_SYNACK ? SM_TH_SYN | SM_TH_ACK : SM_TH_RST | SM_TH_ACK,
                        a == SM_ANSWER_SYNACK ? 8000 : 0, 3001);
                sm_join_add(j, SM_ROLE_SERVER, &r);
            }
            both_wm(j, T0 + 20 * SEC);
            if (hold) {
                sm_join_end(j, SM_ROLE_CLIENT, T0 + 30 * SEC);
                sm_join_end(j, SM_ROLE_SERVER, T0 + 30 * SEC);
                sm_join_finish(j);
            }
            CHECK_EQ_U(ngot, 1);
            CHECK_EQ_S(sm_verdict_name(got[0].kind),
                       sm_verdict_name(rewriter ? SM_V_MATCHED : want[sa]));
            CHECK(got[0].proxied == !rewriter);
            char line[SM_REPORT_LINE_MAX];
            line[sm_report_verdict_line(line, &got[0], 0)] = '\0';
            if (!rewriter) {
                CHECK_EQ_U(got[0].proxy_rtt_ns, MS);
                CHECK(strstr(line, "\"proxied\":true,\"proxy_rtt\":0.001000000") != NULL);
                CHECK((strstr(line, "\"server_answer_delay\":0.000100000") != NULL) ==
                      (a != SM_ANSWER_NONE));
                CHECK(strstr(line, "reply_delay") == NULL);
                CHECK(!sm_verdict_is_failure(got[0].kind) || a == SM_ANSWER_NONE);
            } else {
                CHECK(strstr(line, "proxied") == NULL && strstr(line, "reply_delay") != NULL);
            }
            sm_join_destroy(&j);
        }
    }
}

/*
 * The reply leg obeys the same evidence rules as the SYN leg: a server answer the client did
 * not receive is reply_lost only if the client's capture was there to see it; silence at a
 * server whose capture was blind is not unanswered; a capture that ended too early says so.
 */
static void test_reply_leg_evidence(void)
{
    static const enum sm_verdict_kind kinds[] = {SM_V_SENSOR_CAPTURE_LOSS, SM_V_TRANSPORT_LOSS,
                                                 SM_V_SENSOR_DOWN};
    for (size_t k = 0; k < 3; k++) {
        for (int leg = 0; leg < 2; leg++) { /* 0: the server answered, 1: it did not */
            sm_join_t *j = engine(true, false, 0);
            struct sm_tuple c = tup("198.18.0.1", 42100, "198.18.1.1", 80);
            struct sm_record r = rec(c, T0, SM_TH_SYN, 3100, 0);
            sm_join_add(j, SM_ROLE_CLIENT, &r);
            r = rec(c, T0 + MS, SM_TH_SYN, 3100, 0);
            sm_join_add(j, SM_ROLE_SERVER, &r);
            if (leg == 0) {
                r = rec(rev(c), T0 + 2 * MS, SM_TH_SYN | SM_TH_ACK, 8000, 3101);
                sm_join_add(j, SM_ROLE_SERVER, &r);
            }
            /* a starved client agent (leg 0) or server agent (leg 1) around the reply */
            sm_join_blind(j, leg == 0 ? SM_ROLE_CLIENT : SM_ROLE_SERVER, SM_VIEW_ALL, T0 + MS, T0 + 10 * MS,
                          kinds[k]);
            sm_join_finish(j);
            CHECK_EQ_U(ngot, 1);
            CHECK(got[0].kind == kinds[k]);
            CHECK_EQ_S(got[0].reason, leg == 0 ? (k == 0   ? "client_capture_drops"
                                                  : k == 1 ? "client_records_lost"
                                                           : "client_sensor_down")
                                      : (k == 0   ? "server_capture_drops"
                                         : k == 1 ? "server_records_lost"
                                                  : "server_sensor_down"));
            sm_join_destroy(&j);
        }
    }
    /* the client's capture ended before the reply's window closed */
    sm_join_t *j = engine(true, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 42200, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 3200, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(c, T0 + MS, SM_TH_SYN, 3200, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(rev(c), T0 + 2 * MS, SM_TH_SYN | SM_TH_ACK, 8000, 3201);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    sm_join_end(j, SM_ROLE_CLIENT, T0 + SEC);
    sm_join_end(j, SM_ROLE_SERVER, T0 + 30 * SEC);
    sm_join_finish(j);
    CHECK(ngot == 1 && got[0].kind == SM_V_UNKNOWN);
    CHECK_EQ_S(got[0].reason, "after_client_capture");
    sm_join_destroy(&j);
    /* the server's capture ended before an answer could have been seen */
    j = engine(true, false, 0);
    r = rec(c, T0, SM_TH_SYN, 3300, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(c, T0 + MS, SM_TH_SYN, 3300, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    sm_join_end(j, SM_ROLE_CLIENT, T0 + 30 * SEC);
    sm_join_end(j, SM_ROLE_SERVER, T0 + SEC);
    sm_join_finish(j);
    CHECK(ngot == 1 && got[0].kind == SM_V_UNKNOWN);
    CHECK_EQ_S(got[0].reason, "after_server_capture");
    sm_join_destroy(&j);
}

/* The server host's counters: the reason of an unanswered SYN, SYN cookies on a matched one;
 * a hint elsewhere in time changes nothing. */
static void test_host_hints(void)
{
    for (int h = 0; h < 4; h++) {
        sm_join_t *j = engine(false, false, 0);
        if (h == 0)
            sm_join_hint(j, SM_VIEW_ALL, T0 + 900 * 1000, T0 + 100 * MS, SM_HINT_LISTEN_OVERFLOW);
        else if (h == 1)
            sm_join_hint(j, SM_VIEW_ALL, T0, T0 + 100 * MS, SM_HINT_SYN_QUEUE_FULL);
        else if (h == 2)
            sm_join_hint(j, SM_VIEW_ALL, T0 + 10 * SEC, T0 + 11 * SEC, SM_HINT_LISTEN_OVERFLOW);
        else
            sm_join_hint(j, SM_VIEW_ALL, T0, T0 + 100 * MS, SM_HINT_SYNCOOKIES);
        struct sm_tuple c = tup("198.18.0.1", 42300, "198.18.1.1", 80);
        struct sm_record r = rec(c, T0, SM_TH_SYN, 3400, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
        r = rec(c, T0 + MS, SM_TH_SYN, 3400, 0);
        sm_join_add(j, SM_ROLE_SERVER, &r);
        if (h == 3)
            synack(j, c, c, 3400, T0 + 2 * MS, T0 + 3 * MS);
        both_wm(j, T0 + 20 * SEC);
        CHECK_EQ_U(ngot, 1);
        if (h == 3) {
            CHECK(got[0].kind == SM_V_MATCHED && got[0].syncookies);
        } else {
            CHECK(got[0].kind == SM_V_UNANSWERED && !got[0].syncookies);
            if (h == 0)
                CHECK_EQ_S(got[0].reason, "listen_queue_overflow");
            else if (h == 1)
                CHECK_EQ_S(got[0].reason, "syn_queue_full");
            else
                CHECK(got[0].reason == NULL);
        }
        sm_join_destroy(&j);
    }
}

/* suspect warns of every failure kind: no server SYN, or no answer at the client, by the
 * first attempt + timeout; a healthy handshake and a refused one get none. */
static void test_suspect_kinds(void)
{
    for (int kind = 0; kind < 4; kind++) { /* healthy, refused, reply lost, unanswered */
        sm_join_t *j = engine(false, true, 0);
        struct sm_tuple c = tup("198.18.0.1", 42400, "198.18.1.1", 80);
        struct sm_record r = rec(c, T0, SM_TH_SYN, 3500, 0);
        sm_join_add(j, SM_ROLE_CLIENT, &r);
        r = rec(c, T0 + MS, SM_TH_SYN, 3500, 0);
        sm_join_add(j, SM_ROLE_SERVER, &r);
        uint16_t fl = kind == 1 ? SM_TH_RST | SM_TH_ACK : SM_TH_SYN | SM_TH_ACK;
        if (kind != 3) {
            r = rec(rev(c), T0 + 2 * MS, fl, 8000, 3501);
            sm_join_add(j, SM_ROLE_SERVER, &r);
        }
        if (kind < 2) {
            r = rec(rev(c), T0 + 3 * MS, fl, 8000, 3501);
            sm_join_add(j, SM_ROLE_CLIENT, &r);
        }
        both_wm(j, T0 + 20 * SEC);
        CHECK_EQ_U(count_kind(SM_V_SUSPECT), kind >= 2 ? 1 : 0);
        CHECK_EQ_U(count_final(), 1);
        sm_join_destroy(&j);
    }
}

/* Stopping early: a handshake whose reply leg is incomplete is unknown, never reply_lost. */
static void test_stop_reply_incomplete(void)
{
    sm_join_t *j = engine(false, false, 0);
    struct sm_tuple c = tup("198.18.0.1", 42500, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 3600, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(c, T0 + MS, SM_TH_SYN, 3600, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(rev(c), T0 + 2 * MS, SM_TH_SYN | SM_TH_ACK, 8000, 3601);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    sm_join_stop(j, "collector_stopped");
    CHECK(ngot == 1 && got[0].kind == SM_V_UNKNOWN && got[0].has_server);
    CHECK_EQ_S(got[0].reason, "collector_stopped");
    sm_join_destroy(&j);
}

/* Swapped compare arguments: server SYNs nobody answered that no client sent are counted. */
static void test_server_only_unanswered(void)
{
    sm_join_t *j = engine(false, false, 0);
    for (unsigned i = 0; i < 3; i++) {
        struct sm_tuple c = tup("198.18.0.5", 43000 + i, "198.18.1.1", 80);
        struct sm_record r = rec(c, T0 + i * MS, SM_TH_SYN, 3700 + i, 0);
        sm_join_add(j, SM_ROLE_SERVER, &r);
        if (i == 0) { /* answered: another client's healthy connection */
            r = rec(rev(c), T0 + i * MS + 1, SM_TH_SYN | SM_TH_ACK, 1, 3701 + i);
            sm_join_add(j, SM_ROLE_SERVER, &r);
        }
    }
    both_wm(j, T0 + 20 * SEC);
    struct sm_join_stats st;
    sm_join_get_stats(j, &st);
    CHECK_EQ_U(st.server_only, 3);
    CHECK_EQ_U(st.server_only_unanswered, 2);
    sm_join_destroy(&j);
}

/* The lone server SYNs: told once each when let go, with their answer and the time of the
 * decision (SYN + skew); matched ones are not told; refused ones at a flooded ISN are. */
#define MAXLONE 256
static struct sm_lone_syn lone[MAXLONE];
static size_t nlone;

static void collect_lone(void *arg, const struct sm_lone_syn *s)
{
    (void)arg;
    if (nlone < MAXLONE)
        lone[nlone++] = *s;
}

static void test_lone_told(void)
{
    ngot = nlone = 0;
    struct sm_join_config cfg = {.on_verdict = collect, .emit_suspect = true,
                                 .on_lone = collect_lone};
    sm_join_t *j = sm_join_new(&cfg);
    /* a monitored, matched connection: not lone */
    struct sm_tuple c = tup("198.18.0.9", 41000, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 5000, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    synack(j, c, c, 5000, T0 + 1 * MS, T0 + 2 * MS);
    /* two unmonitored ones, one answered, one retransmitted and not */
    struct sm_tuple u = tup("198.19.7.7", 1234, "198.18.1.1", 80);
    r = rec(u, T0 + 10 * MS, SM_TH_SYN, 6000, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(rev(u), T0 + 11 * MS, SM_TH_SYN | SM_TH_ACK, 1, 6001);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    struct sm_tuple w = tup("198.19.7.8", 1235, "198.18.1.1", 80);
    r = rec(w, T0 + 20 * MS, SM_TH_SYN, 7000, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    r = rec(w, T0 + 1020 * MS, SM_TH_SYN, 7000, 0);
    sm_join_add(j, SM_ROLE_SERVER, &r);
    both_wm(j, T0 + 900 * MS);
    CHECK_EQ_U(nlone, 0); /* not before SYN + skew (1 s) at the horizon */
    both_wm(j, T0 + 3 * SEC);
    CHECK_EQ_U(nlone, 2);
    CHECK(nlone == 2 && lone[0].answer == SM_ANSWER_SYNACK && lone[0].attempts == 1 &&
          lone[0].first_ns == T0 + 10 * MS && lone[0].decided_ns == T0 + 1010 * MS &&
          sm_tuple_eq_test(&lone[0].tuple, &u));
    CHECK(nlone == 2 && lone[1].answer == SM_ANSWER_NONE && lone[1].attempts == 2 &&
          lone[1].decided_ns == T0 + 1020 * MS);
    both_wm(j, T0 + 10 * SEC);
    CHECK_EQ_U(nlone, 2);
    CHECK(ngot == 1 && got[0].kind == SM_V_MATCHED && !got[0].suspected &&
          got[0].decided_ns == T0 + 3 * SEC); /* last attempt + the 3 s timeout */
    /* 64 entries at one ISN, then a 65th server SYN: refused, told at once */
    nlone = 0;
    for (unsigned i = 0; i < 65; i++) {
        struct sm_tuple f = tup("198.19.8.8", 2000 + i, "198.18.1.1", 80);
        r = rec(f, T0 + 11 * SEC + i, SM_TH_SYN, 0xabcdef, 0);
        sm_join_add(j, SM_ROLE_SERVER, &r);
    }
    CHECK_EQ_U(nlone, 1);
    CHECK(nlone == 1 && lone[0].tuple.sport == 2064 && lone[0].decided_ns == T0 + 9 * SEC);
    both_wm(j, T0 + 20 * SEC);
    CHECK_EQ_U(nlone, 65);
    sm_join_destroy(&j);
}

/* decided_ns and suspected on verdicts: the suspect at first + timeout, the final verdict
 * at last + quiet and marked as suspected before. */
static void test_decided_times(void)
{
    sm_join_t *j = engine(false, true, 0);
    struct sm_tuple c = tup("198.18.0.1", 40015, "198.18.1.1", 80);
    struct sm_record r = rec(c, T0, SM_TH_SYN, 89, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    r = rec(c, T0 + 1 * SEC, SM_TH_SYN, 89, 0);
    sm_join_add(j, SM_ROLE_CLIENT, &r);
    both_wm(j, T0 + 30 * SEC); /* one jump past both */
    CHECK_EQ_U(ngot, 2);
    CHECK(got[0].kind == SM_V_SUSPECT && !got[0].suspected && got[0].decided_ns == T0 + 3 * SEC);
    CHECK(got[1].kind == SM_V_MISSING && got[1].suspected && got[1].decided_ns == T0 + 4 * SEC);
    CHECK_EQ_U(sm_join_horizon(j), T0 + 29 * SEC); /* the server's watermark minus the skew */
    sm_join_destroy(&j);
}

int main(void)
{
    test_lone_told();
    test_decided_times();
    test_handshake_matrix();
    test_proxied();
    test_isn_collision_behind_rewriter();
    test_reply_leg_evidence();
    test_host_hints();
    test_suspect_kinds();
    test_stop_reply_incomplete();
    test_server_only_unanswered();
    test_matched_with_synack();
    test_missing_with_retransmissions();
    test_backoff_one_group();
    test_lost_then_delivered();
    test_server_first_and_nat();
    test_delivered_attempt_when_server_first();
    test_answered_by_middlebox();
    test_no_server_watermark_no_verdict();
    test_before_coverage_and_loss();
    test_scope();
    test_blind_kinds();
    test_blind_views();
    test_ambiguous();
    test_port_disambiguates();
    test_isn_reused_later();
    test_overload();
    test_bounded_work();
    test_clock_offset();
    test_clock_estimator();
    test_fingerprint();
    test_fp_sweeps();
    test_fp_chain_bound();
    test_fp_ring_lost();
    test_fp_attempts_tie();
    test_fp_port_unseen();
    test_ambiguous_any_order();
    test_coverage_before_answer();
    test_extreme_timestamps();
    test_heap_bounded_without_watermark();
    test_hold_then_late_match();
    test_suspect_then_missing();
    test_invariant_random();
    test_index_churn();
    test_isn_flood();
    test_isn_flood_refusal_remembered();
    return check_done();
}
