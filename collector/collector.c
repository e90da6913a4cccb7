/*
 * collector.c - the live collector's loop (see collector.h).
 *
 * One thread: poll the PULL socket (50 ms at most, so time-driven decisions keep flowing
 * when nothing arrives), drain up to a bounded number of messages, let the sensor books and
 * the join engine advance, flush the output. Nothing is logged per message: rejections are
 * counted by reason and appear in the periodic stats line.
 */
#include "collector.h"

#include <ctype.h>
#include <sys/stat.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "addr.h"
#include "clock.h"
#include "fmt.h"
#include "health.h"
#include "metrics.h"
#include "json.h"
#include "log.h"
#include "nats_out.h"
#include "nats_source.h"
#include "outq.h"
#include "sensors.h"
#include "synmatch/join.h"
#include "synmatch/keys.h"
#include "synmatch/report.h"
#include "synmatch/wire.h"

/* Debian's zmq.h declares this only with the draft API; libzmq 4.3.4 implements it. With it,
 * a CURVE handshake fails when no ZAP handler answers: fail closed, not open. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
/* ZAP decides per socket: each CURVE socket has its own domain and its own allow-list, so an
 * agent's key never reads alerts and a subscriber's key never sends records. */
#define ZAP_DOMAIN "synmatch"
#define ZAP_ALERTS_DOMAIN "synmatch-alerts"

#define POLL_MS 50
#define NATS_IDLE_MS 10 /* JetStream: the pause after a turn that found nothing */
#define DEFAULT_REPLAY_NS (180 * INT64_C(1000000000))
#define NATS_FINISH_MS 10000
#define NATS_MALLOC_TRIM (256 << 20)
#define NATS_MALLOC_PAD (64 << 20)
#define NATS_MALLOC_MMAP (8 << 20)
#define NATS_DOWN_AFTER_NS (15 * INT64_C(1000000000)) /* default --sensor-timeout over NATS */ /* at the end, how long to wait for the stream's acknowledgements */
#define MAX_MSGS_PER_TURN 512
#define RCV_HWM 64
#define STATS_SENSORS_SHOWN 8
enum { DOOR_AGENTS, DOOR_SUBSCRIBERS };
#define MAX_DECISIONS_PER_TURN 20000 /* bounded expiry work: a backlog never stalls the socket */
#define METRICS_EVERY_NS SM_NS_PER_SEC /* the metrics' snapshot at least this often */

/* Who asked to connect to one of the collector's sockets, and what became of it. */
struct door {
    const char *name;      /* "agents" or "subscribers" */
    const char *domain;    /* its ZAP domain */
    const char *allow_file;
    struct sm_allow allow; /* who may connect */
    void *mon;             /* the socket's monitor */
    uint64_t hs_ok, hs_failed_protocol, hs_failed_auth, hs_failed_other;
    uint64_t allowed, denied_unlisted, denied_other_role;
};

/*
 * The output's stdio buffers: one for the file open, one for the file a reopen opens before
 * the old one is closed. The loop flushes after every pass over the socket (at most POLL_MS
 * apart), so a large buffer costs no latency. They must be given to setvbuf(): given only a
 * size, glibc keeps its default of st_blksize, and the output was a write() of 4 KiB every
 * six verdict lines (170,000 system calls for a million connections).
 */
static char out_buffers[2][SM_COLLECTOR_OUT_BUFFER];

struct collector {
    const struct sm_collector_config *cfg;
    FILE *out; /* cfg->out, or the file reopened from cfg->output_path */
    int out_buffer; /* which of out_buffers out has */
    void *zctx, *pull, *pub;
    sm_join_t *join;
    sm_sensors_t *sensors;
    uint64_t rejected[SM_WIRE_REJECT_COUNT];
    uint64_t messages, records;
    uint64_t out_errors, lines_too_long;
    int64_t server_capture_start;
    bool curve;
    void *zap;
    struct door doors[2]; /* [DOOR_AGENTS] the PULL socket, [DOOR_SUBSCRIBERS] the PUB */
    struct sm_keypair kp;
    uint64_t identity_mismatch;
    uint64_t clock_changes; /* of the join's estimate, told so far */
    bool rewriting_told;    /* the isn_rewriting event was written */
    /* listen nats://: records from JetStream, lines into it first (nats_source.h, nats_out.h) */
    sm_nats_source_t *nats;
    sm_nats_out_t *nout;
    uint32_t partitions;
    int64_t forget_published_at; /* monotonic ns: the replay's keys are no longer needed */
    sm_outq_t *outq;        /* the output thread; NULL: this thread writes */
    sm_health_t *health;    /* per-service health lines and alerts; NULL: off */
    sm_cmetrics_t *metrics; /* /metrics (metrics.h); NULL: off */
    int64_t start_wall, next_publish;
    uint64_t publishes, publish_ns_total;
    int64_t publish_ns_max, turn_ns_max;
    uint64_t publish_over_ms;   /* snapshots that took the loop more than 1 ms (wall) */
    int64_t publish_cpu_ns_max; /* the longest in the loop thread's CPU time: the copy's own
                                 * cost, without the time the thread was not running */
};

/* Writes lines (one or more, each ending in a newline) to the output and, one message each,
 * to the PUB socket: through the output thread once it runs (outq.h). */
static void write_lines(void *arg, const char *lines, size_t len)
{
    struct collector *c = arg;
    if (c->outq) {
        sm_outq_line(c->outq, lines, len);
        return;
    }
    if (fwrite(lines, 1, len, c->out) != len)
        c->out_errors++;
    if (c->pub == NULL)
        return;
    for (const char *p = lines, *end = lines + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        zmq_send(c->pub, p, n, ZMQ_DONTWAIT); /* PUB drops at its HWM: tail is best effort */
        p += n;
    }
}

/* A shard's stored lines as an LZ4 block: unpacked by the output thread (nats_out.h). */
static bool write_packed_lines(void *arg, const char *block, size_t len, size_t plain)
{
    struct collector *c = arg;
    return c->outq != NULL && sm_outq_packed(c->outq, block, len, plain);
}

/* Writes one line; over JetStream it goes into the stream first (nats_out.h). */
static void emit_line(struct collector *c, const char *line, size_t len)
{
    if (c->nout)
        sm_nats_out_event(c->nout, line, len);
    else
        write_lines(c, line, len);
}

/* Writes a finished JSON line; one too long for its buffer is counted, never cut. */
static void emit_json(struct collector *c, struct sm_json *w)
{
    size_t len = sm_json_end(w);
    if (len == 0)
        c->lines_too_long++;
    else
        emit_line(c, w->buf, len);
}

static void rewriting_event(struct collector *c, const struct sm_verdict *v);

/* Pushes what was written out: the output thread flushes after what it was handed. */
static void flush_out(struct collector *c)
{
    if (c->outq)
        sm_outq_flush(c->outq);
    else
        fflush(c->out);
}

