/*
 * siphash.h - keyed hashing for tables that face network input.
 *
 * SipHash-1-3 (Aumasson & Bernstein): fast for short keys and, with a secret random key, an
 * attacker who controls ISNs or addresses cannot aim many entries at one bucket.
 */
#ifndef SYNMATCH_SIPHASH_H
#define SYNMATCH_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct sm_sipkey {
    uint64_t k0;
    uint64_t k1;
};

/* Fills the key from getrandom(2); falls back to time and address bits if that fails. */
void sm_sipkey_random(struct sm_sipkey *key);

uint64_t sm_siphash(const struct sm_sipkey *key, const void *data, size_t len);

/* The same function specialised for one 64-bit word (the ISN path). */
uint64_t sm_siphash_u64(const struct sm_sipkey *key, uint64_t word);

#endif
