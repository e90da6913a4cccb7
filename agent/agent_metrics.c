/*
 * agent_metrics.c - the agent's /metrics (see agent_metrics.h; names in docs/METRICS.md).
 */
#include "agent_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "snapshot.h"

#ifndef SM_VERSION
#define SM_VERSION "unknown"
#endif

#define FRESH_WAIT_MS 200

struct sm_agent_mx {
    sm_snap_t *snap;
    sm_httpd_t *httpd;
};

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

static int render(void *arg, struct sm_prom *p)
{
    sm_agent_mx_t *m = arg;
    const struct sm_agent_metrics *a = sm_snap_read(m->snap, FRESH_WAIT_MS);
    if (a == NULL)
        return -1;
    sm_prom_family(p, "synmatch_build_info", "gauge",
                   "Always 1: the program and its version as labels.");
    sm_prom_u64(p, "synmatch_build_info",
                (const char *[]){"program", "synmatch-agent", "version", SM_VERSION, NULL}, 1);
    sm_prom_family(p, "synmatch_agent_info", "gauge",
                   "Always 1: the sensor id, its role, and live or file.");
    sm_prom_u64(p, "synmatch_agent_info",
                (const char *[]){"sensor", a->sensor, "role",
                                 a->role == SM_ROLE_SERVER ? "server" : "client", "mode",
                                 a->live ? "live" : "file", NULL},
                1);
    sm_prom_gauge(p, "synmatch_start_time_seconds", "When the agent started (Unix time).",
                  secs(a->start_wall_ns));
    sm_prom_counter(p, "synmatch_agent_packets_total",
                    "Packets the capture delivered (live), or frames read (a file).",
                    a->pcap_received);
    sm_prom_family(p, "synmatch_agent_capture_drops_total", "counter",
                   "Packets the capture dropped: in the kernel's buffer, or at the interface.");
    sm_prom_u64(p, "synmatch_agent_capture_drops_total", (const char *[]){"where", "kernel", NULL},
                a->pcap_dropped);
    sm_prom_u64(p, "synmatch_agent_capture_drops_total",
                (const char *[]){"where", "interface", NULL}, a->pcap_ifdropped);
    sm_prom_family(p, "synmatch_agent_decode_errors_total", "counter",
                   "Malformed frames, by reason (a file's at its end).");
    for (int k = 0; k < SM_DC_COUNT; k++)
        if (sm_decode_counter_is_error((enum sm_decode_counter)k))
            sm_prom_u64(
                p, "synmatch_agent_decode_errors_total",
                (const char *[]){"reason", sm_decode_counter_name((enum sm_decode_counter)k), NULL},
                a->decode[k]);
    sm_prom_counter(p, "synmatch_agent_records_total",
                    "SYN, SYN/ACK and RST records put in batches.", a->records_emitted);
    sm_prom_counter(p, "synmatch_agent_records_sent_total", "Records handed to the transport.",
                    a->records_sent);
    sm_prom_counter(p, "synmatch_agent_records_unsent_total",
                    "Records dropped from the full send queue (declared to the collector).",
                    a->records_unsent);
    sm_prom_counter(p, "synmatch_agent_batches_total", "Batches built (heartbeats included).",
                    a->batches);
    sm_prom_counter(p, "synmatch_agent_batches_sent_total", "Batches handed to the transport.",
                    a->batches_sent);
    sm_prom_counter(p, "synmatch_agent_batches_unsent_total",
                    "Batches dropped from the send queue.", a->batches_unsent);
    sm_prom_gauge(p, "synmatch_agent_queue_batches", "Batches waiting in the send queue.",
                  (double)a->queued);
    sm_prom_gauge(p, "synmatch_agent_last_batch_timestamp_seconds",
                  "When the last batch (or heartbeat) went out (Unix time).",
                  a->last_batch_wall_ns ? secs(a->last_batch_wall_ns) : 0);
    sm_prom_gauge(p, "synmatch_agent_watermark_timestamp_seconds",
                  "The last batch's watermark: everything captured up to then is sent (Unix time).",
                  a->watermark_ns == INT64_MIN ? 0 : secs(a->watermark_ns));
    if (a->host.present) {
        sm_prom_counter(p, "synmatch_agent_host_syncookies_sent_total",
                        "This network namespace's SyncookiesSent.", a->host.syncookies_sent);
        sm_prom_counter(p, "synmatch_agent_host_listen_overflows_total",
                        "This network namespace's ListenOverflows.", a->host.listen_overflows);
        sm_prom_counter(p, "synmatch_agent_host_listen_drops_total",
                        "This network namespace's ListenDrops.", a->host.listen_drops);
        sm_prom_counter(p, "synmatch_agent_host_syn_queue_drops_total",
                        "This network namespace's TCPReqQFullDrop.", a->host.reqq_full_drop);
        sm_prom_counter(p, "synmatch_agent_host_syn_retransmissions_total",
                        "This network namespace's TCPSynRetrans.", a->host.syn_retrans);
    }
    sm_prom_counter(p, "synmatch_metrics_publishes_total",
                    "Snapshots of these figures the loop published.", a->publishes);
    sm_prom_family(p, "synmatch_metrics_publish_seconds_total", "counter",
                   "Time the loop spent copying its figures for the metrics.");
    sm_prom_f64(p, "synmatch_metrics_publish_seconds_total", NULL,
                secs((int64_t)a->publish_ns_total));
    sm_prom_gauge(p, "synmatch_metrics_publish_max_seconds",
                  "The longest the loop spent on one snapshot.", secs(a->publish_ns_max));
    sm_httpd_prom(m->httpd, p);
    return 0;
}

sm_agent_mx_t *sm_agent_mx_new(const char *listen, char *errbuf, size_t errlen)
{
    sm_agent_mx_t *m = calloc(1, sizeof *m);
    if (m == NULL || (m->snap = sm_snap_new(sizeof(struct sm_agent_metrics))) == NULL) {
        snprintf(errbuf, errlen, "metrics: out of memory");
        sm_agent_mx_destroy(&m);
        return NULL;
    }
    if ((m->httpd = sm_httpd_new(listen, render, m, errbuf, errlen)) == NULL) {
        sm_agent_mx_destroy(&m);
        return NULL;
    }
    return m;
}

void sm_agent_mx_destroy(sm_agent_mx_t **m_p)
{
    sm_agent_mx_t *m = *m_p;
    if (m == NULL)
        return;
    sm_httpd_destroy(&m->httpd);
    sm_snap_destroy(&m->snap);
    free(m);
    *m_p = NULL;
}

bool sm_agent_mx_loopback(const sm_agent_mx_t *m)
{
    return sm_httpd_loopback(m->httpd);
}

struct sm_agent_metrics *sm_agent_mx_begin(sm_agent_mx_t *m)
{
    return sm_snap_back(m->snap);
}

void sm_agent_mx_publish(sm_agent_mx_t *m)
{
    sm_snap_publish(m->snap);
}

bool sm_agent_mx_wanted(const sm_agent_mx_t *m)
{
    return sm_snap_wanted(m->snap);
}
