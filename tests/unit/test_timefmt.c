/*
 * test_timefmt.c - RFC 3339 and duration text (fmt.h), including times before 1970 and leap
 * days.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "check.h"
#include "clock.h"
#include "fmt.h"

/* The text of a writer, terminated. */
static char b[64];
static const char *rfc3339(int64_t ns)
{
    *sm_fmt_rfc3339(b, ns) = '\0';
    return b;
}

static const char *duration(int64_t ns)
{
    *sm_fmt_duration(b, ns) = '\0';
    return b;
}

int main(void)
{
    CHECK_EQ_S(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
    CHECK_EQ_S(rfc3339(INT64_C(1657152000123456789)),
               "2022-07-07T00:00:00.123456789Z");
    CHECK_EQ_S(rfc3339(INT64_C(951782400) * SM_NS_PER_SEC),
               "2000-02-29T00:00:00.000000000Z");
    CHECK_EQ_S(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
    CHECK_EQ_S(rfc3339(INT64_C(4102444799) * SM_NS_PER_SEC),
               "2099-12-31T23:59:59.000000000Z");
    /* The ends of the int64 range. */
    CHECK_EQ_S(rfc3339(INT64_MIN), "1677-09-21T00:12:43.145224192Z");
    CHECK_EQ_S(rfc3339(INT64_MAX), "2262-04-11T23:47:16.854775807Z");
    CHECK_EQ_U(strlen(rfc3339(-INT64_C(5000000000000000000))), SM_FMT_RFC3339_LEN);
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
        bad += strcmp(rfc3339(ns), want) != 0;
    }
    CHECK_EQ_U(bad, 0);
    CHECK_EQ_S(duration(123456), "0.000123456");
    CHECK_EQ_S(duration(-1500000000), "-1.500000000");
    CHECK_EQ_S(duration(INT64_MIN), "-9223372036.854775808");
    return check_done();
}
