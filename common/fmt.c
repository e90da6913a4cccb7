/*
 * fmt.c - see fmt.h. IPv4 addresses are formatted by hand (the common case); IPv6 goes
 * through inet_ntop for its canonical RFC 5952 form.
 */
#include "fmt.h"

#include <arpa/inet.h>

#include "synmatch/timefmt.h"

char *sm_fmt_u64(char *p, uint64_t v)
{
    char tmp[SM_FMT_U64_MAX];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

char *sm_fmt_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return sm_fmt_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return sm_fmt_u64(p, (uint64_t)v);
}

char *sm_fmt_addr(char *p, const struct sm_addr *a)
{
    if (a->family == SM_AF_INET) {
        for (int i = 0; i < 4; i++) {
            if (i)
                *p++ = '.';
            p = sm_fmt_u64(p, a->bytes[i]);
        }
        return p;
    }
    if (a->family == SM_AF_INET6) {
        char buf[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, a->bytes, buf, sizeof buf))
            return sm_fmt_str(p, buf);
    }
    *p++ = '-';
    return p;
}

char *sm_fmt_endpoint(char *p, const struct sm_addr *a, unsigned port)
{
    bool v6 = a->family == SM_AF_INET6;
    if (v6)
        *p++ = '[';
    p = sm_fmt_addr(p, a);
    if (v6)
        *p++ = ']';
    *p++ = ':';
    return sm_fmt_u64(p, port);
}

char *sm_fmt_duration(char *p, int64_t ns)
{
    uint64_t mag = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (ns < 0)
        *p++ = '-';
    p = sm_fmt_u64(p, mag / 1000000000u);
    *p++ = '.';
    uint64_t frac = mag % 1000000000u;
    for (int i = 8; i >= 0; i--) {
        p[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    return p + 9;
}

char *sm_fmt_rfc3339(char *p, int64_t ns)
{
    char buf[SM_TIME_STRLEN];
    return sm_fmt_str(p, sm_time_format_rfc3339(ns, buf, sizeof buf));
}
