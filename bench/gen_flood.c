/*
 * gen_flood.c - a SYN-flood capture for the agent capture benchmark (bench/agent_bench.sh).
 * Built with -DSM_BENCH=ON (bench/CMakeLists.txt); packets from tests/lib/pkt.h.
 *
 *   gen_flood [--packets N] [--syn PCT] [--synack PCT] [--rst PCT] [--v6 PCT] [--seed S] OUT.pcap
 *
 * Writes a classic pcap (Ethernet, microseconds) of N packets [1000000] towards one server,
 * 198.19.10.10 / 2001:db8:10::10 port 443, from random clients in 198.18.0.0/16 and
 * 2001:db8:c::/64 with random source ports and ISNs (every SYN is distinct):
 *   SYN [70%]      with MSS, SACK-permitted, timestamps, window scale (74/94-byte frames)
 *   SYN/ACK [5%]   from the server, with options
 *   RST [5%]       RST/ACK from the server
 *   the rest       what the kernel filter must reject: ACK-only, PSH/ACK with 100-1400
 *                  bytes of payload, FIN/ACK (a third each)
 * --v6 PCT [10] of each kind is IPv6. Destination MAC 02:00:00:00:00:02, source
 * 02:00:00:00:00:01 (locally administered: a receiving veth treats them as another host's,
 * so its IP stack answers nothing). IPv4 and TCP checksums are correct. Only 198.18.0.0/15
 * and 2001:db8::/32 are used. Prints the count of each kind on stderr.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

static uint64_t rng_state = 1;

static uint64_t rnd(void)
{
    uint64_t x = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

enum kind { K_SYN, K_SYNACK, K_RST, K_ACK, K_DATA, K_FIN, K_COUNT };
static const char *const kind_names[K_COUNT] = {"syn", "synack", "rst", "ack", "data", "fin"};

/* Builds one frame into f; returns its length. */
static size_t build(uint8_t *f, enum kind k, int v6)
{
    static const uint8_t dmac[6] = {2, 0, 0, 0, 0, 2}, smac[6] = {2, 0, 0, 0, 0, 1};
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    pkt_be16(f + 12, v6 ? 0x86dd : 0x0800);
    uint8_t cli[16] = {0}, srv[16] = {0};
    uint64_t r = rnd();
    if (v6) {
        static const uint8_t c6[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, 0, 0};
        static const uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0,
                                       0,    0,    0,    0,    0, 0,    0, 0x10};
        memcpy(cli, c6, 8);
        memcpy(cli + 8, &r, 8);
        memcpy(srv, s6, 16);
    } else {
        cli[0] = 198, cli[1] = 18, cli[2] = (uint8_t)(r >> 8), cli[3] = (uint8_t)r | 1;
        srv[0] = 198, srv[1] = 19, srv[2] = 10, srv[3] = 10;
    }
    uint64_t r2 = rnd();
    uint16_t cport = (uint16_t)(1024 + (r2 % 64000)), sport = 443;
    uint32_t cseq = (uint32_t)(r2 >> 16), sseq = (uint32_t)rnd();
    bool from_server = k == K_SYNACK || k == K_RST || (k != K_SYN && (r2 >> 60) & 1);

    uint8_t opts[20];
    size_t olen = 0;
    if (k == K_SYN || k == K_SYNACK) {
        uint8_t o[20] = {2, 4, 0, 0, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7};
        pkt_be16(o + 2, v6 ? 1440 : 1460);
        pkt_be32(o + 8, (uint32_t)rnd());
        if (k == K_SYNACK)
            pkt_be32(o + 12, (uint32_t)rnd());
        memcpy(opts, o, 20);
        olen = 20;
    } else if (k != K_RST) {
        uint8_t o[12] = {1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0};
        pkt_be32(o + 4, (uint32_t)rnd());
        pkt_be32(o + 8, (uint32_t)rnd());
        memcpy(opts, o, 12);
        olen = 12;
    }
    size_t payload = k == K_DATA ? 100 + (size_t)(rnd() % 1301) : 0;
    size_t tcplen = 20 + olen + payload;
    size_t iphl = v6 ? 40 : 20;
    uint8_t *ip = f + 14, *tcp = ip + iphl;
    const uint8_t *src = from_server ? srv : cli, *dst = from_server ? cli : srv;
    if (v6) {
        memset(ip, 0, 40);
        ip[0] = 0x60;
        pkt_be16(ip + 4, (uint16_t)tcplen);
        ip[6] = 6;
        ip[7] = 64;
        memcpy(ip + 8, src, 16);
        memcpy(ip + 24, dst, 16);
    } else {
        memset(ip, 0, 20);
        ip[0] = 0x45;
        pkt_be16(ip + 2, (uint16_t)(20 + tcplen));
        pkt_be16(ip + 4, (uint16_t)rnd());
        pkt_be16(ip + 6, 0x4000);
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, src, 4);
        memcpy(ip + 16, dst, 4);
        pkt_be16(ip + 10, pkt_fold(pkt_sum(0, ip, 20)));
    }
    memset(tcp, 0, 20);
    pkt_be16(tcp, from_server ? sport : cport);
    pkt_be16(tcp + 2, from_server ? cport : sport);
    uint16_t flags;
    switch (k) {
    case K_SYN:
        flags = 0x002;
        pkt_be32(tcp + 4, cseq);
        break;
    case K_SYNACK:
        flags = 0x012;
        pkt_be32(tcp + 4, sseq);
        pkt_be32(tcp + 8, cseq + 1);
        break;
    case K_RST:
        flags = 0x014;
        pkt_be32(tcp + 4, 0);
        pkt_be32(tcp + 8, cseq + 1);
        break;
    case K_ACK:
        flags = 0x010;
        break;
    case K_DATA:
        flags = 0x018;
        break;
    default:
        flags = 0x011;
        break;
    }
    if (k >= K_ACK) {
        pkt_be32(tcp + 4, from_server ? sseq : cseq);
        pkt_be32(tcp + 8, from_server ? cseq : sseq);
    }
    tcp[12] = (uint8_t)(((20 + olen) / 4) << 4);
    tcp[13] = (uint8_t)flags;
    pkt_be16(tcp + 14, k == K_SYN ? 64240 : 502);
    memcpy(tcp + 20, opts, olen);
    for (size_t i = 0; i < payload; i++)
        tcp[20 + olen + i] = (uint8_t)(0x41 + i % 26);
    pkt_be16(tcp + 16, pkt_l4_csum(v6, src, dst, 6, tcp, tcplen));
    return 14 + iphl + tcplen;
}

