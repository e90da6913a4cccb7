/*
 * timefmt.h - event time (ns since the Unix epoch) as text.
 */
#ifndef SYNMATCH_TIMEFMT_H
#define SYNMATCH_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Longest text of sm_time_format_rfc3339(), with the NUL. */
#define SM_TIME_STRLEN 40

/* "2026-11-26T06:36:30.123456789Z". Returns out. */
char *sm_time_format_rfc3339(int64_t ns, char *out, size_t outlen);
/* Length of an RFC 3339 time as written here: "2026-11-26T06:36:30.123456789Z". */
#define SM_TIME_RFC3339_LEN 30
/* Writes that text at p (no NUL) and returns its end. */
char *sm_time_put_rfc3339(char *p, int64_t ns);
/* The nine digits of a fraction of a second, v < 10^9, at p (no NUL); returns their end. */
char *sm_time_put_nanos(char *p, uint32_t v);
/* "00".."99": the two digits of n at sm_digits2 + 2 * n. */
extern const char sm_digits2[200];

/* A signed duration in seconds with 9 decimals: "-0.000123456". Returns out. */
char *sm_duration_format(int64_t ns, char *out, size_t outlen);

#define SM_NS_PER_SEC INT64_C(1000000000)
#define SM_NS_PER_MS INT64_C(1000000)

#endif
