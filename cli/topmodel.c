/*
 * topmodel.c - the counts behind `synmatch top` (see topmodel.h).
 *
 * Services are found by an open-addressing table over (address, port) of SM_TOP_MAX_SERVICES
 * * 2 slots (the key is the client's destination, which the sender of a line chooses, so
 * the bound, not the hash, keeps it small: past it, one "(other)" row). Per service, two
 * rings indexed by time (seconds for rates, ten-second buckets for the sparkline), each slot
 * tagged with the period it counts so that a stale slot reads as zero without a sweep.
 */
#include "topmodel.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "fmt.h"

#define SEC INT64_C(1000000000)
#define SLOTS (2 * SM_TOP_MAX_SERVICES)

struct sm_top {
    struct sm_top_service *svc; /* [SM_TOP_MAX_SERVICES + 1]: the last is "(other)" */
    size_t nsvc;
    int32_t slot[SLOTS];        /* index into svc, or -1 */
    struct sm_top_service *sorted[SM_TOP_MAX_SERVICES + 1];
    struct sm_top_sensor sensors[SM_TOP_MAX_SENSORS];
    size_t nsensors;
    struct sm_top_alert alerts[SM_TOP_ALERTS]; /* ring */
    size_t nalerts, next_alert;
    struct sm_top_totals totals;
    uint32_t sec_total[SM_TOP_RATE_SEC], sec_fail[SM_TOP_RATE_SEC];
    int64_t sec_id[SM_TOP_RATE_SEC];
    uint64_t generation;
};

const char *sm_top_sort_name(enum sm_top_sort s)
{
    static const char *const names[SM_TOP_SORT_COUNT] = {
        [SM_TOP_BY_FAILURES] = "failures", [SM_TOP_BY_RATE] = "rate",
        [SM_TOP_BY_SHARE] = "failure share", [SM_TOP_BY_NAME] = "name"};
    return (unsigned)s < SM_TOP_SORT_COUNT ? names[s] : "?";
}

sm_top_t *sm_top_new(void)
{
    struct sm_top *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->svc = calloc(SM_TOP_MAX_SERVICES + 1, sizeof *t->svc);
    if (t->svc == NULL) {
        free(t);
        return NULL;
    }
    memset(t->slot, 0xff, sizeof t->slot);
    struct sm_top_service *o = &t->svc[SM_TOP_MAX_SERVICES];
    strcpy(o->name, "(other)");
    o->other = true;
    return t;
}

void sm_top_destroy(sm_top_t **t_p)
{
    if (*t_p == NULL)
        return;
    free((*t_p)->svc);
    free(*t_p);
    *t_p = NULL;
}

uint64_t sm_top_generation(const sm_top_t *t)
{
    return t->generation;
}

static uint32_t hash_service(const struct sm_addr *a, uint16_t port)
{
    uint32_t h = 2166136261u; /* FNV-1a: the table is bounded, not attacked (see above) */
    for (int i = 0; i < 16; i++)
        h = (h ^ a->bytes[i]) * 16777619u;
    h = (h ^ a->family) * 16777619u;
    h = (h ^ (port & 0xff)) * 16777619u;
    return (h ^ (port >> 8)) * 16777619u;
}

static struct sm_top_service *service(struct sm_top *t, const struct sm_addr *a, uint16_t port)
{
    uint32_t i = hash_service(a, port) % SLOTS;
    for (;; i = (i + 1) % SLOTS) {
        if (t->slot[i] < 0)
            break;
        struct sm_top_service *s = &t->svc[t->slot[i]];
        if (s->port == port && sm_addr_eq(&s->addr, a))
            return s;
    }
    if (t->nsvc == SM_TOP_MAX_SERVICES)
        return &t->svc[SM_TOP_MAX_SERVICES];
    struct sm_top_service *s = &t->svc[t->nsvc];
    t->slot[i] = (int32_t)t->nsvc++;
    s->addr = *a;
    s->port = port;
    *sm_fmt_endpoint(s->name, a, port) = '\0';
    return s;
}

