/*
 * test_sensors.c - the collector's per-sensor books with processing time injected: order,
 * duplicates, gaps (waited for, then declared), window overruns, restarts, silence, declared
 * drops, role watermarks, scope.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sensors.h"
#include "addr.h"

#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)

static uint32_t got_seq[1024];
static size_t ngot;
static struct {
    enum sm_role role;
    uint32_t view;
    int64_t from, to;
    enum sm_verdict_kind kind;
} blinds[64];
static size_t nblind;
static struct sm_sensor_event events[64];
static size_t nevents;

static void on_records(void *arg, enum sm_role role, const struct sm_record *recs, size_t n)
{
    (void)arg;
    (void)role;
    for (size_t i = 0; i < n && ngot < 1024; i++)
        got_seq[ngot++] = recs[i].seq;
}

static void on_blind(void *arg, enum sm_role role, uint32_t view, int64_t from, int64_t to,
                     enum sm_verdict_kind kind)
{
    (void)arg;
    if (nblind < 64) {
        blinds[nblind].role = role;
        blinds[nblind].view = view;
        blinds[nblind].from = from;
        blinds[nblind].to = to;
        blinds[nblind].kind = kind;
        nblind++;
    }
}

static struct sm_sensor_books last_books;
static const char *last_reason;

static void on_event(void *arg, const struct sm_sensor_event *ev)
{
    (void)arg;
    if (nevents < 64)
        events[nevents++] = *ev;
    if (ev->books)
        last_books = *ev->books;
    last_reason = ev->reason;
}

static struct {
    int64_t from, to;
    enum sm_host_hint kind;
} hints[16];
static size_t nhints;

static void on_hint(void *arg, uint32_t view, int64_t from, int64_t to, enum sm_host_hint kind)
{
    (void)arg;
    (void)view;
    if (nhints < 16) {
        hints[nhints].from = from;
        hints[nhints].to = to;
        hints[nhints].kind = kind;
        nhints++;
    }
}

static sm_sensors_t *books(void)
{
    ngot = nblind = nevents = nhints = 0;
    struct sm_sensors_sink sink = {on_records, on_blind, on_event, on_hint, NULL, NULL};
    struct sm_sensors_config cfg = {.reorder_window = 8};
    return sm_sensors_new(&cfg, &sink);
}

/* Sends batch seq of sensor id (epoch) with one record whose TCP seq is the batch seq. */
static void send(sm_sensors_t *s, const char *id, enum sm_role role, uint64_t epoch,
                 uint64_t seq, int64_t wm, int64_t now)
{
    struct sm_wire_header h;
    memset(&h, 0, sizeof h);
    strcpy(h.sensor_id, id);
    h.role = role;
    h.boot_epoch = epoch;
    h.seq = seq;
    h.watermark_ns = wm;
    struct sm_record *r = calloc(1, sizeof *r);
    r->seq = (uint32_t)seq;
    r->ts_ns = wm;
    sm_sensors_batch(s, &h, r, 1, now);
}

static size_t count_events(enum sm_sensor_event_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < nevents; i++)
        n += events[i].kind == k;
    return n;
}

static void test_order_dup_reorder(void)
{
    sm_sensors_t *s = books();
    send(s, "c1", SM_ROLE_CLIENT, 1, 0, 100, 0);
    send(s, "c1", SM_ROLE_CLIENT, 1, 2, 300, 1);
    send(s, "c1", SM_ROLE_CLIENT, 1, 1, 200, 2);
    send(s, "c1", SM_ROLE_CLIENT, 1, 1, 200, 3); /* duplicate */
    send(s, "c1", SM_ROLE_CLIENT, 1, 3, 400, 4);
    CHECK_EQ_U(ngot, 4);
    for (uint32_t i = 0; i < 4; i++)
        CHECK_EQ_U(got_seq[i], i);
    struct sm_sensors_totals t;
    sm_sensors_totals(s, &t);
    CHECK_EQ_U(t.duplicates, 1);
    CHECK_EQ_U(t.gaps, 0);
    CHECK_EQ_U(count_events(SM_SENSOR_UP), 1);
    CHECK_EQ_U(events[0].first_seq, 0);
    CHECK_EQ_U(nblind, 0);
    sm_sensors_destroy(&s);
    CHECK(s == NULL);
}

