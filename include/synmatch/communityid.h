/*
 * communityid.h - the Community ID flow hash, version 1 (github.com/corelight/community-id-spec),
 * the string Zeek, Suricata, Arkime, Elastic and Wireshark put on a flow so that one tool's
 * record can be looked up in another's: "1:" and the base64 of a SHA-1 over the seed and the
 * flow's endpoints, ordered so that both directions of a flow get the same ID.
 */
#ifndef SYNMATCH_COMMUNITYID_H
#define SYNMATCH_COMMUNITYID_H

#include <stddef.h>
#include <stdint.h>

#include "synmatch/record.h"

/* Characters of an ID: "1:" and the 28 base64 characters of a 20-byte digest. */
#define SM_COMMUNITY_ID_LEN 30

#define SM_IPPROTO_TCP 6

/*
 * Writes the version 1 Community ID of the flow between src:sport and dst:dport over IP
 * protocol proto (one with ports: TCP 6, UDP 17, SCTP 132) at p, exactly SM_COMMUNITY_ID_LEN
 * characters, no terminator; returns p + SM_COMMUNITY_ID_LEN. Both addresses must be of one
 * family (asserted). The direction does not matter: (src, dst) and (dst, src) give one ID.
 */
char *sm_community_id(char *p, const struct sm_addr *src, const struct sm_addr *dst,
                      uint16_t sport, uint16_t dport, uint8_t proto, uint16_t seed);

/* The same for a TCP tuple. */
static inline char *sm_community_id_tcp(char *p, const struct sm_tuple *t, uint16_t seed)
{
    return sm_community_id(p, &t->src, &t->dst, t->sport, t->dport, SM_IPPROTO_TCP, seed);
}

/*
 * Many IDs at once: out[k] (SM_COMMUNITY_ID_LEN characters, no terminator) for TCP tuple t[k],
 * k < n; the same IDs as sm_community_id_tcp(). Where the CPU has AVX-512, sixteen hashes are
 * computed side by side.
 */
void sm_community_id_tcp_many(char (*out)[SM_COMMUNITY_ID_LEN],
                              const struct sm_tuple *const *t, size_t n, uint16_t seed);

#endif
