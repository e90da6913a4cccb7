/*
 * fmt.h - appending numbers, addresses and times to a line buffer without printf: the one
 * way synmatch writes them, in every format.
 *
 * compare writes one line per matched connection (half a million for a 1 GB capture pair);
 * printf's format parsing was a third of the run. Each helper writes at p and returns the
 * new end; the caller guarantees room (SM_FMT_* bounds below).
 */
#ifndef SYNMATCH_FMT_H
#define SYNMATCH_FMT_H

#include <stdint.h>
#include <string.h>

#include "synmatch/record.h"

#define SM_FMT_U64_MAX 20
#define SM_FMT_ENDPOINT_MAX 56 /* "[ffff:...:ffff]:65535" */

char *sm_fmt_u64(char *p, uint64_t v);
int sm_fmt_u64_len(uint64_t v); /* what sm_fmt_u64() would write, in characters */
char *sm_fmt_i64(char *p, int64_t v);
/* An address as inet_ntop() writes it ("-" for none). An IPv4 address may leave scratch
 * bytes just past the end returned, never beyond 16 bytes from p (INET_ADDRSTRLEN). */
char *sm_fmt_addr(char *p, const struct sm_addr *a);
int sm_fmt_addr_len(const struct sm_addr *a);
char *sm_fmt_endpoint(char *p, const struct sm_addr *a, unsigned port);
char *sm_fmt_duration(char *p, int64_t ns);  /* "-0.000123456" */
/* For people: "17.3000 s", "259200.0000 s (3.00 days)", "0.4 ms", "35 us" (magnitude only;
 * out needs 48 bytes). Returns out. */
char *sm_fmt_span(char *out, size_t n, int64_t ns);
/* "2026-11-26T06:36:30.123456789Z", always SM_FMT_RFC3339_LEN characters (years 1677-2262). */
char *sm_fmt_rfc3339(char *p, int64_t ns);
#define SM_FMT_RFC3339_LEN 30
/* The nine digits of a fraction of a second, v < 10^9. */
char *sm_fmt_nanos(char *p, uint32_t v);
/* "00".."99": the two digits of n at sm_digits2 + 2 * n. */
extern const char sm_digits2[200];

static inline char *sm_fmt_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static inline char *sm_fmt_pad(char *p, int n)
{
    if (n > 0) {
        memset(p, ' ', (size_t)n);
        p += n;
    }
    return p;
}

#endif