/* Adds n to the ring slot of period id (a slot holding another period starts at zero). */
static void ring_add(uint32_t *v, int64_t *ids, size_t len, int64_t id, uint32_t n)
{
    size_t k = (size_t)(id % (int64_t)len);
    if (ids[k] != id) {
        ids[k] = id;
        v[k] = 0;
    }
    v[k] += n;
}

/* One final verdict in the per-second rings of totals and failures (one tag for both). */
static void count_second(uint32_t *tot, uint32_t *fail, int64_t *ids, int64_t sec, bool failed)
{
    size_t k = (size_t)(sec % SM_TOP_RATE_SEC);
    if (ids[k] != sec) {
        ids[k] = sec;
        tot[k] = fail[k] = 0;
    }
    tot[k]++;
    fail[k] += failed;
}

/* The sum of the ring's slots for periods (id - len, id]. */
static uint64_t ring_sum(const uint32_t *v, const int64_t *ids, size_t len, int64_t id)
{
    uint64_t s = 0;
    for (size_t k = 0; k < len; k++)
        if (ids[k] > id - (int64_t)len && ids[k] <= id)
            s += v[k];
    return s;
}

static void add_alert(struct sm_top *t, const char *text, int svc, bool failure)
{
    struct sm_top_alert *a = &t->alerts[t->next_alert];
    snprintf(a->text, sizeof a->text, "%s", text);
    a->service = svc;
    a->failure = failure;
    t->next_alert = (t->next_alert + 1) % SM_TOP_ALERTS;
    if (t->nalerts < SM_TOP_ALERTS)
        t->nalerts++;
}

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = sm_alert_str(o, key);
    return s ? s : dflt;
}

static void verdict(struct sm_top *t, const struct sm_alert *a, int64_t now)
{
    enum sm_verdict_kind kind = SM_V_COUNT;
    for (int k = 0; k < SM_V_COUNT; k++)
        if (strcmp(a->name, sm_verdict_name((enum sm_verdict_kind)k)) == 0)
            kind = (enum sm_verdict_kind)k;
    struct sm_tuple tu;
    bool have = sm_alert_tuple(a->obj, "client", &tu);
    struct sm_top_service *s = have ? service(t, &tu.dst, tu.dport) : &t->svc[SM_TOP_MAX_SERVICES];
    bool fail = kind != SM_V_COUNT && sm_verdict_is_failure(kind);
    int64_t sec = now / SEC;
    if (kind != SM_V_COUNT)
        s->since_verdicts[kind]++;
    if (kind == SM_V_SUSPECT) {
        t->totals.suspects++;
        s->verdicts[SM_V_SUSPECT]++;
    } else {
        t->totals.verdicts++;
        s->total++;
        if (kind != SM_V_COUNT)
            s->verdicts[kind]++;
        count_second(s->sec_total, s->sec_fail, s->sec_id, sec, fail);
        count_second(t->sec_total, t->sec_fail, t->sec_id, sec, fail);
        if (fail) {
            t->totals.failures++;
            s->failures++;
            ring_add(s->spark, s->spark_id, SM_TOP_SPARK, now / (SM_TOP_SPARK_SEC * SEC), 1);
        }
    }
    if (!fail && kind != SM_V_SUSPECT)
        return;
    /* the latest alerts: time, verdict, client -> service, attempts */
    char name[32], when[32], client[2 * SM_FMT_ENDPOINT_MAX + 8] = "?", text[SM_TOP_TEXT];
    sm_alert_printable(name, sizeof name, a->name, strlen(a->name));
    const char *last = str_or(a->obj, "last", "?");
    if (strlen(last) > 11)
        last += 11; /* the time of day of "2026-11-26T06:56:12.645295934Z" */
    size_t wl = strlen(last);
    sm_alert_printable(when, sizeof when, last, wl < 12 ? wl : 12);
    if (have) {
        char *p = sm_fmt_endpoint(client, &tu.src, tu.sport);
        p = sm_fmt_str(p, " -> ");
        *sm_fmt_endpoint(p, &tu.dst, tu.dport) = '\0';
    }
    int64_t attempts = 0;
    sm_alert_int(a->obj, "attempts", &attempts);
    snprintf(text, sizeof text, "%s  %-12.12s %s  attempts %" PRId64, when,
             sm_alert_display_name(name), client, attempts);
    add_alert(t, text, s->other ? -1 : (int)(s - t->svc), fail);
}