/* The first batch heard is not the first sent: earlier seqs of the epoch are waited for. */
static void test_first_heard_out_of_order(void)
{
    sm_sensors_t *s = books();
    send(s, "c1", SM_ROLE_CLIENT, 1, 2, 300, 0);
    send(s, "c1", SM_ROLE_CLIENT, 1, 0, 100, 1);
    send(s, "c1", SM_ROLE_CLIENT, 1, 1, 200, 2);
    CHECK_EQ_U(ngot, 3);
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ_U(got_seq[i], i);
    CHECK_EQ_U(nblind, 0);
    /* A collector that joins mid-epoch (it restarted) starts where it joined; what the sensor
     * saw before that batch's first record is blind (transport loss), and the books count
     * the records the agent sent before it as `before`. */
    struct sm_wire_header h;
    memset(&h, 0, sizeof h);
    strcpy(h.sensor_id, "s2");
    h.role = SM_ROLE_SERVER;
    h.boot_epoch = 1;
    h.seq = 1000;
    h.watermark_ns = 9000;
    h.counters.records_emitted = 5000;
    h.counters.records_unsent = 100;
    struct sm_record *r = calloc(2, sizeof *r);
    r[0].ts_ns = 8500;
    r[1].ts_ns = 8700;
    sm_sensors_batch(s, &h, r, 2, 3);
    send(s, "s2", SM_ROLE_SERVER, 1, 999, 8900, 4); /* from before: a duplicate now */
    CHECK_EQ_U(ngot, 5);
    CHECK_EQ_U(nblind, 1);
    CHECK(blinds[0].role == SM_ROLE_SERVER && blinds[0].kind == SM_V_TRANSPORT_LOSS);
    CHECK(blinds[0].from == INT64_MIN && blinds[0].to == 8499);
    h.seq = 1001;
    h.end_of_stream = true;
    h.counters.records_emitted = 5003;
    r = calloc(3, sizeof *r);
    sm_sensors_batch(s, &h, r, 3, 5);
    CHECK_EQ_U(last_books.emitted, 5003);
    CHECK_EQ_U(last_books.before, 4898);
    CHECK_EQ_U(last_books.received, 5);
    CHECK_EQ_U(last_books.unsent, 100);
    CHECK_EQ_U(last_books.lost, 0);
    sm_sensors_destroy(&s);
}

/* A watermark that goes back within an epoch is a lie: the batch is refused and counted. */
static void test_time_regressed(void)
{
    sm_sensors_t *s = books();
    send(s, "c1", SM_ROLE_CLIENT, 1, 0, 5000, 0);
    send(s, "c1", SM_ROLE_CLIENT, 1, 1, 4000, 1); /* back in time */
    send(s, "c1", SM_ROLE_CLIENT, 1, 2, 6000, 2);
    CHECK_EQ_U(ngot, 2);
    CHECK_EQ_U(got_seq[1], 2);
    struct sm_sensors_totals t;
    sm_sensors_totals(s, &t);
    CHECK_EQ_U(t.time_regressed, 1);
    CHECK_EQ_U(t.gaps, 0);
    CHECK(sm_sensors_watermark(s, SM_ROLE_CLIENT, 3) == 6000);
    /* A new epoch (a restart, or an old capture replayed) may start anywhere in time. */
    send(s, "c1", SM_ROLE_CLIENT, 2, 0, 100, 4);
    sm_sensors_totals(s, &t);
    CHECK_EQ_U(t.time_regressed, 1);
    CHECK_EQ_U(ngot, 3);
    sm_sensors_destroy(&s);
}

