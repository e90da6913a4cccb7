/*
 * test_topmodel.c - the counts behind synmatch top (cli/topmodel.c), on an injected clock:
 * services sorted by failures (ties by name) with the right counts and rates over the last
 * ten seconds, the sparkline's buckets moving with time, the bound on services (one
 * "(other)" row), sensor state from events and health lines, the latest alerts newest first
 * and filtered by service, refusals counted, nothing crashing on hostile lines.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "topmodel.h"

#define SEC INT64_C(1000000000)

static void verdict(sm_top_t *t, const char *v, const char *dst, int dport, int64_t now)
{
    char line[512];
    int n = snprintf(line, sizeof line,
                     "{\"schema\":2,\"verdict\":\"%s\",\"seq\":1,\"attempts\":2,\"last\":"
                     "\"2026-11-26T06:56:12.645295934Z\",\"client\":{\"src\":\"%s\","
                     "\"sport\":40000,\"dst\":\"%s\",\"dport\":%d}}\n",
                     v, strchr(dst, ':') ? "2001:db8:1::2" : "198.18.1.2", dst, dport);
    sm_top_line(t, line, (size_t)n, now);
}

static void line(sm_top_t *t, const char *s, int64_t now)
{
    sm_top_line(t, s, strlen(s), now);
}

/* The collector's health lines: a service's counts become the line's (the alerts socket
 * showed only some of its verdict lines), its rates the line's; the verdict lines after it
 * add to it until the next line; a sensor's state is not taken from a service's line. */
static void test_health_lines(void)
{
    sm_top_t *t = sm_top_new();
    CHECK(t != NULL);
    if (t == NULL)
        return;
    int64_t now = 5000 * SEC;
    for (int i = 0; i < 10; i++)
        verdict(t, "missing", "198.18.2.2", 8080, now);
    for (int i = 0; i < 3; i++)
        verdict(t, "matched", "198.18.2.2", 8080, now);
    line(t, "{\"schema\":2,\"event\":\"health\",\"time\":\"2026-11-26T06:56:20Z\","
            "\"sensor\":\"server\",\"service\":\"198.18.2.2:8080\",\"dst\":\"198.18.2.2\","
            "\"dport\":8080,\"interval\":10.0,\"verdicts\":{\"missing\":400,\"matched\":100},"
            "\"decided\":500,\"suspects\":400,\"not_shown\":887}\n",
         now);
    const struct sm_top_service *s[4];
    size_t n = sm_top_services(t, SM_TOP_BY_FAILURES, NULL, now, s, 4);
    CHECK_EQ_U(n, 1);
    CHECK_EQ_U(s[0]->total, 500);
    CHECK_EQ_U(s[0]->failures, 400);
    CHECK_EQ_U(s[0]->verdicts[SM_V_MISSING], 400);
    CHECK_EQ_U(s[0]->verdicts[SM_V_SUSPECT], 400);
    CHECK(sm_top_rate(s[0], now, false) == 50.0 && sm_top_rate(s[0], now, true) == 40.0);
    struct sm_top_totals tot;
    sm_top_totals(t, now, &tot);
    CHECK_EQ_U(tot.verdicts, 500);
    CHECK_EQ_U(tot.failures, 400);
    CHECK(tot.rate == 50.0);
    verdict(t, "missing", "198.18.2.2", 8080, now);
    sm_top_services(t, SM_TOP_BY_FAILURES, NULL, now, s, 4);
    CHECK_EQ_U(s[0]->failures, 401);
    const struct sm_top_sensor *se[4];
    CHECK_EQ_U(sm_top_sensors(t, se, 4), 0);
    sm_top_destroy(&t);
}