static void on_verdict(void *arg, const struct sm_verdict *v)
{
    struct collector *c = arg;
    /* counted first: a verdict of the next interval writes the closed one's lines before
     * its own line */
    bool show = c->health ? sm_health_verdict(c->health, v) : true;
    if (c->nout) {
        /* over JetStream the line is published first, written once stored */
        sm_nats_out_verdict(c->nout, sm_partition_of(v->isn, c->partitions),
                            sm_nats_out_key(v), v);
    } else if (c->outq) {
        sm_outq_verdict(c->outq, v, show); /* formatted there */
    } else {
        char line[SM_REPORT_LINE_MAX];
        size_t len = sm_report_verdict_line(line, v, c->cfg->community_id_seed);
        if (show)
            write_lines(c, line, len);
        else if (fwrite(line, 1, len, c->out) != len)
            c->out_errors++;
    }
    if (v->fingerprint && !c->rewriting_told)
        rewriting_event(c, v);
}

/* The first connection matched by fingerprint: a device between the sensors rewrites ISNs
 * (docs/VERDICTS.md, "isn_rewriting"). Said once, with the path it was seen on. */
static void rewriting_event(struct collector *c, const struct sm_verdict *v)
{
    c->rewriting_told = true;
    char line[SM_REPORT_LINE_MAX], addr[SM_ADDR_STRLEN];
    struct sm_json w;
    sm_json_begin(&w, line, sizeof line);
    sm_json_u64(&w, "schema", SM_VERDICT_SCHEMA);
    sm_json_str(&w, "event", "isn_rewriting");
    sm_json_time(&w, "time", sm_clock_real_ns());
    sm_json_time(&w, "first_seen", v->first_ns);
    sm_json_str(&w, "server", sm_addr_format(&v->server.dst, addr, sizeof addr));
    sm_json_u64(&w, "dport", v->server.dport);
    sm_json_u64(&w, "client_seq", v->isn);
    sm_json_u64(&w, "server_seq", v->server_seq);
    emit_json(c, &w);
    sm_log_warnx("a device between the sensors rewrites TCP sequence numbers (for example Cisco "
                 "ASA sequence number randomization): connections to %s port %u are matched "
                 "by TCP timestamp, IP ID or ports instead", addr, (unsigned)v->server.dport);
}

static const char *role_name(enum sm_role r)
{
    return r == SM_ROLE_SERVER ? "server" : "client";
}

static void on_event(void *arg, const struct sm_sensor_event *ev)
{
    static const char *const names[] = {
        [SM_SENSOR_UP] = "sensor_up",     [SM_SENSOR_DOWN] = "sensor_down",
        [SM_SENSOR_BACK] = "sensor_back", [SM_SENSOR_END] = "sensor_end",
        [SM_SENSOR_GAP] = "transport_gap", [SM_SENSOR_CLOSED] = "sensor_closed",
    };
    struct collector *c = arg;
    char line[SM_REPORT_LINE_MAX];
    struct sm_json w;
    sm_json_begin(&w, line, sizeof line);
    sm_json_u64(&w, "schema", SM_VERDICT_SCHEMA);
    sm_json_str(&w, "event", names[ev->kind]);
    sm_json_time(&w, "time", sm_clock_real_ns());
    sm_json_str(&w, "sensor", ev->sensor_id);
    sm_json_str(&w, "role", role_name(ev->role));
    sm_json_u64(&w, "epoch", ev->epoch);
    if (ev->partitioned)
        sm_json_u64(&w, "partition", ev->partition);
    if (ev->kind == SM_SENSOR_GAP) {
        sm_json_u64(&w, "first_seq", ev->first_seq);
        sm_json_u64(&w, "last_seq", ev->last_seq);
    } else if (ev->kind == SM_SENSOR_UP || ev->kind == SM_SENSOR_BACK ||
               ev->kind == SM_SENSOR_END) {
        sm_json_u64(&w, "seq", ev->first_seq);
    }
    if (ev->streams > 1 && ev->kind != SM_SENSOR_GAP)
        sm_json_u64(&w, "partitions", ev->streams);
    if (ev->watermark_ns != INT64_MIN)
        sm_json_time(&w, "watermark", ev->watermark_ns);
    if (ev->reason)
        sm_json_str(&w, "reason", ev->reason);
    if (ev->books) {
        const struct sm_sensor_books *b = ev->books;
        sm_json_open(&w, "books");
        sm_json_u64(&w, "emitted", b->emitted);
        sm_json_u64(&w, "before", b->before);
        sm_json_u64(&w, "received", b->received);
        sm_json_u64(&w, "unsent", b->unsent);
        sm_json_u64(&w, "lost", b->lost);
        sm_json_u64(&w, "gaps", b->gaps);
        sm_json_u64(&w, "lost_batches", b->lost_batches);
        sm_json_close(&w);
    }
    emit_json(c, &w);
}

/* The clocks' offset as the join measures it: when first confident, and on each move by
 * more than its error (docs/VERDICTS.md, "Clocks"). */
static void clock_event(struct collector *c)
{
    struct sm_clock_estimate ce;
    sm_join_get_clock(c->join, &ce);
    char line[SM_REPORT_LINE_MAX];
    struct sm_json w;
    sm_json_begin(&w, line, sizeof line);
    sm_json_u64(&w, "schema", SM_VERDICT_SCHEMA);
    sm_json_str(&w, "event", "clock_offset");
    sm_json_time(&w, "time", sm_clock_real_ns());
    sm_json_duration(&w, "offset", ce.offset_ns);
    sm_json_time(&w, "at", ce.at_ns);
    sm_json_duration(&w, "spread", ce.spread_ns);
    sm_json_u64(&w, "pairs", ce.pairs);
    sm_json_bool(&w, "two_legs", ce.two_legs);
    sm_json_u64(&w, "steps", ce.steps);
    sm_json_bool(&w, "corrected", ce.corrected);
    if (ce.corrected)
        sm_json_duration(&w, "applied", ce.applied_ns);
    emit_json(c, &w);
    if (c->health)
        sm_health_set_clock(c->health, ce.offset_ns);
    char off[48];
    sm_log_info("the server side's clock is %s %s the client side's (%" PRIu64 " connections "
                "seen by both)%s", sm_fmt_span(off, sizeof off, ce.offset_ns),
                ce.offset_ns < 0 ? "behind" : "ahead of", ce.pairs,
                ce.corrected ? "; times corrected" : c->cfg->no_clock_correction
                                                         ? "; not corrected (--no-clock-correction)"
                                                         : "; they agree: no correction");
}

static void on_lone(void *arg, const struct sm_lone_syn *s)
{
    struct collector *c = arg;
    sm_health_lone(c->health, s);
}

/* A server host's SYN cookies since its previous sample count for its services' health. */
static void on_host(void *arg, uint32_t view, const struct sm_host_counters *prev,
                    const struct sm_host_counters *cur)
{
    struct collector *c = arg;
    if (c->health && cur->syncookies_sent > prev->syncookies_sent)
        sm_health_host(c->health, view, cur->syncookies_sent - prev->syncookies_sent);
}

static void health_write(void *arg, const char *line, size_t len)
{
    emit_line(arg, line, len);
}

static const char *health_sensor(void *arg, uint32_t view)
{
    const struct collector *c = arg;
    return sm_sensors_view_name(c->sensors, view);
}

static int32_t health_view(void *arg, const struct sm_tuple *t)
{
    const struct collector *c = arg;
    return sm_sensors_scope_view(c->sensors, t);
}

static void on_records(void *arg, enum sm_role role, const struct sm_record *recs, size_t n)
{
    struct collector *c = arg;
    sm_join_add_batch(c->join, role, recs, n);
    c->records += n;
    uint64_t ch = sm_join_clock_changes(c->join);
    if (ch != c->clock_changes) {
        c->clock_changes = ch;
        clock_event(c);
    }
}

