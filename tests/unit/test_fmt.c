/*
 * test_fmt.c - the line formatters against libc: numbers against printf, IPv6 addresses
 * against inet_ntop() (every pattern of zero groups, mapped and compatible IPv4, random), times
 * in one second and across seconds (the per-thread date cache).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "clock.h"
#include "fmt.h"

static uint64_t x = 0x2545f4914f6cdd1dull;
static uint64_t next(void)
{
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static int check_u64(uint64_t v)
{
    char got[32], want[32];
    *sm_fmt_u64(got, v) = '\0';
    snprintf(want, sizeof want, "%" PRIu64, v);
    return strcmp(got, want) != 0 || sm_fmt_u64_len(v) != (int)strlen(want);
}

static int check_ip6(const uint8_t b[16])
{
    struct sm_addr a = {.family = SM_AF_INET6};
    memcpy(a.bytes, b, 16);
    char got[64], want[INET6_ADDRSTRLEN];
    *sm_fmt_addr(got, &a) = '\0';
    inet_ntop(AF_INET6, b, want, sizeof want);
    if (strcmp(got, want) != 0 || sm_fmt_addr_len(&a) != (int)strlen(want)) {
        fprintf(stderr, "ip6: got %s want %s\n", got, want);
        return 1;
    }
    return 0;
}

int main(void)
{
    int bad = 0;
    uint64_t edges[] = {0, 9, 10, 99, 100, 999, 1000, 65535, 4294967295u,
                        UINT64_C(9999999999999999999), UINT64_C(10000000000000000000),
                        UINT64_MAX};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        bad += check_u64(edges[i]);
    for (uint64_t p10 = 1; p10 <= UINT64_C(1000000000000000000); p10 *= 10)
        bad += check_u64(p10 - 1) + check_u64(p10) + check_u64(p10 + 1) + check_u64(2 * p10);
    for (int bit = 0; bit < 64; bit++)
        bad += check_u64(UINT64_C(1) << bit) + check_u64((UINT64_C(1) << bit) - 1);
    for (int i = 0; i < 100000; i++)
        bad += check_u64(next() >> (next() % 64));
    CHECK_EQ_U(bad, 0);

    struct sm_addr v4 = {.family = SM_AF_INET, .bytes = {198, 18, 0, 255}};
    char line[64];
    *sm_fmt_addr(line, &v4) = '\0';
    CHECK_EQ_S(line, "198.18.0.255");
    struct sm_addr v4z = {.family = SM_AF_INET, .bytes = {0, 9, 10, 100}};
    *sm_fmt_addr(line, &v4z) = '\0';
    CHECK_EQ_S(line, "0.9.10.100");
    bad = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t r = next();
        struct sm_addr a = {.family = SM_AF_INET};
        for (int k = 0; k < 4; k++)
            a.bytes[k] = (uint8_t)(r >> (8 * k + (r & 7))) % (k == 3 ? 256 : 120);
        char *e = sm_fmt_addr(line, &a);
        bad += (int)(e - line) != sm_fmt_addr_len(&a);
    }
    CHECK_EQ_U(bad, 0);
    /* Every byte value in every position against inet_ntop(), within INET_ADDRSTRLEN. */
    bad = 0;
    for (int pos = 0; pos < 4; pos++) {
        for (unsigned v = 0; v < 256; v++) {
            struct sm_addr a = {.family = SM_AF_INET, .bytes = {7, 77, 177, 255}};
            a.bytes[pos] = (uint8_t)v;
            char got[INET_ADDRSTRLEN], want[INET_ADDRSTRLEN];
            *sm_fmt_addr(got, &a) = '\0';
            inet_ntop(AF_INET, a.bytes, want, sizeof want);
            bad += strcmp(got, want) != 0;
        }
    }
    CHECK_EQ_U(bad, 0);

    /* Every subset of zero groups, the others small or large values. */
    bad = 0;
    for (unsigned mask = 0; mask < 256; mask++) {
        for (int variant = 0; variant < 4; variant++) {
            uint8_t b[16];
            for (int g = 0; g < 8; g++) {
                unsigned w = 0;
                if (!(mask & (1u << g))) {
                    uint64_t r = next();
                    w = variant == 0 ? 1 : variant == 1 ? (unsigned)(r & 0xff)
                                         : variant == 2 ? 0x1000 | (unsigned)(r & 0xfff)
                                                        : (unsigned)(r & 0xffff);
                    if (w == 0)
                        w = 0xf;
                }
                b[2 * g] = (uint8_t)(w >> 8);
                b[2 * g + 1] = (uint8_t)w;
            }
            bad += check_ip6(b);
        }
    }
    /* Mapped, compatible, and near misses of both. */
    const uint8_t special[][16] = {
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1},
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 198, 18, 0, 1},
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 198, 18, 0, 1},
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 198, 18, 0, 1},
        {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1},
        {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        bad += check_ip6(special[i]);
    for (int i = 0; i < 100000; i++) {
        uint8_t b[16];
        for (int k = 0; k < 16; k++)
            b[k] = (next() & 3) ? 0 : (uint8_t)next();
        bad += check_ip6(b);
    }
    CHECK_EQ_U(bad, 0);

    /* Durations. */
    *sm_fmt_duration(line, -123456) = '\0';
    CHECK_EQ_S(line, "-0.000123456");
    *sm_fmt_duration(line, INT64_C(3000000000)) = '\0';
    CHECK_EQ_S(line, "3.000000000");

    /* Times: within one second (the cached date) and across, in both directions. */
    const int64_t s = INT64_C(1790000000) * SM_NS_PER_SEC;
    const int64_t seq[] = {s, s + 1, s + 999999999, s + SM_NS_PER_SEC, s - 1, s + 5};
    const char *want[] = {"2026-09-21T14:13:20.000000000Z", "2026-09-21T14:13:20.000000001Z",
                          "2026-09-21T14:13:20.999999999Z", "2026-09-21T14:13:21.000000000Z",
                          "2026-09-21T14:13:19.999999999Z", "2026-09-21T14:13:20.000000005Z"};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        char *e = sm_fmt_rfc3339(line, seq[i]);
        CHECK_EQ_U(e - line, SM_FMT_RFC3339_LEN);
        *e = '\0';
        CHECK_EQ_S(line, want[i]);
    }
    return check_done();
}
