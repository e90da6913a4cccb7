/*
 * communityid.h - the Community ID flow hash, version 1 (github.com/corelight/community-id-spec),
 * the string Zeek, Suricata, Arkime, Elastic and Wireshark put on a flow so that one tool's
 * record can be looked up in another's: "1:" and the base64 of a SHA-1 over the seed and the
 * flow's endpoints, ordered so that both directions of a flow get the same ID.
 */
#ifndef SYNMATCH_COMMUNITYID_H
#define SYNMATCH_COMMUNITYID_H

#include <stdbool.h>
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
 * k < n; the same IDs as sm_community_id_tcp(). Where the CPU has the SHA extensions, two
 * hashes are interleaved; else, where it has AVX-512, sixteen are computed side by side.
 */
void sm_community_id_tcp_many(char (*out)[SM_COMMUNITY_ID_LEN],
                              const struct sm_tuple *const *t, size_t n, uint16_t seed);

/* The ways of hashing many at once; sm_community_id_tcp_many() takes the first this CPU
 * has. For tests and benchmarks: the same through one way, false (nothing written) when the
 * CPU does not have it. */
enum sm_cid_way {
    SM_CID_SHA_NI,      /* SHA extensions, two blocks interleaved */
    SM_CID_AVX512,      /* sixteen blocks in AVX-512 lanes */
    SM_CID_ONE_AT_ONCE, /* one block at a time (nettle, which picks its own instructions) */
    SM_CID_WAYS
};
bool sm_community_id_tcp_many_by(enum sm_cid_way way, char (*out)[SM_COMMUNITY_ID_LEN],
                                 const struct sm_tuple *const *t, size_t n, uint16_t seed);

#endif