static void test_gap_waited_then_declared(void)
{
    sm_sensors_t *s = books();
    send(s, "c1", SM_ROLE_CLIENT, 1, 0, 100, 0);
    send(s, "c1", SM_ROLE_CLIENT, 1, 2, 300, 10 * MS);
    sm_sensors_tick(s, 400 * MS);
    CHECK_EQ_U(ngot, 1); /* still waiting for seq 1 */
    sm_sensors_tick(s, 600 * MS);
    CHECK_EQ_U(ngot, 2);
    CHECK_EQ_U(got_seq[1], 2);
    CHECK_EQ_U(count_events(SM_SENSOR_GAP), 1);
    CHECK_EQ_U(nblind, 1);
    CHECK(blinds[0].kind == SM_V_TRANSPORT_LOSS && blinds[0].from == 100 && blinds[0].to == 300);
    /* A late copy of the lost seq is not processed. */
    send(s, "c1", SM_ROLE_CLIENT, 1, 1, 200, 700 * MS);
    CHECK_EQ_U(ngot, 2);
    sm_sensors_destroy(&s);
}

static void test_window_overrun(void)
{
    sm_sensors_t *s = books();
    send(s, "c1", SM_ROLE_CLIENT, 1, 0, 100, 0);
    send(s, "c1", SM_ROLE_CLIENT, 1, 50, 5000, 1); /* far beyond the 8-batch window */
    CHECK_EQ_U(ngot, 2);
    struct sm_sensors_totals t;
    sm_sensors_totals(s, &t);
    CHECK_EQ_U(t.lost_batches, 49);
    CHECK(nblind == 1 && blinds[0].to == 5000);
    /* With some waiting: 51..52 missing, 53 and 60 wait; 70 overruns, holes given up. */
    send(s, "c1", SM_ROLE_CLIENT, 1, 53, 5300, 2);
    send(s, "c1", SM_ROLE_CLIENT, 1, 56, 5600, 3);
    send(s, "c1", SM_ROLE_CLIENT, 1, 70, 7000, 4);
    CHECK_EQ_U(ngot, 5);
    CHECK_EQ_U(got_seq[2], 53);
    CHECK_EQ_U(got_seq[3], 56);
    CHECK_EQ_U(got_seq[4], 70);
    sm_sensors_destroy(&s);
}

static void test_restart_and_stale(void)
{
    sm_sensors_t *s = books();
    send(s, "s1", SM_ROLE_SERVER, 10, 0, 100, 0);
    send(s, "s1", SM_ROLE_SERVER, 10, 1, 200, 1);
    send(s, "s1", SM_ROLE_SERVER, 20, 0, 900, 2); /* restarted */
    CHECK_EQ_U(count_events(SM_SENSOR_UP), 2);
    CHECK(nblind == 1 && blinds[0].kind == SM_V_SENSOR_DOWN && blinds[0].from == 200 &&
          blinds[0].to == 900);
    send(s, "s1", SM_ROLE_SERVER, 10, 2, 300, 3); /* from before the restart */
    CHECK_EQ_U(ngot, 3);
    struct sm_sensors_totals t;
    sm_sensors_totals(s, &t);
    CHECK_EQ_U(t.stale, 1);
    sm_sensors_destroy(&s);
}

static void test_down_and_back(void)
{
    sm_sensors_t *s = books();
    send(s, "c1", SM_ROLE_CLIENT, 1, 0, 1 * SEC, 0);
    send(s, "s1", SM_ROLE_SERVER, 1, 0, 1 * SEC, 0);
    CHECK(sm_sensors_watermark(s, SM_ROLE_SERVER, 0) == 1 * SEC);
    send(s, "c1", SM_ROLE_CLIENT, 1, 1, 3 * SEC, 1500 * MS);
    sm_sensors_tick(s, 1500 * MS);
    CHECK_EQ_U(count_events(SM_SENSOR_DOWN), 1);
    /* The server is down: its watermark follows the client's, and that time is blind. */
    CHECK(sm_sensors_watermark(s, SM_ROLE_SERVER, 1500 * MS) == 3 * SEC);
    CHECK(nblind >= 1 && blinds[nblind - 1].kind == SM_V_SENSOR_DOWN &&
          blinds[nblind - 1].role == SM_ROLE_SERVER && blinds[nblind - 1].from == 1 * SEC &&
          blinds[nblind - 1].to == 3 * SEC);
    send(s, "s1", SM_ROLE_SERVER, 1, 1, 4 * SEC, 1600 * MS);
    CHECK_EQ_U(count_events(SM_SENSOR_BACK), 1);
    CHECK(blinds[nblind - 1].kind == SM_V_SENSOR_DOWN && blinds[nblind - 1].to == 4 * SEC);
    CHECK(sm_sensors_watermark(s, SM_ROLE_SERVER, 1600 * MS) == 4 * SEC);
    sm_sensors_destroy(&s);
}

