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
 * SHA-1 comes from nettle (Debian nettle-dev): a small library of primitives with
 * no global state to set up, whose x86_64 build picks the SHA extension instructions at run
 * time (its compression function is then 140 instructions). At most 40 bytes are hashed, a
 * single SHA-1 block: about 55 ns an ID (docs/PERFORMANCE.md). The collector's output thread
 * writes one or two IDs per verdict and compare one or two per row it prints, only when it
 * prints them.
 */
#include "synmatch/communityid.h"

#include <assert.h>
#include <string.h>

#include <nettle/sha1.h>

/* The largest hash input: 2 + 16 + 16 + 1 + 1 + 2 + 2. */
#define INPUT_MAX 40

_Static_assert(INPUT_MAX + 1 + 8 <= SHA1_BLOCK_SIZE, "every input fits one padded block");
_Static_assert(SHA1_DIGEST_SIZE == 20 && 2 + 28 == SM_COMMUNITY_ID_LEN,
               "an ID is '1:' and the 28 characters of a SHA-1 digest's padded base64");

/* The 28 characters of base64 (RFC 4648, section 4: standard alphabet, '=' padding) of 20
 * bytes: six groups of three bytes, then two bytes and one '='. nettle's encoder serves any
 * length through a table pointer per byte; this one is half an ID's non-hash instructions
 * shorter. */
static void base64_20(char *out, const uint8_t in[SHA1_DIGEST_SIZE])
{
    static const char alphabet[64] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 18; i += 3, out += 4) {
        uint32_t g = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[0] = alphabet[g >> 18];
        out[1] = alphabet[g >> 12 & 63];
        out[2] = alphabet[g >> 6 & 63];
        out[3] = alphabet[g & 63];
    }
    uint32_t g = (uint32_t)in[18] << 16 | (uint32_t)in[19] << 8;
    out[0] = alphabet[g >> 18];
    out[1] = alphabet[g >> 12 & 63];
    out[2] = alphabet[g >> 6 & 63];
    out[3] = '=';
}

/* memcmp's sign for the address bytes, in two or eight big-endian words: no call, no loop
 * over bytes (a fifth of an ID's own instructions went into memcmp). */
static int addr_cmp(const uint8_t *a, const uint8_t *b, int n)
{
    for (int i = 0; i < n; i += 4) {
        uint32_t x = (uint32_t)a[i] << 24 | (uint32_t)a[i + 1] << 16 | (uint32_t)a[i + 2] << 8 |
                     a[i + 3];
        uint32_t y = (uint32_t)b[i] << 24 | (uint32_t)b[i + 1] << 16 | (uint32_t)b[i + 2] << 8 |
                     b[i + 3];
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

char *sm_community_id(char *p, const struct sm_addr *src, const struct sm_addr *dst,
                      uint16_t sport, uint16_t dport, uint8_t proto, uint16_t seed)
{
    assert(src->family == dst->family && src->family != SM_AF_NONE);
    int n = src->family == SM_AF_INET6 ? 16 : 4;
    int c = addr_cmp(src->bytes, dst->bytes, n);
    if (c > 0 || (c == 0 && sport > dport)) {
        const struct sm_addr *ta = src;
        src = dst;
        dst = ta;
        uint16_t tp = sport;
        sport = dport;
        dport = tp;
    }
    /* The message always fits one block, written into it and padded by hand (FIPS 180-4,
     * 5.1.1: a 1 bit, zeros, the length in bits as 64 bits big-endian), then compressed
     * once, without the streaming interface's buffering (a third of an ID's instructions). */
    uint8_t block[SHA1_BLOCK_SIZE] = {0}, *q = block;
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
    size_t len = (size_t)(q - block);
    *q = 0x80;
    block[SHA1_BLOCK_SIZE - 2] = (uint8_t)(len * 8 >> 8);
    block[SHA1_BLOCK_SIZE - 1] = (uint8_t)(len * 8);
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    nettle_sha1_compress(h, block);
    uint8_t digest[SHA1_DIGEST_SIZE];
    for (int i = 0; i < 5; i++) {
        digest[4 * i] = (uint8_t)(h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)h[i];
    }
    p[0] = '1';
    p[1] = ':';
    base64_20(p + 2, digest);
    return p + SM_COMMUNITY_ID_LEN;
}
