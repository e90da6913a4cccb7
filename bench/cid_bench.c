/*
 * cid_bench.c - the cost of one Community ID (engine/communityid.c) on this CPU: N IDs of
 * distinct IPv4 or IPv6 TCP tuples in a loop, the median of R runs.
 *   cid_bench [--v6] [--many] [--ids N] [--runs R]
 * Prints "ns per ID". --many: 512 tuples at a time through sm_community_id_tcp_many() (as
 * compare's writers call it: sixteen hashes side by side where the CPU has AVX-512). Under valgrind (no SHA extensions on its virtual CPU) nettle takes its
 * portable code: count instructions with callgrind only knowing that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "synmatch/communityid.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int v6 = 0, many = 0, runs = 5;
    long ids = 2000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--v6") == 0)
            v6 = 1;
        else if (strcmp(argv[i], "--many") == 0)
            many = 1;
        else if (strcmp(argv[i], "--ids") == 0 && i + 1 < argc)
            ids = atol(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: cid_bench [--v6] [--many] [--ids N] [--runs R]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 99 || ids < 1)
        return 2;
    struct sm_tuple t;
    memset(&t, 0, sizeof t);
    t.src.family = t.dst.family = v6 ? SM_AF_INET6 : SM_AF_INET;
    t.src.bytes[0] = t.dst.bytes[0] = 198;
    t.src.bytes[1] = 18;
    t.dst.bytes[1] = 19;
    t.dport = 443;
    double ns[99];
    unsigned sink = 0;
    char out[SM_COMMUNITY_ID_LEN];
    enum { CHUNK = 512 };
    static struct sm_tuple tu[CHUNK];
    static const struct sm_tuple *tp[CHUNK];
    static char outs[CHUNK][SM_COMMUNITY_ID_LEN];
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        for (long i = 0; many && i < ids; i += CHUNK) {
            size_t n = ids - i < CHUNK ? (size_t)(ids - i) : CHUNK;
            for (size_t k = 0; k < n; k++) {
                tu[k] = t;
                tu[k].sport = (uint16_t)(i + (long)k);
                tu[k].src.bytes[3] = (uint8_t)((i + (long)k) >> 16);
                tp[k] = &tu[k];
            }
            sm_community_id_tcp_many(outs, tp, n, 0);
            for (size_t k = 0; k < n; k++)
                sink += (unsigned char)outs[k][7];
        }
        for (long i = 0; !many && i < ids; i++) {
            t.sport = (uint16_t)i;
            t.src.bytes[3] = (uint8_t)(i >> 16);
            sm_community_id_tcp(out, &t, 0);
            sink += (unsigned char)out[7];
        }
        ns[r] = (now() - t0) / (double)ids * 1e9;
    }
    qsort(ns, (size_t)runs, sizeof ns[0], cmp_double);
    printf("%s%s: %.1f ns per ID (median of %d runs of %ld; check %u)\n", v6 ? "IPv6" : "IPv4",
           many ? ", many at once" : "", ns[runs / 2], runs, ids, sink);
    return 0;
}
