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
 * prints them. compare's writers ask for a chunk's IDs at once (sm_community_id_tcp_many):
 * where the CPU has the SHA extensions, two blocks go through them interleaved; else, where it
 * has AVX-512, sixteen blocks are hashed side by side by the same rounds written over
 * vectors. The blocks and the base64 are shared with the one-at-a-time path.
 */
#include "synmatch/communityid.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <nettle/sha1.h>

/* The largest hash input: 2 + 16 + 16 + 1 + 1 + 2 + 2. */
#define INPUT_MAX 40

_Static_assert(INPUT_MAX + 1 + 8 <= SHA1_BLOCK_SIZE, "every input fits one padded block");
_Static_assert(SHA1_DIGEST_SIZE == 20 && 2 + 28 == SM_COMMUNITY_ID_LEN,
               "an ID is '1:' and the 28 characters of a SHA-1 digest's padded base64");

/* One group of three bytes (the low 24 bits of g) as four base64 characters (RFC 4648,
 * section 4: standard alphabet). */
static inline void base64_group(char *out, uint32_t g)
{
    static const char alphabet[64] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out[0] = alphabet[g >> 18 & 63];
    out[1] = alphabet[g >> 12 & 63];
    out[2] = alphabet[g >> 6 & 63];
    out[3] = alphabet[g & 63];
}

/* The 28 characters of the padded base64 of a SHA-1 digest, from its five words (the digest
 * is their big-endian bytes): six groups of three bytes, then two bytes and one '='. The
 * groups are cut from the words held in registers; through a byte array, every character
 * stored made the compiler read the digest again (a store through char * may alias it). */
static void base64_digest(char *out, const uint32_t h[5])
{
    uint64_t a = (uint64_t)h[0] << 32 | h[1], b = (uint64_t)h[2] << 32 | h[3];
    uint32_t c = h[4];
    base64_group(out, (uint32_t)(a >> 40));
    base64_group(out + 4, (uint32_t)(a >> 16));
    base64_group(out + 8, (uint32_t)(a << 8 | b >> 56));
    base64_group(out + 12, (uint32_t)(b >> 32));
    base64_group(out + 16, (uint32_t)(b >> 8));
    base64_group(out + 20, (uint32_t)(b << 16 | c >> 16));
    base64_group(out + 24, (c & 0xffff) << 8);
    out[27] = '=';
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

/*
 * The one padded SHA-1 block of a flow's hash input (FIPS 180-4, 5.1.1: the message, a 1 bit,
 * zeros, its length in bits as 64 bits big-endian): at most 40 bytes, always one block.
 */
static void cid_block(uint8_t block[SHA1_BLOCK_SIZE], const struct sm_addr *src,
                      const struct sm_addr *dst, uint16_t sport, uint16_t dport, uint8_t proto,
                      uint16_t seed)
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
    memset(block, 0, SHA1_BLOCK_SIZE);
    uint8_t *q = block;
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
}

#define SHA1_H0 0x67452301u
#define SHA1_H1 0xefcdab89u
#define SHA1_H2 0x98badcfeu
#define SHA1_H3 0x10325476u
#define SHA1_H4 0xc3d2e1f0u

/* "1:" and the base64 of the digest whose words are w, at p. */
static char *cid_text(char *p, const uint32_t w[5])
{
    p[0] = '1';
    p[1] = ':';
    base64_digest(p + 2, w);
    return p + SM_COMMUNITY_ID_LEN;
}

