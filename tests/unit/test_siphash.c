/*
 * test_siphash.c - the keyed hash against a reference: a plain SipHash-c-d written here from
 * the paper's description, checked on published SipHash-2-4 vectors (key 00..0f, messages
 * 00..n-1) and SipHash-1-3 ones (zero key); then sm_siphash (SipHash-1-3) equals it on
 * every length up to 64 and sm_siphash_u64 on words.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "siphash.h"

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static void round_(uint64_t v[4])
{
    v[0] += v[1], v[1] = rotl(v[1], 13), v[1] ^= v[0], v[0] = rotl(v[0], 32);
    v[2] += v[3], v[3] = rotl(v[3], 16), v[3] ^= v[2];
    v[0] += v[3], v[3] = rotl(v[3], 21), v[3] ^= v[0];
    v[2] += v[1], v[1] = rotl(v[1], 17), v[1] ^= v[2], v[2] = rotl(v[2], 32);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t reference(int c, int d, uint64_t k0, uint64_t k1, const uint8_t *m, size_t n)
{
    uint64_t v[4] = {k0 ^ 0x736f6d6570736575u, k1 ^ 0x646f72616e646f6du,
                     k0 ^ 0x6c7967656e657261u, k1 ^ 0x7465646279746573u};
    size_t full = n / 8 * 8;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t w = le64(m + i);
        v[3] ^= w;
        for (int r = 0; r < c; r++)
            round_(v);
        v[0] ^= w;
    }
    uint8_t last[8] = {0};
    memcpy(last, m + full, n - full);
    uint64_t w = le64(last) | (uint64_t)(n & 0xff) << 56;
    v[3] ^= w;
    for (int r = 0; r < c; r++)
        round_(v);
    v[0] ^= w;
    v[2] ^= 0xff;
    for (int r = 0; r < d; r++)
        round_(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

int main(void)
{
    uint8_t msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    const uint64_t k0 = 0x0706050403020100u, k1 = 0x0f0e0d0c0b0a0908u;
    /* SipHash-2-4, the paper's appendix and the reference implementation's vectors. */
    static const uint64_t v24[] = {0x726fdb47dd0e0e31u, 0x74f839c593dc67fdu,
                                   0x0d6c8009d9a94f5au, 0x85676696d7fb7e2du};
    for (size_t n = 0; n < sizeof v24 / sizeof v24[0]; n++)
        CHECK_EQ_U(reference(2, 4, k0, k1, msg, n), v24[n]);
    CHECK_EQ_U(reference(2, 4, k0, k1, msg, 63), 0x958a324ceb064572u);
    /* SipHash-1-3 with the zero key, of "" and of "siphash" (published vectors of the Rust
     * sip-hash crates, given as the 64-bit value). */
    CHECK_EQ_U(reference(1, 3, 0, 0, (const uint8_t *)"", 0), 0xd1fba762150c532cu);
    CHECK_EQ_U(reference(1, 3, 0, 0, (const uint8_t *)"siphash", 7), 0x8264ceeccb16bcbeu);

    struct sm_sipkey key = {k0, k1};
    int bad = 0;
    for (size_t n = 0; n <= 64; n++)
        bad += sm_siphash(&key, msg, n) != reference(1, 3, k0, k1, msg, n);
    CHECK_EQ_U(bad, 0);
    struct sm_sipkey zero = {0, 0};
    CHECK_EQ_U(sm_siphash(&zero, "siphash", 7), 0x8264ceeccb16bcbeu);
    uint64_t x = 88172645463325252u;
    bad = 0;
    for (int i = 0; i < 10000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint8_t b[8];
        for (int k = 0; k < 8; k++)
            b[k] = (uint8_t)(x >> (8 * k));
        struct sm_sipkey rk = {x * 3, x ^ 0x5555};
        bad += sm_siphash_u64(&rk, x) != reference(1, 3, rk.k0, rk.k1, b, 8);
    }
    CHECK_EQ_U(bad, 0);
    /* Two random keys differ (getrandom works or the fallback mixes). */
    struct sm_sipkey r1, r2;
    sm_sipkey_random(&r1);
    sm_sipkey_random(&r2);
    CHECK(r1.k0 != r2.k0 || r1.k1 != r2.k1);
    return check_done();
}
