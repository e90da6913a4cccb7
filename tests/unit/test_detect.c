/*
 * test_detect.c - the SYN flood and degraded-service detectors (collector/detect.c), stepped
 * with injected interval ends: start at the floor and at 5x the baseline (never below the
 * floor, never below 5x), the baseline frozen during a flood, the end at half the starting
 * threshold, skipped intervals counted as empty; degraded at the share over the window with
 * enough groups, recovered below half of it or with no trouble left.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "detect.h"

#define SEC INT64_C(1000000000)
#define I (10 * SEC)
#define T0 (INT64_C(1790000000) * SEC)

static const struct sm_flood_cfg fcfg = {.floor = 1000, .factor = 5, .interval_ns = I,
                                         .baseline_slots = 6};

/* Steps f through the given SYN counts (per 10 s interval) from interval *k on; returns the
 * changes as a string of '.', 'S' (start) and 'E' (end). */
static void steps(struct sm_flood *f, int64_t *k, const uint64_t *syns, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        enum sm_detect_change c = sm_flood_step(f, &fcfg, T0 + ++*k * I, syns[i], NULL);
        out[i] = c == SM_DETECT_START ? 'S' : c == SM_DETECT_END ? 'E' : '.';
    }
    out[n] = '\0';
}

static void test_flood_basic(void)
{
    struct sm_flood f;
    sm_flood_init(&f);
    int64_t k = 0;
    char got[32];
    /* 10 SYN/s for a minute, then 2,000/s (over the floor and 200x the baseline) for 30 s,
     * then 50/s: one start, one end */
    const uint64_t a[] = {100, 100, 100, 100, 100, 100, 20000, 20000, 20000, 500, 100};
    steps(&f, &k, a, sizeof a / sizeof a[0], got);
    CHECK_EQ_S(got, "......S..E.");
    CHECK_EQ_U(f.syns, 60000); /* the flood's SYNs, not those of the interval that ended it */
    CHECK(f.peak_rate == 2000.0);
    CHECK_EQ_U(f.since_ns, T0 + 6 * I);
    /* the baseline did not learn the flood: the next one is seen at once */
    struct sm_flood_view v;
    CHECK(sm_flood_step(&f, &fcfg, T0 + ++k * I, 15000, &v) == SM_DETECT_START);
    CHECK(v.baseline < 20.0 && v.threshold == 1000.0 && v.rate == 1500.0);
}

static void test_flood_floor_and_factor(void)
{
    struct sm_flood f;
    sm_flood_init(&f);
    int64_t k = 0;
    char got[32];
    /* below the floor, however sudden */
    const uint64_t a[] = {0, 0, 0, 9990, 0};
    steps(&f, &k, a, 5, got);
    CHECK_EQ_S(got, ".....");
    /* a busy service: 300/s normally; 1,200/s is over the floor but not 5x: nothing (and
     * it is part of the baseline for a minute); 1,600/s is over 5x 300/s: a flood */
    sm_flood_init(&f);
    const uint64_t b[] = {3000, 3000, 3000, 3000, 3000, 3000, 12000,
                          3000, 3000, 3000, 3000, 3000, 3000, 16000};
    steps(&f, &k, b, sizeof b / sizeof b[0], got);
    CHECK_EQ_S(got, ".............S");
    /* hysteresis: it started at 1,500/s (5 x 300): it goes on at 800/s, ends at 700/s */
    const uint64_t c[] = {8000, 7000};
    steps(&f, &k, c, 2, got);
    CHECK_EQ_S(got, ".E");
}

static void test_flood_gap(void)
{
    struct sm_flood f;
    sm_flood_init(&f);
    struct sm_flood_view v;
    CHECK(sm_flood_step(&f, &fcfg, T0 + I, 50000, &v) == SM_DETECT_START);
    CHECK(v.baseline == 0.0 && v.threshold == 1000.0);
    /* nothing counted for three intervals: the flood ended meanwhile */
    CHECK(sm_flood_step(&f, &fcfg, T0 + 4 * I, 0, &v) == SM_DETECT_END);
    CHECK(!f.active);
    /* a gap longer than the baseline fills it with empty intervals only */
    CHECK(sm_flood_step(&f, &fcfg, T0 + 1000 * I, 900, &v) == SM_DETECT_SAME);
    CHECK_EQ_U(f.len, 6);
    CHECK(v.baseline == 0.0);
}

static const struct sm_degrade_cfg dcfg = {.share = 0.05, .min_groups = 20, .interval_ns = I,
                                           .window = 3};

static enum sm_detect_change dstep(struct sm_degrade *d, int64_t k, uint32_t groups,
                                   uint32_t trouble, struct sm_degrade_view *v)
{
    struct sm_degrade_bucket b = {.groups = groups, .trouble = trouble, .suspects = trouble};
    return sm_degrade_step(d, &dcfg, T0 + k * I, &b, v);
}

static void test_degrade(void)
{
    struct sm_degrade d;
    sm_degrade_init(&d);
    struct sm_degrade_view v;
    int64_t k = 0;
    CHECK(dstep(&d, ++k, 100, 1, &v) == SM_DETECT_SAME);
    CHECK(dstep(&d, ++k, 100, 1, &v) == SM_DETECT_SAME);
    CHECK(dstep(&d, ++k, 100, 10, &v) == SM_DETECT_SAME); /* 12 of 300: 4% */
    CHECK(v.sum.groups == 300 && v.sum.trouble == 12);
    CHECK(dstep(&d, ++k, 100, 10, &v) == SM_DETECT_START); /* 21 of 300: 7% */
    CHECK(v.share == 21.0 / 300 && v.sum.suspects == 21);
    CHECK_EQ_U(d.since_ns, T0 + 4 * I);
    CHECK(dstep(&d, ++k, 100, 4, &v) == SM_DETECT_SAME);  /* 24 of 300: still over half */
    CHECK(dstep(&d, ++k, 100, 0, &v) == SM_DETECT_SAME);  /* 14 of 300: 4.7% >= 2.5% */
    CHECK(dstep(&d, ++k, 100, 2, &v) == SM_DETECT_END);   /* 6 of 300: 2% */
    /* too few groups to say anything, however bad */
    sm_degrade_init(&d);
    for (int i = 0; i < 6; i++)
        CHECK(dstep(&d, ++k, 5, 5, &v) == SM_DETECT_SAME);
    /* with enough of them in the window: degraded; then silence (skipped intervals) ends it */
    CHECK(dstep(&d, ++k, 10, 5, &v) == SM_DETECT_START); /* 20 groups, 15 in trouble */
    CHECK(dstep(&d, k + 5, 0, 0, &v) == SM_DETECT_END);
}

int main(void)
{
    test_flood_basic();
    test_flood_floor_and_factor();
    test_flood_gap();
    test_degrade();
    return check_done();
}
