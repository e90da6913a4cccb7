/*
 * detect.h - the two per-service detectors behind the collector's alerts (private to the
 * collector): a SYN flood from sources no client sensor watches, and a service whose
 * monitored connection attempts are in trouble (docs/VERDICTS.md, "Service health").
 *
 * Both are stepped once per health interval with what that interval counted, on event time
 * only (the end of the interval is passed in: nothing here reads a clock), and keep a
 * bounded ring of past intervals. A step that skips intervals (nothing counted meanwhile)
 * counts them as empty. Each step says whether the state changed.
 */
#ifndef SYNMATCH_DETECT_H
#define SYNMATCH_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#define SM_DETECT_RING 64 /* intervals of history at most (baseline, window) */

enum sm_detect_change { SM_DETECT_SAME, SM_DETECT_START, SM_DETECT_END };

/* ---- SYN flood -------------------------------------------------------------------------- */

/*
 * A flood starts when an interval's rate of SYNs from unmonitored sources is at least floor
 * (SYN/s) and at least factor times the baseline: the average rate of the baseline_slots
 * intervals before it (those with no flood). While it lasts the baseline is frozen, so that a
 * long flood never becomes normal; it ends at the first interval whose rate falls below half
 * the threshold it started at.
 */
struct sm_flood_cfg {
    double floor;         /* SYN/s */
    double factor;
    int64_t interval_ns;  /* > 0 */
    unsigned baseline_slots; /* 1..SM_DETECT_RING intervals: the moving average's span */
};

struct sm_flood {
    uint64_t ring[SM_DETECT_RING]; /* SYNs per interval, for the baseline */
    unsigned len, pos;
    uint64_t sum;
    int64_t last_end; /* end of the last interval stepped; INT64_MIN: none */
    bool active;
    int64_t since_ns; /* active: the start of the interval it began in */
    double start_threshold, start_baseline, peak_rate;
    uint64_t syns;    /* SYNs of its intervals (the one that ended it not counted) */
};

/* What a step saw. */
struct sm_flood_view {
    double rate;      /* this interval's SYN/s */
    double baseline;  /* SYN/s averaged over the baseline (before this interval) */
    double threshold; /* max(floor, factor x baseline) */
};

void sm_flood_init(struct sm_flood *f);

/* The interval ending at end_ns (event time, after the last one stepped) counted syns. */
enum sm_detect_change sm_flood_step(struct sm_flood *f, const struct sm_flood_cfg *c,
                                    int64_t end_ns, uint64_t syns, struct sm_flood_view *out);

/* ---- degraded service --------------------------------------------------------------------- */

/*
 * One interval's evidence about a service's monitored connection attempts (client SYN
 * groups). groups: attempts with evidence either way (a suspect, or a final verdict that says
 * something of the network or the service); trouble: those of them that got no answer in
 * time (suspect), failed (missing, reply_lost, unanswered, answered_by_middlebox, refused) or
 * needed a retransmission; the rest say which evidence it was.
 */
struct sm_degrade_bucket {
    uint32_t groups, trouble;
    uint32_t suspects;  /* early: no answer by the first attempt + timeout */
    uint32_t lost;      /* answered only after a retransmission */
    uint32_t failures;  /* final verdicts of failure */
    uint32_t confirmed; /* failures whose suspect came before (counted as trouble then) */
};

/*
 * Degraded when, over the last window intervals, there were at least min_groups groups and
 * at least share of them in trouble; recovered when the share falls below half of that (with
 * at least min_groups) or no group is in trouble any more.
 */
struct sm_degrade_cfg {
    double share;
    unsigned min_groups;
    int64_t interval_ns;
    unsigned window; /* 1..SM_DETECT_RING intervals */
};

struct sm_degrade {
    struct sm_degrade_bucket ring[SM_DETECT_RING];
    unsigned len, pos;
    int64_t last_end;
    bool active;
    int64_t since_ns; /* active: the end of the interval it was found in */
};

struct sm_degrade_view {
    struct sm_degrade_bucket sum; /* over the window, this interval included */
    double share;                 /* sum.trouble / sum.groups (0 without groups) */
};

void sm_degrade_init(struct sm_degrade *d);

enum sm_detect_change sm_degrade_step(struct sm_degrade *d, const struct sm_degrade_cfg *c,
                                      int64_t end_ns, const struct sm_degrade_bucket *b,
                                      struct sm_degrade_view *out);

#endif