static struct sm_top_sensor *sensor(struct sm_top *t, const char *name)
{
    char pname[64];
    sm_alert_printable(pname, sizeof pname, name, strlen(name));
    for (size_t i = 0; i < t->nsensors; i++)
        if (strcmp(t->sensors[i].name, pname) == 0)
            return &t->sensors[i];
    if (t->nsensors == SM_TOP_MAX_SENSORS)
        return NULL;
    struct sm_top_sensor *s = &t->sensors[t->nsensors++];
    memset(s, 0, sizeof *s);
    strcpy(s->name, pname);
    return s;
}

/* A health line's keys, where present: it sets the sensor's state and figures. */
static void health(struct sm_top_sensor *s, const json_t *o)
{
    int64_t n;
    double d;
    const json_t *up = json_object_get(o, "up");
    if (json_is_boolean(up))
        s->state = json_is_true(up) ? SM_TOP_UP : SM_TOP_DOWN;
    const char *st = sm_alert_str(o, "state");
    if (st && strcmp(st, "up") == 0)
        s->state = SM_TOP_UP;
    else if (st && strcmp(st, "down") == 0)
        s->state = SM_TOP_DOWN;
    if (sm_alert_int(o, "capture_drops", &n) && n >= 0) {
        s->drops = (uint64_t)n;
        s->have_drops = true;
    }
    if (sm_alert_num(o, "clock_offset", &d)) {
        s->offset_s = d;
        s->have_offset = true;
    }
}

/*
 * A service's health line: what it counts replaces the verdict lines counted since the last
 * one (the same verdicts, unless the alerts socket left some out), and its rates become the
 * service's.
 */
static void service_health(struct sm_top *t, const json_t *o, int64_t now)
{
    struct sm_addr addr;
    int64_t port;
    const char *dst = sm_alert_str(o, "dst");
    if (dst == NULL || sm_addr_parse(dst, &addr) == -1 || !sm_alert_int(o, "dport", &port) ||
        port < 0 || port > 65535)
        return;
    const json_t *vs = json_object_get(o, "verdicts");
    if (!json_is_object(vs))
        return;
    struct sm_top_service *s = service(t, &addr, (uint16_t)port);
    uint64_t line[SM_V_COUNT] = {0};
    for (int k = 0; k < SM_V_COUNT; k++) {
        int64_t n;
        const char *name = sm_verdict_name((enum sm_verdict_kind)k);
        if (k == SM_V_SUSPECT ? sm_alert_int(o, "suspects", &n) : sm_alert_int(vs, name, &n))
            line[k] = n > 0 ? (uint64_t)n : 0;
    }
    uint64_t dtot = 0, dfail = 0, ltot = 0, lfail = 0;
    for (int k = 0; k < SM_V_COUNT; k++) {
        uint64_t was = s->since_verdicts[k];
        s->verdicts[k] = s->verdicts[k] - was + line[k];
        if (k != SM_V_SUSPECT) {
            dtot += line[k] - was;
            ltot += line[k];
            if (sm_verdict_is_failure((enum sm_verdict_kind)k)) {
                dfail += line[k] - was;
                lfail += line[k];
            }
        } else {
            t->totals.suspects += line[k] - was;
        }
        s->since_verdicts[k] = 0;
    }
    /* (unsigned arithmetic: the differences wrap back when lines counted more) */
    s->total += dtot;
    s->failures += dfail;
    t->totals.verdicts += dtot;
    t->totals.failures += dfail;
    if ((int64_t)dfail > 0)
        ring_add(s->spark, s->spark_id, SM_TOP_SPARK, now / (SM_TOP_SPARK_SEC * SEC),
                 (uint32_t)dfail);
    double secs = 0;
    if (sm_alert_num(o, "interval", &secs) && secs > 0) {
        s->have_health = true;
        s->health_rate = (double)ltot / secs;
        s->health_fail_rate = (double)lfail / secs;
    }
}

