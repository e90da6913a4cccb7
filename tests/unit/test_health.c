/*
 * test_health.c - the collector's per-service health (collector/health.c) on synthetic
 * verdicts and lone server SYNs with injected event times: what a line counts and where it
 * stands among the verdicts, the busiest services and the rest summed, the distinct-source
 * estimate, the flood and degraded alerts with their evidence, the alerts socket's limit, the
 * bounded table (folding and eviction counted, NAT learned), hostile times.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "check.h"
#include "health.h"
#include "hll.h"

#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)
#define I (10 * SEC)
#define T0 (INT64_C(179000000) * I) /* an interval boundary */

/* Every line written, and the verdicts counted between them ("V" entries). */
#define MAXL 4096
static json_t *lines[MAXL];
static size_t nlines;

static void on_line(void *arg, const char *line, size_t len)
{
    (void)arg;
    CHECK(len > 0 && line[len - 1] == '\n');
    json_error_t e;
    json_t *o = json_loadb(line, len, 0, &e);
    CHECK(o != NULL);
    if (o && nlines < MAXL)
        lines[nlines++] = o;
}

static void note_verdict(void)
{
    if (nlines < MAXL)
        lines[nlines++] = json_pack("{s:s}", "event", "V");
}

static void clear_lines(void)
{
    for (size_t i = 0; i < nlines; i++)
        json_decref(lines[i]);
    nlines = 0;
}

static const char *sensor_name(void *arg, uint32_t view)
{
    (void)arg;
    return view == 1 ? "srv" : NULL;
}

static int32_t view_of(void *arg, const struct sm_tuple *t)
{
    (void)arg;
    (void)t;
    return 1;
}

