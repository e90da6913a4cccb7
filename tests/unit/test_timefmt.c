/*
 * test_timefmt.c - RFC 3339 and duration text, including times before 1970 and leap days.
 */
#include <stdint.h>

#include "check.h"
#include "synmatch/timefmt.h"

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
    CHECK_EQ_S(sm_duration_format(123456, b, sizeof b), "0.000123456");
    CHECK_EQ_S(sm_duration_format(-1500000000, b, sizeof b), "-1.500000000");
    CHECK_EQ_S(sm_duration_format(INT64_MIN, b, sizeof b), "-9223372036.854775808");
    return check_done();
}
