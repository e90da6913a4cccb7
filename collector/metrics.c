/*
 * metrics.c - the collector's /metrics (see metrics.h; every name is in docs/METRICS.md).
 *
 * The snapshot is one block: the head, then max_sensors sensor slots, then max_services
 * service slots, at offsets fixed at creation (the three buffers of the triple buffer rotate,
 * so nothing in them points into another). Names follow the Prometheus conventions: the
 * synmatch_ prefix, base units (seconds), _total for counters, and no address or ISN in a
 * label except the bounded set of services the health lines name.
 */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "synmatch/verdict.h"

#ifndef SM_VERSION
#define SM_VERSION "unknown"
#endif

#define FRESH_WAIT_MS 200 /* a scrape waits this long at most for the loop's fresh figures */

struct sm_cmetrics {
    sm_snap_t *snap;
    sm_httpd_t *httpd;
    size_t max_sensors, max_services;
    size_t off[4]; /* the tables' offsets in a snapshot, in the order of sm_cmetrics_tables */
};

static void tables_of(const sm_cmetrics_t *m, const void *base, struct sm_cmetrics_tables *t)
{
    char *b = (char *)base;
    t->sensors = (struct sm_sensor_stats *)(void *)(b + m->off[0]);
    t->last_batch_wall_ns = (int64_t *)(void *)(b + m->off[1]);
    t->services = (struct sm_health_service *)(void *)(b + m->off[2]);
    t->service_sensor = (char(*)[SM_SENSOR_ID_MAX + 1])(void *)(b + m->off[3]);
}

static size_t align(size_t n)
{
    return (n + 63) / 64 * 64;
}

/* ---- the exposition ------------------------------------------------------------------------ */

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

static const char *role_name(enum sm_role r)
{
    return r == SM_ROLE_SERVER ? "server" : "client";
}

/* One family of per-sensor samples: value(sensor i) for each sensor. */
typedef double (*sensor_value)(const struct sm_cmetrics_head *h, const struct sm_cmetrics_tables *t,
                               size_t i);

static void per_sensor(struct sm_prom *p, const struct sm_cmetrics_head *h,
                       const struct sm_cmetrics_tables *t, const char *name, const char *type,
                       const char *help, sensor_value f, bool server_only)
{
    sm_prom_family(p, name, type, help);
    for (size_t i = 0; i < h->nsensors; i++) {
        const struct sm_sensor_stats *s = &t->sensors[i];
        if (server_only && s->role != SM_ROLE_SERVER)
            continue;
        const char *labels[] = {"sensor", s->sensor_id, "role", role_name(s->role), NULL};
        sm_prom_f64(p, name, labels, f(h, t, i));
    }
}

#define SENSOR_FN(fname, expr)                                                                     \
    static double fname(const struct sm_cmetrics_head *h, const struct sm_cmetrics_tables *t,      \
                        size_t i)                                                                  \
    {                                                                                              \
        const struct sm_sensor_stats *s = &t->sensors[i];                                          \
        (void)h;                                                                                   \
        (void)s;                                                                                   \
        return (double)(expr);                                                                     \
    }
SENSOR_FN(s_up, s->up && !s->ended)
SENSOR_FN(s_records, s->records_received)
SENSOR_FN(s_batches, s->batches)
SENSOR_FN(s_drops, s->pcap_dropped)
SENSOR_FN(s_unsent, s->records_unsent)
SENSOR_FN(s_decode, s->decode_errors)
SENSOR_FN(s_gaps, s->gaps)
SENSOR_FN(s_lost, s->lost_batches)
SENSOR_FN(s_dups, s->duplicates)
SENSOR_FN(s_epochs, s->epochs)
SENSOR_FN(s_last, t->last_batch_wall_ns[i] ? secs(t->last_batch_wall_ns[i]) : 0)
SENSOR_FN(s_wm, s->watermark_ns == INT64_MIN ? 0 : secs(s->watermark_ns))
SENSOR_FN(s_offset, s->role == SM_ROLE_SERVER && h->ce.pairs ? secs(h->ce.offset_ns) : 0)
SENSOR_FN(s_cookies, s->host.syncookies_sent)
SENSOR_FN(s_overflows, s->host.listen_overflows)
SENSOR_FN(s_listendrops, s->host.listen_drops)
SENSOR_FN(s_reqqdrop, s->host.reqq_full_drop)

/* One family of per-service samples. */
typedef double (*service_value)(const struct sm_health_service *s);

