/*
 * select.h - the k-th smallest of an array, for medians (the join's recent delays, the
 * clock estimator's buckets).
 */
#ifndef SYNMATCH_SELECT_H
#define SYNMATCH_SELECT_H

#include <stddef.h>
#include <stdint.h>

/* The k-th smallest of v[0..n-1], k < n (Hoare's selection: reorders v; expected linear
 * time). */
int64_t sm_select_kth(int64_t *v, size_t n, size_t k);

#endif
