/*
 * fmt.c - see fmt.h. Numbers two digits per division; addresses by hand (inet_ntop() formats
 * IPv6 groups with sprintf, a tenth of a verdict line's cost for a tenth of the lines); RFC 3339
 * UTC with nanoseconds computed without gmtime(), so that any int64 (including times before
 * 1970 from a broken capture clock) prints without failing.
 */
#include "fmt.h"

#include <stdio.h>

#include <stdbool.h>

#include "clock.h"

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

char *sm_fmt_nanos(char *p, uint32_t v)
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

char *sm_fmt_rfc3339(char *p, int64_t ns)
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
    p = sm_fmt_nanos(p, (uint32_t)frac);
    *p++ = 'Z';
    return p;
}

/* Decimal digits of v: the bit length's share of a decimal digit (1233 / 4096 is just above
 * log10(2)), one comparison with a power of ten to settle it. v | 1 has as many digits as v,
 * and gives 0 its one digit. */
static inline int digits32(uint32_t v)
{
    static const uint32_t pow10[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                       100000000, 1000000000};
    uint32_t u = v | 1;
    int t = (32 - __builtin_clz(u)) * 1233 >> 12;
    return t + (u >= pow10[t]);
}

/* The n digits of v, written right to left ending at end. */
static inline void put32(char *end, uint32_t v)
{
    while (v >= 100) { /* two digits per division */
        end -= 2;
        memcpy(end, sm_digits2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(end - 2, sm_digits2 + 2 * v, 2);
    else
        end[-1] = (char)('0' + v);
}

char *sm_fmt_u64(char *p, uint64_t v)
{
    if (v <= UINT32_MAX) { /* ports, ISNs, counts: 32-bit arithmetic is cheaper */
        char *end = p + digits32((uint32_t)v);
        put32(end, (uint32_t)v);
        return end;
    }
    /* the low nine digits, then the rest (at most eleven digits, v < 2^64) */
    uint32_t low = (uint32_t)(v % 1000000000u);
    p = sm_fmt_u64(p, v / 1000000000u);
    memset(p, '0', 9);
    put32(p + 9, low);
    return p + 9;
}

int sm_fmt_u64_len(uint64_t v)
{
    if (v <= UINT32_MAX)
        return digits32((uint32_t)v);
    return sm_fmt_u64_len(v / 1000000000u) + 9;
}

/* 0..255 */
static inline char *fmt_u8(char *p, unsigned v)
{
    if (v >= 100) {
        *p++ = (char)('0' + v / 100);
        v %= 100;
        memcpy(p, sm_digits2 + 2 * v, 2);
        return p + 2;
    }
    if (v >= 10) {
        memcpy(p, sm_digits2 + 2 * v, 2);
        return p + 2;
    }
    *p++ = (char)('0' + v);
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

/*
 * RFC 5952 text, exactly as glibc's inet_ntop() writes it (tests/unit/test_fmt.c compares
 * the two): lower-case hex without leading zeros, the first longest run of two or more zero
 * groups as "::", and the last 32 bits as dotted IPv4 after ::ffff: (mapped) or after
 * six zero groups (compatible).
 */
static char *fmt_ip6(char *p, const uint8_t *b)
{
    static const char hex[] = "0123456789abcdef";
    unsigned w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i <= 8; i++) {
        if (i < 8 && w[i] == 0) {
            if (cur < 0)
                cur = i, cur_len = 0;
            cur_len++;
        } else if (cur >= 0) {
            if (cur_len > best_len)
                best = cur, best_len = cur_len;
            cur = -1;
        }
    }
    if (best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                *p++ = ':';
            continue;
        }
        if (i != 0)
            *p++ = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
            p = fmt_u8(p, b[12]);
            for (int k = 13; k < 16; k++) {
                *p++ = '.';
                p = fmt_u8(p, b[k]);
            }
            return p;
        }
        int shift = w[i] >= 0x1000 ? 12 : w[i] >= 0x100 ? 8 : w[i] >= 0x10 ? 4 : 0;
        for (; shift >= 0; shift -= 4)
            *p++ = hex[(w[i] >> shift) & 0xf];
    }
    if (best >= 0 && best + best_len == 8)
        *p++ = ':';
    return p;
}

/* Each byte value's digits followed by a dot, left-aligned in four bytes, and how many of
 * them count (digits and dot). */
#define DOT4(n)                                                                            \
    {(char)((n) >= 100 ? '0' + (n) / 100 : (n) >= 10 ? '0' + (n) / 10 : '0' + (n)),          \
     (char)((n) >= 100 ? '0' + (n) / 10 % 10 : (n) >= 10 ? '0' + (n) % 10 : '.'),             \
     (char)((n) >= 100 ? '0' + (n) % 10 : (n) >= 10 ? '.' : 0), (char)((n) >= 100 ? '.' : 0)}
#define DOT4_4(n) DOT4(n), DOT4((n) + 1), DOT4((n) + 2), DOT4((n) + 3)
#define DOT4_16(n) DOT4_4(n), DOT4_4((n) + 4), DOT4_4((n) + 8), DOT4_4((n) + 12)
#define DOT4_64(n) DOT4_16(n), DOT4_16((n) + 16), DOT4_16((n) + 32), DOT4_16((n) + 48)
static const char byte_dot[256][4] = {DOT4_64(0), DOT4_64(64), DOT4_64(128), DOT4_64(192)};

/* An IPv4 address: each byte one four-byte copy from byte_dot, the pointer moved past its
 * digits and dot; the last byte's dot and whatever follows it are scratch past the end
 * (within 16 bytes of p). No branch on the value: an address's bytes are the least
 * predictable digits of a row. */
static inline char *fmt_ip4(char *p, const uint8_t *b)
{
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        memcpy(p, byte_dot[v], 4);
        p += 2 + (v >= 10) + (v >= 100);
    }
    return p - 1;
}

char *sm_fmt_addr(char *p, const struct sm_addr *a)
{
    if (a->family == SM_AF_INET)
        return fmt_ip4(p, a->bytes);
    if (a->family == SM_AF_INET6)
        return fmt_ip6(p, a->bytes);
    *p++ = '-';
    return p;
}

int sm_fmt_addr_len(const struct sm_addr *a)
{
    if (a->family == SM_AF_INET) {
        int n = 3;
        for (int i = 0; i < 4; i++)
            n += a->bytes[i] >= 100 ? 3 : a->bytes[i] >= 10 ? 2 : 1;
        return n;
    }
    char buf[SM_FMT_ENDPOINT_MAX];
    return (int)(sm_fmt_addr(buf, a) - buf);
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

char *sm_fmt_span(char *out, size_t n, int64_t ns)
{
    double mag = ns < 0 ? -(double)ns : (double)ns;
    if (mag >= 86400e9)
        snprintf(out, n, "%.4f s (%.2f days)", mag / 1e9, mag / 86400e9);
    else if (mag >= 1e9)
        snprintf(out, n, "%.4f s", mag / 1e9);
    else if (mag >= 1e6)
        snprintf(out, n, "%.1f ms", mag / 1e6);
    else
        snprintf(out, n, "%.0f us", mag / 1e3);
    return out;
}

char *sm_fmt_duration(char *p, int64_t ns)
{
    uint64_t mag = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (ns < 0)
        *p++ = '-';
    p = sm_fmt_u64(p, mag / 1000000000u);
    *p++ = '.';
    return sm_fmt_nanos(p, (uint32_t)(mag % 1000000000u));
}