static void per_service(struct sm_prom *p, const struct sm_cmetrics_head *h,
                        const struct sm_cmetrics_tables *t, const char *name, const char *type,
                        const char *help, service_value f, bool need_delay)
{
    sm_prom_family(p, name, type, help);
    for (size_t i = 0; i < h->nservices; i++) {
        const struct sm_health_service *s = &t->services[i];
        if (need_delay && !s->have_delay)
            continue;
        const char *labels[] = {"sensor", t->service_sensor[i], "service", s->name, NULL};
        sm_prom_f64(p, name, labels, f(s));
    }
}

#define SERVICE_FN(fname, expr)                                                                    \
    static double fname(const struct sm_health_service *s)                                         \
    {                                                                                              \
        return (double)(expr);                                                                     \
    }
SERVICE_FN(v_attempts, s->c.attempts)
SERVICE_FN(v_retrans, s->c.retransmissions)
SERVICE_FN(v_synack, s->c.synack_retransmissions)
SERVICE_FN(v_lone, s->c.lone_syns)
SERVICE_FN(v_lone_unans, s->c.lone_unanswered)
SERVICE_FN(v_sources, s->sources)
SERVICE_FN(v_p50, s->delay_p50)
SERVICE_FN(v_p99, s->delay_p99)
SERVICE_FN(v_degraded, s->degraded)
SERVICE_FN(v_flood, s->syn_flood)
SERVICE_FN(v_not_shown, s->c.not_shown)

static void render_head(struct sm_prom *p, const struct sm_cmetrics_head *h)
{
    sm_prom_family(p, "synmatch_build_info", "gauge",
                   "Always 1: the program and its version as labels.");
    sm_prom_u64(p, "synmatch_build_info",
                (const char *[]){"program", "synmatch-collector", "version", SM_VERSION, NULL}, 1);
    sm_prom_gauge(p, "synmatch_start_time_seconds", "When the collector started (Unix time).",
                  secs(h->start_wall_ns));
    if (h->shard[0]) {
        sm_prom_family(p, "synmatch_shard_info", "gauge",
                       "Always 1: the JetStream shard this collector is (K/N); every count "
                       "here is its share, sum over the shards.");
        sm_prom_u64(p, "synmatch_shard_info", (const char *[]){"shard", h->shard, NULL}, 1);
    }
    sm_prom_family(p, "synmatch_verdicts_total", "counter",
                   "Verdicts written, by kind (suspect: the early warnings; the rest final).");
    for (int k = 0; k < SM_V_COUNT; k++)
        sm_prom_u64(p, "synmatch_verdicts_total",
                    (const char *[]){"verdict", sm_verdict_name((enum sm_verdict_kind)k), NULL},
                    h->js.verdicts[k]);
    sm_prom_counter(p, "synmatch_messages_total", "Batches received from the transport.",
                    h->messages);
    sm_prom_family(p, "synmatch_wire_rejected_total", "counter",
                   "Batches refused by the wire's validation, by reason (decode errors).");
    for (int k = 1; k < SM_WIRE_REJECT_COUNT; k++)
        sm_prom_u64(p, "synmatch_wire_rejected_total",
                    (const char *[]){"reason", sm_wire_reject_name((enum sm_wire_reject)k), NULL},
                    h->rejected[k]);
    sm_prom_counter(p, "synmatch_identity_mismatch_total",
                    "Batches naming another sensor than their CURVE key's.", h->identity_mismatch);
    sm_prom_counter(p, "synmatch_rejected_sensors_total",
                    "Batches refused for too many sensors or an old epoch.",
                    h->st.rejected_sensors);
    sm_prom_family(p, "synmatch_join_records_total", "counter",
                   "Records given to the join, by the role of their sensor.");
    for (int r = 0; r < 2; r++)
        sm_prom_u64(p, "synmatch_join_records_total",
                    (const char *[]){"role", role_name((enum sm_role)r), NULL}, h->js.records[r]);
    sm_prom_gauge(p, "synmatch_join_entries", "SYN entries the join holds now.",
                  (double)h->js.pending);
    sm_prom_gauge(p, "synmatch_join_entries_peak", "Most SYN entries held at once.",
                  (double)h->js.peak_pending);
    sm_prom_counter(p, "synmatch_join_evictions_total",
                    "Entries evicted at --max-pending (collector_overload).", h->js.evicted);
    sm_prom_counter(p, "synmatch_join_client_groups_total", "Client SYN groups made.",
                    h->js.client_groups);
    sm_prom_counter(p, "synmatch_join_server_syns_total", "Distinct server SYNs.",
                    h->js.server_syns);
    sm_prom_counter(p, "synmatch_join_unmonitored_syns_total",
                    "Server SYNs no client SYN matched (unmonitored sources).", h->js.server_only);
    sm_prom_counter(p, "synmatch_join_out_of_scope_total",
                    "Client SYN groups to destinations no server sensor serves.",
                    h->js.out_of_scope);
    sm_prom_counter(p, "synmatch_join_isn_flood_total",
                    "SYNs refused: 64 entries already held their ISN.", h->js.isn_flood);
    sm_prom_counter(p, "synmatch_join_late_records_total",
                    "Records older than what was already decided.", h->js.late_records);
    sm_prom_counter(p, "synmatch_join_fingerprint_matches_total",
                    "Groups matched by fingerprint (a device rewrote the ISN).",
                    h->js.isn_rewritten);
    sm_prom_gauge(p, "synmatch_clock_offset_seconds",
                  "Server clock minus client clock, as measured (0 before any pair).",
                  h->ce.pairs ? secs(h->ce.offset_ns) : 0);
    sm_prom_gauge(p, "synmatch_clock_correction_seconds",
                  "The correction applied to the server's times (0: none).",
                  h->ce.corrected ? secs(h->ce.applied_ns) : 0);
    sm_prom_counter(p, "synmatch_output_errors_total", "Lines that could not be written in full.",
                    h->out_errors);
    sm_prom_counter(p, "synmatch_output_lines_too_long_total", "Event lines too long to write.",
                    h->lines_too_long);
    sm_prom_counter(p, "synmatch_metrics_publishes_total",
                    "Snapshots of these figures the loop published.", h->publishes);
    sm_prom_family(p, "synmatch_metrics_publish_seconds_total", "counter",
                   "Time the loop spent copying its figures for the metrics.");
    sm_prom_f64(p, "synmatch_metrics_publish_seconds_total", NULL,
                secs((int64_t)h->publish_ns_total));
    sm_prom_gauge(p, "synmatch_metrics_publish_max_seconds",
                  "The longest the loop spent on one snapshot (what a scrape can stall it).",
                  secs(h->publish_ns_max));
    sm_prom_gauge(p, "synmatch_loop_turn_max_seconds",
                  "The longest turn of the collector's loop (work, not waiting).",
                  secs(h->turn_ns_max));
}