char *sm_community_id(char *p, const struct sm_addr *src, const struct sm_addr *dst,
                      uint16_t sport, uint16_t dport, uint8_t proto, uint16_t seed)
{
    /* The block compressed once, without the streaming interface's buffering (a third of an
     * ID's instructions). */
    uint8_t block[SHA1_BLOCK_SIZE];
    cid_block(block, src, dst, sport, dport, proto, seed);
    uint32_t h[5] = {SHA1_H0, SHA1_H1, SHA1_H2, SHA1_H3, SHA1_H4};
    nettle_sha1_compress(h, block);
    const uint32_t w[5] = {h[0], h[1], h[2], h[3], h[4]}; /* not seen by nettle: registers */
    return cid_text(p, w);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/*
 * Sixteen blocks side by side in AVX-512 registers, one SHA-1 in each 32-bit lane (the
 * rounds of FIPS 180-4, 6.1.2, written once over vectors): a whole ID 66 -> 50 ns against one
 * block at a time with the SHA extensions on this project's machine (bench/cid_bench --many).
 */
#define LANES 16
typedef uint32_t vlanes __attribute__((vector_size(4 * LANES)));
#define VROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

__attribute__((target("avx512f"))) static vlanes splat(uint32_t x)
{
    vlanes v;
    for (int l = 0; l < LANES; l++)
        v[l] = x;
    return v;
}

__attribute__((target("avx512f"))) static void sha1_lanes(const uint8_t (*blocks)[SHA1_BLOCK_SIZE],
                                                          uint32_t out[5][LANES])
{
    vlanes w[16];
    for (int t = 0; t < 16; t++)
        for (int l = 0; l < LANES; l++) {
            const uint8_t *b = blocks[l] + 4 * t;
            w[t][l] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        }
    vlanes a = splat(SHA1_H0), b = splat(SHA1_H1), c = splat(SHA1_H2), d = splat(SHA1_H3),
           e = splat(SHA1_H4);
    for (int t = 0; t < 80; t++) {
        vlanes wt = w[t & 15];
        if (t >= 16) {
            wt = VROTL(w[(t + 13) & 15] ^ w[(t + 8) & 15] ^ w[(t + 2) & 15] ^ wt, 1);
            w[t & 15] = wt;
        }
        vlanes f;
        uint32_t k;
        if (t < 20) {
            f = d ^ (b & (c ^ d));
            k = 0x5a827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1u;
        } else if (t < 60) {
            f = (b & c) | (d & (b | c));
            k = 0x8f1bbcdcu;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6u;
        }
        vlanes tmp = VROTL(a, 5) + f + e + splat(k) + wt;
        e = d;
        d = c;
        c = VROTL(b, 30);
        b = a;
        a = tmp;
    }
    a += splat(SHA1_H0);
    b += splat(SHA1_H1);
    c += splat(SHA1_H2);
    d += splat(SHA1_H3);
    e += splat(SHA1_H4);
    for (int l = 0; l < LANES; l++) {
        out[0][l] = a[l];
        out[1][l] = b[l];
        out[2][l] = c[l];
        out[3][l] = d[l];
        out[4][l] = e[l];
    }
}

/* The SHA extensions (CPUID leaf 7, EBX bit 29) with SSE4.1 (leaf 1, ECX bit 19), read from
 * CPUID: clang 14's __builtin_cpu_supports() does not know "sha". */
static bool cpuid_sha_ni(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & 1u << 19))
        return false;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & 1u << 29);
}

/* Whether this CPU has what way needs (SM_CID_SHA_NI or SM_CID_AVX512). */
static bool cpu_has(enum sm_cid_way way)
{
    /* threads that race compute the same answer */
    static _Atomic int have[SM_CID_AVX512 + 1] = {-1, -1};
    int h = atomic_load_explicit(&have[way], memory_order_relaxed);
    if (h < 0) {
        h = way == SM_CID_SHA_NI ? cpuid_sha_ni() : __builtin_cpu_supports("avx512f") != 0;
        atomic_store_explicit(&have[way], h, memory_order_relaxed);
    }
    return h == 1;
}

/* The IDs of t[0..n) in groups of sixteen; returns how many it wrote (a multiple of 16). */
static size_t many_in_lanes(char (*out)[SM_COMMUNITY_ID_LEN], const struct sm_tuple *const *t,
                            size_t n, uint16_t seed)
{
    size_t k = 0;
    for (; k + LANES <= n; k += LANES) {
        uint8_t blocks[LANES][SHA1_BLOCK_SIZE];
        uint32_t h[5][LANES];
        for (size_t l = 0; l < LANES; l++)
            cid_block(blocks[l], &t[k + l]->src, &t[k + l]->dst, t[k + l]->sport,
                      t[k + l]->dport, SM_IPPROTO_TCP, seed);
        sha1_lanes((const uint8_t (*)[SHA1_BLOCK_SIZE])blocks, h);
        for (size_t l = 0; l < LANES; l++) {
            const uint32_t w[5] = {h[0][l], h[1][l], h[2][l], h[3][l], h[4][l]};
            cid_text(out[k + l], w);
        }
    }
    return k;
}

/*
 * Two blocks through the SHA extensions, their rounds interleaved. One block's 20 groups of
 * four rounds (SHA1RNDS4) are a chain, each waiting for the last; two chains side by side
 * fill each other's waits. On this project's machine (bench/cid_bench, docs/PERFORMANCE.md):
 * one at a time an ID costs 72 ns, 41 of them in nettle's compression; two at a time 47 ns,
 * 22 of them here (the AVX-512 lanes: 46-48 ns). The message schedule of FIPS 180-4, 6.1.2
 * in the extensions' form: four words at a time, W[i..i+3] from SHA1MSG1 of the words
 * i-16.. and i-12.., XOR the words i-8.., SHA1MSG2 with the words i-4... E enters with the
 * first four words and comes out of SHA1NEXTE: the A of four rounds before, rotated.
 */
#define NI_WAYS 2
#define NI_GROUP(i, f)                                                                         \
    for (int s = 0; s < NI_WAYS; s++) {                                                        \
        __m128i w = m[s][(i) % 4];                                                             \
        if ((i) >= 4) {                                                                        \
            w = _mm_sha1msg1_epu32(w, m[s][((i) + 1) % 4]);                                    \
            w = _mm_xor_si128(w, m[s][((i) + 2) % 4]);                                         \
            m[s][(i) % 4] = w = _mm_sha1msg2_epu32(w, m[s][((i) + 3) % 4]);                    \
        }                                                                                      \
        __m128i ew = (i) == 0 ? _mm_add_epi32(e0, w) : _mm_sha1nexte_epu32(prev[s], w);       \
        prev[s] = abcd[s];                                                                     \
        abcd[s] = _mm_sha1rnds4_epu32(abcd[s], ew, f);                                         \
    }