int main(void)
{
    test_health_lines();
    sm_top_t *t = sm_top_new();
    CHECK(t != NULL);
    if (t == NULL)
        return check_done();
    int64_t now = 1000 * SEC;
    for (int i = 0; i < 30; i++)
        verdict(t, "matched", "198.18.2.2", 8080, now);
    for (int i = 0; i < 5; i++)
        verdict(t, "missing", "198.18.2.2", 8081, now);
    for (int i = 0; i < 5; i++)
        verdict(t, "reply_lost", "2001:db8:2::2", 8081, now);
    verdict(t, "suspect", "198.18.2.2", 8081, now);
    verdict(t, "refused", "198.18.2.2", 8082, now);

    const struct sm_top_service *s[8];
    size_t n = sm_top_services(t, SM_TOP_BY_FAILURES, NULL, now, s, 8);
    CHECK_EQ_U(n, 4);
    /* 5 failures each: the tie goes by name ("1..." before "[...") */
    CHECK_EQ_S(s[0]->name, "198.18.2.2:8081");
    CHECK_EQ_S(s[1]->name, "[2001:db8:2::2]:8081");
    CHECK_EQ_U(s[0]->failures, 5);
    CHECK_EQ_U(s[0]->total, 5); /* the suspect is an early warning, not a final verdict */
    CHECK_EQ_U(s[0]->verdicts[SM_V_SUSPECT], 1);
    CHECK_EQ_U(s[1]->verdicts[SM_V_REPLY_LOST], 5);
    CHECK(sm_top_rate(s[0], now, true) == 0.5); /* 5 in the last 10 s */
    n = sm_top_services(t, SM_TOP_BY_RATE, NULL, now, s, 8);
    CHECK_EQ_S(s[0]->name, "198.18.2.2:8080");
    n = sm_top_services(t, SM_TOP_BY_FAILURES, "8082", now, s, 8);
    CHECK(n == 1 && strcmp(s[0]->name, "198.18.2.2:8082") == 0);

    /* time goes by: rates fall to zero, the sparkline's bucket moves left */
    now += 12 * SEC;
    n = sm_top_services(t, SM_TOP_BY_FAILURES, NULL, now, s, 8);
    CHECK(sm_top_rate(s[0], now, true) == 0.0);
    uint32_t sp[SM_TOP_SPARK];
    sm_top_spark(s[0], now, sp);
    CHECK(sp[SM_TOP_SPARK - 1] == 0 && (sp[SM_TOP_SPARK - 2] == 5 || sp[SM_TOP_SPARK - 3] == 5));
    verdict(t, "missing", "198.18.2.2", 8081, now);
    sm_top_spark(s[0], now, sp);
    CHECK_EQ_U(sp[SM_TOP_SPARK - 1], 1);
    now += (SM_TOP_SPARK + 1) * SM_TOP_SPARK_SEC * SEC;
    sm_top_spark(s[0], now, sp);
    uint32_t sum = 0;
    for (int i = 0; i < SM_TOP_SPARK; i++)
        sum += sp[i];
    CHECK_EQ_U(sum, 0); /* older than five minutes */

    struct sm_top_totals tt;
    sm_top_totals(t, now, &tt);
    CHECK_EQ_U(tt.verdicts, 42);
    CHECK_EQ_U(tt.failures, 11);
    CHECK_EQ_U(tt.suspects, 1);

    /* sensors: events, then health lines (state and figures) */
    line(t, "{\"event\":\"sensor_up\",\"time\":\"T1\",\"sensor\":\"server\",\"role\":\"server\"}", now);
    line(t, "{\"event\":\"sensor_up\",\"time\":\"T1\",\"sensor\":\"client\",\"role\":\"client\"}", now);
    line(t, "{\"event\":\"sensor_down\",\"time\":\"T2\",\"sensor\":\"client\",\"role\":\"client\"}", now);
    line(t, "{\"event\":\"health\",\"sensor\":\"server\",\"role\":\"server\",\"up\":false,"
            "\"capture_drops\":7,\"clock_offset\":0.002}", now);
    const struct sm_top_sensor *se[4];
    CHECK_EQ_U(sm_top_sensors(t, se, 4), 2);
    CHECK(se[0]->state == SM_TOP_DOWN && se[0]->have_drops && se[0]->drops == 7);
    CHECK(se[0]->have_offset && se[0]->offset_s == 0.002);
    CHECK(se[1]->state == SM_TOP_DOWN && strcmp(se[1]->since, "T2") == 0);
    line(t, "{\"event\":\"sensor_back\",\"time\":\"T3\",\"sensor\":\"client\",\"role\":\"client\"}", now);
    CHECK(se[1]->state == SM_TOP_UP);

    /* alerts: newest first; filtered by service */
    const struct sm_top_alert *al[SM_TOP_ALERTS];
    n = sm_top_alerts(t, NULL, al, SM_TOP_ALERTS);
    CHECK(n >= 12);
    CHECK(strstr(al[0]->text, "sensor client") != NULL); /* sensor_down was the last alert */
    CHECK(strstr(al[1]->text, "MISSING") && strstr(al[1]->text, "198.18.2.2:8081"));
    n = sm_top_alerts(t, "2001:db8", al, SM_TOP_ALERTS);
    CHECK_EQ_U(n, 5);
    CHECK(strstr(al[0]->text, "REPLY_LOST") != NULL);

    /* hostile lines: counted, never a crash */
    line(t, "not json", now);
    line(t, "[1]", now);
    line(t, "{\"verdict\":{\"a\":1}}", now);               /* no verdict name: other */
    line(t, "{\"verdict\":\"missing\",\"client\":7}", now); /* no tuple: "(other)" */
    sm_top_totals(t, now, &tt);
    CHECK_EQ_U(tt.refused[SM_ALERT_NOT_JSON], 1);
    CHECK_EQ_U(tt.refused[SM_ALERT_NOT_OBJECT], 1);
    CHECK_EQ_U(tt.other, 1);

    /* the bound on services: the rest go to "(other)" */
    for (int i = 0; i < SM_TOP_MAX_SERVICES + 50; i++)
        verdict(t, "missing", "198.19.0.1", 1 + i, now);
    n = sm_top_services(t, SM_TOP_BY_NAME, "(other)", now, s, 8);
    CHECK_EQ_U(n, 1);
    CHECK(s[0]->other && s[0]->failures > 50);
    n = sm_top_services(t, SM_TOP_BY_FAILURES, NULL, now, s, 8);
    CHECK_EQ_U(n, SM_TOP_MAX_SERVICES + 1);
    sm_top_destroy(&t);
    CHECK(t == NULL);
    return check_done();
}