static void render_health(struct sm_prom *p, const struct sm_cmetrics_head *h,
                          const struct sm_cmetrics_tables *tb)
{
    const struct sm_health_totals *t = &h->ht;
    sm_prom_gauge(p, "synmatch_health_interval_seconds", "The health lines' interval.",
                  secs(t->interval_ns));
    sm_prom_counter(p, "synmatch_health_intervals_total", "Health intervals closed.", t->intervals);
    sm_prom_counter(p, "synmatch_health_lines_total", "Health lines written.", t->lines);
    static const char *const events[] = {"degraded", "recovered", "syn_flood", "syn_flood_end"};
    sm_prom_family(p, "synmatch_health_events_total", "counter", "Alerts written, by event.");
    for (int k = 0; k < 4; k++)
        sm_prom_u64(p, "synmatch_health_events_total", (const char *[]){"event", events[k], NULL},
                    t->events[k]);
    sm_prom_gauge(p, "synmatch_health_services", "Services tracked now.", (double)t->tracked);
    sm_prom_counter(p, "synmatch_health_folded_total",
                    "Verdicts and unmonitored SYNs counted in service=\"other\" for want of room.",
                    t->folded);
    sm_prom_counter(p, "synmatch_health_evicted_total", "Services no longer tracked (idle, quiet).",
                    t->evicted);
    sm_prom_counter(p, "synmatch_alerts_not_shown_total",
                    "Verdict lines kept off the alerts socket by --pub-limit.", t->not_shown);
    sm_prom_family(p, "synmatch_delay_seconds", "histogram",
                   "One-way delay of the handshakes both sides saw: client SYN to server "
                   "(forward), server answer to client (reply); negative values count as 0.");
    sm_prom_histogram(p, "synmatch_delay_seconds", (const char *[]){"leg", "forward", NULL},
                      sm_health_delay_bounds, t->delay_buckets, SM_HEALTH_DELAY_BUCKETS,
                      t->delay_sum);
    sm_prom_histogram(p, "synmatch_delay_seconds", (const char *[]){"leg", "reply", NULL},
                      sm_health_delay_bounds, t->reply_buckets, SM_HEALTH_DELAY_BUCKETS,
                      t->reply_sum);
    sm_prom_family(p, "synmatch_service_verdicts_total", "counter",
                   "Verdicts per service (suspect included), while the service is tracked.");
    for (size_t i = 0; i < h->nservices; i++)
        for (int k = 0; k < SM_V_COUNT; k++)
            if (tb->services[i].c.verdicts[k])
                sm_prom_u64(p, "synmatch_service_verdicts_total",
                            (const char *[]){"sensor", tb->service_sensor[i], "service",
                                             tb->services[i].name, "verdict",
                                             sm_verdict_name((enum sm_verdict_kind)k), NULL},
                            tb->services[i].c.verdicts[k]);
    per_service(p, h, tb, "synmatch_service_attempts_total", "counter",
                "Client SYN packets of the service's decided groups.", v_attempts, false);
    per_service(p, h, tb, "synmatch_service_retransmissions_total", "counter",
                "Of those, retransmissions.", v_retrans, false);
    per_service(p, h, tb, "synmatch_service_synack_retransmissions_total", "counter",
                "SYN/ACKs the server sent again.", v_synack, false);
    per_service(p, h, tb, "synmatch_service_unmonitored_syns_total", "counter",
                "SYN packets the server saw from sources no client sensor watches.", v_lone, false);
    per_service(p, h, tb, "synmatch_service_unmonitored_unanswered_total", "counter",
                "Of those SYNs (distinct), the ones the server left unanswered.", v_lone_unans,
                false);
    per_service(p, h, tb, "synmatch_service_unmonitored_sources", "gauge",
                "Distinct unmonitored sources in the last interval (HyperLogLog, 1.6% "
                "standard error).",
                v_sources, false);
    per_service(p, h, tb, "synmatch_service_delay_p50_seconds", "gauge",
                "Median forward delay of the last interval (within 3%).", v_p50, true);
    per_service(p, h, tb, "synmatch_service_delay_p99_seconds", "gauge",
                "99th percentile forward delay of the last interval (within 3%).", v_p99, true);
    per_service(p, h, tb, "synmatch_service_degraded", "gauge", "1 while the service is degraded.",
                v_degraded, false);
    per_service(p, h, tb, "synmatch_service_syn_flood", "gauge",
                "1 while the service is under a SYN flood.", v_flood, false);
    per_service(p, h, tb, "synmatch_service_lines_not_shown_total", "counter",
                "Verdict lines of the service kept off the alerts socket.", v_not_shown, false);
}

