/*
 * test_communityid.c - Community ID v1 against published vectors, vendored here as data:
 *
 *   - the TCP, UDP and SCTP rows of corelight/community-id-spec's baseline (baseline/README.md
 *     tables and baseline_deflt.json / baseline_seed1.json: IPv4 and IPv6, seeds 0 and 1,
 *     both directions of each flow);
 *   - pycommunityid's TCP regression vector (10.0.0.1:10 / 10.0.0.2:11569, its issue 3: ports
 *     ordered as numbers, not as bytes of one field);
 *   - equal addresses, where the ports decide the order: no published vector exists, so these
 *     were computed by tshark 4.0.17's communityid dissector (an independent implementation)
 *     on a capture of such SYNs, and agree with Python's hashlib on the spec's byte layout.
 *
 * Nothing is fetched at test time. Then the properties the vectors cannot all show: the two
 * directions give one ID, the seed changes it, the output is exactly 30 characters; and the
 * many-at-once form gives the same IDs as one at a time, through each way this CPU has (two
 * blocks interleaved through the SHA extensions, sixteen side by side in AVX-512 lanes; the
 * test says which it could not try). (The writers' use of it: test_report.c.)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "check.h"
#include "synmatch/communityid.h"

struct vector {
    uint8_t proto;
    const char *src, *dst;
    uint16_t sport, dport;
    uint16_t seed;
    const char *id;
};

static const struct vector vectors[] = {
    /* community-id-spec baseline, default seed */
    {6, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
    {6, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
    {17, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
    {132, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
    {6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, 0,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, 0,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {6, "128.232.110.120", "66.35.250.204", 34855, 80, 0, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {6, "66.35.250.204", "128.232.110.120", 80, 34855, 0, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {17, "192.168.1.52", "8.8.8.8", 54585, 53, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {17, "8.8.8.8", "192.168.1.52", 53, 54585, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {132, "192.168.170.8", "192.168.170.56", 7, 7, 0, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {132, "192.168.170.56", "192.168.170.8", 7, 7, 0, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    /* community-id-spec baseline, seed 1 */
    {6, "1.2.3.4", "5.6.7.8", 1122, 3344, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
    {6, "5.6.7.8", "1.2.3.4", 3344, 1122, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
    {17, "1.2.3.4", "5.6.7.8", 1122, 3344, 1, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
    {132, "1.2.3.4", "5.6.7.8", 1122, 3344, 1, "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
    {6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, 1,
     "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, 1,
     "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {6, "128.232.110.120", "66.35.250.204", 34855, 80, 1, "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {6, "66.35.250.204", "128.232.110.120", 80, 34855, 1, "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {17, "192.168.1.52", "8.8.8.8", 54585, 53, 1, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {132, "192.168.170.8", "192.168.170.56", 7, 7, 1, "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    /* pycommunityid's TCP regression vector, seeds 0 and 1 */
    {6, "10.0.0.1", "10.0.0.2", 10, 11569, 0, "1:SXBGMX1lBOwhhoDrZynfROxnhnM="},
    {6, "10.0.0.2", "10.0.0.1", 11569, 10, 0, "1:SXBGMX1lBOwhhoDrZynfROxnhnM="},
    {6, "10.0.0.1", "10.0.0.2", 10, 11569, 1, "1:HmBRGR+fUyXF4t8WEtal7Y0gEAo="},
    /* equal addresses: the ports decide (tshark 4.0.17) */
    {6, "127.0.0.1", "127.0.0.1", 80, 1234, 0, "1:CClrqgOo/86/YM8mzzGpJkw9tqQ="},
    {6, "127.0.0.1", "127.0.0.1", 1234, 80, 0, "1:CClrqgOo/86/YM8mzzGpJkw9tqQ="},
    {6, "127.0.0.1", "127.0.0.1", 80, 1234, 1, "1:IwgHTZ208yzT9wfmiuVlsY59fpM="},
    {6, "198.18.1.2", "198.18.1.2", 8080, 8080, 0, "1:x2LadaTUBvTka0Nz8SUpyITmo5U="},
    {6, "198.18.1.2", "198.18.1.2", 8080, 8080, 1, "1:Eq25mSTZVF4hziZcmInDhIwvB6I="},
    {6, "2001:db8::1", "2001:db8::1", 443, 50000, 0, "1:0NGZXTkAGBFlEz7DgKTz7Pan/3k="},
    {6, "2001:db8::1", "2001:db8::1", 50000, 443, 0, "1:0NGZXTkAGBFlEz7DgKTz7Pan/3k="},
    {6, "2001:db8::1", "2001:db8::1", 443, 50000, 1, "1:dZizf39bUCKA3ugGT5ljEmig5AQ="},
    {6, "2001:db8::1", "2001:db8::1", 50000, 443, 1, "1:dZizf39bUCKA3ugGT5ljEmig5AQ="},
};

static void id_of(char out[SM_COMMUNITY_ID_LEN + 1], const struct vector *v, bool reverse)
{
    struct sm_addr a, b;
    CHECK(sm_addr_parse(v->src, &a) == 0);
    CHECK(sm_addr_parse(v->dst, &b) == 0);
    memset(out, '#', SM_COMMUNITY_ID_LEN + 1);
    char *end = reverse ? sm_community_id(out, &b, &a, v->dport, v->sport, v->proto, v->seed)
                        : sm_community_id(out, &a, &b, v->sport, v->dport, v->proto, v->seed);
    CHECK(end == out + SM_COMMUNITY_ID_LEN);
    CHECK(out[SM_COMMUNITY_ID_LEN] == '#'); /* nothing written past the ID */
    out[SM_COMMUNITY_ID_LEN] = '\0';
}

static const char *const way_names[SM_CID_WAYS] = {"SHA extensions", "AVX-512", "one at once"};

/* Many at once through way: the TCP vectors of each seed, both directions, repeated past
 * several groups of sixteen and a partial one (an odd count: a pair's way ends with one). */
static void test_many_vectors(enum sm_cid_way way)
{
    enum { N = 16 * 4 + 5 };
    for (uint16_t seed = 0; seed < 2; seed++) {
        const struct vector *pick[sizeof vectors / sizeof vectors[0]];
        size_t np = 0;
        for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
            if (vectors[i].proto == SM_IPPROTO_TCP && vectors[i].seed == seed)
                pick[np++] = &vectors[i];
        CHECK(np > 0);
        if (np == 0)
            continue;
        struct sm_tuple tu[N];
        const struct sm_tuple *tp[N];
        char out[N][SM_COMMUNITY_ID_LEN];
        for (size_t k = 0; k < N; k++) {
            const struct vector *v = pick[k % np];
            bool rev = k / np % 2 == 1;
            CHECK(sm_addr_parse(rev ? v->dst : v->src, &tu[k].src) == 0);
            CHECK(sm_addr_parse(rev ? v->src : v->dst, &tu[k].dst) == 0);
            tu[k].sport = rev ? v->dport : v->sport;
            tu[k].dport = rev ? v->sport : v->dport;
            tp[k] = &tu[k];
        }
        memset(out, 0, sizeof out);
        if (way == SM_CID_WAYS)
            sm_community_id_tcp_many(out, tp, N, seed);
        else
            CHECK(sm_community_id_tcp_many_by(way, out, tp, N, seed));
        int bad = 0;
        for (size_t k = 0; k < N; k++)
            bad += memcmp(out[k], pick[k % np]->id, SM_COMMUNITY_ID_LEN) != 0;
        CHECK_EQ_U(bad, 0);
    }
}

/* Many at once through way (SM_CID_WAYS: the default) against one at a time on random tuples:
 * IPv4 and IPv6, equal addresses, equal ports, every seed's byte. */
static void test_many_random(enum sm_cid_way way)
{
    enum { N = 10007 };
    static struct sm_tuple tu[N];
    static const struct sm_tuple *tp[N];
    static char out[N][SM_COMMUNITY_ID_LEN];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t k = 0; k < N; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct sm_tuple *t = &tu[k];
        memset(t, 0, sizeof *t);
        t->src.family = t->dst.family = x % 3 == 0 ? SM_AF_INET6 : SM_AF_INET;
        for (int b = 0; b < 16; b++) {
            t->src.bytes[b] = (uint8_t)(x >> (b * 4));
            t->dst.bytes[b] = (uint8_t)(x >> (b * 3 + 7));
        }
        if (x % 7 == 0)
            t->dst = t->src;
        t->sport = (uint16_t)(x >> 40);
        t->dport = x % 11 == 0 ? t->sport : (uint16_t)(x >> 24);
        tp[k] = t;
    }
    int bad = 0;
    for (uint16_t seed = 0; seed < 3; seed++) {
        uint16_t s = seed == 2 ? 0xa55a : seed;
        memset(out, 0, sizeof out);
        if (way == SM_CID_WAYS)
            sm_community_id_tcp_many(out, tp, N, s);
        else
            CHECK(sm_community_id_tcp_many_by(way, out, tp, N, s));
        for (size_t k = 0; k < N; k++) {
            char one[SM_COMMUNITY_ID_LEN];
            sm_community_id_tcp(one, tp[k], s);
            bad += memcmp(out[k], one, SM_COMMUNITY_ID_LEN) != 0;
        }
    }
    CHECK_EQ_U(bad, 0);
}

int main(void)
{
    char probe[1][SM_COMMUNITY_ID_LEN];
    struct sm_tuple pt = {.src = {.family = SM_AF_INET}, .dst = {.family = SM_AF_INET}};
    const struct sm_tuple *ptp[1] = {&pt};
    for (int w = 0; w < SM_CID_WAYS; w++) {
        enum sm_cid_way way = (enum sm_cid_way)w;
        if (!sm_community_id_tcp_many_by(way, probe, ptp, 1, 0)) {
            printf("# many at once through %s: this CPU does not have it\n", way_names[w]);
            continue;
        }
        test_many_vectors(way);
        test_many_random(way);
    }
    test_many_vectors(SM_CID_WAYS);
    test_many_random(SM_CID_WAYS);
    char got[SM_COMMUNITY_ID_LEN + 1];
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const struct vector *v = &vectors[i];
        id_of(got, v, false);
        if (strcmp(got, v->id) != 0)
            fprintf(stderr, "vector %zu: %s:%u -> %s:%u proto %u seed %u\n", i, v->src,
                    v->sport, v->dst, v->dport, v->proto, v->seed);
        CHECK_EQ_S(got, v->id);
        id_of(got, v, true); /* the other direction of the same flow */
        CHECK_EQ_S(got, v->id);
    }

    /* The TCP wrapper on a tuple, and the seed's two bytes both count. */
    struct sm_tuple t = {.sport = 1122, .dport = 3344};
    CHECK(sm_addr_parse("1.2.3.4", &t.src) == 0);
    CHECK(sm_addr_parse("5.6.7.8", &t.dst) == 0);
    *sm_community_id_tcp(got, &t, 0) = '\0';
    CHECK_EQ_S(got, "1:wCb3OG7yAFWelaUydu0D+125CLM=");
    char s256[SM_COMMUNITY_ID_LEN + 1], s1[SM_COMMUNITY_ID_LEN + 1];
    *sm_community_id_tcp(s256, &t, 256) = '\0';
    *sm_community_id_tcp(s1, &t, 1) = '\0';
    CHECK(strcmp(s256, got) != 0 && strcmp(s256, s1) != 0);

    /* Equal addresses with equal ports, and a port swap that must not be a byte swap: 10
     * (0x000a) against 2560 (0x0a00). */
    struct sm_tuple u = t, w;
    u.dst = u.src;
    u.sport = 10;
    u.dport = 2560;
    w = u;
    w.sport = 2560;
    w.dport = 10;
    char x[SM_COMMUNITY_ID_LEN + 1], y[SM_COMMUNITY_ID_LEN + 1];
    *sm_community_id_tcp(x, &u, 0) = '\0';
    *sm_community_id_tcp(y, &w, 0) = '\0';
    CHECK_EQ_S(x, y);

    return check_done();
}
