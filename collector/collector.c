/*
 * collector.c - the live collector's loop (see collector.h).
 *
 * One thread: poll the PULL socket (50 ms at most, so time-driven decisions keep flowing
 * when nothing arrives), drain up to a bounded number of messages, let the sensor books and
 * the join engine advance, flush the output. Nothing is logged per message: rejections are
 * counted by reason and appear in the periodic stats line.
 */
#include "synmatch/collector.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "fmt.h"
#include "sensors.h"
#include "synmatch/join.h"
#include "synmatch/log.h"
#include "synmatch/report.h"
#include "synmatch/wire.h"

#define POLL_MS 50
#define MAX_MSGS_PER_TURN 512
#define MAX_DECISIONS_PER_TURN 20000 /* bounded expiry work: a backlog never stalls the socket */
#define NS_PER_SEC INT64_C(1000000000)

struct collector {
    const struct sm_collector_config *cfg;
    void *zctx, *pull, *pub;
    sm_join_t *join;
    sm_sensors_t *sensors;
    uint64_t rejected[SM_WIRE_REJECT_COUNT];
    uint64_t messages, records;
    uint64_t out_errors;
    int64_t server_capture_start;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* Writes one line to the output and to the PUB socket. */
static void emit_line(struct collector *c, const char *line, size_t len)
{
    if (fwrite(line, 1, len, c->cfg->out) != len)
        c->out_errors++;
    if (c->pub)
        zmq_send(c->pub, line, len, ZMQ_DONTWAIT); /* PUB drops at its HWM: tail is best effort */
}

static void on_verdict(void *arg, const struct sm_verdict *v)
{
    struct collector *c = arg;
    char line[SM_REPORT_LINE_MAX];
    emit_line(c, line, sm_report_verdict_line(line, v));
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
    char line[SM_REPORT_LINE_MAX], *p = line;
    p = sm_fmt_str(p, "{\"schema\":1,\"event\":\"");
    p = sm_fmt_str(p, names[ev->kind]);
    p = sm_fmt_str(p, "\",\"time\":\"");
    p = sm_fmt_rfc3339(p, real_ns());
    p = sm_fmt_str(p, "\",\"sensor\":\"");
    p = sm_fmt_str(p, ev->sensor_id); /* validated: printable, no quotes */
    p = sm_fmt_str(p, "\",\"role\":\"");
    p = sm_fmt_str(p, role_name(ev->role));
    p = sm_fmt_str(p, "\",\"epoch\":");
    p = sm_fmt_u64(p, ev->epoch);
    if (ev->kind == SM_SENSOR_GAP) {
        p = sm_fmt_str(p, ",\"first_seq\":");
        p = sm_fmt_u64(p, ev->first_seq);
        p = sm_fmt_str(p, ",\"last_seq\":");
        p = sm_fmt_u64(p, ev->last_seq);
    } else {
        p = sm_fmt_str(p, ",\"seq\":");
        p = sm_fmt_u64(p, ev->first_seq);
    }
    if (ev->watermark_ns != INT64_MIN) {
        p = sm_fmt_str(p, ",\"watermark\":\"");
        p = sm_fmt_rfc3339(p, ev->watermark_ns);
        *p++ = '"';
    }
    if (ev->reason) {
        p = sm_fmt_str(p, ",\"reason\":\"");
        p = sm_fmt_str(p, ev->reason);
        *p++ = '"';
    }
    if (ev->books) {
        const struct sm_sensor_books *b = ev->books;
        static const char *const keys[] = {",\"books\":{\"emitted\":", ",\"received\":",
                                           ",\"unsent\":", ",\"lost\":", ",\"gaps\":",
                                           ",\"lost_batches\":"};
        const uint64_t vals[] = {b->emitted, b->received, b->unsent, b->lost, b->gaps,
                                 b->lost_batches};
        for (int k = 0; k < 6; k++) {
            p = sm_fmt_str(p, keys[k]);
            p = sm_fmt_u64(p, vals[k]);
        }
        *p++ = '}';
    }
    p = sm_fmt_str(p, "}\n");
    emit_line(c, line, (size_t)(p - line));
}

static void on_records(void *arg, enum sm_role role, const struct sm_record *recs, size_t n)
{
    struct collector *c = arg;
    for (size_t i = 0; i < n; i++)
        sm_join_add(c->join, role, &recs[i]);
    c->records += n;
}

static void on_blind(void *arg, enum sm_role role, int64_t from, int64_t to,
                     enum sm_verdict_kind kind)
{
    struct collector *c = arg;
    sm_join_blind(c->join, role, from, to, kind);
}

static bool in_scope(void *arg, const struct sm_tuple *client)
{
    const struct collector *c = arg;
    return sm_sensors_in_scope(c->sensors, client);
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
    sm_log_info("stats: sensors %zu up of %zu | messages %" PRIu64 " rejected %" PRIu64 "%s"
                " | batches %" PRIu64 " dup %" PRIu64 " stale %" PRIu64 " gaps %" PRIu64
                " (%" PRIu64 " batches lost) | records %" PRIu64 " | pending %zu"
                " | matched %" PRIu64 " missing %" PRIu64 " suspect %" PRIu64
                " middlebox %" PRIu64 " capture_loss %" PRIu64 " transport_loss %" PRIu64
                " sensor_down %" PRIu64 " overload %" PRIu64 " unknown %" PRIu64
                " out_of_scope %" PRIu64 " | clock offset %.3f s (%" PRIu32 " pairs)",
                t.up, t.sensors, c->messages, rej, detail, t.batches, t.duplicates, t.stale,
                t.gaps, t.lost_batches, c->records, js.pending, js.verdicts[SM_V_MATCHED],
                js.verdicts[SM_V_MISSING], js.verdicts[SM_V_SUSPECT],
                js.verdicts[SM_V_ANSWERED_BY_MIDDLEBOX], js.verdicts[SM_V_SENSOR_CAPTURE_LOSS],
                js.verdicts[SM_V_TRANSPORT_LOSS], js.verdicts[SM_V_SENSOR_DOWN],
                js.verdicts[SM_V_COLLECTOR_OVERLOAD], js.verdicts[SM_V_UNKNOWN],
                js.out_of_scope, (double)js.offset_ns / 1e9, js.offset_samples);
}

/* Receives and processes up to MAX_MSGS_PER_TURN waiting messages. */
static void drain_socket(struct collector *c)
{
    for (int k = 0; k < MAX_MSGS_PER_TURN; k++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->pull, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&msg);
            return;
        }
        c->messages++;
        struct sm_wire_header h;
        struct sm_record *recs;
        size_t n;
        enum sm_wire_reject why =
            sm_wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &h, &recs, &n);
        zmq_msg_close(&msg);
        if (why != SM_WIRE_OK) {
            c->rejected[why]++;
            continue;
        }
        sm_sensors_batch(c->sensors, &h, recs, n, mono_ns());
    }
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