static void test_no_server_yet(void)
{
    sm_sensors_t *s = books();
    send(s, "c1", SM_ROLE_CLIENT, 1, 0, 5 * SEC, 0);
    CHECK(sm_sensors_watermark(s, SM_ROLE_SERVER, 100 * MS) == INT64_MIN);
    CHECK_EQ_U(nblind, 0);
    /* Past the down timeout but within the start grace (agents reconnecting to a restarted
     * collector): still waiting. */
    CHECK(sm_sensors_watermark(s, SM_ROLE_SERVER, 2500 * MS) == INT64_MIN);
    CHECK_EQ_U(nblind, 0);
    /* After the start grace with no server sensor at all, time moves on, blind. */
    CHECK(sm_sensors_watermark(s, SM_ROLE_SERVER, 3200 * MS) == 5 * SEC);
    CHECK(nblind == 1 && blinds[0].from == INT64_MIN && blinds[0].kind == SM_V_SENSOR_DOWN);
    sm_sensors_destroy(&s);
}

static void test_declared_drops_scope_end(void)
{
    sm_sensors_t *s = books();
    struct sm_wire_header h;
    memset(&h, 0, sizeof h);
    strcpy(h.sensor_id, "s1");
    h.role = SM_ROLE_SERVER;
    h.boot_epoch = 5;
    h.watermark_ns = 1000;
    h.nscope = 1;
    sm_addr_parse("198.18.2.2", &h.scope[0].addr);
    h.scope[0].prefix_len = 32;
    struct sm_tuple t;
    memset(&t, 0, sizeof t);
    sm_addr_parse("198.18.2.3", &t.dst);
    CHECK(sm_sensors_scope_view(s, &t) != SM_SCOPE_OUT); /* no server heard yet: unknown scope, judged */
    sm_sensors_batch(s, &h, NULL, 0, 0);
    h.seq = 1;
    h.watermark_ns = 2000;
    h.counters.pcap_dropped = 3;
    sm_sensors_batch(s, &h, NULL, 0, 1);
    CHECK(nblind == 1 && blinds[0].kind == SM_V_SENSOR_CAPTURE_LOSS && blinds[0].from == 1000 &&
          blinds[0].to == 2000);
    h.seq = 2;
    h.watermark_ns = 3000;
    h.counters.records_unsent = 10;
    h.unsent_from_ns = 2100;
    h.unsent_to_ns = 2900;
    sm_sensors_batch(s, &h, NULL, 0, 2);
    CHECK(nblind == 2 && blinds[1].kind == SM_V_TRANSPORT_LOSS && blinds[1].from == 2100 &&
          blinds[1].to == 2900);
    sm_addr_parse("198.18.2.2", &t.dst);
    t.dport = 8080;
    CHECK(sm_sensors_scope_view(s, &t) != SM_SCOPE_OUT);
    sm_addr_parse("198.18.2.3", &t.dst);
    CHECK(sm_sensors_scope_view(s, &t) == SM_SCOPE_OUT);
    CHECK(!sm_sensors_all_ended(s));
    h.seq = 3;
    h.end_of_stream = true;
    sm_sensors_batch(s, &h, NULL, 0, 3);
    CHECK(!sm_sensors_all_ended(s)); /* no client sensor seen yet: not the end */
    struct sm_wire_header hc = h;
    strcpy(hc.sensor_id, "c1");
    hc.role = SM_ROLE_CLIENT;
    hc.seq = 0;
    hc.nscope = 0;
    sm_sensors_batch(s, &hc, NULL, 0, 4);
    CHECK(sm_sensors_all_ended(s));
    CHECK_EQ_U(count_events(SM_SENSOR_END), 2);
    sm_sensors_destroy(&s);
}