static void event(struct sm_top *t, const struct sm_alert *a, int64_t now)
{
    const char *name = sm_alert_str(a->obj, "sensor");
    if (strcmp(a->name, "health") == 0 && sm_alert_str(a->obj, "service")) {
        service_health(t, a->obj, now);
        return; /* a service's line: its sensor's state is not in it */
    }
    if (strcmp(a->name, "clock_offset") == 0) {
        double off;
        if (sm_alert_num(a->obj, "offset", &off)) {
            t->totals.have_offset = true;
            t->totals.offset_s = off;
            t->totals.corrected = sm_alert_true(a->obj, "corrected");
        }
        return;
    }
    if (name == NULL)
        return;
    struct sm_top_sensor *s = sensor(t, name);
    if (s == NULL)
        return;
    sm_alert_printable(s->role, sizeof s->role, str_or(a->obj, "role", "?"),
                       strlen(str_or(a->obj, "role", "?")));
    sm_alert_printable(s->last, sizeof s->last, a->name, strlen(a->name));
    static const struct {
        const char *event;
        enum sm_sensor_state state;
    } states[] = {{"sensor_up", SM_TOP_UP},       {"sensor_back", SM_TOP_UP},
                  {"sensor_down", SM_TOP_DOWN},   {"sensor_end", SM_TOP_ENDED},
                  {"sensor_closed", SM_TOP_CLOSED}};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        if (strcmp(a->name, states[i].event) == 0) {
            s->state = states[i].state;
            const char *when = str_or(a->obj, "time", "?");
            sm_alert_printable(s->since, sizeof s->since, when, strlen(when));
        }
    }
    if (strcmp(a->name, "health") == 0)
        health(s, a->obj);
    if (strcmp(a->name, "sensor_down") == 0 || strcmp(a->name, "transport_gap") == 0) {
        char text[SM_TOP_TEXT];
        snprintf(text, sizeof text, "%.12s  %-12.12s sensor %s (%s)",
                 s->since[0] ? s->since + (strlen(s->since) > 11 ? 11 : 0) : "?", s->last,
                 s->name, s->role);
        add_alert(t, text, -1, true);
    }
}

void sm_top_line(sm_top_t *t, const char *line, size_t len, int64_t now)
{
    t->generation++;
    t->totals.lines++;
    struct sm_alert a;
    enum sm_alert_refusal why;
    if (sm_alert_parse(&a, line, len, &why) == -1) {
        t->totals.refused[why]++;
        return;
    }
    if (a.kind == SM_ALERT_VERDICT) {
        verdict(t, &a, now);
    } else if (a.kind == SM_ALERT_EVENT) {
        t->totals.events++;
        t->totals.health += strcmp(a.name, "health") == 0;
        event(t, &a, now);
    } else {
        t->totals.other++;
    }
    sm_alert_free(&a);
}

double sm_top_rate(const struct sm_top_service *s, int64_t now, bool failures)
{
    if (s->have_health)
        return failures ? s->health_fail_rate : s->health_rate;
    return (double)ring_sum(failures ? s->sec_fail : s->sec_total, s->sec_id, SM_TOP_RATE_SEC,
                            now / SEC) /
           SM_TOP_RATE_SEC;
}

