/*
 * detect.c - the SYN flood and degraded-service detectors (see detect.h).
 *
 * Each keeps a ring of its last intervals; stepping costs the ring's length at most (a gap
 * of skipped intervals is filled with empty ones, never more than the ring holds). The
 * thresholds have hysteresis (a state ends at half the level that started it), so a rate or
 * share hovering at the threshold does not alert on every interval.
 */
#include "detect.h"

#include <assert.h>
#include <string.h>

/* How many intervals since the last step, counting this one (1 when consecutive). */
static uint64_t steps_since(int64_t last_end, int64_t end_ns, int64_t interval_ns)
{
    if (last_end == INT64_MIN || end_ns <= last_end)
        return 1;
    uint64_t k = (uint64_t)(end_ns - last_end) / (uint64_t)interval_ns;
    return k == 0 ? 1 : k;
}

void sm_flood_init(struct sm_flood *f)
{
    memset(f, 0, sizeof *f);
    f->last_end = INT64_MIN;
}

static void flood_push(struct sm_flood *f, unsigned slots, uint64_t syns)
{
    if (f->len == slots) {
        f->sum -= f->ring[f->pos];
    } else {
        f->len++;
    }
    f->ring[f->pos] = syns;
    f->sum += syns;
    f->pos = (f->pos + 1) % slots;
}

enum sm_detect_change sm_flood_step(struct sm_flood *f, const struct sm_flood_cfg *c,
                                    int64_t end_ns, uint64_t syns, struct sm_flood_view *out)
{
    assert(c->interval_ns > 0 && c->baseline_slots >= 1 && c->baseline_slots <= SM_DETECT_RING);
    double secs = (double)c->interval_ns / 1e9;
    uint64_t gap = steps_since(f->last_end, end_ns, c->interval_ns) - 1;
    f->last_end = end_ns;
    enum sm_detect_change ch = SM_DETECT_SAME;
    if (gap > 0 && f->active) {
        /* intervals with no SYN at all: whatever flood there was is over */
        f->active = false;
        ch = SM_DETECT_END;
    }
    for (uint64_t i = 0; i < gap && i < c->baseline_slots; i++)
        flood_push(f, c->baseline_slots, 0);
    struct sm_flood_view v;
    v.rate = (double)syns / secs;
    v.baseline = f->len ? (double)f->sum / ((double)f->len * secs) : 0.0;
    v.threshold = c->factor * v.baseline > c->floor ? c->factor * v.baseline : c->floor;
    if (out)
        *out = v;
    if (f->active) {
        if (v.rate < f->start_threshold / 2) {
            f->active = false; /* this interval is the first after it: not counted in it */
            flood_push(f, c->baseline_slots, syns);
            return SM_DETECT_END;
        }
        f->syns += syns;
        if (v.rate > f->peak_rate)
            f->peak_rate = v.rate;
        return SM_DETECT_SAME; /* the baseline stays what it was before the flood */
    }
    if (ch == SM_DETECT_SAME && v.rate >= v.threshold) {
        f->active = true;
        f->since_ns = end_ns - c->interval_ns;
        f->start_threshold = v.threshold;
        f->start_baseline = v.baseline;
        f->peak_rate = v.rate;
        f->syns = syns;
        return SM_DETECT_START;
    }
    flood_push(f, c->baseline_slots, syns);
    return ch;
}

void sm_degrade_init(struct sm_degrade *d)
{
    memset(d, 0, sizeof *d);
    d->last_end = INT64_MIN;
}

static void degrade_push(struct sm_degrade *d, unsigned slots, const struct sm_degrade_bucket *b)
{
    d->ring[d->pos] = *b;
    d->pos = (d->pos + 1) % slots;
    if (d->len < slots)
        d->len++;
}

enum sm_detect_change sm_degrade_step(struct sm_degrade *d, const struct sm_degrade_cfg *c,
                                      int64_t end_ns, const struct sm_degrade_bucket *b,
                                      struct sm_degrade_view *out)
{
    assert(c->interval_ns > 0 && c->window >= 1 && c->window <= SM_DETECT_RING);
    static const struct sm_degrade_bucket empty;
    uint64_t gap = steps_since(d->last_end, end_ns, c->interval_ns) - 1;
    d->last_end = end_ns;
    for (uint64_t i = 0; i < gap && i < c->window; i++)
        degrade_push(d, c->window, &empty);
    degrade_push(d, c->window, b);
    struct sm_degrade_view v;
    memset(&v, 0, sizeof v);
    for (unsigned i = 0; i < d->len; i++) {
        const struct sm_degrade_bucket *r = &d->ring[i];
        v.sum.groups += r->groups;
        v.sum.trouble += r->trouble;
        v.sum.suspects += r->suspects;
        v.sum.lost += r->lost;
        v.sum.failures += r->failures;
        v.sum.confirmed += r->confirmed;
    }
    v.share = v.sum.groups ? (double)v.sum.trouble / (double)v.sum.groups : 0.0;
    if (out)
        *out = v;
    if (!d->active) {
        if (v.sum.groups >= c->min_groups && v.sum.groups > 0 && v.share >= c->share) {
            d->active = true;
            d->since_ns = end_ns;
            return SM_DETECT_START;
        }
        return SM_DETECT_SAME;
    }
    if (v.sum.trouble == 0 || (v.sum.groups >= c->min_groups && v.share < c->share / 2)) {
        d->active = false;
        return SM_DETECT_END;
    }
    return SM_DETECT_SAME;
}