static void *open_socket(struct collector *c, int type, const char *endpoint)
{
    void *sock = zmq_socket(c->zctx, type);
    if (sock == NULL)
        return NULL;
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_PULL) {
        int64_t max = SM_WIRE_MAX_MESSAGE;
        int hwm = 10000;
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof max);
        zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    } else {
        int hwm = 100000;
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    }
    if (zmq_bind(sock, endpoint) == -1) {
        sm_log_warnx("cannot listen on %s: %s", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

int sm_collector_run(const struct sm_collector_config *cfg)
{
    struct collector c = {.cfg = cfg, .server_capture_start = INT64_MIN};
    int status = 0;
    struct sm_join_config jc = {
        .timeout_ns = cfg->timeout_ns,
        .max_skew_ns = cfg->max_skew_ns,
        .max_pending = cfg->max_pending,
        .emit_suspect = true,
        .max_work = MAX_DECISIONS_PER_TURN,
        .on_verdict = on_verdict,
        .verdict_arg = &c,
        .in_scope = in_scope,
        .scope_arg = &c,
    };
    struct sm_sensors_config sc = {.down_after_ns = cfg->down_after_ns};
    struct sm_sensors_sink sink = {on_records, on_blind, on_event, &c};
    c.join = sm_join_new(&jc);
    c.sensors = sm_sensors_new(&sc, &sink);
    c.zctx = zmq_ctx_new();
    if (c.join == NULL || c.sensors == NULL || c.zctx == NULL) {
        sm_log_warnx("out of memory");
        status = 9;
        goto out;
    }
    c.pull = open_socket(&c, ZMQ_PULL, cfg->listen);
    if (c.pull == NULL) {
        status = 3;
        goto out;
    }
    if (cfg->alerts_pub) {
        c.pub = open_socket(&c, ZMQ_PUB, cfg->alerts_pub);
        if (c.pub == NULL) {
            status = 3;
            goto out;
        }
    }
    {
        char line[256], *p = line;
        p = sm_fmt_str(p, "{\"schema\":1,\"event\":\"collector_start\",\"time\":\"");
        p = sm_fmt_rfc3339(p, real_ns());
        p = sm_fmt_str(p, "\",\"pid\":");
        p = sm_fmt_u64(p, (uint64_t)getpid());
        p = sm_fmt_str(p, "}\n");
        emit_line(&c, line, (size_t)(p - line));
        fflush(cfg->out);
    }
    sm_log_info("listening on %s%s%s", cfg->listen, cfg->alerts_pub ? ", alerts on " : "",
                cfg->alerts_pub ? cfg->alerts_pub : "");

    int64_t every = cfg->stats_every_ns ? cfg->stats_every_ns : 10 * NS_PER_SEC;
    int64_t next_stats = mono_ns() + every;
    bool done = false, backlog = false;
    while (!done && !(cfg->stop && *cfg->stop)) {
        zmq_pollitem_t item = {c.pull, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, backlog ? 0 : POLL_MS) == -1 && zmq_errno() != EINTR) {
            sm_log_warnx("poll: %s", zmq_strerror(zmq_errno()));
            status = 9;
            break;
        }
        drain_socket(&c);
        int64_t now = mono_ns();
        advance(&c, now);
        backlog = sm_join_tick(c.join);
        if (cfg->exit_when_done && sm_sensors_all_ended(c.sensors)) {
            for (int r = 0; r < 2; r++)
                sm_join_end(c.join, (enum sm_role)r,
                            sm_sensors_last_watermark(c.sensors, (enum sm_role)r));
            sm_join_finish(c.join);
            done = true;
        }
        fflush(cfg->out);
        if (every > 0 && now >= next_stats) {
            stats_line(&c);
            next_stats = now + every;
        }
    }
    if (!done) /* stopped: what is still open ends unknown, said so, not silently */
        sm_join_stop(c.join, "collector_stopped");
    stats_line(&c);
    if (fflush(cfg->out) == EOF || c.out_errors) {
        sm_log_warn("writing verdicts");
        status = 3;
    }

out:
    if (c.pub)
        zmq_close(c.pub);
    if (c.pull)
        zmq_close(c.pull);
    if (c.zctx)
        zmq_ctx_term(c.zctx);
    sm_sensors_destroy(&c.sensors);
    sm_join_destroy(&c.join);
    return status;
}