static void on_blind(void *arg, enum sm_role role, uint32_t view, int64_t from, int64_t to,
                     enum sm_verdict_kind kind)
{
    struct collector *c = arg;
    sm_join_blind(c->join, role, view, from, to, kind);
}

static void on_hint(void *arg, uint32_t view, int64_t from, int64_t to, enum sm_host_hint kind)
{
    struct collector *c = arg;
    sm_join_hint(c->join, view, from, to, kind);
}

static int32_t scope_view(void *arg, const struct sm_tuple *client)
{
    const struct collector *c = arg;
    return sm_sensors_scope_view(c->sensors, client);
}

static void stats_line(struct collector *c)
{
    struct sm_sensors_totals t;
    struct sm_join_stats js;
    sm_sensors_totals(c->sensors, &t);
    sm_join_get_stats(c->join, &js);
    uint64_t rej = 0;
    char detail[256] = "";
    size_t len = 0;
    for (int k = 1; k < SM_WIRE_REJECT_COUNT; k++) {
        rej += c->rejected[k];
        if (c->rejected[k] && len < sizeof detail - 40)
            len += (size_t)snprintf(detail + len, sizeof detail - len, " %s=%" PRIu64,
                                    sm_wire_reject_name((enum sm_wire_reject)k), c->rejected[k]);
    }
    if (c->lines_too_long)
        sm_log_warnx("stats: %" PRIu64 " event lines were too long to write and were dropped",
                     c->lines_too_long);
    char kinds[512];
    size_t klen = 0;
    for (int k = 0; k < SM_V_COUNT && klen < sizeof kinds; k++)
        klen += (size_t)snprintf(kinds + klen, sizeof kinds - klen, "%s%s %" PRIu64,
                                 k ? " " : "", sm_verdict_name((enum sm_verdict_kind)k),
                                 js.verdicts[k]);
    for (int d = 0; d < 2; d++) {
        const struct door *dr = &c->doors[d];
        if ((d == DOOR_SUBSCRIBERS && c->pub == NULL) || (d == DOOR_AGENTS && c->nats))
            continue; /* over NATS the servers are the agents' door */
        sm_log_info("stats: %s: handshakes ok %" PRIu64 ", failed: protocol %" PRIu64
                    " auth %" PRIu64 " other %" PRIu64 " | allow-list: allowed %" PRIu64
                    " denied %" PRIu64 " (not listed %" PRIu64 ", %s key %" PRIu64 ")",
                    dr->name, dr->hs_ok, dr->hs_failed_protocol, dr->hs_failed_auth,
                    dr->hs_failed_other, dr->allowed, dr->denied_unlisted + dr->denied_other_role,
                    dr->denied_unlisted, d == DOOR_AGENTS ? "a subscriber's" : "an agent's",
                    dr->denied_other_role);
    }
    if (c->nats == NULL)
        sm_log_info("stats: batches claiming another sensor's id %" PRIu64, c->identity_mismatch);
    sm_log_info("stats: sensors %zu up of %zu | messages %" PRIu64 " rejected %" PRIu64 "%s"
                " | batches %" PRIu64 " dup %" PRIu64 " stale %" PRIu64 " time_regressed %" PRIu64
                " gaps %" PRIu64
                " (%" PRIu64 " batches lost) | records %" PRIu64 " | pending %zu"
                " | %s out_of_scope %" PRIu64 " isn_flood %" PRIu64
                " | clock offset %.3f s (%" PRIu32 " pairs) | matched by fingerprint %" PRIu64
                " (lookups incomplete %" PRIu64 ", server SYNs not kept %" PRIu64 ")",
                t.up, t.sensors, c->messages, rej, detail, t.batches, t.duplicates, t.stale,
                t.time_regressed, t.gaps, t.lost_batches, c->records, js.pending, kinds,
                js.out_of_scope, js.isn_flood, (double)js.offset_ns / 1e9, js.offset_samples,
                js.isn_rewritten, js.fp_skipped, js.fp_archive_lost);
    /* Each sensor's own books, the first few: which one is down or dropping. */
    struct sm_sensor_stats ss[STATS_SENSORS_SHOWN];
    size_t n = sm_sensors_stats(c->sensors, ss, STATS_SENSORS_SHOWN);
    for (size_t k = 0; k < n; k++)
        sm_log_info("stats: sensor %s (%s, %s) epoch %" PRIu64 " | batches %" PRIu64
                    " gaps %" PRIu64 " | records received %" PRIu64 " emitted %" PRIu64
                    " unsent %" PRIu64 " | capture drops %" PRIu64,
                    ss[k].sensor_id, role_name(ss[k].role),
                    ss[k].ended ? "ended" : ss[k].up ? "up" : "down", ss[k].epoch, ss[k].batches,
                    ss[k].gaps, ss[k].records_received, ss[k].records_emitted,
                    ss[k].records_unsent, ss[k].pcap_dropped);
    if (t.sensors > n)
        sm_log_info("stats: and %zu more sensors", t.sensors - n);
    if (c->health) {
        struct sm_health_totals ht;
        sm_health_totals(c->health, &ht);
        sm_log_info("stats: health: intervals %" PRIu64 " lines %" PRIu64 " | degraded %" PRIu64
                    " recovered %" PRIu64 " syn_flood %" PRIu64 " syn_flood_end %" PRIu64
                    " | services tracked %zu, folded into other %" PRIu64 ", evicted %" PRIu64
                    " | verdict lines kept off the alerts socket %" PRIu64,
                    ht.intervals, ht.lines, ht.events[0], ht.events[1], ht.events[2],
                    ht.events[3], ht.tracked, ht.folded, ht.evicted, ht.not_shown);
    }
    if (c->metrics)
        sm_log_info("stats: metrics: snapshots %" PRIu64 ", longest %.3f ms (%.3f ms of CPU), "
                    "%" PRIu64 " over 1 ms, mean %.3f ms", c->publishes,
                    (double)c->publish_ns_max / 1e6, (double)c->publish_cpu_ns_max / 1e6,
                    c->publish_over_ms,
                    c->publishes ? (double)c->publish_ns_total / (double)c->publishes / 1e6 : 0);
    sm_log_info("stats: loop: longest turn %.3f ms", (double)c->turn_ns_max / 1e6);
    if (c->nout) {
        struct sm_nats_out_stats os;
        sm_nats_out_stats(c->nout, &os);
        uint64_t fetches, fetched;
        sm_nats_source_fetches(c->nats, &fetches, &fetched);
        sm_log_info("stats: JetStream: fetches %" PRIu64 " brought %" PRIu64 " messages | "
                    "partitions replaying %u (messages replayed %" PRIu64
                    ") | lines published %" PRIu64 " (%" PRIu64 " bytes, sent as %" PRIu64
                    ") in %" PRIu64 " messages, sent again %" PRIu64
                    ", awaiting acknowledgement %zu | verdicts already published before a "
                    "restart %" PRIu64 " (keys loaded %" PRIu64 ")",
                    fetches, fetched, (unsigned)sm_nats_source_replaying(c->nats),
                    sm_nats_source_replayed(c->nats), os.lines, os.line_bytes, os.packed_bytes,
                    os.messages, os.resends, os.in_flight, os.already_published, os.keys_loaded);
    }
}