static void render_sensors(struct sm_prom *p, const struct sm_cmetrics_head *h,
                           const struct sm_cmetrics_tables *sv)
{
    sm_prom_gauge(p, "synmatch_sensors", "Sensors known.", (double)h->st.sensors);
    per_sensor(p, h, sv, "synmatch_sensor_up", "gauge", "1 while the sensor is heard.", s_up,
               false);
    per_sensor(p, h, sv, "synmatch_records_total", "counter", "Records received from the sensor.",
               s_records, false);
    per_sensor(p, h, sv, "synmatch_sensor_batches_total", "counter", "Batches processed.",
               s_batches, false);
    per_sensor(p, h, sv, "synmatch_sensor_capture_drops_total", "counter",
               "Packets the sensor's capture dropped (kernel and interface), as it reports.",
               s_drops, false);
    per_sensor(p, h, sv, "synmatch_sensor_records_unsent_total", "counter",
               "Records the agent could not send (its queue was full).", s_unsent, false);
    per_sensor(p, h, sv, "synmatch_sensor_decode_errors_total", "counter",
               "Malformed frames the agent counted.", s_decode, false);
    per_sensor(p, h, sv, "synmatch_sensor_transport_gaps_total", "counter",
               "Seq gaps: batches lost between agent and collector.", s_gaps, false);
    per_sensor(p, h, sv, "synmatch_sensor_lost_batches_total", "counter",
               "Batches declared lost in those gaps.", s_lost, false);
    per_sensor(p, h, sv, "synmatch_sensor_duplicate_batches_total", "counter",
               "Batches received twice.", s_dups, false);
    per_sensor(p, h, sv, "synmatch_sensor_epochs_total", "counter", "Agent starts (epochs) seen.",
               s_epochs, false);
    per_sensor(p, h, sv, "synmatch_sensor_last_batch_timestamp_seconds", "gauge",
               "When its last batch (or heartbeat) arrived (Unix time).", s_last, false);
    per_sensor(p, h, sv, "synmatch_sensor_watermark_timestamp_seconds", "gauge",
               "Its watermark: everything it captured up to then has arrived (Unix time).", s_wm,
               false);
    per_sensor(p, h, sv, "synmatch_sensor_clock_offset_seconds", "gauge",
               "Its clock minus the client side's (server sensors; client sensors are the "
               "reference: 0).",
               s_offset, false);
    per_sensor(p, h, sv, "synmatch_sensor_host_syncookies_sent_total", "counter",
               "The server host's SyncookiesSent.", s_cookies, true);
    per_sensor(p, h, sv, "synmatch_sensor_host_listen_overflows_total", "counter",
               "The server host's ListenOverflows.", s_overflows, true);
    per_sensor(p, h, sv, "synmatch_sensor_host_listen_drops_total", "counter",
               "The server host's ListenDrops.", s_listendrops, true);
    per_sensor(p, h, sv, "synmatch_sensor_host_syn_queue_drops_total", "counter",
               "The server host's TCPReqQFullDrop.", s_reqqdrop, true);
}

