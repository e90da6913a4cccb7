/*
 * sensors.h - the collector's books on each sensor (private to the collector).
 *
 * Batches arrive validated but in any order, duplicated, with gaps, from agents that restart.
 * Over a partitioned transport (JetStream) each (sensor, partition) keeps books of its own:
 * every partition sees every seq of the sensor (docs/WIRE.md).
 * The books turn them into what the join engine needs: each sensor's records in seq order,
 * a watermark per role, and blind intervals (docs/ARCHITECTURE.md, "Verdicts") wherever the
 * evidence is incomplete: seq gaps (transport loss), declared unsent records, capture drops,
 * silence and restarts (sensor down). Processing time (monotonic ns, passed in as `now`) is used only
 * to decide when to stop waiting: for a missing seq, for a silent sensor.
 */
#ifndef SYNMATCH_SENSORS_H
#define SYNMATCH_SENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/join.h"
#include "synmatch/wire.h"

typedef struct sm_sensors sm_sensors_t;

enum sm_sensor_event_kind {
    SM_SENSOR_UP,      /* first batch of an epoch (a new sensor, or a restart) */
    SM_SENSOR_DOWN,    /* silent for longer than the down timeout */
    SM_SENSOR_BACK,    /* heard from again after being down, same epoch */
    SM_SENSOR_END,     /* end_of_stream processed */
    SM_SENSOR_GAP,     /* batches declared lost: seq first..last */
    SM_SENSOR_CLOSED,  /* an epoch ended without end_of_stream: a restart, or expired */
};

/*
 * The books of one epoch: the agent's own counts against what arrived. They balance as
 * emitted = before + received + unsent (declared by the agent) + lost (in seq gaps, detected
 * here). before is nonzero only when this collector joined the epoch late (it restarted): the
 * records the agent had sent before the first batch it processed.
 */
struct sm_sensor_books {
    uint64_t emitted, before, received, unsent, lost;
    uint64_t gaps, lost_batches;
};

struct sm_sensor_event {
    enum sm_sensor_event_kind kind;
    const char *sensor_id;
    enum sm_role role;
    uint64_t epoch;
    uint64_t first_seq, last_seq; /* UP: the first seq seen; GAP: the lost range */
    int64_t watermark_ns;
    const struct sm_sensor_books *books; /* END and CLOSED: the epoch's books, all streams */
    const char *reason;                  /* CLOSED: "restart" or "expired" */
    bool partitioned;                    /* GAP over a partitioned transport: of partition */
    uint32_t partition;
    uint32_t streams;                    /* the sensor's streams here (owned partitions, or 1) */
};

struct sm_sensors_sink {
    void (*records)(void *arg, enum sm_role role, const struct sm_record *recs, size_t n);
    /* view: the server sensor's (sm_join_blind), or SM_VIEW_ALL */
    void (*blind)(void *arg, enum sm_role role, uint32_t view, int64_t from, int64_t to,
                  enum sm_verdict_kind kind);
    void (*event)(void *arg, const struct sm_sensor_event *ev);
    /* A server sensor's host counters rose over [from, to]: evidence of what the server host
     * did (sm_join_hint). May be NULL. */
    void (*hint)(void *arg, uint32_t view, int64_t from, int64_t to, enum sm_host_hint kind);
    void *arg;
    /* A server sensor's newer host counters (prev: its previous sample of the epoch): the
     * service health counts the host's SYN cookies. May be NULL. */
    void (*host)(void *arg, uint32_t view, const struct sm_host_counters *prev,
                 const struct sm_host_counters *cur);
};

#define SM_SENSORS_DEFAULT_MAX 256u /* sensors at most unless max_sensors says otherwise */

struct sm_sensors_config {
    unsigned reorder_window; /* batches held per sensor waiting for a missing seq; 0 = 64 */
    int64_t gap_wait_ns;     /* how long to wait for a missing seq; 0 = 500 ms */
    int64_t down_after_ns;   /* silence that makes a sensor down; 0 = 1 s */
    size_t max_sensors;      /* 0 = 256 */
    int64_t expire_after_ns; /* a sensor down this long is closed and its slot reusable;
                              * 0 = 10 minutes */
    uint32_t shard, shards;  /* partitioned transport: this collector owns the partitions
                              * p % shards == shard (shards 0: all of them) */
    int64_t start_grace_ns;  /* after start, how long a role may have no sensor before its
                              * time is blind: agents reconnect to a restarted collector with
                              * a backoff of up to 1 s, then send their backlog; 0 = 3 s, and
                              * never less than down_after_ns */
};