__attribute__((target("sha,sse4.1"))) static void sha1_ni(const uint8_t (*blocks)[SHA1_BLOCK_SIZE],
                                                           uint32_t (*out)[5])
{
    /* words big-endian, the first in the register's top lane, as the instructions take them */
    const __m128i order = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
    const __m128i abcd0 = _mm_set_epi32((int)SHA1_H0, (int)SHA1_H1, (int)SHA1_H2, (int)SHA1_H3);
    const __m128i e0 = _mm_set_epi32((int)SHA1_H4, 0, 0, 0);
    __m128i abcd[NI_WAYS], prev[NI_WAYS], m[NI_WAYS][4];
    for (int s = 0; s < NI_WAYS; s++) {
        abcd[s] = prev[s] = abcd0;
        for (int k = 0; k < 4; k++)
            m[s][k] = _mm_shuffle_epi8(
                _mm_loadu_si128((const __m128i *)(const void *)(blocks[s] + 16 * k)), order);
    }
    NI_GROUP(0, 0) NI_GROUP(1, 0) NI_GROUP(2, 0) NI_GROUP(3, 0) NI_GROUP(4, 0)
    NI_GROUP(5, 1) NI_GROUP(6, 1) NI_GROUP(7, 1) NI_GROUP(8, 1) NI_GROUP(9, 1)
    NI_GROUP(10, 2) NI_GROUP(11, 2) NI_GROUP(12, 2) NI_GROUP(13, 2) NI_GROUP(14, 2)
    NI_GROUP(15, 3) NI_GROUP(16, 3) NI_GROUP(17, 3) NI_GROUP(18, 3) NI_GROUP(19, 3)
    for (int s = 0; s < NI_WAYS; s++) {
        __m128i e = _mm_sha1nexte_epu32(prev[s], e0);
        __m128i h = _mm_add_epi32(abcd[s], abcd0);
        out[s][0] = (uint32_t)_mm_extract_epi32(h, 3);
        out[s][1] = (uint32_t)_mm_extract_epi32(h, 2);
        out[s][2] = (uint32_t)_mm_extract_epi32(h, 1);
        out[s][3] = (uint32_t)_mm_extract_epi32(h, 0);
        out[s][4] = (uint32_t)_mm_extract_epi32(e, 3);
    }
}

/* The IDs of t[0..n) in pairs; returns how many it wrote (all but an odd last one). */
static size_t many_with_ni(char (*out)[SM_COMMUNITY_ID_LEN], const struct sm_tuple *const *t,
                           size_t n, uint16_t seed)
{
    size_t k = 0;
    for (; k + NI_WAYS <= n; k += NI_WAYS) {
        uint8_t blocks[NI_WAYS][SHA1_BLOCK_SIZE];
        uint32_t h[NI_WAYS][5];
        for (size_t l = 0; l < NI_WAYS; l++)
            cid_block(blocks[l], &t[k + l]->src, &t[k + l]->dst, t[k + l]->sport,
                      t[k + l]->dport, SM_IPPROTO_TCP, seed);
        sha1_ni((const uint8_t (*)[SHA1_BLOCK_SIZE])blocks, h);
        for (size_t l = 0; l < NI_WAYS; l++)
            cid_text(out[k + l], h[l]);
    }
    return k;
}

/* Through way, the IDs it can write of t[0..n): how many; -1 when the CPU lacks it. */
static long many_by(enum sm_cid_way way, char (*out)[SM_COMMUNITY_ID_LEN],
                    const struct sm_tuple *const *t, size_t n, uint16_t seed)
{
    switch (way) {
    case SM_CID_SHA_NI:
        return cpu_has(SM_CID_SHA_NI) ? (long)many_with_ni(out, t, n, seed) : -1;
    case SM_CID_AVX512:
        return cpu_has(SM_CID_AVX512) ? (long)many_in_lanes(out, t, n, seed) : -1;
    default:
        return way == SM_CID_ONE_AT_ONCE ? 0 : -1;
    }
}
#else
static long many_by(enum sm_cid_way way, char (*out)[SM_COMMUNITY_ID_LEN],
                    const struct sm_tuple *const *t, size_t n, uint16_t seed)
{
    (void)out, (void)t, (void)n, (void)seed;
    return way == SM_CID_ONE_AT_ONCE ? 0 : -1;
}
#endif

bool sm_community_id_tcp_many_by(enum sm_cid_way way, char (*out)[SM_COMMUNITY_ID_LEN],
                                 const struct sm_tuple *const *t, size_t n, uint16_t seed)
{
    long done = many_by(way, out, t, n, seed);
    if (done < 0)
        return false;
    for (size_t k = (size_t)done; k < n; k++)
        sm_community_id_tcp(out[k], t[k], seed);
    return true;
}

void sm_community_id_tcp_many(char (*out)[SM_COMMUNITY_ID_LEN],
                              const struct sm_tuple *const *t, size_t n, uint16_t seed)
{
    for (int way = 0; way < SM_CID_WAYS; way++)
        if (sm_community_id_tcp_many_by((enum sm_cid_way)way, out, t, n, seed))
            return;
}
