/*
 * promtext.c - the Prometheus text format writer (see promtext.h).
 */
#include "promtext.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sm_prom_init(struct sm_prom *p)
{
    memset(p, 0, sizeof *p);
}

void sm_prom_free(struct sm_prom *p)
{
    free(p->buf);
    sm_prom_init(p);
}

static bool room(struct sm_prom *p, size_t n)
{
    if (p->oom)
        return false;
    if (p->len + n + 1 <= p->cap)
        return true;
    size_t cap = p->cap ? p->cap : 16384;
    while (cap < p->len + n + 1)
        cap *= 2;
    char *b = realloc(p->buf, cap);
    if (b == NULL) {
        p->oom = true;
        return false;
    }
    p->buf = b;
    p->cap = cap;
    return true;
}

static void put(struct sm_prom *p, const char *s, size_t n)
{
    if (!room(p, n))
        return;
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

static void puts_(struct sm_prom *p, const char *s)
{
    put(p, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void printf_(struct sm_prom *p, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(p, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void escaped(struct sm_prom *p, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(p, "\\\\");
        else if (*s == '\n')
            puts_(p, "\\n");
        else if (quote && *s == '"')
            puts_(p, "\\\"");
        else
            put(p, s, 1);
    }
}

void sm_prom_family(struct sm_prom *p, const char *name, const char *type, const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    escaped(p, help, false);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type);
    puts_(p, "\n");
}

static void labels_(struct sm_prom *p, const char *const *labels, const char *le)
{
    bool any = false;
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        puts_(p, any ? "," : "{");
        any = true;
        puts_(p, labels[i]);
        puts_(p, "=\"");
        escaped(p, labels[i + 1], true);
        puts_(p, "\"");
    }
    if (le) {
        puts_(p, any ? "," : "{");
        any = true;
        puts_(p, "le=\"");
        puts_(p, le);
        puts_(p, "\"");
    }
    if (any)
        puts_(p, "}");
}

void sm_prom_u64(struct sm_prom *p, const char *name, const char *const *labels, uint64_t v)
{
    puts_(p, name);
    labels_(p, labels, NULL);
    printf_(p, " %" PRIu64 "\n", v);
}

static void value(struct sm_prom *p, double v)
{
    if (isnan(v))
        puts_(p, " NaN\n");
    else if (isinf(v))
        puts_(p, v > 0 ? " +Inf\n" : " -Inf\n");
    else
        printf_(p, " %.15g\n", v);
}

void sm_prom_f64(struct sm_prom *p, const char *name, const char *const *labels, double v)
{
    puts_(p, name);
    labels_(p, labels, NULL);
    value(p, v);
}

void sm_prom_histogram(struct sm_prom *p, const char *name, const char *const *labels,
                       const double *bounds, const uint64_t *counts, size_t n, double sum)
{
    char bucket[128], le[32];
    snprintf(bucket, sizeof bucket, "%s_bucket", name);
    uint64_t cum = 0;
    for (size_t i = 0; i <= n; i++) {
        cum += counts[i];
        if (i < n)
            snprintf(le, sizeof le, "%.15g", bounds[i]);
        else
            strcpy(le, "+Inf");
        puts_(p, bucket);
        labels_(p, labels, le);
        printf_(p, " %" PRIu64 "\n", cum);
    }
    puts_(p, name);
    puts_(p, "_sum");
    labels_(p, labels, NULL);
    value(p, sum);
    puts_(p, name);
    puts_(p, "_count");
    labels_(p, labels, NULL);
    printf_(p, " %" PRIu64 "\n", cum);
}

void sm_prom_counter(struct sm_prom *p, const char *name, const char *help, uint64_t v)
{
    sm_prom_family(p, name, "counter", help);
    sm_prom_u64(p, name, NULL, v);
}

void sm_prom_gauge(struct sm_prom *p, const char *name, const char *help, double v)
{
    sm_prom_family(p, name, "gauge", help);
    sm_prom_f64(p, name, NULL, v);
}