void sm_top_totals(const sm_top_t *t, int64_t now, struct sm_top_totals *out)
{
    *out = t->totals;
    int64_t sec = now / SEC;
    out->rate = (double)ring_sum(t->sec_total, t->sec_id, SM_TOP_RATE_SEC, sec) / SM_TOP_RATE_SEC;
    out->failure_rate =
        (double)ring_sum(t->sec_fail, t->sec_id, SM_TOP_RATE_SEC, sec) / SM_TOP_RATE_SEC;
    bool any = false;
    for (size_t i = 0; i < t->nsvc && !any; i++)
        any = t->svc[i].have_health;
    if (!any)
        return;
    /* with health lines, the sum of the services' rates (theirs or their lines') */
    out->rate = out->failure_rate = 0;
    for (size_t i = 0; i <= t->nsvc; i++) {
        const struct sm_top_service *s = i < t->nsvc ? &t->svc[i] : &t->svc[SM_TOP_MAX_SERVICES];
        out->rate += sm_top_rate(s, now, false);
        out->failure_rate += sm_top_rate(s, now, true);
    }
}

void sm_top_spark(const struct sm_top_service *s, int64_t now, uint32_t *out)
{
    int64_t id = now / (SM_TOP_SPARK_SEC * SEC);
    for (int i = 0; i < SM_TOP_SPARK; i++) {
        int64_t want = id - (SM_TOP_SPARK - 1) + i;
        size_t k = (size_t)(want % SM_TOP_SPARK);
        out[i] = s->spark_id[k] == want ? s->spark[k] : 0;
    }
}

static enum sm_top_sort sort_key;
static int64_t sort_now;

static int cmp_service(const void *pa, const void *pb)
{
    const struct sm_top_service *a = *(const struct sm_top_service *const *)pa;
    const struct sm_top_service *b = *(const struct sm_top_service *const *)pb;
    double x = 0, y = 0;
    switch (sort_key) {
    case SM_TOP_BY_FAILURES:
        x = (double)a->failures, y = (double)b->failures;
        break;
    case SM_TOP_BY_RATE:
        x = sm_top_rate(a, sort_now, false), y = sm_top_rate(b, sort_now, false);
        break;
    case SM_TOP_BY_SHARE:
        x = a->total ? (double)a->failures / (double)a->total : 0;
        y = b->total ? (double)b->failures / (double)b->total : 0;
        break;
    default:
        break;
    }
    if (x != y)
        return x > y ? -1 : 1;
    return strcmp(a->name, b->name);
}

size_t sm_top_services(sm_top_t *t, enum sm_top_sort key, const char *filter, int64_t now,
                       const struct sm_top_service **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i <= t->nsvc; i++) {
        struct sm_top_service *s = i < t->nsvc ? &t->svc[i] : &t->svc[SM_TOP_MAX_SERVICES];
        if (s->other && s->total == 0 && s->verdicts[SM_V_SUSPECT] == 0)
            continue; /* "(other)" only once it counted something */
        if (filter && *filter && strstr(s->name, filter) == NULL)
            continue;
        t->sorted[n++] = s;
    }
    sort_key = key;
    sort_now = now;
    qsort(t->sorted, n, sizeof t->sorted[0], cmp_service);
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = t->sorted[i];
    return n;
}

size_t sm_top_sensors(const sm_top_t *t, const struct sm_top_sensor **out, size_t max)
{
    size_t n = 0;
    for (; n < t->nsensors && n < max; n++)
        out[n] = &t->sensors[n];
    return n;
}

size_t sm_top_alerts(const sm_top_t *t, const char *filter, const struct sm_top_alert **out,
                     size_t max)
{
    size_t n = 0;
    for (size_t k = 0; k < t->nalerts && n < max; k++) {
        const struct sm_top_alert *a =
            &t->alerts[(t->next_alert + SM_TOP_ALERTS - 1 - k) % SM_TOP_ALERTS];
        if (filter && *filter &&
            (a->service < 0 || strstr(t->svc[a->service].name, filter) == NULL))
            continue;
        out[n++] = a;
    }
    return n;
}