/* Per-sensor accounting, for the stats line and the books' invariant. */
struct sm_sensor_stats {
    char sensor_id[SM_SENSOR_ID_MAX + 1];
    enum sm_role role;
    uint32_t view;    /* a server sensor's view (sm_sensors_scope_view) */
    uint32_t streams; /* owned partitions (or 1) */
    bool up, ended;
    uint64_t epoch, epochs;
    uint64_t batches, duplicates, stale, gaps, lost_batches;
    uint64_t time_regressed; /* batches whose watermark went back: refused, records dropped */
    uint64_t records_received;
    /* From the agent's cumulative counters (latest epoch): */
    uint64_t records_emitted, records_unsent, pcap_dropped;
    uint64_t decode_errors;   /* the agent's malformed frames */
    int64_t watermark_ns;
    int64_t last_heard;       /* processing time (monotonic ns) of its last batch */
    struct sm_host_counters host; /* server sensors: the latest host counters (if present) */
};

struct sm_sensors_totals {
    uint64_t batches, duplicates, stale, gaps, lost_batches, rejected_sensors, time_regressed;
    size_t sensors, up;
};

sm_sensors_t *sm_sensors_new(const struct sm_sensors_config *cfg,
                             const struct sm_sensors_sink *sink);
void sm_sensors_destroy(sm_sensors_t **self_p);

/*
 * One validated batch, received at processing time now. Takes ownership of recs (malloc'd,
 * may be NULL when n == 0). Returns false when it is refused (too many sensors, or an epoch
 * older than the one in use): then recs is freed and nothing else happens.
 */
bool sm_sensors_batch(sm_sensors_t *s, const struct sm_wire_header *h, struct sm_record *recs,
                      size_t n, int64_t now);

/* Time passes: gives up on missing seqs, marks silent sensors down. */
void sm_sensors_tick(sm_sensors_t *s, int64_t now);

/*
 * The event time up to which role has delivered everything: the smallest watermark of its
 * live sensors. When no sensor of the role is live (none yet, all down), the other role's
 * watermark stands in, and the books declare the role blind over that time (sensor down),
 * so decisions keep moving without ever calling a SYN missing. INT64_MIN: nothing yet.
 */
int64_t sm_sensors_watermark(sm_sensors_t *s, enum sm_role role, int64_t now);

/* True when a client and a server sensor were seen and every sensor ended (end_of_stream) or
 * was closed as gone for good (silent past the expiry: its end will not come, and what it
 * would have covered is already declared): one side finishing before the other has even
 * connected is not the end. */
bool sm_sensors_all_ended(const sm_sensors_t *s);

/* The largest watermark a sensor of role reached (for the end of coverage). */
int64_t sm_sensors_last_watermark(const sm_sensors_t *s, enum sm_role role);

/* The earliest capture start a sensor of role declared, or INT64_MIN when none did. */
int64_t sm_sensors_capture_start(const sm_sensors_t *s, enum sm_role role);

/*
 * The view of the server sensor whose announced scope covers the client tuple's destination
 * (the first such sensor heard), SM_SCOPE_OUT when server sensors were heard and none covers
 * it, and SM_VIEW_ALL while no server sensor has been heard at all: what the server serves is
 * unknown then, so the SYN is judged (a non-network verdict: the server role is blind) rather
 * than ignored. A sm_scope_fn.
 */
int32_t sm_sensors_scope_view(const sm_sensors_t *s, const struct sm_tuple *client);

void sm_sensors_totals(const sm_sensors_t *s, struct sm_sensors_totals *out);

/* The id of the server sensor whose view is view, or NULL (valid until the next call that
 * takes a batch or ticks). */
const char *sm_sensors_view_name(const sm_sensors_t *s, uint32_t view);
size_t sm_sensors_stats(const sm_sensors_t *s, struct sm_sensor_stats *out, size_t max);

#endif
