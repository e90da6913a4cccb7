/*
 * parse.h - numbers from the command line and config files, strictly (strtonum-shaped).
 *
 * Only plain decimal digits are accepted: no sign, no leading or trailing space, no "0x", no
 * exponent, nothing after the number, no overflow. strtoull() alone takes " -1" as
 * 18446744073709551615, which a size option must refuse.
 */
#ifndef SYNMATCH_PARSE_H
#define SYNMATCH_PARSE_H

#include <stdint.h>

/* A decimal integer in [min, max]. Returns 0 with *out set, or -1 (*out untouched). */
int sm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * A duration in seconds, "3", "0.5" or "17.300", with at most nine decimals, rounded to ns,
 * and at most max_s seconds; with allow_negative, an optional leading '-'. Returns 0 with
 * *ns_out set, or -1 (*ns_out untouched).
 */
int sm_parse_seconds(const char *s, int64_t max_s, int allow_negative, int64_t *ns_out);

#endif
