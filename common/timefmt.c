/*
 * timefmt.c - RFC 3339 UTC with nanoseconds, computed without gmtime() so that any int64
 * (including times before 1970 from a broken capture clock) prints without failing.
 */
#include "timefmt.h"

#include <inttypes.h>
#include <stdbool.h>
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

const char sm_digits2[200] = "00010203040506070809101112131415161718192021222324252627282930313233"
                            "34353637383940414243444546474849505152535455565758596061626364656667"
                            "6869707172737475767778798081828384858687888990919293949596979899";

char *sm_time_put_nanos(char *p, uint32_t v)
{
    p[8] = (char)('0' + v % 10);
    v /= 10;
    for (int i = 6; i >= 0; i -= 2) {
        memcpy(p + i, sm_digits2 + 2 * (v % 100), 2);
        v /= 100;
    }
    return p + 9;
}

/* "YYYY-MM-DDTHH:MM:SS" of a second since the epoch: 19 characters. */
static void put_head(char *p, int64_t secs)
{
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* int64 nanoseconds span the years 1677 to 2262: always four digits */
    unsigned f[6] = {(unsigned)y, m, d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
                     (unsigned)(rem % 60)};
    static const char sep[6] = "--T::";
    memcpy(p, sm_digits2 + 2 * (f[0] / 100 % 100), 2);
    memcpy(p + 2, sm_digits2 + 2 * (f[0] % 100), 2);
    p += 4;
    for (int i = 1; i < 6; i++) {
        *p++ = sep[i - 1];
        memcpy(p, sm_digits2 + 2 * f[i], 2);
        p += 2;
    }
}

/*
 * Every verdict line carries two or three times, and consecutive ones nearly always fall in
 * the same second: the date and clock part is kept per thread and only the nanoseconds are
 * formatted again.
 */
static _Thread_local struct {
    bool valid;
    int64_t secs;
    char head[19];
} last_head;

char *sm_time_put_rfc3339(char *p, int64_t ns)
{
    int64_t secs = ns / SM_NS_PER_SEC;
    int64_t frac = ns % SM_NS_PER_SEC;
    if (frac < 0) {
        frac += SM_NS_PER_SEC;
        secs -= 1;
    }
    if (!last_head.valid || last_head.secs != secs) {
        put_head(last_head.head, secs);
        last_head.secs = secs;
        last_head.valid = true;
    }
    memcpy(p, last_head.head, sizeof last_head.head);
    p += sizeof last_head.head;
    *p++ = '.';
    p = sm_time_put_nanos(p, (uint32_t)frac);
    *p++ = 'Z';
    return p;
}

char *sm_time_format_rfc3339(int64_t ns, char *out, size_t outlen)
{
    /* A short buffer gets the text cut, as snprintf would. */
    char buf[SM_TIME_RFC3339_LEN];
    sm_time_put_rfc3339(buf, ns);
    if (outlen > 0) {
        size_t n = outlen - 1 < sizeof buf ? outlen - 1 : sizeof buf;
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