/* The books of an epoch: emitted = received + unsent + lost (in gaps). */
static void test_books_balance(void)
{
    sm_sensors_t *s = books();
    struct sm_wire_header h;
    memset(&h, 0, sizeof h);
    strcpy(h.sensor_id, "c1");
    h.role = SM_ROLE_CLIENT;
    h.boot_epoch = 9;
    uint64_t emitted = 0;
    for (uint64_t seq = 0; seq < 6; seq++) {
        h.seq = seq;
        h.watermark_ns = 1000 * (int64_t)(seq + 1);
        emitted += 2;
        h.counters.records_emitted = emitted;
        h.counters.records_unsent = seq >= 4 ? 2 : 0; /* batch 3's two records declared */
        h.end_of_stream = seq == 5;
        if (seq == 2 || seq == 3)
            continue; /* batch 2 lost in transit; batch 3 dropped by the agent (declared) */
        struct sm_record *r = calloc(2, sizeof *r);
        r[0].ts_ns = r[1].ts_ns = h.watermark_ns;
        sm_sensors_batch(s, &h, r, 2, (int64_t)seq);
        sm_sensors_tick(s, (int64_t)seq * SEC);
    }
    CHECK_EQ_U(count_events(SM_SENSOR_END), 1);
    CHECK_EQ_U(last_books.emitted, 12);
    CHECK_EQ_U(last_books.received, 8);
    CHECK_EQ_U(last_books.unsent, 2);
    CHECK_EQ_U(last_books.lost, 2);
    CHECK_EQ_U(last_books.gaps, 1);
    CHECK_EQ_U(last_books.lost_batches, 2);
    sm_sensors_destroy(&s);
}

/* A sensor gone for good is closed; when the table is full its slot is reused. */
static void test_expiry(void)
{
    ngot = nblind = nevents = 0;
    struct sm_sensors_sink sink = {on_records, on_blind, on_event, NULL, NULL, NULL};
    struct sm_sensors_config cfg = {.max_sensors = 2, .expire_after_ns = 60 * SEC};
    sm_sensors_t *s = sm_sensors_new(&cfg, &sink);
    send(s, "a", SM_ROLE_CLIENT, 1, 0, 100, 0);
    send(s, "b", SM_ROLE_SERVER, 1, 0, 100, 0);
    send(s, "c", SM_ROLE_CLIENT, 1, 0, 100, 1); /* full, nobody expired: refused */
    struct sm_sensors_totals t;
    sm_sensors_totals(s, &t);
    CHECK_EQ_U(t.rejected_sensors, 1);
    CHECK(!sm_sensors_all_ended(s));
    sm_sensors_tick(s, 61 * SEC);
    CHECK_EQ_U(count_events(SM_SENSOR_CLOSED), 2);
    CHECK_EQ_S(last_reason, "expired");
    CHECK(sm_sensors_all_ended(s)); /* their ends will not come: --exit-when-done may end */
    send(s, "c", SM_ROLE_CLIENT, 1, 0, 200, 62 * SEC); /* takes an expired slot */
    sm_sensors_totals(s, &t);
    CHECK_EQ_U(t.sensors, 2);
    CHECK_EQ_U(t.rejected_sensors, 1);
    CHECK(!sm_sensors_all_ended(s));
    sm_sensors_destroy(&s);
}

/* The server host's counters: a rise between two samples of one epoch is a hint over that
 * time; the first sample, a client's counters, and a new epoch's first sample give none. */
