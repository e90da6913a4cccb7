/*
 * test_hll.c - the HyperLogLog estimator (common/hll.c) against exact counts: from 0 to 2^20
 * distinct items, every estimate within three documented standard errors, the errors of many
 * trials centred on zero with the documented spread, duplicates not counted, unions merged.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "hll.h"
#include "siphash.h"

static struct sm_sipkey key;


static uint64_t item(uint64_t trial, uint64_t i)
{
    return sm_siphash_u64(&key, trial << 40 ^ i);
}

static double estimate(uint64_t trial, uint64_t from, uint64_t n, struct sm_hll *h)
{
    sm_hll_clear(h);
    for (uint64_t i = from; i < from + n; i++)
        sm_hll_add(h, item(trial, i));
    return sm_hll_estimate(h);
}

static void test_empty_and_small(void)
{
    static struct sm_hll h;
    sm_hll_clear(&h);
    CHECK(sm_hll_estimate(&h) == 0.0);
    for (uint64_t n = 1; n <= 64; n++) {
        double e = estimate(n, 0, n, &h);
        /* linear counting, in effect: off only by the few items sharing a register */
        CHECK(fabs(e - (double)n) < 4.0 + 0.03 * (double)n);
    }
    /* duplicates: the same 1,000 items ten times are 1,000 */
    sm_hll_clear(&h);
    for (int rep = 0; rep < 10; rep++)
        for (uint64_t i = 0; i < 1000; i++)
            sm_hll_add(&h, item(7, i));
    CHECK(fabs(sm_hll_estimate(&h) - 1000.0) < 3 * SM_HLL_STD_ERROR * 1000.0);
}

/* Over the whole range, and in the middle (a few times the register count) where the
 * classic estimator needed a bias correction, every trial within 3 standard errors; the
 * errors of the trials average out near zero and spread as documented. */
static void test_accuracy(void)
{
    static struct sm_hll h;
    static const uint64_t sizes[] = {100, 1000, 3000, 5000, 10000, 20000, 100000, 1u << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint64_t n = sizes[s];
        int trials = n >= (1u << 20) ? 6 : n >= 100000 ? 20 : 60;
        double sum = 0, sum2 = 0, worst = 0;
        for (int t = 0; t < trials; t++) {
            double rel = (estimate(1000 + (uint64_t)t, 0, n, &h) - (double)n) / (double)n;
            sum += rel;
            sum2 += rel * rel;
            if (fabs(rel) > worst)
                worst = fabs(rel);
        }
        double mean = sum / trials, rms = sqrt(sum2 / trials);
        printf("n=%-8llu trials=%-3d mean error %+.4f rms %.4f worst %.4f\n",
               (unsigned long long)n, trials, mean, rms, worst);
        CHECK(worst <= 3 * SM_HLL_STD_ERROR);
        if (trials >= 20) {
            CHECK(fabs(mean) < SM_HLL_STD_ERROR);       /* unbiased */
            CHECK(rms < 1.35 * SM_HLL_STD_ERROR);        /* spread as documented */
        }
    }
}

static void test_merge(void)
{
    static struct sm_hll a, b;
    estimate(42, 0, 60000, &a);       /* items 0..59,999 */
    estimate(42, 40000, 60000, &b);   /* items 40,000..99,999 */
    sm_hll_merge(&a, &b);
    double e = sm_hll_estimate(&a);
    CHECK(fabs(e - 100000.0) < 3 * SM_HLL_STD_ERROR * 100000.0);
    /* merging with an empty sketch changes nothing */
    static struct sm_hll z;
    sm_hll_clear(&z);
    sm_hll_merge(&a, &z);
    CHECK(sm_hll_estimate(&a) == e);
}

int main(void)
{
    /* a fixed key: the same items every run, so a pass is not luck (the collector draws
     * its key at random) */
    key.k0 = UINT64_C(0x0123456789abcdef);
    key.k1 = UINT64_C(0xfedcba9876543210);
    test_empty_and_small();
    test_accuracy();
    test_merge();
    return check_done();
}
