/*
 * siphash.c - SipHash-1-3, written from the paper's description (c = 1 compression round,
 * d = 3 finalisation rounds), little-endian message words.
 */
#include "siphash.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

struct sipstate {
    uint64_t v0, v1, v2, v3;
};

static inline void sipround(struct sipstate *s)
{
    s->v0 += s->v1;
    s->v1 = ROTL(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = ROTL(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = ROTL(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = ROTL(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = ROTL(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = ROTL(s->v2, 32);
}

static inline void sip_init(struct sipstate *s, const struct sm_sipkey *key)
{
    s->v0 = key->k0 ^ UINT64_C(0x736f6d6570736575);
    s->v1 = key->k1 ^ UINT64_C(0x646f72616e646f6d);
    s->v2 = key->k0 ^ UINT64_C(0x6c7967656e657261);
    s->v3 = key->k1 ^ UINT64_C(0x7465646279746573);
}

static inline void sip_word(struct sipstate *s, uint64_t m)
{
    s->v3 ^= m;
    sipround(s);
    s->v0 ^= m;
}

static inline uint64_t sip_final(struct sipstate *s)
{
    s->v2 ^= 0xff;
    sipround(s);
    sipround(s);
    sipround(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

uint64_t sm_siphash(const struct sm_sipkey *key, const void *data, size_t len)
{
    const uint8_t *p = data;
    struct sipstate s;
    sip_init(&s, key);
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8)
        sip_word(&s, load_le64(p + i));
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    const uint8_t *t = p + full;
    switch (len & 7) {
    case 7:
        last |= (uint64_t)t[6] << 48;
        /* fall through */
    case 6:
        last |= (uint64_t)t[5] << 40;
        /* fall through */
    case 5:
        last |= (uint64_t)t[4] << 32;
        /* fall through */
    case 4:
        last |= (uint64_t)t[3] << 24 | (uint64_t)t[2] << 16 | (uint64_t)t[1] << 8 | t[0];
        break;
    case 3:
        last |= (uint64_t)t[2] << 16;
        /* fall through */
    case 2:
        last |= (uint64_t)t[1] << 8;
        /* fall through */
    case 1:
        last |= t[0];
        break;
    default:
        break;
    }
    sip_word(&s, last);
    return sip_final(&s);
}

uint64_t sm_siphash_u64(const struct sm_sipkey *key, uint64_t word)
{
    struct sipstate s;
    sip_init(&s, key);
    sip_word(&s, word);
    sip_word(&s, (uint64_t)8 << 56);
    return sip_final(&s);
}

void sm_sipkey_random(struct sm_sipkey *key)
{
    uint64_t buf[2];
    if (getrandom(buf, sizeof buf, 0) != (ssize_t)sizeof buf) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        buf[0] = (uint64_t)ts.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)(uintptr_t)key;
        buf[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
    }
    key->k0 = buf[0];
    key->k1 = buf[1];
}