static int render(void *arg, struct sm_prom *p)
{
    sm_cmetrics_t *m = arg;
    const void *base = sm_snap_read(m->snap, FRESH_WAIT_MS);
    if (base == NULL)
        return -1;
    const struct sm_cmetrics_head *h = base;
    struct sm_cmetrics_tables t;
    tables_of(m, base, &t);
    render_head(p, h);
    render_sensors(p, h, &t);
    if (h->health)
        render_health(p, h, &t);
    sm_httpd_prom(m->httpd, p);
    return 0;
}

/* ---- life cycle -------------------------------------------------------------------------- */

sm_cmetrics_t *sm_cmetrics_new(const char *listen, size_t max_sensors, size_t max_services,
                               char *errbuf, size_t errlen)
{
    sm_cmetrics_t *m = calloc(1, sizeof *m);
    if (m == NULL) {
        snprintf(errbuf, errlen, "metrics: out of memory");
        return NULL;
    }
    m->max_sensors = max_sensors;
    m->max_services = max_services;
    m->off[0] = align(sizeof(struct sm_cmetrics_head));
    m->off[1] = m->off[0] + align(max_sensors * sizeof(struct sm_sensor_stats));
    m->off[2] = m->off[1] + align(max_sensors * sizeof(int64_t));
    m->off[3] = m->off[2] + align(max_services * sizeof(struct sm_health_service));
    size_t size = m->off[3] + max_services * (SM_SENSOR_ID_MAX + 1);
    m->snap = sm_snap_new(size);
    if (m->snap == NULL) {
        snprintf(errbuf, errlen, "metrics: out of memory");
        sm_cmetrics_destroy(&m);
        return NULL;
    }
    if ((m->httpd = sm_httpd_new(listen, render, m, errbuf, errlen)) == NULL) {
        sm_cmetrics_destroy(&m);
        return NULL;
    }
    return m;
}

void sm_cmetrics_destroy(sm_cmetrics_t **m_p)
{
    sm_cmetrics_t *m = *m_p;
    if (m == NULL)
        return;
    sm_httpd_destroy(&m->httpd); /* the thread that reads the snapshots ends first */
    sm_snap_destroy(&m->snap);
    free(m);
    *m_p = NULL;
}

struct sm_cmetrics_head *sm_cmetrics_begin(sm_cmetrics_t *m, struct sm_cmetrics_tables *t)
{
    void *base = sm_snap_back(m->snap);
    tables_of(m, base, t);
    return base;
}

void sm_cmetrics_publish(sm_cmetrics_t *m)
{
    sm_snap_publish(m->snap);
}

bool sm_cmetrics_wanted(const sm_cmetrics_t *m)
{
    return sm_snap_wanted(m->snap);
}

bool sm_cmetrics_loopback(const sm_cmetrics_t *m)
{
    return sm_httpd_loopback(m->httpd);
}

uint16_t sm_cmetrics_port(const sm_cmetrics_t *m)
{
    return sm_httpd_port(m->httpd);
}