static void advance(struct collector *c, int64_t now);

/*
 * The metrics' snapshot: the loop's figures copied for the HTTP thread (metrics.h). Timed:
 * this is all a scrape costs the loop.
 */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * SM_NS_PER_SEC + ts.tv_nsec;
}

static void publish_metrics(struct collector *c, int64_t now)
{
    int64_t t0 = sm_clock_mono_ns(), wall = sm_clock_real_ns(), cpu0 = thread_cpu_ns();
    struct sm_cmetrics_tables t;
    struct sm_cmetrics_head *h = sm_cmetrics_begin(c->metrics, &t);
    h->wall_ns = wall;
    h->start_wall_ns = c->start_wall;
    sm_join_get_stats(c->join, &h->js);
    sm_join_get_clock(c->join, &h->ce);
    memcpy(h->rejected, c->rejected, sizeof h->rejected);
    h->messages = c->messages;
    h->records = c->records;
    h->identity_mismatch = c->identity_mismatch;
    h->out_errors = c->out_errors + (c->outq ? sm_outq_errors(c->outq) : 0);
    h->lines_too_long = c->lines_too_long;
    sm_sensors_totals(c->sensors, &h->st);
    h->nsensors = sm_sensors_stats(c->sensors, t.sensors, SM_SENSORS_DEFAULT_MAX);
    for (size_t i = 0; i < h->nsensors; i++)
        t.last_batch_wall_ns[i] = t.sensors[i].batches ? wall - (now - t.sensors[i].last_heard)
                                                       : 0;
    h->health = c->health != NULL;
    h->nservices = 0;
    if (c->health) {
        sm_health_totals(c->health, &h->ht);
        h->nservices = sm_health_services(c->health, t.services, sm_health_capacity(c->health));
        for (size_t i = 0; i < h->nservices; i++) {
            const char *id = t.services[i].other
                                 ? NULL
                                 : sm_sensors_view_name(c->sensors, t.services[i].view);
            snprintf(t.service_sensor[i], sizeof t.service_sensor[i], "%s", id ? id : "");
        }
    }
    if (c->nats)
        snprintf(h->shard, sizeof h->shard, "%u/%u", (unsigned)c->cfg->shard,
                 (unsigned)(c->cfg->shards ? c->cfg->shards : 1));
    else
        h->shard[0] = '\0';
    h->publishes = c->publishes + 1;
    h->publish_ns_total = c->publish_ns_total;
    h->publish_ns_max = c->publish_ns_max;
    h->turn_ns_max = c->turn_ns_max;
    sm_cmetrics_publish(c->metrics);
    int64_t took = sm_clock_mono_ns() - t0, cpu = thread_cpu_ns() - cpu0;
    c->publishes++;
    c->publish_ns_total += (uint64_t)took;
    if (took > c->publish_ns_max)
        c->publish_ns_max = took;
    if (cpu > c->publish_cpu_ns_max)
        c->publish_cpu_ns_max = cpu;
    c->publish_over_ms += took > SM_NS_PER_MS;
    c->next_publish = now + METRICS_EVERY_NS;
}

/*
 * One message: decoded, validated, into the books. With keys, uid is who the sender's key
 * says it is (the ZAP User-Id), to be checked against what the batch claims. The watermarks
 * advance after every batch, so the join decides as it goes and holds only what is still
 * undecided, not a whole drain's worth of records.
 */
static void take_batch(struct collector *c, const uint8_t *buf, size_t len, bool check_uid,
                       const char *uid)
{
    c->messages++;
    struct sm_wire_header h;
    struct sm_record *recs;
    size_t n;
    enum sm_wire_reject why = sm_wire_decode(buf, len, &h, &recs, &n);
    /* Over JetStream every part must be of the stream's partitioning and this shard's (an
     * agent with another --partitions puts records where no shard looks for them). */
    if (why == SM_WIRE_OK && c->nats &&
        (h.partition_count != c->partitions || !sm_nats_source_owns(c->nats, h.partition))) {
        free(recs);
        why = SM_WIRE_BAD_PARTITION;
    }
    if (why != SM_WIRE_OK) {
        c->rejected[why]++;
        return;
    }
    if (check_uid && (uid == NULL || strcmp(uid, h.sensor_id) != 0)) {
        c->identity_mismatch++;
        free(recs);
        return;
    }
    int64_t now = sm_clock_mono_ns();
    sm_sensors_batch(c->sensors, &h, recs, n, now);
    advance(c, now);
}

static void take_nats_batch(void *arg, const uint8_t *buf, size_t len)
{
    take_batch(arg, buf, len, false, NULL);
}

/* Receives and processes up to MAX_MSGS_PER_TURN waiting messages; returns how many. */
static int drain_socket(struct collector *c)
{
    if (c->nats) /* while the stream has not stored our verdicts, take no more records */
        return c->nout && sm_nats_out_backlogged(c->nout)
                   ? 0
                   : sm_nats_source_drain(c->nats, MAX_MSGS_PER_TURN, take_nats_batch, c);
    int k;
    for (k = 0; k < MAX_MSGS_PER_TURN; k++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->pull, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&msg);
            break;
        }
        const char *uid = c->curve ? zmq_msg_gets(&msg, "User-Id") : NULL;
        take_batch(c, zmq_msg_data(&msg), zmq_msg_size(&msg), c->curve, uid);
        zmq_msg_close(&msg);
    }
    return k;
}

/*
 * One ZAP request (RFC 27): version, request id, domain, address, identity, mechanism,
 * credentials. The domain names the socket; only CURVE clients whose public key is on that
 * socket's allow-list pass, and their User-Id is the name the list gives them. A key on the
 * other socket's list is refused and counted as such; an unknown domain is refused.
 */
static void handle_zap(struct collector *c)
{
    char frames[8][64];
    size_t sizes[8] = {0};
    uint8_t key[32];
    size_t nkey = 0;
    int nf = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->zap, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&m);
            return;
        }
        if (nf < 8) {
            size_t len = zmq_msg_size(&m);
            sizes[nf] = len < sizeof frames[0] ? len : sizeof frames[0] - 1;
            memcpy(frames[nf], zmq_msg_data(&m), sizes[nf]);
            frames[nf][sizes[nf]] = '\0';
            if (nf == 6 && len == 32) {
                memcpy(key, zmq_msg_data(&m), 32);
                nkey = 32;
            }
        }
        nf++;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    const char *id = NULL;
    struct door *dr = NULL, *other = NULL;
    if (nf >= 3 && strcmp(frames[2], ZAP_DOMAIN) == 0) {
        dr = &c->doors[DOOR_AGENTS];
        other = &c->doors[DOOR_SUBSCRIBERS];
    } else if (nf >= 3 && strcmp(frames[2], ZAP_ALERTS_DOMAIN) == 0) {
        dr = &c->doors[DOOR_SUBSCRIBERS];
        other = &c->doors[DOOR_AGENTS];
    }
    if (dr && nf >= 7 && strcmp(frames[0], "1.0") == 0 && strcmp(frames[5], "CURVE") == 0 &&
        nkey == 32) {
        char z85[SM_KEY_Z85_LEN + 1];
        zmq_z85_encode(z85, key, 32);
        id = sm_allow_lookup(&dr->allow, z85);
        if (id)
            dr->allowed++;
        else if (sm_allow_lookup(&other->allow, z85))
            dr->denied_other_role++;
        else
            dr->denied_unlisted++;
    } else if (dr) {
        dr->denied_unlisted++;
    }
    const char *status = id ? "200" : "400";
    const char *text = id ? "OK" : "not allowed";
    zmq_send(c->zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(c->zap, frames[1], nf > 1 ? sizes[1] : 0, ZMQ_SNDMORE);
    zmq_send(c->zap, status, 3, ZMQ_SNDMORE);
    zmq_send(c->zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(c->zap, id ? id : "", id ? strlen(id) : 0, ZMQ_SNDMORE);
    zmq_send(c->zap, "", 0, 0);
}

/* Events from a socket's monitor: handshakes that failed are counted by kind. */
static void handle_monitor(struct door *dr)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, dr->mon, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&m);
            return;
        }
        uint16_t ev = 0;
        if (zmq_msg_size(&m) >= 2)
            memcpy(&ev, zmq_msg_data(&m), 2);
        bool more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        while (more) { /* the second frame: the peer's address */
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, dr->mon, 0) == -1)
                more = false;
            else
                more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
            dr->hs_failed_protocol++;
        else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            dr->hs_failed_auth++;
        else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            dr->hs_failed_other++;
        else if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            dr->hs_ok++;
    }
}

