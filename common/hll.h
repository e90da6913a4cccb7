/*
 * hll.h - HyperLogLog: how many distinct items (a flood's source addresses) in fixed memory.
 *
 * 2^SM_HLL_P one-byte registers (4 KiB). Items come in as 64-bit hashes, which the caller
 * computes with a keyed hash (siphash.h) so that a sender cannot choose addresses that all
 * land in one register. The estimate uses Ertl's improved raw estimator ("New cardinality
 * estimation algorithms for HyperLogLog sketches", 2017): no empirical bias tables and no
 * switch to linear counting, unbiased from 0 to far beyond 2^32 items. Its relative standard
 * error is about 1.04 / sqrt(2^P) = 1.6% (SM_HLL_STD_ERROR); tests/unit/test_hll.c checks
 * that estimates stay within three of them (docs/METRICS.md, "Distinct sources").
 */
#ifndef SYNMATCH_HLL_H
#define SYNMATCH_HLL_H

#include <stdbool.h>
#include <stdint.h>

#define SM_HLL_P 12
#define SM_HLL_M (1u << SM_HLL_P)
#define SM_HLL_STD_ERROR 0.01625 /* 1.04 / sqrt(SM_HLL_M) */

struct sm_hll {
    uint8_t reg[SM_HLL_M];
};

/* Forgets every item. */
void sm_hll_clear(struct sm_hll *h);

/* Adds the item whose (keyed, uniformly distributed) 64-bit hash is hash. */
static inline void sm_hll_add(struct sm_hll *h, uint64_t hash)
{
    uint32_t idx = (uint32_t)(hash >> (64 - SM_HLL_P));
    uint64_t w = hash << SM_HLL_P;
    uint8_t rank = w == 0 ? (uint8_t)(64 - SM_HLL_P + 1) : (uint8_t)(__builtin_clzll(w) + 1);
    if (rank > h->reg[idx])
        h->reg[idx] = rank;
}

/* dst counts what it counted and what src counted (the union). */
void sm_hll_merge(struct sm_hll *dst, const struct sm_hll *src);

/* The estimated number of distinct items added since the last clear (0 when none). */
double sm_hll_estimate(const struct sm_hll *h);

#endif
