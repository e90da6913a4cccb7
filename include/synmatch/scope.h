/*
 * scope.h - the set of destinations a server sensor watches (docs/ARCHITECTURE.md,
 * "Scope").
 *
 * Only client SYNs sent to a destination in scope are judged; the rest (a client's DNS or
 * package traffic to other hosts) is counted as out of scope and never alerted on.
 */
#ifndef SYNMATCH_SCOPE_H
#define SYNMATCH_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "synmatch/record.h"

typedef struct sm_scope sm_scope_t;

sm_scope_t *sm_scope_new(void);
void sm_scope_destroy(sm_scope_t **self_p);

/* Adds an address. Returns 0, or -1 when out of memory. */
int sm_scope_add(sm_scope_t *s, const struct sm_addr *a);

bool sm_scope_contains(const sm_scope_t *s, const struct sm_addr *a);

/* True when addr (a destination) and port fall in the scope entry e. */
bool sm_scope_entry_covers(const struct sm_scope_entry *e, const struct sm_addr *addr,
                           uint16_t port);

size_t sm_scope_count(const sm_scope_t *s);

/* Copies up to max addresses, sorted (IPv4 first, then by bytes). Returns how many. */
size_t sm_scope_list(const sm_scope_t *s, struct sm_addr *out, size_t max);

#endif