/* Without keys, only loopback and ipc:// endpoints: nothing unauthenticated on a network. */
static bool endpoint_is_local(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return true;
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    const char *h = ep + 6;
    return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost:", 10) == 0 ||
           strncmp(h, "[::1]:", 6) == 0;
}

static void advance(struct collector *c, int64_t now)
{
    sm_sensors_tick(c->sensors, now);
    /* Nothing a server sensor could have seen happened before its capture began. */
    int64_t start = sm_sensors_capture_start(c->sensors, SM_ROLE_SERVER);
    if (start != c->server_capture_start) {
        c->server_capture_start = start;
        sm_join_coverage_start(c->join, SM_ROLE_SERVER, start);
    }
    for (int r = 0; r < 2; r++) {
        int64_t wm = sm_sensors_watermark(c->sensors, (enum sm_role)r, now);
        if (wm != INT64_MIN)
            sm_join_watermark(c->join, (enum sm_role)r, wm);
    }
}

/* Opens a socket of type on endpoint; with keys, a CURVE server whose ZAP domain is door's. */
static void *open_socket(struct collector *c, int type, const char *endpoint,
                         const struct sm_keypair *kp, const struct door *dr)
{
    void *sock = zmq_socket(c->zctx, type);
    if (sock == NULL)
        return NULL;
    if (kp) {
        int one = 1;
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) == -1 ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp->secret_z85, 41) == -1 ||
            zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, dr->domain, strlen(dr->domain)) == -1 ||
            zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) == -1) {
            sm_log_warnx("%s: cannot enable CURVE with an enforced ZAP domain: %s", endpoint,
                         zmq_strerror(zmq_errno()));
            zmq_close(sock);
            return NULL;
        }
    }
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_PULL) {
        /* Per connected agent, ZeroMQ holds at most this many received messages: beyond
         * it TCP pushes back and the agent queues, drops and declares. Memory per agent is
         * bounded by RCV_HWM x the message size, not by its send rate. */
        int64_t max = SM_WIRE_MAX_MESSAGE;
        int hwm = RCV_HWM;
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof max);
        zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    } else {
        int hwm = 100000;
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    }
    /* Re-opened after a reload, the endpoint may still be held by the socket just closed
     * (libzmq lets go of it in its own thread): a few tries, a second at most. */
    int rc, tries = 0;
    while ((rc = zmq_bind(sock, endpoint)) == -1 && zmq_errno() == EADDRINUSE && tries++ < 20)
        usleep(50000);
    if (rc == -1) {
        sm_log_warnx("cannot listen on %s: %s", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return NULL;
    }
    /* Agents drop to an unprivileged user (--user) after start-up and reconnect as that user:
     * the socket file must be connectable by anyone who can reach it. Who can reach it is
     * decided by the permissions of its directory (and, with keys, by CURVE). */
    if (strncmp(endpoint, "ipc://", 6) == 0 && endpoint[6] != '@' && chmod(endpoint + 6, 0666) == -1)
        sm_log_warn("%s: cannot make the socket connectable for unprivileged agents", endpoint);
    return sock;
}

/* Counts door's handshakes from a monitor on sock (best effort: without one, no counts).
 * Each monitor gets an endpoint of its own: one just stopped may not have let go of its. */
static void watch(struct collector *c, void *sock, struct door *dr)
{
    static unsigned generation;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://synmatch-monitor-%s-%u", dr->name, generation++);
    if (zmq_socket_monitor(sock, ep,
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0)
        return;
    if (dr->mon == NULL)
        dr->mon = zmq_socket(c->zctx, ZMQ_PAIR);
    if (dr->mon && zmq_connect(dr->mon, ep) == -1) {
        zmq_close(dr->mon);
        dr->mon = NULL;
    }
}

/*
 * SIGHUP: both allow-lists read again (each stays as it was when its file is wrong). ZAP asks
 * only at a handshake, so a subscriber removed from the list would keep reading on its open
 * connection: the alerts socket is opened anew, every subscriber reconnects (ZeroMQ does so by
 * itself) and is checked against the new list. Lines published in that moment are lost, as
 * PUB loses them for a slow subscriber. -1 when the socket cannot be opened again.
 */
static int reload(struct collector *c)
{
    char err[512];
    for (int d = 0; d < 2; d++) {
        struct door *dr = &c->doors[d];
        if (dr->allow_file == NULL)
            continue;
        if (sm_allow_load(dr->allow_file, &dr->allow, err, sizeof err) == -1) {
            sm_log_warnx("allow-list of %s not reloaded, the previous one stays: %s", dr->name,
                         err);
            continue;
        }
        sm_log_info("allow-list of %s reloaded: %zu allowed", dr->name, dr->allow.n);
        if (d == DOOR_SUBSCRIBERS && c->pub) {
            struct door *sd = &c->doors[DOOR_SUBSCRIBERS];
            if (c->outq)
                sm_outq_sync(c->outq, c->out, NULL); /* the thread lets go of the socket */
            zmq_socket_monitor(c->pub, NULL, 0);
            zmq_close(c->pub);
            c->pub = open_socket(c, ZMQ_PUB, c->cfg->alerts_pub, &c->kp, sd);
            if (c->pub == NULL)
                return -1;
            if (sd->mon) {
                zmq_close(sd->mon);
                sd->mon = NULL;
            }
            watch(c, c->pub, sd);
            if (c->outq)
                sm_outq_sync(c->outq, c->out, c->pub);
        }
    }
    return 0;
}

/*
 * SIGHUP: the output file opened again by its path, for log rotation (logrotate moves the file
 * away, then signals). Called between passes, when every line written so far was flushed to
 * the old file: the new one starts with the next line. The new file is opened before the old
 * is closed, so when it cannot be (a full or read-only disk, the directory gone) the lines
 * keep going where they went, and it is said once per signal.
 */
static void reopen_output(struct collector *c)
{
    const char *path = c->cfg->output_path;
    if (path == NULL)
        return;
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        sm_log_warn("cannot reopen %s, verdicts still go to the file open until now", path);
        return;
    }
    setvbuf(f, out_buffers[c->out_buffer ^ 1], _IOFBF, SM_COLLECTOR_OUT_BUFFER);
    if (c->outq) /* the output thread writes what it holds to the old file, then the new */
        sm_outq_sync(c->outq, f, c->pub);
    if (fflush(c->out) == EOF)
        c->out_errors++;
    if (fclose(c->out) == EOF) {
        sm_log_warn("closing %s before reopening it", path);
        c->out_errors++;
    }
    c->out = f;
    c->out_buffer ^= 1;
    sm_log_info("output %s reopened", path);
}

