/*
 * topmodel.h - what `synmatch top` shows, counted from a collector's alert lines: services
 * by failures with their rates and a sparkline, sensors with their state, the latest alerts.
 * No terminal here (cmd_top.c draws it), so the counting is tested without one.
 *
 * Every line goes through cli/alerts.c (parsed, bounded, typed; refusals counted). Rates and
 * sparklines are in processing time (when lines arrive: the monotonic clock the caller
 * passes as now), since they describe the live feed. Sensor state comes from the sensor
 * events and, when a collector sends them, from "event":"health" lines (any of the keys
 * read in topmodel.c's health()). A service's counts and rates come from its health lines
 * once the collector writes them (they count what --pub-limit kept off the socket), and
 * from its verdict lines until then and between two health lines. Memory is
 * fixed: past SM_TOP_MAX_SERVICES services, new ones are counted together in one row.
 */
#ifndef SYNMATCH_TOPMODEL_H
#define SYNMATCH_TOPMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerts.h"
#include "synmatch/record.h"
#include "synmatch/verdict.h"

#define SM_TOP_MAX_SERVICES 1024
#define SM_TOP_MAX_SENSORS 64
#define SM_TOP_ALERTS 256      /* the latest alerts kept */
#define SM_TOP_SPARK 30        /* sparkline buckets ... */
#define SM_TOP_SPARK_SEC 10    /* ... of ten seconds: the last five minutes */
#define SM_TOP_RATE_SEC 10     /* rates over the last ten seconds */
#define SM_TOP_TEXT 160

typedef struct sm_top sm_top_t;

struct sm_top_service {
    char name[64];               /* "198.18.2.2:8081", "[2001:db8::1]:443", or "(other)" */
    struct sm_addr addr;
    uint16_t port;
    bool other;                  /* the row of services past the bound */
    uint64_t verdicts[SM_V_COUNT]; /* final verdicts (suspect: early warnings) */
    uint64_t total, failures;    /* final verdicts; of them, failures */
    uint32_t spark[SM_TOP_SPARK];      /* failures per bucket, ring */
    int64_t spark_id[SM_TOP_SPARK];    /* which bucket each slot holds */
    uint32_t sec_total[SM_TOP_RATE_SEC], sec_fail[SM_TOP_RATE_SEC];
    int64_t sec_id[SM_TOP_RATE_SEC];
    /* From the collector's health lines, once one named this service: the counts above are
     * the health lines' (exact, even when the alerts socket left verdict lines out) plus the
     * verdict lines since the last one; rates are the last health line's. */
    bool have_health;
    uint64_t since_verdicts[SM_V_COUNT]; /* verdict lines since its last health line */
    double health_rate, health_fail_rate; /* final verdicts a second, failures a second */
};

enum sm_sensor_state { SM_TOP_UP, SM_TOP_DOWN, SM_TOP_ENDED, SM_TOP_CLOSED };

struct sm_top_sensor {
    char name[64], role[16];
    enum sm_sensor_state state;
    char since[32];   /* "time" of the event that set the state, as the collector wrote it */
    char last[32];    /* the last event's name */
    bool have_drops, have_offset;
    uint64_t drops;   /* capture drops (health lines) */
    double offset_s;  /* clock offset (health lines) */
};

struct sm_top_alert {
    char text[SM_TOP_TEXT];
    int service;      /* index of its service, or -1 */
    bool failure;
};

struct sm_top_totals {
    uint64_t lines, verdicts, failures, suspects, events, health, other;
    uint64_t refused[SM_ALERT_REFUSAL_COUNT];
    double rate, failure_rate; /* per second, last SM_TOP_RATE_SEC seconds */
    bool have_offset, corrected;
    double offset_s;           /* the latest clock_offset event's */
};

enum sm_top_sort { SM_TOP_BY_FAILURES, SM_TOP_BY_RATE, SM_TOP_BY_SHARE, SM_TOP_BY_NAME,
                   SM_TOP_SORT_COUNT };
const char *sm_top_sort_name(enum sm_top_sort s);

/* NULL without memory. */
sm_top_t *sm_top_new(void);
void sm_top_destroy(sm_top_t **t_p);

/* One line from the alerts socket (any bytes), received at now (monotonic ns). Never fails:
 * what cannot be read is counted (totals.refused). */
void sm_top_line(sm_top_t *t, const char *line, size_t len, int64_t now);

/* Incremented by every line: a view drawn at one value need not be drawn again. */
uint64_t sm_top_generation(const sm_top_t *t);

void sm_top_totals(const sm_top_t *t, int64_t now, struct sm_top_totals *out);

/*
 * Up to max services, sorted by key (ties by name), those whose name contains filter
 * (NULL or "": all). Writes pointers valid until the next sm_top_line(); returns how many
 * match in all (more than max when some are not written).
 */
size_t sm_top_services(sm_top_t *t, enum sm_top_sort key, const char *filter, int64_t now,
                       const struct sm_top_service **out, size_t max);

/* A service's rates over the last SM_TOP_RATE_SEC seconds. */
double sm_top_rate(const struct sm_top_service *s, int64_t now, bool failures);

/* A service's failures per sparkline bucket, oldest first (SM_TOP_SPARK values). */
void sm_top_spark(const struct sm_top_service *s, int64_t now, uint32_t *out);

size_t sm_top_sensors(const sm_top_t *t, const struct sm_top_sensor **out, size_t max);

/* The latest alerts, newest first, those of services whose name contains filter; returns
 * how many were written. */
size_t sm_top_alerts(const sm_top_t *t, const char *filter, const struct sm_top_alert **out,
                     size_t max);

#endif
