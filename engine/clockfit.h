/*
 * clockfit.h - how far the server side's clock is from the client side's, measured from the
 * connections both sides saw (docs/ARCHITECTURE.md, "Time"; docs/VERDICTS.md, "Clocks").
 *
 * The estimator pairs records by ISN alone, in the order they are shown, whatever their
 * times: a client SYN with the server SYN of the same ISN gives the forward delta (server
 * time minus client time: the offset plus the one-way delay), the SYN/ACK the client received
 * with the one the server sent gives the backward delta (client minus server: the delay back
 * minus the offset). Half their difference is the offset, whatever the delay, if the two legs
 * take equally long; without SYN/ACKs on both sides the forward delta stands for it.
 *
 * Samples are taken in buckets (at least MIN_PAIRS pairs and one second of client time);
 * each bucket's medians make a knot (time, offset, spread). A knot far from the previous one
 * (a clock stepped) starts a new segment; within a segment a line through the knots gives the
 * drift. Wild pairs (an ISN two connections shared, a replayed capture) are outvoted by the
 * medians. Memory is bounded: the pairing tables are fixed, the knots are thinned when full.
 *
 * The engine owns one estimator and decides what to do with it (join.c, "clock").
 */
#ifndef SYNMATCH_CLOCKFIT_H
#define SYNMATCH_CLOCKFIT_H

#include <stdbool.h>
#include <stdint.h>

#include "synmatch/join.h"
#include "synmatch/record.h"

typedef struct sm_clockfit sm_clockfit_t;

sm_clockfit_t *sm_clockfit_new(int64_t confident_spread_ns);
void sm_clockfit_destroy(sm_clockfit_t **self_p);

/*
 * Shows the estimator record r of role at its raw time (before any correction). Returns true
 * when a new knot was made: sm_clockfit_knot() then tells it.
 */
bool sm_clockfit_observe(sm_clockfit_t *cf, enum sm_role role, const struct sm_record *r);

struct sm_clockfit_knot {
    int64_t at_ns;     /* client time of the bucket (median) */
    int64_t from_ns;   /* the bucket's first client time */
    int64_t offset_ns; /* server clock minus client clock */
    int64_t spread_ns; /* median absolute deviation of the forward deltas */
    uint32_t pairs, back_pairs;
    bool step; /* it starts a new segment */
};
/* The latest knot; false when there is none yet. */
bool sm_clockfit_knot(const sm_clockfit_t *cf, struct sm_clockfit_knot *out);

/* The whole estimate so far (struct sm_clock_estimate in join.h); applied_ns and corrected
 * are the engine's to fill. */
void sm_clockfit_estimate(const sm_clockfit_t *cf, struct sm_clock_estimate *out);

#endif