enum sm_collector_err sm_collector_run(const struct sm_collector_config *cfg)
{
    struct collector c = {.cfg = cfg, .out = cfg->out, .server_capture_start = INT64_MIN};
    setvbuf(c.out, out_buffers[0], _IOFBF, SM_COLLECTOR_OUT_BUFFER); /* before any output */
    enum sm_collector_err status = SM_COLLECTOR_OK;
    struct sm_join_config jc = {
        .timeout_ns = cfg->timeout_ns,
        .max_skew_ns = cfg->max_skew_ns,
        .max_pending = cfg->max_pending,
        .emit_suspect = true,
        .max_work = MAX_DECISIONS_PER_TURN,
        .on_verdict = on_verdict,
        .verdict_arg = &c,
        .in_scope = scope_view,
        .scope_arg = &c,
        .no_clock_correction = cfg->no_clock_correction,
    };
    bool nats = sm_nats_is_url(cfg->listen);
    struct sm_sensors_config sc = {.down_after_ns = cfg->down_after_ns};
    if (nats) {
        /* libnats's threads allocate what this thread frees: without padding and a high trim
         * threshold, glibc grows and shrinks their arenas for every few messages (mprotect,
         * and page faults, were a quarter of a shard's time). */
        mallopt(M_TRIM_THRESHOLD, NATS_MALLOC_TRIM);
        mallopt(M_TOP_PAD, NATS_MALLOC_PAD);
        /* setting those fixes the mmap threshold (128 KiB): a verdict batch (256 KiB, and its
         * copy in libnats) would be mmap'd, faulted in and unmapped every time */
        mallopt(M_MMAP_THRESHOLD, NATS_MALLOC_MMAP);
        sc.shard = cfg->shard;
        sc.shards = cfg->shards ? cfg->shards : 1;
        /* A durable transport is late, not lossy: a cluster that lost a server takes seconds
         * to elect new leaders, and what the agents published meanwhile comes after. */
        if (sc.down_after_ns == 0)
            sc.down_after_ns = NATS_DOWN_AFTER_NS;
        /* A part lost on its way from a dying server comes again after the ack wait: the
         * books hold what follows it until then (nats_source.c). */
        sc.gap_wait_ns = SM_NATS_GAP_WAIT_NS;
        sc.reorder_window = SM_NATS_REORDER_WINDOW;
    }
    struct sm_sensors_sink sink = {on_records, on_blind, on_event, on_hint, &c, on_host};
    if (cfg->health_interval_ns >= 0) {
        struct sm_health_config hc = {
            .interval_ns = cfg->health_interval_ns ? cfg->health_interval_ns
                                                   : SM_HEALTH_DEFAULT_INTERVAL_NS,
            .services = cfg->health_services ? cfg->health_services
                                             : SM_HEALTH_DEFAULT_SERVICES,
            .degraded_share = cfg->degraded_share > 0 ? cfg->degraded_share
                                                      : SM_HEALTH_DEFAULT_SHARE,
            .degraded_window_ns = cfg->degraded_window_ns ? cfg->degraded_window_ns
                                                          : SM_HEALTH_DEFAULT_WINDOW_NS,
            .degraded_min = cfg->degraded_min ? cfg->degraded_min
                                              : SM_HEALTH_DEFAULT_MIN_GROUPS,
            .flood_floor = cfg->flood_floor > 0 ? cfg->flood_floor
                                                : SM_HEALTH_DEFAULT_FLOOD_FLOOR,
            /* without an alerts socket nothing is kept off it */
            .pub_limit = cfg->pub_limit < 0 || !cfg->alerts_pub ? 0
                         : cfg->pub_limit == 0                  ? SM_HEALTH_DEFAULT_PUB_LIMIT
                                                                : cfg->pub_limit,
            .line = health_write,
            .sensor_name = health_sensor,
            .view_of = health_view,
            .arg = &c,
        };
        if (hc.degraded_window_ns < hc.interval_ns)
            hc.degraded_window_ns = hc.interval_ns;
        sm_sipkey_random(&hc.key);
        if ((c.health = sm_health_new(&hc)) == NULL) {
            sm_log_warnx("cannot keep the service health: out of memory, or an interval, "
                         "window or service count out of range (synmatch-collector(8))");
            status = SM_COLLECTOR_ERR_USAGE;
            goto out;
        }
        sm_health_set_wall(c.health, sm_clock_real_ns());
        jc.on_lone = on_lone;
        jc.lone_arg = &c;
    }
    c.join = sm_join_new(&jc);
    c.sensors = sm_sensors_new(&sc, &sink);
    c.zctx = zmq_ctx_new();
    if (c.join == NULL) {
        size_t n = jc.max_pending ? jc.max_pending : SM_JOIN_DEFAULT_MAX_PENDING;
        sm_log_warnx("cannot reserve the join table: --max-pending %zu needs %zu MB of address "
                     "space (lower it, or allow overcommit)",
                     n, sm_join_reserve_bytes(n) / 1000000 + 1);
        status = SM_COLLECTOR_ERR_NOMEM;
        goto out;
    }
    if (c.sensors == NULL || c.zctx == NULL) {
        sm_log_warnx("out of memory");
        status = SM_COLLECTOR_ERR_NOMEM;
        goto out;
    }
    char err[512];
    c.doors[DOOR_AGENTS] = (struct door){.name = "agents", .domain = ZAP_DOMAIN,
                                         .allow_file = cfg->allow_file};
    c.doors[DOOR_SUBSCRIBERS] = (struct door){.name = "subscribers", .domain = ZAP_ALERTS_DOMAIN,
                                              .allow_file = cfg->alerts_allow_file};
    if (nats && (cfg->allow_file || (cfg->key_file && !cfg->alerts_pub))) {
        sm_log_warnx("--allow is for ZeroMQ agents: over NATS agents authenticate to the NATS "
                     "servers (TLS client certificates or credentials: docs/SECURITY.md)");
        status = SM_COLLECTOR_ERR_USAGE;
        goto out;
    }
    if (!nats && (cfg->key_file == NULL) != (cfg->allow_file == NULL)) {
        sm_log_warnx("--key and --allow go together");
        status = SM_COLLECTOR_ERR_USAGE;
        goto out;
    }
    if (cfg->alerts_allow_file && (cfg->key_file == NULL || cfg->alerts_pub == NULL)) {
        sm_log_warnx("--alerts-allow needs --key (the alerts socket is encrypted with the "
                     "collector's key) and --alerts-pub");
        status = SM_COLLECTOR_ERR_USAGE;
        goto out;
    }
    if (cfg->key_file) {
        if (sm_keys_load_secret(cfg->key_file, &c.kp, err, sizeof err) == -1 ||
            (cfg->allow_file &&
             sm_allow_load(cfg->allow_file, &c.doors[DOOR_AGENTS].allow, err, sizeof err) == -1) ||
            (cfg->alerts_allow_file &&
             sm_allow_load(cfg->alerts_allow_file, &c.doors[DOOR_SUBSCRIBERS].allow, err,
                           sizeof err) == -1)) {
            sm_log_warnx("%s", err);
            status = SM_COLLECTOR_ERR_CONFIG;
            goto out;
        }
        c.curve = true;
        /* The handler exists before any socket can ask it. */
        c.zap = zmq_socket(c.zctx, ZMQ_REP);
        if (c.zap == NULL || zmq_bind(c.zap, ZAP_ENDPOINT) == -1) {
            sm_log_warnx("cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
            status = SM_COLLECTOR_ERR_TRANSPORT;
            goto out;
        }
    } else if (!nats && !cfg->insecure && !endpoint_is_local(cfg->listen)) {
        sm_log_warnx("refusing to listen on %s without keys: anyone could send records; use "
                     "--key and --allow, or --insecure on a trusted network", cfg->listen);
        status = SM_COLLECTOR_ERR_USAGE;
        goto out;
    } else if (!cfg->insecure && cfg->alerts_pub && !endpoint_is_local(cfg->alerts_pub)) {
        sm_log_warnx("refusing to publish alerts on %s without keys: anyone could read the "
                     "monitored hosts' addresses and failures; use --key with --alerts-allow, "
                     "or --insecure on a trusted network", cfg->alerts_pub);
        status = SM_COLLECTOR_ERR_USAGE;
        goto out;
    }
    int64_t replay_ns = cfg->replay_ns > 0 ? cfg->replay_ns : DEFAULT_REPLAY_NS;
    if (nats) {
        struct sm_nats_source_opts no = {.conn = cfg->nats, .partitions = cfg->partitions,
                                         .shard = cfg->shard, .shards = sc.shards,
                                         .replay_ns = replay_ns};
        no.conn.endpoint = cfg->listen;
        if ((c.nats = sm_nats_source_new(&no, err, sizeof err)) == NULL) {
            sm_log_warnx("%s", err);
            status = SM_COLLECTOR_ERR_TRANSPORT;
            goto out;
        }
        c.partitions = sm_nats_source_partitions(c.nats);
        struct sm_nats_out_opts oo = {.nc = sm_nats_source_connection(c.nats),
                                      .shard = cfg->shard, .shards = sc.shards,
                                      .partitions = c.partitions, .write = write_lines,
                                      .write_packed = write_packed_lines,
                                      .community_id_seed = cfg->community_id_seed,
                                      .arg = &c};
        if ((c.nout = sm_nats_out_new(&oo, err, sizeof err)) == NULL) {
            sm_log_warnx("%s", err);
            status = SM_COLLECTOR_ERR_TRANSPORT;
            goto out;
        }
        /* What the dead shard published of what is replayed now must not go out twice: its
         * keys, from a little before the earliest replay (the servers' clocks). */
        int64_t from = sm_nats_source_replay_from(c.nats);
        if (from != 0 &&
            sm_nats_out_load_published(c.nout, c.partitions, from - SM_NS_PER_SEC * 5, err,
                                       sizeof err) == -1) {
            sm_log_warnx("%s", err);
            status = SM_COLLECTOR_ERR_TRANSPORT;
            goto out;
        }
    } else {
        c.pull = open_socket(&c, ZMQ_PULL, cfg->listen, c.curve ? &c.kp : NULL,
                             &c.doors[DOOR_AGENTS]);
        if (c.pull == NULL) {
            status = SM_COLLECTOR_ERR_TRANSPORT;
            goto out;
        }
        watch(&c, c.pull, &c.doors[DOOR_AGENTS]);
    }
    c.start_wall = sm_clock_real_ns();
    if (cfg->metrics_listen) {
        c.metrics = sm_cmetrics_new(cfg->metrics_listen, SM_SENSORS_DEFAULT_MAX,
                                    c.health ? sm_health_capacity(c.health) : 0, err, sizeof err);
        if (c.metrics == NULL) {
            sm_log_warnx("%s", err);
            status = SM_COLLECTOR_ERR_TRANSPORT;
            goto out;
        }
        if (!sm_cmetrics_loopback(c.metrics))
            sm_log_warnx("metrics on %s can be read by anyone who can connect (plain HTTP, "
                         "no authentication: service addresses and failure counts); restrict "
                         "it with a firewall (docs/SECURITY.md)", cfg->metrics_listen);
        /* the first, before the loop starts, pays for first touches (code, tables): not
         * a stall of the loop, so not its longest */
        publish_metrics(&c, sm_clock_mono_ns());
        c.publish_ns_max = c.publish_cpu_ns_max = 0;
        c.publish_over_ms = 0;
    }
    if (cfg->alerts_pub) {
        c.pub = open_socket(&c, ZMQ_PUB, cfg->alerts_pub, c.curve ? &c.kp : NULL,
                            &c.doors[DOOR_SUBSCRIBERS]);
        if (c.pub == NULL) {
            status = SM_COLLECTOR_ERR_TRANSPORT;
            goto out;
        }
        watch(&c, c.pub, &c.doors[DOOR_SUBSCRIBERS]);
        if (c.curve && c.doors[DOOR_SUBSCRIBERS].allow.n == 0)
            sm_log_warnx("alerts on %s are encrypted and no subscriber is allowed: name them "
                         "with --alerts-allow FILE ('NAME PUBLIC-KEY' lines)", cfg->alerts_pub);
    }
    c.outq = sm_outq_new(c.out, c.pub, cfg->community_id_seed);
    if (c.outq == NULL)
        sm_log_warnx("cannot start the output thread; verdicts are written by the main loop");
    {
        char line[256];
        struct sm_json w;
        sm_json_begin(&w, line, sizeof line);
        sm_json_u64(&w, "schema", SM_VERDICT_SCHEMA);
        sm_json_str(&w, "event", "collector_start");
        sm_json_time(&w, "time", sm_clock_real_ns());
        sm_json_u64(&w, "pid", (uint64_t)getpid());
        if (c.nats) {
            char shard[32];
            snprintf(shard, sizeof shard, "%u/%u", (unsigned)cfg->shard, (unsigned)sc.shards);
            sm_json_str(&w, "shard", shard);
            sm_json_u64(&w, "partitions", sm_nats_source_owned(c.nats));
            sm_json_u64(&w, "replaying", sm_nats_source_replaying(c.nats));
        }
        emit_json(&c, &w);
        flush_out(&c);
    }
    {
        char agents[160], subs[128] = "";
        if (c.nats)
            snprintf(agents, sizeof agents, "JetStream stream %s, shard %u/%u: %u of %u "
                     "partitions, %u replaying %.0f s",
                     SM_NATS_STREAM, (unsigned)cfg->shard, (unsigned)sc.shards,
                     (unsigned)sm_nats_source_owned(c.nats), (unsigned)c.partitions,
                     (unsigned)sm_nats_source_replaying(c.nats), (double)replay_ns / 1e9);
        else if (c.curve)
            snprintf(agents, sizeof agents, "CURVE, %zu agent%s allowed",
                     c.doors[DOOR_AGENTS].allow.n, c.doors[DOOR_AGENTS].allow.n == 1 ? "" : "s");
        else
            snprintf(agents, sizeof agents, "no keys: anyone who can connect may send records");
        if (cfg->alerts_pub && c.curve)
            snprintf(subs, sizeof subs, ", alerts on %s (CURVE, %zu subscriber%s allowed)",
                     cfg->alerts_pub, c.doors[DOOR_SUBSCRIBERS].allow.n,
                     c.doors[DOOR_SUBSCRIBERS].allow.n == 1 ? "" : "s");
        else if (cfg->alerts_pub)
            snprintf(subs, sizeof subs, ", alerts on %s (no keys: anyone who can connect may "
                     "read them)", cfg->alerts_pub);
        sm_log_info("listening on %s (%s)%s", cfg->listen, agents, subs);
    }

    int64_t every = cfg->stats_every_ns ? cfg->stats_every_ns : 10 * SM_NS_PER_SEC;
    int64_t next_stats = sm_clock_mono_ns() + every;
    bool done = false, backlog = false;
    int took = 0;
    while (!done && !(cfg->stop && *cfg->stop)) {
        zmq_pollitem_t items[4];
        int nitems = 0, izap = -1, imon[2] = {-1, -1};
        if (c.pull)
            items[nitems++] = (zmq_pollitem_t){c.pull, 0, ZMQ_POLLIN, 0};
        if (c.zap) {
            izap = nitems;
            items[nitems++] = (zmq_pollitem_t){c.zap, 0, ZMQ_POLLIN, 0};
        }
        for (int d = 0; d < 2; d++) {
            if (c.doors[d].mon) {
                imon[d] = nitems;
                items[nitems++] = (zmq_pollitem_t){c.doors[d].mon, 0, ZMQ_POLLIN, 0};
            }
        }
        /* JetStream is not a socket to poll: its messages wait in libnats's queues, taken
         * below; the loop pauses only when the last turn found none. */
        long wait = backlog || took > 0 ? 0 : c.nats ? NATS_IDLE_MS : POLL_MS;
        if (zmq_poll(items, nitems, wait) == -1 && zmq_errno() != EINTR) {
            sm_log_warnx("poll: %s", zmq_strerror(zmq_errno()));
            status = SM_COLLECTOR_ERR_INTERNAL;
            break;
        }
        int64_t turn_start = sm_clock_mono_ns();
        if (izap >= 0 && (items[izap].revents & ZMQ_POLLIN))
            handle_zap(&c);
        for (int d = 0; d < 2; d++)
            if (imon[d] >= 0 && (items[imon[d]].revents & ZMQ_POLLIN))
                handle_monitor(&c.doors[d]);
        if (cfg->reload && *cfg->reload) {
            *cfg->reload = 0;
            reopen_output(&c);
            if (c.curve && reload(&c) == -1) {
                status = SM_COLLECTOR_ERR_TRANSPORT;
                break;
            }
        }
        took = drain_socket(&c);
        int64_t now = sm_clock_mono_ns();
        if (c.health)
            sm_health_set_wall(c.health, sm_clock_real_ns());
        advance(&c, now);
        backlog = sm_join_tick(c.join);
        /* with a backlog, verdicts due before the horizon are still to come */
        if (c.health && !backlog)
            sm_health_advance(c.health, sm_join_horizon(c.join));
        if (cfg->exit_when_done && sm_sensors_all_ended(c.sensors)) {
            for (int r = 0; r < 2; r++)
                sm_join_end(c.join, (enum sm_role)r,
                            sm_sensors_last_watermark(c.sensors, (enum sm_role)r));
            sm_join_finish(c.join);
            done = true;
        }
        if (c.nout) {
            sm_nats_out_pump(c.nout, now, false);
            /* Once every partition is replayed, the groups it brought back get the replay
             * horizon again to be decided; then the published keys can go. */
            if (c.forget_published_at == 0 && sm_nats_source_replaying(c.nats) == 0)
                c.forget_published_at = now + replay_ns;
            if (c.forget_published_at > 0 && now >= c.forget_published_at) {
                sm_nats_out_forget_published(c.nout);
                c.forget_published_at = INT64_MAX;
            }
        }
        flush_out(&c);
        if (every > 0 && now >= next_stats) {
            stats_line(&c);
            next_stats = now + every;
        }
        if (c.metrics && (now >= c.next_publish || sm_cmetrics_wanted(c.metrics)))
            publish_metrics(&c, now);
        int64_t turn = sm_clock_mono_ns() - turn_start;
        if (turn > c.turn_ns_max)
            c.turn_ns_max = turn;
    }
    /* Stopped: what is still open ends unknown, said so, not silently. A shard over
     * JetStream leaves it open instead: the next one to own its partitions replays it and
     * decides it then. */
    if (!done && !c.nats)
        sm_join_stop(c.join, "collector_stopped");
    if (c.health) {
        sm_health_set_wall(c.health, sm_clock_real_ns());
        sm_health_finish(c.health); /* the open interval as far as it got */
    }
    if (c.nout && sm_nats_out_finish(c.nout, NATS_FINISH_MS) == -1 && done)
        status = SM_COLLECTOR_ERR_TRANSPORT;
    stats_line(&c);
    if (c.outq) {
        sm_outq_sync(c.outq, c.out, c.pub); /* everything written and flushed */
        c.out_errors += sm_outq_errors(c.outq);
        sm_outq_destroy(&c.outq);
    }
    if (fflush(c.out) == EOF || c.out_errors) {
        sm_log_warn("writing verdicts%s%s", cfg->output_path ? " to " : "",
                    cfg->output_path ? cfg->output_path : "");
        status = SM_COLLECTOR_ERR_OUTPUT;
    }

out:
    sm_cmetrics_destroy(&c.metrics); /* its thread reads snapshots, nothing of the loop's */
    sm_outq_destroy(&c.outq); /* before the PUB socket it may use is closed */
    if (cfg->output_path && fclose(c.out) == EOF && status == SM_COLLECTOR_OK) {
        sm_log_warn("%s", cfg->output_path);
        status = SM_COLLECTOR_ERR_OUTPUT;
    }
    if (c.doors[DOOR_AGENTS].mon) {
        zmq_socket_monitor(c.pull, NULL, 0);
        zmq_close(c.doors[DOOR_AGENTS].mon);
    }
    if (c.doors[DOOR_SUBSCRIBERS].mon) {
        if (c.pub)
            zmq_socket_monitor(c.pub, NULL, 0);
        zmq_close(c.doors[DOOR_SUBSCRIBERS].mon);
    }
    if (c.zap)
        zmq_close(c.zap);
    sm_allow_free(&c.doors[DOOR_AGENTS].allow);
    sm_allow_free(&c.doors[DOOR_SUBSCRIBERS].allow);
    if (c.pub)
        zmq_close(c.pub);
    if (c.pull)
        zmq_close(c.pull);
    if (c.zctx)
        zmq_ctx_term(c.zctx);
    sm_nats_out_destroy(&c.nout);
    sm_nats_source_destroy(&c.nats);
    sm_sensors_destroy(&c.sensors);
    sm_join_destroy(&c.join);
    sm_health_destroy(&c.health);
    return status;
}
