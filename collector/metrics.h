/*
 * metrics.h - the collector's Prometheus metrics (private to the collector; docs/METRICS.md).
 *
 * The loop copies its figures into a snapshot (common/snapshot.h) about once a second, and
 * whenever a scrape asks for fresh ones; the HTTP thread (common/httpd.h) formats the newest
 * snapshot. The loop never waits for the HTTP thread and never formats text: a scrape costs
 * it one copy of its counters, the sensors' books and the service table (measured, and
 * exposed as synmatch_metrics_publish_*).
 */
#ifndef SYNMATCH_COLLECTOR_METRICS_H
#define SYNMATCH_COLLECTOR_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health.h"
#include "httpd.h"
#include "sensors.h"
#include "synmatch/join.h"
#include "synmatch/wire.h"

typedef struct sm_cmetrics sm_cmetrics_t;

/* The tables, filled in place by the loop: sm_sensors_stats() and sm_health_services()
 * write straight into them. */
struct sm_cmetrics_tables {
    struct sm_sensor_stats *sensors;      /* [max_sensors] */
    int64_t *last_batch_wall_ns;          /* [max_sensors]: wall-clock time of the last
                                           * batch; 0: none */
    struct sm_health_service *services;   /* [max_services] */
    char (*service_sensor)[SM_SENSOR_ID_MAX + 1]; /* [max_services]: the server sensor, "" */
};

/* Everything but the two tables. */
struct sm_cmetrics_head {
    int64_t wall_ns;       /* when the snapshot was taken */
    int64_t start_wall_ns; /* when the collector started */
    struct sm_join_stats js;
    struct sm_clock_estimate ce;
    uint64_t rejected[SM_WIRE_REJECT_COUNT];
    uint64_t messages, records, identity_mismatch, out_errors, lines_too_long;
    struct sm_sensors_totals st;
    bool health; /* health lines on: ht is meaningful */
    struct sm_health_totals ht;
    uint64_t publishes, publish_ns_total;
    int64_t publish_ns_max, turn_ns_max; /* the longest publish, the longest loop turn */
    char shard[32]; /* "K/N" over JetStream, or "" */
    size_t nsensors, nservices;
};

/*
 * Serves /metrics on listen with room for max_sensors sensors and max_services services.
 * NULL with one line in errbuf (a bad address, the port in use, out of memory).
 */
sm_cmetrics_t *sm_cmetrics_new(const char *listen, size_t max_sensors, size_t max_services,
                               char *errbuf, size_t errlen);
void sm_cmetrics_destroy(sm_cmetrics_t **m_p);

/* The snapshot to fill (the loop's thread only): its head, and the tables to fill up to the
 * capacities given to sm_cmetrics_new() (set head->nsensors, head->nservices). */
struct sm_cmetrics_head *sm_cmetrics_begin(sm_cmetrics_t *m, struct sm_cmetrics_tables *t);
/* Publishes what was filled since sm_cmetrics_begin(). */
void sm_cmetrics_publish(sm_cmetrics_t *m);
/* A scrape waits for fresh figures. */
bool sm_cmetrics_wanted(const sm_cmetrics_t *m);
/* Whether it listens on a loopback address only; the port listened on. */
bool sm_cmetrics_loopback(const sm_cmetrics_t *m);
uint16_t sm_cmetrics_port(const sm_cmetrics_t *m);

#endif