static void test_host_counters(void)
{
    sm_sensors_t *s = books();
    uint64_t ov[] = {5, 5, 7, 7, 0};
    uint64_t ck[] = {0, 0, 0, 2, 0};
    for (uint64_t seq = 0; seq < 5; seq++) {
        struct sm_wire_header h;
        memset(&h, 0, sizeof h);
        strcpy(h.sensor_id, seq < 4 ? "srv" : "cli");
        h.role = seq < 4 ? SM_ROLE_SERVER : SM_ROLE_CLIENT;
        h.boot_epoch = 1;
        h.seq = seq < 4 ? seq : 0;
        h.watermark_ns = (int64_t)(seq + 1) * 100 * MS;
        h.host = (struct sm_host_counters){.present = true, .sampled_ns = h.watermark_ns,
                                           .listen_overflows = ov[seq], .listen_drops = ov[seq],
                                           .syncookies_sent = ck[seq]};
        sm_sensors_batch(s, &h, NULL, 0, (int64_t)seq * MS);
    }
    CHECK_EQ_U(nhints, 2);
    CHECK(hints[0].kind == SM_HINT_LISTEN_OVERFLOW && hints[0].from == 200 * MS &&
          hints[0].to == 300 * MS);
    CHECK(hints[1].kind == SM_HINT_SYNCOOKIES && hints[1].from == 300 * MS &&
          hints[1].to == 400 * MS);
    /* a restarted server agent: its counters start over, no rise is made up */
    struct sm_wire_header h;
    memset(&h, 0, sizeof h);
    strcpy(h.sensor_id, "srv");
    h.role = SM_ROLE_SERVER;
    h.boot_epoch = 2;
    h.watermark_ns = 500 * MS;
    h.host = (struct sm_host_counters){.present = true, .sampled_ns = 500 * MS,
                                       .listen_overflows = 100};
    sm_sensors_batch(s, &h, NULL, 0, 10 * MS);
    CHECK_EQ_U(nhints, 2);
    sm_sensors_destroy(&s);
}

/* A server sensor announcing dst (198.18.2.N/32), batch seq, watermark wm, heard at now. */
static void send_server(sm_sensors_t *s, const char *id, const char *dst, uint64_t seq,
                        int64_t wm, int64_t now)
{
    struct sm_wire_header h;
    memset(&h, 0, sizeof h);
    strcpy(h.sensor_id, id);
    h.role = SM_ROLE_SERVER;
    h.boot_epoch = 1;
    h.seq = seq;
    h.watermark_ns = wm;
    h.nscope = 1;
    sm_addr_parse(dst, &h.scope[0].addr);
    h.scope[0].prefix_len = 32;
    sm_sensors_batch(s, &h, NULL, 0, now);
}

/* Two server sensors are two views: each destination belongs to the sensor announcing it,
 * and one sensor falling silent blinds its view only, while time moves with the live one. */
static void test_server_views(void)
{
    sm_sensors_t *s = books();
    send(s, "c1", SM_ROLE_CLIENT, 1, 0, 1 * SEC, 0);
    send_server(s, "s1", "198.18.2.1", 0, 1 * SEC, 0);
    send_server(s, "s2", "198.18.2.2", 0, 1 * SEC, 0);
    struct sm_tuple t1, t2, t3;
    memset(&t1, 0, sizeof t1);
    t2 = t3 = t1;
    sm_addr_parse("198.18.2.1", &t1.dst);
    sm_addr_parse("198.18.2.2", &t2.dst);
    sm_addr_parse("198.18.2.3", &t3.dst);
    int32_t v1 = sm_sensors_scope_view(s, &t1), v2 = sm_sensors_scope_view(s, &t2);
    CHECK(v1 >= 1 && v2 >= 1 && v1 != v2);
    CHECK(sm_sensors_scope_view(s, &t3) == SM_SCOPE_OUT);
    /* s2 goes silent; s1 and the client go on */
    send(s, "c1", SM_ROLE_CLIENT, 1, 1, 3 * SEC, 1500 * MS);
    send_server(s, "s1", "198.18.2.1", 1, 3 * SEC, 1500 * MS);
    sm_sensors_tick(s, 1500 * MS);
    CHECK_EQ_U(count_events(SM_SENSOR_DOWN), 1);
    nblind = 0;
    CHECK(sm_sensors_watermark(s, SM_ROLE_SERVER, 1500 * MS) == 3 * SEC);
    CHECK_EQ_U(nblind, 1);
    CHECK(blinds[0].kind == SM_V_SENSOR_DOWN && blinds[0].role == SM_ROLE_SERVER &&
          blinds[0].view == (uint32_t)v2 && blinds[0].from == 1 * SEC && blinds[0].to == 3 * SEC);
    struct sm_sensor_stats st[4];
    size_t n = sm_sensors_stats(s, st, 4);
    CHECK_EQ_U(n, 3);
    for (size_t k = 0; k < n; k++)
        CHECK(st[k].up == (strcmp(st[k].sensor_id, "s2") != 0));
    sm_sensors_destroy(&s);
}

