/*
 * timefmt.c - RFC 3339 UTC with nanoseconds, computed without gmtime() so that any int64
 * (including times before 1970 from a broken capture clock) prints without failing.
 */
#include "synmatch/timefmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Days since 1970-01-01 to a civil date (proleptic Gregorian), after H. Hinnant's algorithm. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    uint64_t doe = (uint64_t)(z - era * 146097);
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

char *sm_time_format_rfc3339(int64_t ns, char *out, size_t outlen)
{
    int64_t secs = ns / SM_NS_PER_SEC;
    int64_t frac = ns % SM_NS_PER_SEC;
    if (frac < 0) {
        frac += SM_NS_PER_SEC;
        secs -= 1;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* Without snprintf: it is on every verdict line. int64 nanoseconds span the years 1677
     * to 2262, always four digits. A short buffer gets the text cut, as snprintf would. */
    char buf[sizeof "YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ"];
    unsigned f[6] = {(unsigned)y, m, d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
                     (unsigned)(rem % 60)};
    static const char sep[6] = "--T::";
    char *p = buf;
    p[0] = (char)('0' + f[0] / 1000 % 10);
    p[1] = (char)('0' + f[0] / 100 % 10);
    p[2] = (char)('0' + f[0] / 10 % 10);
    p[3] = (char)('0' + f[0] % 10);
    p += 4;
    for (int i = 1; i < 6; i++) {
        *p++ = sep[i - 1];
        *p++ = (char)('0' + f[i] / 10);
        *p++ = (char)('0' + f[i] % 10);
    }
    *p++ = '.';
    uint64_t v = (uint64_t)frac;
    for (int i = 8; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    p += 9;
    *p++ = 'Z';
    *p = '\0';
    if (outlen > 0) {
        size_t n = outlen - 1 < sizeof buf - 1 ? outlen - 1 : sizeof buf - 1;
        memcpy(out, buf, n);
        out[n] = '\0';
    }
    return out;
}

char *sm_duration_format(int64_t ns, char *out, size_t outlen)
{
    uint64_t mag = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    snprintf(out, outlen, "%s%" PRIu64 ".%09" PRIu64, ns < 0 ? "-" : "", mag / 1000000000u,
             mag % 1000000000u);
    return out;
}
