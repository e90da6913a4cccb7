/*
 * test_timefmt.c - RFC 3339 and duration text, including times before 1970 and leap days.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "check.h"
#include "timefmt.h"

int main(void)
{
    char b[SM_TIME_STRLEN];
    CHECK_EQ_S(sm_time_format_rfc3339(0, b, sizeof b), "1970-01-01T00:00:00.000000000Z");
    CHECK_EQ_S(sm_time_format_rfc3339(INT64_C(1657152000123456789), b, sizeof b),
               "2022-07-07T00:00:00.123456789Z");
    CHECK_EQ_S(sm_time_format_rfc3339(INT64_C(951782400) * SM_NS_PER_SEC, b, sizeof b),
               "2000-02-29T00:00:00.000000000Z");
    CHECK_EQ_S(sm_time_format_rfc3339(-1, b, sizeof b), "1969-12-31T23:59:59.999999999Z");
    CHECK_EQ_S(sm_time_format_rfc3339(INT64_C(4102444799) * SM_NS_PER_SEC, b, sizeof b),
               "2099-12-31T23:59:59.000000000Z");
    /* The ends of the int64 range. */
    CHECK_EQ_S(sm_time_format_rfc3339(INT64_MIN, b, sizeof b), "1677-09-21T00:12:43.145224192Z");
    CHECK_EQ_S(sm_time_format_rfc3339(INT64_MAX, b, sizeof b), "2262-04-11T23:47:16.854775807Z");
    char small[12];
    CHECK_EQ_S(sm_time_format_rfc3339(0, small, sizeof small), "1970-01-01T");
    /* The fast path against gmtime() over years 1970..2262, a deterministic sample. */
    uint64_t x = 88172645463325252u;
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t ns = (int64_t)(x >> 1);
        time_t secs = (time_t)(ns / SM_NS_PER_SEC);
        struct tm tm;
        char want[64], date[40];
        gmtime_r(&secs, &tm);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want, sizeof want, "%s.%09" PRId64 "Z", date, ns % SM_NS_PER_SEC);
        bad += strcmp(sm_time_format_rfc3339(ns, b, sizeof b), want) != 0;
    }
    CHECK_EQ_U(bad, 0);
    CHECK_EQ_S(sm_duration_format(123456, b, sizeof b), "0.000123456");
    CHECK_EQ_S(sm_duration_format(-1500000000, b, sizeof b), "-1.500000000");
    CHECK_EQ_S(sm_duration_format(INT64_MIN, b, sizeof b), "-9223372036.854775808");
    return check_done();
}
