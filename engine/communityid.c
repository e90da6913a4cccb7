/*
 * communityid.c - Community ID v1, written from the specification's text
 * (github.com/corelight/community-id-spec, README "Pseudo code" and "Technical details").
 *
 * The hashed bytes, all in network byte order: seed (2), the smaller endpoint's address
 * (4 or 16), the other's address, the protocol (1), a zero byte, the smaller endpoint's port
 * (2), the other's port. "Smaller" compares the addresses as byte strings and, when they are
 * equal, the ports as numbers; the endpoints are swapped when the source is not the smaller.
 * The ID is "1:" and the base64 (with padding) of the 20-byte SHA-1 of those bytes.
 *
 * SHA-1 and base64 come from nettle (Debian nettle-dev): a small library of primitives with
 * no global state to set up, whose x86_64 build picks the SHA extension instructions at run
 * time. At most 40 bytes are hashed, a single SHA-1 block: about 60 ns an ID with them
 * (docs/PERFORMANCE.md). The collector writes one or two IDs per verdict and compare one or
 * two per row it prints, only when it prints them.
 */
#include "synmatch/communityid.h"

#include <assert.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

/* The largest hash input: 2 + 16 + 16 + 1 + 1 + 2 + 2. */
#define INPUT_MAX 40

_Static_assert(2 + BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) == SM_COMMUNITY_ID_LEN,
               "an ID is '1:' and the padded base64 of a SHA-1 digest");

static int addr_len(const struct sm_addr *a)
{
    return a->family == SM_AF_INET6 ? 16 : 4;
}

char *sm_community_id(char *p, const struct sm_addr *src, const struct sm_addr *dst,
                      uint16_t sport, uint16_t dport, uint8_t proto, uint16_t seed)
{
    assert(src->family == dst->family && src->family != SM_AF_NONE);
    int n = addr_len(src);
    int c = memcmp(src->bytes, dst->bytes, (size_t)n);
    if (c > 0 || (c == 0 && sport > dport)) {
        const struct sm_addr *ta = src;
        src = dst;
        dst = ta;
        uint16_t tp = sport;
        sport = dport;
        dport = tp;
    }
    uint8_t in[INPUT_MAX], *q = in;
    *q++ = (uint8_t)(seed >> 8);
    *q++ = (uint8_t)seed;
    memcpy(q, src->bytes, (size_t)n);
    q += n;
    memcpy(q, dst->bytes, (size_t)n);
    q += n;
    *q++ = proto;
    *q++ = 0;
    *q++ = (uint8_t)(sport >> 8);
    *q++ = (uint8_t)sport;
    *q++ = (uint8_t)(dport >> 8);
    *q++ = (uint8_t)dport;

    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, (size_t)(q - in), in);
    sha1_digest(&ctx, sizeof digest, digest);
    p[0] = '1';
    p[1] = ':';
    base64_encode_raw(p + 2, sizeof digest, digest);
    return p + SM_COMMUNITY_ID_LEN;
}
