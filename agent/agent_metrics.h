/*
 * agent_metrics.h - the agent's Prometheus metrics (private to the agent; docs/METRICS.md).
 *
 * As the collector's: the agent's loop copies its counters into a snapshot (common/snapshot.h)
 * at every heartbeat and when a scrape asks, and the HTTP thread (common/httpd.h) formats it.
 * The loop never waits for a scrape.
 */
#ifndef SYNMATCH_AGENT_METRICS_H
#define SYNMATCH_AGENT_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "synmatch/decode.h"
#include "synmatch/wire.h"

typedef struct sm_agent_mx sm_agent_mx_t;

struct sm_agent_metrics {
    int64_t wall_ns, start_wall_ns;
    char sensor[SM_SENSOR_ID_MAX + 1];
    enum sm_role role;
    bool live; /* capturing on an interface (else replaying a file) */
    uint64_t pcap_received, pcap_dropped, pcap_ifdropped;
    uint64_t decode[SM_DC_COUNT]; /* the decoder's counters by reason (a file: at its end) */
    uint64_t records_emitted, records_sent, records_unsent;
    uint64_t batches, batches_sent, batches_unsent;
    uint64_t queued;              /* batches in the sender's queue now */
    int64_t last_batch_wall_ns;   /* when the last batch went out; 0: none */
    int64_t watermark_ns;         /* the last batch's watermark (event time); INT64_MIN: none */
    struct sm_host_counters host; /* live: the namespace's TCP counters (present or not) */
    uint64_t publishes, publish_ns_total;
    int64_t publish_ns_max;
};

/* Serves /metrics on listen (httpd.h's ADDR:PORT forms). NULL with one line in errbuf. */
sm_agent_mx_t *sm_agent_mx_new(const char *listen, char *errbuf, size_t errlen);
void sm_agent_mx_destroy(sm_agent_mx_t **m_p);
bool sm_agent_mx_loopback(const sm_agent_mx_t *m);

/* The loop's thread: the snapshot to fill, then publish it. */
struct sm_agent_metrics *sm_agent_mx_begin(sm_agent_mx_t *m);
void sm_agent_mx_publish(sm_agent_mx_t *m);
/* A scrape waits for fresh figures. */
bool sm_agent_mx_wanted(const sm_agent_mx_t *m);

#endif