static sm_health_t *make(unsigned services, double pub_limit)
{
    clear_lines();
    struct sm_health_config c = {
        .interval_ns = I,
        .services = services,
        .degraded_share = 0.05,
        .degraded_window_ns = 30 * SEC,
        .degraded_min = 20,
        .flood_floor = 1000,
        .pub_limit = pub_limit,
        .key = {1, 2},
        .line = on_line,
        .sensor_name = sensor_name,
        .view_of = view_of,
    };
    sm_health_t *h = sm_health_new(&c);
    CHECK(h != NULL);
    sm_health_set_wall(h, T0);
    return h;
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

static struct sm_verdict verdict(enum sm_verdict_kind k, const char *dst, unsigned dport,
                                 int64_t decided, uint32_t attempts, int64_t delay)
{
    struct sm_verdict v;
    memset(&v, 0, sizeof v);
    v.kind = k;
    v.client = tup("198.18.1.2", 40000, dst, dport);
    v.attempts = attempts;
    v.decided_ns = decided;
    if (delay >= 0) {
        v.has_server = true;
        v.server = v.client;
        v.server_attempts = 1;
        v.delay_ns = delay;
        v.server_answer = SM_ANSWER_SYNACK;
        v.reply_attempts = 1;
        v.lost_before = attempts - 1;
    }
    return v;
}

static bool count(sm_health_t *h, const struct sm_verdict *v)
{
    bool shown = sm_health_verdict(h, v);
    note_verdict();
    return shown;
}

/* The i-th line with event ev (and service svc when not NULL), or NULL. */
static json_t *find(const char *ev, const char *svc, size_t nth)
{
    for (size_t i = 0; i < nlines; i++) {
        json_t *o = lines[i];
        if (strcmp(json_string_value(json_object_get(o, "event")), ev) != 0)
            continue;
        const char *s = json_string_value(json_object_get(o, "service"));
        if (svc && (s == NULL || strcmp(s, svc) != 0))
            continue;
        if (nth-- == 0)
            return o;
    }
    return NULL;
}

static int64_t geti(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static double getd(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static int64_t verdicts_of(json_t *o, const char *kind)
{
    return json_integer_value(json_object_get(json_object_get(o, "verdicts"), kind));
}

/* Two intervals of two services: the counts, attempts, delays and their order among the
 * verdicts; the second interval closes by the horizon, not by a verdict. */
static void test_lines(void)
{
    sm_health_t *h = make(100, 0);
    for (int i = 0; i < 100; i++) {
        struct sm_verdict v = verdict(SM_V_MATCHED, "198.18.2.2", 80, T0 + i * 50 * MS, 1 + (i % 4 == 0),
                                      (1 + i) * 100 * 1000); /* 0.1 .. 10 ms */
        if (i % 10 == 0)
            v.reply_attempts = 3;
        count(h, &v);
    }
    struct sm_verdict m = verdict(SM_V_MISSING, "198.18.2.2", 80, T0 + 6 * SEC, 3, -1);
    count(h, &m);
    struct sm_verdict s = verdict(SM_V_SUSPECT, "2001:db8:2::2", 443, T0 + 7 * SEC, 1, -1);
    count(h, &s);
    CHECK_EQ_U(nlines, 102); /* nothing written while the interval is open */
    struct sm_verdict late = verdict(SM_V_MATCHED, "198.18.2.2", 80, T0 + I + 1, 1, MS);
    count(h, &late);
    json_t *a = find("health", "198.18.2.2:80", 0);
    json_t *b = find("health", "[2001:db8:2::2]:443", 0);
    CHECK(a && b);
    if (!a || !b)
        return;
    /* both lines stand after the first interval's 102 verdicts and before the next one */
    CHECK(json_equal(lines[102], a) && json_equal(lines[103], b));
    /* a quarter needed a retransmission and one went missing: degraded, after the lines */
    CHECK(nlines == 106 && strcmp(json_string_value(json_object_get(lines[104], "event")), "degraded") == 0);
    CHECK(nlines == 106 && strcmp(json_string_value(json_object_get(lines[105], "event")), "V") == 0);
    json_t *d = find("degraded", NULL, 0);
    CHECK(d && geti(d, "groups") == 101 && geti(d, "in_trouble") == 26 &&
          geti(d, "lost_attempts") == 25 && geti(d, "failures") == 1);
    if (nlines != 106)
        for (size_t i = 100; i < nlines; i++)
            fprintf(stderr, "line %zu: %s\n", i, json_dumps(lines[i], JSON_COMPACT));
    CHECK_EQ_S(json_string_value(json_object_get(a, "sensor")), "srv");
    CHECK_EQ_S(json_string_value(json_object_get(a, "dst")), "198.18.2.2");
    CHECK_EQ_U(geti(a, "dport"), 80);
    CHECK_EQ_U(verdicts_of(a, "matched"), 100);
    CHECK_EQ_U(verdicts_of(a, "missing"), 1);
    CHECK_EQ_U(geti(a, "decided"), 101);
    CHECK_EQ_U(geti(a, "suspects"), 0);
    CHECK_EQ_U(geti(b, "suspects"), 1);
    CHECK_EQ_U(geti(a, "attempts"), 100 + 25 + 3);
    CHECK_EQ_U(geti(a, "retransmissions"), 25 + 2);
    CHECK(fabs(getd(a, "retransmitted") - 27.0 / 128) < 1e-4);
    CHECK_EQ_U(geti(a, "synack_retransmissions"), 10 * 2);
    /* p50 of 0.1 .. 10 ms in 0.1 ms steps: 5.0 ms; p99: 9.9 ms; within the 3.1% buckets */
    CHECK(fabs(getd(a, "delay_p50") - 0.0050) < 0.0050 * 0.035);
    CHECK(fabs(getd(a, "delay_p99") - 0.0099) < 0.0099 * 0.035);
    CHECK(json_object_get(b, "delay_p50") == NULL);
    CHECK_EQ_S(json_string_value(json_object_get(a, "from")), "2026-09-21T14:13:20.000000000Z");
    CHECK(getd(a, "interval") == 10.0);
    /* the horizon closes the second interval: one line, the late verdict */
    sm_health_advance(h, T0 + 2 * I - 1);
    CHECK(find("health", "198.18.2.2:80", 1) == NULL);
    sm_health_advance(h, T0 + 2 * I);
    json_t *a2 = find("health", "198.18.2.2:80", 1);
    CHECK(a2 && verdicts_of(a2, "matched") == 1 && geti(a2, "decided") == 1);
    CHECK(find("health", "[2001:db8:2::2]:443", 1) == NULL); /* no traffic: no line */
    /* the cumulative counters for the metrics */
    struct sm_health_service sv[8];
    size_t n = sm_health_services(h, sv, 8);
    CHECK_EQ_U(n, 2);
    CHECK(n >= 1 && strcmp(sv[0].name, "198.18.2.2:80") == 0 && sv[0].c.verdicts[SM_V_MATCHED] == 101 &&
          sv[0].c.attempts == 129 && sv[0].have_delay);
    struct sm_health_totals t;
    sm_health_totals(h, &t);
    uint64_t in_buckets = 0;
    for (int k = 0; k <= SM_HEALTH_DELAY_BUCKETS; k++)
        in_buckets += t.delay_buckets[k];
    CHECK_EQ_U(in_buckets, 101);
    CHECK_EQ_U(t.lines, 3);
    CHECK_EQ_U(t.intervals, 2);
    sm_health_destroy(&h);
    CHECK(h == NULL);
}

/* The busiest services get lines, the others one "other" line with their sums. */
static void test_top_and_other(void)
{
    sm_health_t *h = make(2, 0);
    for (unsigned p = 1; p <= 5; p++)
        for (unsigned i = 0; i < p * 10; i++) {
            struct sm_verdict v = verdict(SM_V_MATCHED, "198.18.2.2", 1000 + p, T0 + i * MS, 1, MS);
            count(h, &v);
        }
    sm_health_advance(h, T0 + I);
    CHECK(find("health", "198.18.2.2:1005", 0) && find("health", "198.18.2.2:1004", 0));
    CHECK(find("health", "198.18.2.2:1003", 0) == NULL);
    json_t *o = find("health", "other", 0);
    CHECK(o && geti(o, "services") == 3 && verdicts_of(o, "matched") == 60 &&
          json_object_get(o, "sensor") == NULL);
    CHECK_EQ_U(nlines, 150 + 3);
    /* the services not shown keep their own counters; other's are its folded ones */
    struct sm_health_service sv[32];
    size_t n = sm_health_services(h, sv, 32);
    CHECK_EQ_U(n, 5);
    sm_health_destroy(&h);
}

/* Lone server SYNs: the rate, the unanswered share, distinct sources within the error. */
static void test_unmonitored(void)
{
    sm_health_t *h = make(100, 0);
    const unsigned n = 30000, sources = 5000;
    for (unsigned i = 0; i < n; i++) {
        char src[32];
        snprintf(src, sizeof src, "198.19.%u.%u", (i % sources) >> 8, (i % sources) & 0xff);
        struct sm_lone_syn ls = {.tuple = tup(src, 1024 + i % 60000, "198.18.2.2", 80),
                                 .attempts = 1,
                                 .answer = i % 4 ? SM_ANSWER_SYNACK : SM_ANSWER_NONE,
                                 .decided_ns = T0 + (int64_t)i * 300 * 1000};
        sm_health_lone(h, &ls);
    }
    sm_health_advance(h, T0 + I);
    json_t *a = find("health", "198.18.2.2:80", 0);
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_EQ_U(geti(a, "unmonitored_syns"), n);
    CHECK(getd(a, "unmonitored_rate") == 3000.0);
    CHECK(fabs(getd(a, "unmonitored_unanswered") - 0.25) < 1e-4);
    double est = (double)geti(a, "unmonitored_sources");
    CHECK(fabs(est - sources) <= 3 * getd(a, "sources_error") * sources);
    CHECK_EQ_U(geti(a, "decided"), 0);
    sm_health_destroy(&h);
}

/* A flood after a quiet minute: syn_flood after the interval's lines, with the rate, the
 * sources, the host's cookies; the end with the flood's totals. */
static void test_flood_events(void)
{
    sm_health_t *h = make(100, 0);
    int64_t t = T0;
    unsigned src = 0;
    for (int k = 0; k < 12; k++) {
        unsigned per = k >= 7 && k < 10 ? 40000 : 50; /* 4,000/s for 30 s */
        if (k >= 7 && k < 10)
            sm_health_host(h, 1, 1000);
        for (unsigned i = 0; i < per; i++) {
            char s[32];
            snprintf(s, sizeof s, "198.19.%u.%u", (src % 3000) >> 8, (src % 3000) & 0xff);
            src++;
            struct sm_lone_syn ls = {.tuple = tup(s, 2000, "198.18.2.2", 80), .attempts = 1,
                                     .answer = SM_ANSWER_SYNACK,
                                     .decided_ns = t + (int64_t)i * (I / per)};
            sm_health_lone(h, &ls);
        }
        /* the monitored service next to it: never an alert */
        struct sm_verdict v = verdict(SM_V_MATCHED, "198.18.2.2", 81, t + 1, 1, MS);
        count(h, &v);
        t += I;
        sm_health_advance(h, t);
    }
    json_t *f = find("syn_flood", NULL, 0);
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(find("syn_flood", NULL, 1) == NULL);
    CHECK_EQ_S(json_string_value(json_object_get(f, "service")), "198.18.2.2:80");
    CHECK_EQ_S(json_string_value(json_object_get(f, "at")), "2026-09-21T14:14:40.000000000Z");
    CHECK(getd(f, "rate") == 4000.0 && getd(f, "threshold") == 1000.0 && getd(f, "baseline") == 5.0);
    CHECK(fabs((double)geti(f, "sources") - 3000) <= 3 * SM_HLL_STD_ERROR * 3000);
    CHECK_EQ_U(geti(f, "syncookies"), 1000);
    CHECK(fabs(getd(f, "answered_with_cookies") - 1000.0 / 40000) < 1e-4);
    /* it follows the interval's health lines */
    size_t at_f = 0, at_line = 0;
    for (size_t i = 0; i < nlines; i++) {
        if (lines[i] == f)
            at_f = i;
        if (json_equal(lines[i], find("health", "198.18.2.2:80", 7)))
            at_line = i;
    }
    CHECK(at_line > 0 && at_line < at_f);
    json_t *e = find("syn_flood_end", NULL, 0);
    CHECK(e && geti(e, "syns") == 120000 && getd(e, "peak_rate") == 4000.0 &&
          getd(e, "duration") == 30.0);
    CHECK(e && fabs((double)geti(e, "sources") - 3000) <= 3 * SM_HLL_STD_ERROR * 3000);
    json_t *l = find("health", "198.18.2.2:80", 8);
    CHECK(l && json_is_true(json_object_get(l, "syn_flood")));
    CHECK(find("degraded", NULL, 0) == NULL);
    sm_health_destroy(&h);
}

/* Degraded from early evidence (suspects), confirmed by the finals; recovered after. */
static void test_degraded_events(void)
{
    sm_health_t *h = make(100, 0);
    int64_t t = T0;
    for (int k = 0; k < 12; k++) {
        bool bad = k >= 3 && k < 6;
        for (int i = 0; i < 100; i++) {
            int64_t at = t + i * 50 * MS;
            if (bad && i % 10 == 0) { /* a tenth in trouble: a suspect, then missing */
                struct sm_verdict s = verdict(SM_V_SUSPECT, "198.18.2.2", 80, at, 1, -1);
                count(h, &s);
                struct sm_verdict m = verdict(SM_V_MISSING, "198.18.2.2", 80, at + 1, 2, -1);
                m.suspected = true;
                count(h, &m);
            } else {
                struct sm_verdict v = verdict(SM_V_MATCHED, "198.18.2.2", 80, at, 1, MS);
                count(h, &v);
            }
        }
        t += I;
        sm_health_advance(h, t);
    }
    json_t *d = find("degraded", NULL, 0);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK(find("degraded", NULL, 1) == NULL);
    /* 10 in 300 after the first bad interval (3.3%), 20 in 300 after the second */
    CHECK_EQ_S(json_string_value(json_object_get(d, "at")), "2026-09-21T14:14:10.000000000Z");
    CHECK(geti(d, "groups") == 300 && geti(d, "in_trouble") == 20 && geti(d, "suspects") == 20 &&
          geti(d, "confirmed") == 20 && geti(d, "failures") == 20);
    CHECK(fabs(getd(d, "share") - 20.0 / 300) < 1e-4 && getd(d, "window") == 30.0);
    json_t *r = find("recovered", NULL, 0);
    CHECK(r && getd(r, "duration") > 0);
    sm_health_destroy(&h);
}

/* The alerts socket: at most pub_limit lines a second of event time per service; the rest
 * counted on the line. */
static void test_pub_limit(void)
{
    sm_health_t *h = make(100, 10);
    unsigned shown = 0;
    for (int i = 0; i < 1000; i++) { /* 1,000 in 2 s */
        struct sm_verdict v = verdict(SM_V_MISSING, "198.18.2.2", 80, T0 + i * 2 * MS, 1, -1);
        shown += count(h, &v);
    }
    struct sm_verdict q = verdict(SM_V_MISSING, "198.18.2.2", 81, T0 + 3 * SEC, 1, -1);
    CHECK(count(h, &q)); /* another service has its own */
    sm_health_advance(h, T0 + I);
    CHECK(shown >= 29 && shown <= 31); /* the burst of 10, then 10 a second */
    json_t *a = find("health", "198.18.2.2:80", 0);
    CHECK(a && geti(a, "not_shown") == 1000 - (int64_t)shown && verdicts_of(a, "missing") == 1000);
    struct sm_health_totals t;
    sm_health_totals(h, &t);
    CHECK_EQ_U(t.not_shown, 1000 - shown);
    sm_health_destroy(&h);
}

/* 2^16 services from a scan: the table stays at its bound, the rest folded and counted, their
 * sum on the other line; later the idle ones are evicted and new ones get room. NAT: an
 * unmatched SYN counts where matched ones to its destination went. */
static void test_bounds_and_nat(void)
{
    sm_health_t *h = make(4, 0);
    size_t cap = sm_health_capacity(h);
    CHECK_EQ_U(cap, 2 * 4 + 8 + 1);
    for (unsigned i = 0; i < 65535; i++) {
        struct sm_lone_syn ls = {.tuple = tup("198.19.0.1", 1000, "198.18.2.2", i + 1),
                                 .attempts = 1, .decided_ns = T0 + i};
        sm_health_lone(h, &ls);
    }
    sm_health_advance(h, T0 + I);
    struct sm_health_totals t;
    sm_health_totals(h, &t);
    CHECK_EQ_U(t.folded, 65535 - 16);
    CHECK(t.tracked <= 16);
    json_t *o = find("health", "other", 0);
    uint64_t syns = 0;
    for (size_t i = 0; i < nlines; i++)
        syns += (uint64_t)geti(lines[i], "unmonitored_syns");
    CHECK_EQ_U(syns, 65535);
    CHECK(o && fabs((double)geti(o, "services") - 65535) < 0.05 * 65535);
    CHECK(t.tracked <= 8); /* more than half full: the quietest evicted */
    CHECK(t.evicted >= 8);
    /* a minute and more without traffic: every service goes */
    sm_health_advance(h, T0 + 10 * I);
    sm_health_totals(h, &t);
    CHECK_EQ_U(t.tracked, 0);
    /* NAT learned from a matched verdict */
    clear_lines();
    struct sm_verdict v = verdict(SM_V_MATCHED, "203.0.113.7", 443, T0 + 10 * I + 1, 1, MS);
    v.server.dst = tup("0.0.0.0", 0, "198.18.2.2", 0).dst;
    v.server.dport = 8443;
    count(h, &v);
    struct sm_verdict m = verdict(SM_V_MISSING, "203.0.113.7", 443, T0 + 10 * I + 2, 1, -1);
    count(h, &m);
    sm_health_advance(h, T0 + 11 * I);
    json_t *a = find("health", "198.18.2.2:8443", 0);
    CHECK(a && verdicts_of(a, "missing") == 1 && verdicts_of(a, "matched") == 1);
    CHECK(find("health", "203.0.113.7:443", 0) == NULL);
    sm_health_destroy(&h);
}

/* Times that are no times, a jump of centuries, and the partial interval at the end. */
static void test_hostile_times(void)
{
    sm_health_t *h = make(100, 5);
    struct sm_verdict v = verdict(SM_V_MATCHED, "198.18.2.2", 80, INT64_MIN, 1, MS);
    count(h, &v);
    v.decided_ns = T0;
    count(h, &v);
    v.decided_ns = INT64_MAX;
    count(h, &v);
    v.decided_ns = T0 + 5; /* later than INT64_MAX counted: still the open interval */
    count(h, &v);
    sm_health_advance(h, INT64_MAX);
    sm_health_advance(h, INT64_MIN);
    CHECK_EQ_U(nlines, 4);
    v.decided_ns = INT64_C(4000000000000000000); /* a century later: bounded work */
    count(h, &v);
    json_t *a = find("health", "198.18.2.2:80", 0);
    CHECK(a && verdicts_of(a, "matched") == 4);
    sm_health_finish(h);
    json_t *p = find("health", "198.18.2.2:80", 1);
    CHECK(p && json_is_true(json_object_get(p, "partial")) && verdicts_of(p, "matched") == 1);
    struct sm_health_totals t;
    sm_health_totals(h, &t);
    CHECK(t.intervals < 2 * SM_DETECT_RING + 10);
    sm_health_destroy(&h);
    /* out-of-range configurations are refused */
    struct sm_health_config c = {.interval_ns = SEC / 10, .services = 10, .degraded_share = 0.05,
                                 .degraded_window_ns = 30 * SEC, .flood_floor = 1, .line = on_line};
    CHECK(sm_health_new(&c) == NULL); /* a 60 s baseline of 600 intervals */
    c.interval_ns = SEC;
    CHECK((h = sm_health_new(&c)) != NULL);
    sm_health_destroy(&h);
    c.services = SM_HEALTH_MAX_SERVICES + 1;
    CHECK(sm_health_new(&c) == NULL);
}

int main(void)
{
    test_lines();
    test_top_and_other();
    test_unmonitored();
    test_flood_events();
    test_degraded_events();
    test_pub_limit();
    test_bounds_and_nat();
    test_hostile_times();
    clear_lines();
    return check_done();
}