/* A partitioned sensor (JetStream): one stream per owned partition, each in its own seq
 * order; one sensor_up and one sensor_end for the sensor with the books of all streams; a gap
 * told with its partition; a partition not heard yet holds the role's time. */
static void test_partitions(void)
{
    ngot = nblind = nevents = nhints = 0;
    struct sm_sensors_sink sink = {on_records, on_blind, on_event, on_hint, NULL, NULL};
    struct sm_sensors_config cfg = {.reorder_window = 8, .shard = 1, .shards = 2};
    sm_sensors_t *s = sm_sensors_new(&cfg, &sink);
    struct sm_wire_header h;
    memset(&h, 0, sizeof h);
    strcpy(h.sensor_id, "c1");
    h.role = SM_ROLE_CLIENT;
    h.boot_epoch = 3;
    h.partition_count = 4; /* this shard owns 1 and 3 */
    h.partition = 1;
    h.watermark_ns = 1000;
    h.counters.records_emitted = 1;
    struct sm_record *r = calloc(1, sizeof *r);
    r->ts_ns = 900;
    sm_sensors_batch(s, &h, r, 1, 0);
    CHECK_EQ_U(count_events(SM_SENSOR_UP), 1);
    /* partition 3 not heard: it holds the client's time */
    CHECK(sm_sensors_watermark(s, SM_ROLE_CLIENT, 0) == INT64_MIN);
    h.partition = 3;
    h.counters.records_emitted = 0;
    sm_sensors_batch(s, &h, NULL, 0, 1);
    CHECK(sm_sensors_watermark(s, SM_ROLE_CLIENT, 1) == 1000);
    CHECK_EQ_U(count_events(SM_SENSOR_UP), 1);
    /* partition 3 loses seq 1: its gap is its own */
    h.seq = 2;
    h.watermark_ns = 3000;
    sm_sensors_batch(s, &h, NULL, 0, 2);
    h.partition = 1;
    h.seq = 1;
    h.watermark_ns = 2000;
    h.counters.records_emitted = 1;
    sm_sensors_batch(s, &h, NULL, 0, 3);
    sm_sensors_tick(s, SEC);
    CHECK_EQ_U(count_events(SM_SENSOR_GAP), 1);
    for (size_t i = 0; i < nevents; i++)
        if (events[i].kind == SM_SENSOR_GAP)
            CHECK(events[i].partitioned && events[i].partition == 3 &&
                  events[i].first_seq == 1 && events[i].last_seq == 1);
    /* a part of a partition this shard does not own is not its business */
    h.partition = 2;
    h.seq = 0;
    sm_sensors_batch(s, &h, NULL, 0, 4);
    h.end_of_stream = true;
    h.seq = 2;
    h.watermark_ns = 4000;
    h.partition = 1;
    sm_sensors_batch(s, &h, NULL, 0, 5);
    CHECK_EQ_U(count_events(SM_SENSOR_END), 0); /* partition 3 has not ended */
    h.partition = 3;
    h.seq = 3;
    h.counters.records_emitted = 0;
    sm_sensors_batch(s, &h, NULL, 0, 6);
    CHECK_EQ_U(count_events(SM_SENSOR_END), 1);
    CHECK_EQ_U(last_books.emitted, 1);
    CHECK_EQ_U(last_books.received, 1);
    CHECK_EQ_U(last_books.gaps, 1);
    struct sm_sensor_stats st;
    CHECK_EQ_U(sm_sensors_stats(s, &st, 1), 1);
    CHECK_EQ_U(st.streams, 2);
    CHECK_EQ_U(st.records_received, 1);
    sm_sensors_destroy(&s);
}

int main(void)
{
    test_server_views();
    test_partitions();
    test_host_counters();
    test_order_dup_reorder();
    test_first_heard_out_of_order();
    test_gap_waited_then_declared();
    test_time_regressed();
    test_window_overrun();
    test_restart_and_stale();
    test_down_and_back();
    test_no_server_yet();
    test_declared_drops_scope_end();
    test_books_balance();
    test_expiry();
    return check_done();
}
