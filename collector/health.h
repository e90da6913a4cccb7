/*
 * health.h - per-service health (private to the collector): what every --health-interval of
 * event time said about each service, written as one "event":"health" line per service, and
 * the alerts made from it (degraded / recovered, syn_flood / syn_flood_end; detect.h)
 * (docs/VERDICTS.md, "Service health").
 *
 * A service is a server sensor (its view) and a destination address and port as the server
 * sees it: a verdict's server tuple when the server saw the SYN, else the client's
 * destination translated as earlier matched connections to it were (NAT), else as the client
 * addressed it. A lone server SYN (no client sensor sent it: a client nobody watches, or a
 * flood's spoofed source) counts for its destination.
 *
 * Intervals are aligned on event time (multiples of the interval since the epoch). A verdict
 * counts in the interval of its decided_ns (never an earlier one than the last counted: the
 * engine decides in that order), and an interval is closed (its lines written) as soon as
 * something is counted past its end or the horizon has passed it. So in the output every
 * health line follows the verdict lines it counts and precedes those of the next interval.
 *
 * Nothing here reads a clock or a socket: times come in as arguments, lines go out through
 * a callback. Memory is fixed at creation: at most 2 x services + 8 services are tracked
 * (each about 12 KB: two HyperLogLog sketches, a delay histogram, the detectors' rings);
 * past that, new services are folded into one "other" service (their number estimated and
 * counted), and idle or quiet services are evicted at interval ends (counted).
 */
#ifndef SYNMATCH_HEALTH_H
#define SYNMATCH_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "detect.h"
#include "siphash.h"
#include "synmatch/join.h"
#include "synmatch/verdict.h"

typedef struct sm_health sm_health_t;

#define SM_HEALTH_DEFAULT_INTERVAL_NS (10 * INT64_C(1000000000))
#define SM_HEALTH_DEFAULT_SERVICES 100
#define SM_HEALTH_MAX_SERVICES 1000
#define SM_HEALTH_DEFAULT_SHARE 0.05
#define SM_HEALTH_DEFAULT_WINDOW_NS (30 * INT64_C(1000000000))
#define SM_HEALTH_DEFAULT_MIN_GROUPS 20
#define SM_HEALTH_DEFAULT_FLOOD_FLOOR 1000.0
#define SM_HEALTH_FLOOD_FACTOR 5.0
#define SM_HEALTH_BASELINE_NS (60 * INT64_C(1000000000))
#define SM_HEALTH_DEFAULT_PUB_LIMIT 100.0

/* The forward delay histogram's upper bounds, seconds (Prometheus buckets). */
#define SM_HEALTH_DELAY_BUCKETS 16

struct sm_health_config {
    int64_t interval_ns;   /* > 0; at most SM_DETECT_RING intervals make the baseline */
    unsigned services;     /* lines per interval (the busiest), 1..SM_HEALTH_MAX_SERVICES */
    double degraded_share; /* 0 < share <= 1 */
    int64_t degraded_window_ns; /* >= interval_ns, at most SM_DETECT_RING intervals */
    unsigned degraded_min; /* groups in the window at least */
    double flood_floor;    /* SYN/s */
    double pub_limit;      /* verdict lines per second (event time) per service on the
                            * alerts socket; 0 = no limit */
    struct sm_sipkey key;  /* secret: hashes the service table and the sources */
    /* Writes one finished line (with its newline). */
    void (*line)(void *arg, const char *line, size_t len);
    /* The server sensor of view (its id), or NULL. */
    const char *(*sensor_name)(void *arg, uint32_t view);
    /* The view of the server sensor serving t's destination (sm_scope_fn's contract; an
     * out-of-scope answer counts as SM_VIEW_ALL). Asked only when a service is not cached. */
    int32_t (*view_of)(void *arg, const struct sm_tuple *t);
    void *arg;
};

/* NULL without memory or with a configuration out of the ranges above. */
sm_health_t *sm_health_new(const struct sm_health_config *cfg);
void sm_health_destroy(sm_health_t **h_p);

/* The wall-clock time written as "time" in the lines from now on (processing time: set by
 * the caller every turn). */
void sm_health_set_wall(sm_health_t *h, int64_t wall_ns);

/* The clocks' offset (server minus client) written in the lines from now on. */
void sm_health_set_clock(sm_health_t *h, int64_t offset_ns);

/* Counts a verdict (suspect or final). Returns whether its line may be shown on the alerts
 * socket (false: its service is over --pub-limit; counted as not shown). */
bool sm_health_verdict(sm_health_t *h, const struct sm_verdict *v);

/* Counts a server SYN no client SYN matched. */
void sm_health_lone(sm_health_t *h, const struct sm_lone_syn *s);

/* The server host behind view sent syncookies more SYN cookies (a rise of its
 * SyncookiesSent counter) since its previous sample. */
void sm_health_host(sm_health_t *h, uint32_t view, uint64_t syncookies);

/* Event time has reached horizon_ns: the intervals ending at or before it are closed. */
void sm_health_advance(sm_health_t *h, int64_t horizon_ns);

/* Closes the open interval as it is (its lines say "partial"): the collector stops. */
void sm_health_finish(sm_health_t *h);

/* ---- for the metrics (docs/METRICS.md) ------------------------------------------------------ */

/* Counters of a service (cumulative while it is tracked, the open interval included). */
struct sm_health_counts {
    uint64_t verdicts[SM_V_COUNT];
    uint64_t attempts, retransmissions, synack_retransmissions;
    uint64_t lone_syns, lone_unanswered, not_shown;
};

struct sm_health_service {
    uint32_t view;
    bool other;                 /* the folded services together */
    char name[SM_ENDPOINT_STRLEN]; /* "198.18.2.2:8080", "[2001:db8::2]:443", "other" */
    struct sm_health_counts c;
    /* of the last closed interval */
    bool have_delay;
    double delay_p50, delay_p99; /* seconds */
    double sources;             /* distinct unmonitored sources (estimate) */
    bool degraded, syn_flood;
};

struct sm_health_totals {
    uint64_t intervals;      /* closed */
    uint64_t lines;          /* health lines written */
    uint64_t events[4];      /* degraded, recovered, syn_flood, syn_flood_end */
    uint64_t folded;         /* verdicts and lone SYNs counted in "other" for want of room */
    uint64_t evicted;        /* services no longer tracked */
    uint64_t not_shown;      /* verdict lines kept off the alerts socket */
    size_t tracked;          /* services tracked now */
    int64_t interval_ns;
    uint64_t delay_buckets[SM_HEALTH_DELAY_BUCKETS + 1]; /* forward delay, per bucket (+Inf) */
    double delay_sum;        /* seconds */
    uint64_t reply_buckets[SM_HEALTH_DELAY_BUCKETS + 1]; /* reply delay */
    double reply_sum;
};

/* The bucket bounds of the delay histograms, seconds. */
extern const double sm_health_delay_bounds[SM_HEALTH_DELAY_BUCKETS];

/* Up to max services (the "other" one last, when it counted anything); returns how many. */
size_t sm_health_services(const sm_health_t *h, struct sm_health_service *out, size_t max);
void sm_health_totals(const sm_health_t *h, struct sm_health_totals *out);
/* Most services sm_health_services() can return. */
size_t sm_health_capacity(const sm_health_t *h);

#endif
