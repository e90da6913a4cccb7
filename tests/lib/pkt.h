/*
 * pkt.h - building packets and capture files byte by byte, for the programs that make test
 * and benchmark captures (tests/parity/gen_cases.c, bench/gen_pair.c, bench/gen_flood.c, the
 * lab's rewriting middlebox): big-endian and little-endian stores, the Internet checksum with
 * the TCP/UDP pseudo-header, pcap file and record headers. Header-only, no state.
 */
#ifndef SM_TEST_PKT_H
#define SM_TEST_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void pkt_be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void pkt_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void pkt_le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void pkt_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint16_t pkt_get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t pkt_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Adds n bytes to a ones'-complement sum of 16-bit big-endian words (odd tail zero-padded). */
static inline uint32_t pkt_sum(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)(p[n - 1] << 8);
    return s;
}

/* The checksum field of a sum: folded and complemented. */
static inline uint16_t pkt_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* The TCP/UDP checksum of segment seg (n bytes, its checksum field zero) between src and dst
 * (4 or 16 bytes each, as v6 says). */
static inline uint16_t pkt_l4_csum(int v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                                   const uint8_t *seg, size_t n)
{
    uint8_t ph[40];
    memset(ph, 0, sizeof ph);
    size_t len;
    if (v6) {
        memcpy(ph, src, 16);
        memcpy(ph + 16, dst, 16);
        pkt_be32(ph + 32, (uint32_t)n);
        ph[39] = proto;
        len = 40;
    } else {
        memcpy(ph, src, 4);
        memcpy(ph + 4, dst, 4);
        ph[9] = proto;
        pkt_be16(ph + 10, (uint32_t)n);
        len = 12;
    }
    return pkt_fold(pkt_sum(pkt_sum(0, ph, len), seg, n));
}

/* A classic pcap file header (24 bytes, little-endian; nanosecond magic when nanos). */
static inline void pkt_pcap_file_header(uint8_t *p, uint32_t linktype, uint32_t snaplen, int nanos)
{
    pkt_le32(p, nanos ? 0xa1b23c4du : 0xa1b2c3d4u);
    pkt_le16(p + 4, 2);
    pkt_le16(p + 6, 4);
    pkt_le32(p + 8, 0);
    pkt_le32(p + 12, 0);
    pkt_le32(p + 16, snaplen);
    pkt_le32(p + 20, linktype);
}

/* A pcap record header (16 bytes) for a frame at ts_ns. */
static inline void pkt_pcap_record_header(uint8_t *p, int64_t ts_ns, uint32_t caplen,
                                          uint32_t wirelen, int nanos)
{
    int64_t sec = ts_ns / 1000000000, frac = ts_ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec -= 1;
    }
    pkt_le32(p, (uint32_t)sec);
    pkt_le32(p + 4, (uint32_t)(nanos ? frac : frac / 1000));
    pkt_le32(p + 8, caplen);
    pkt_le32(p + 12, wirelen);
}

#endif
