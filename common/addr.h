/*
 * addr.h - address helpers shared by every part: equality, ordering, parsing, printing.
 */
#ifndef SYNMATCH_ADDR_H
#define SYNMATCH_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "synmatch/record.h"

/* Longest text sm_addr_format() or sm_endpoint_format() writes, with the NUL. */
#define SM_ADDR_STRLEN 48
#define SM_ENDPOINT_STRLEN 56

bool sm_addr_eq(const struct sm_addr *a, const struct sm_addr *b);

/* Parses an IPv4 or IPv6 literal. Returns 0, or -1 if it is not one. */
int sm_addr_parse(const char *text, struct sm_addr *out);

/* Writes the address as text ("198.18.0.1", "2001:db8::1", "-" for none). Returns out. */
char *sm_addr_format(const struct sm_addr *a, char *out, size_t outlen);

/* Writes "198.18.0.1:80" or "[2001:db8::1]:80". Returns out. */
char *sm_endpoint_format(const struct sm_addr *a, unsigned port, char *out, size_t outlen);

#endif