int main(int argc, char **argv)
{
    unsigned long packets = 1000000;
    double pct[K_COUNT] = {70, 5, 5, 0, 0, 0};
    double v6 = 10;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--packets") == 0)
            packets = strtoul(v, NULL, 10), i++;
        else if (strcmp(a, "--syn") == 0)
            pct[K_SYN] = atof(v), i++;
        else if (strcmp(a, "--synack") == 0)
            pct[K_SYNACK] = atof(v), i++;
        else if (strcmp(a, "--rst") == 0)
            pct[K_RST] = atof(v), i++;
        else if (strcmp(a, "--v6") == 0)
            v6 = atof(v), i++;
        else if (strcmp(a, "--seed") == 0)
            rng_state = strtoull(v, NULL, 10), i++;
        else if (a[0] != '-' && out == NULL)
            out = a;
        else {
            fprintf(stderr, "usage: gen_flood [--packets N] [--syn PCT] [--synack PCT] "
                            "[--rst PCT] [--v6 PCT] [--seed S] OUT.pcap\n");
            return 2;
        }
    }
    if (out == NULL || pct[K_SYN] + pct[K_SYNACK] + pct[K_RST] > 100) {
        fprintf(stderr, "gen_flood: give OUT.pcap; --syn + --synack + --rst at most 100\n");
        return 2;
    }
    double rest = (100 - pct[K_SYN] - pct[K_SYNACK] - pct[K_RST]) / 3;
    pct[K_ACK] = pct[K_DATA] = pct[K_FIN] = rest;
    FILE *f = fopen(out, "wb");
    if (f == NULL) {
        perror(out);
        return 3;
    }
    static char buf[1 << 20];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    uint8_t gh[24];
    pkt_pcap_file_header(gh, 1, 65535, 0);
    fwrite(gh, 1, 24, f);
    unsigned long count[K_COUNT] = {0}, v6count = 0;
    uint32_t sec = 1800000000u, usec = 0;
    for (unsigned long n = 0; n < packets; n++) {
        double x = (double)(rnd() % 1000000) / 10000.0;
        enum kind k = K_SYN;
        double acc = 0;
        for (int i = 0; i < K_COUNT; i++) {
            acc += pct[i];
            if (x < acc) {
                k = (enum kind)i;
                break;
            }
            k = K_FIN;
        }
        int is6 = (double)(rnd() % 10000) < v6 * 100;
        uint8_t frame[1600];
        size_t len = build(frame, k, is6);
        uint8_t rh[16];
        pkt_pcap_record_header(rh, (int64_t)sec * 1000000000 + (int64_t)usec * 1000,
                               (uint32_t)len, (uint32_t)len, 0);
        fwrite(rh, 1, 16, f);
        fwrite(frame, 1, len, f);
        count[k]++;
        v6count += (unsigned long)is6;
        if (++usec == 1000000)
            usec = 0, sec++;
    }
    if (fclose(f) != 0) {
        perror(out);
        return 3;
    }
    fprintf(stderr, "gen_flood: %lu packets (%lu IPv6):", packets, v6count);
    for (int i = 0; i < K_COUNT; i++)
        fprintf(stderr, " %s %lu", kind_names[i], count[i]);
    fprintf(stderr, "; the kernel filter passes %lu\n",
            count[K_SYN] + count[K_SYNACK] + count[K_RST]);
    return 0;
}
