/*
 * promtext.h - the Prometheus text exposition format (version 0.0.4), written into a growing
 * buffer: a family's HELP and TYPE once, then its samples with escaped label values.
 *
 *   struct sm_prom p;
 *   sm_prom_init(&p);
 *   sm_prom_family(&p, "synmatch_verdicts_total", "counter", "Final verdicts by kind.");
 *   sm_prom_u64(&p, "synmatch_verdicts_total", (const char *[]){"verdict", "matched", NULL}, 7);
 *   ... p.buf, p.len; sm_prom_free(&p)  (or hand p.buf over and own it)
 *
 * Label values come from the network (sensor ids are checked by the wire, service names are
 * formatted addresses) and are escaped anyway: backslash, double quote and newline. Without
 * memory the buffer stops growing and p.oom is set: the caller answers with an error.
 */
#ifndef SYNMATCH_PROMTEXT_H
#define SYNMATCH_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sm_prom {
    char *buf;
    size_t len, cap;
    bool oom;
};

void sm_prom_init(struct sm_prom *p);
void sm_prom_free(struct sm_prom *p);

/* # HELP and # TYPE lines of family name (type: counter, gauge, histogram, untyped). */
void sm_prom_family(struct sm_prom *p, const char *name, const char *type, const char *help);

/* One sample: name{k1="v1",...} value. labels: NULL, or key, value, ..., NULL. */
void sm_prom_u64(struct sm_prom *p, const char *name, const char *const *labels, uint64_t v);
void sm_prom_f64(struct sm_prom *p, const char *name, const char *const *labels, double v);

/* A family of one sample without labels: its HELP and TYPE lines, then the value. */
void sm_prom_counter(struct sm_prom *p, const char *name, const char *help, uint64_t v);
void sm_prom_gauge(struct sm_prom *p, const char *name, const char *help, double v);

/* A histogram's samples: name_bucket{...,le="b"} for each bound (counts per bucket, not yet
 * cumulative; n bounds and n + 1 counts, the last for +Inf), name_sum and name_count. */
void sm_prom_histogram(struct sm_prom *p, const char *name, const char *const *labels,
                       const double *bounds, const uint64_t *counts, size_t n, double sum);

#endif
