/*
 * parse.c - strict number parsing (see parse.h).
 */
#include "parse.h"

#include <stddef.h>

int sm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int sm_parse_seconds(const char *s, int64_t max_s, int allow_negative, int64_t *ns_out)
{
    if (s == NULL)
        return -1;
    int neg = 0;
    if (*s == '-' && allow_negative) {
        neg = 1;
        s++;
    }
    const char *p = s;
    int64_t whole = 0;
    while (*p >= '0' && *p <= '9') {
        whole = whole * 10 + (*p - '0');
        if (whole > max_s)
            return -1;
        p++;
    }
    size_t nwhole = (size_t)(p - s);
    int64_t frac = 0;
    int ndec = 0;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (ndec == 9) { /* a tenth digit only rounds */
                if (*p >= '5')
                    frac++;
                while (*p >= '0' && *p <= '9')
                    p++;
                break;
            }
            frac = frac * 10 + (*p - '0');
            ndec++;
            p++;
        }
        if (ndec == 0)
            return -1;
    }
    if (*p != '\0' || nwhole == 0)
        return -1;
    for (int k = ndec; k < 9; k++)
        frac *= 10;
    int64_t ns = whole * INT64_C(1000000000) + frac;
    if (ns > max_s * INT64_C(1000000000))
        return -1;
    *ns_out = neg ? -ns : ns;
    return 0;
}
