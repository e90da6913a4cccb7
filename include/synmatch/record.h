/*
 * record.h - the one record type: a TCP header as one sensor saw it.
 *
 * Every part of synmatch speaks this struct: the decoder fills it, the stream numbering annotates
 * it, the join engine keys it by ISN, the wire encoding (later) packs it. It is plain data and
 * holds no pointers, so it can be copied out of libpcap's buffer and queued freely.
 */
#ifndef SYNMATCH_RECORD_H
#define SYNMATCH_RECORD_H

#include <stdbool.h>
#include <stdint.h>

/* Address family as the record carries it; 0 means "no address". */
enum sm_family {
    SM_AF_NONE = 0,
    SM_AF_INET = 4,
    SM_AF_INET6 = 6,
};

/* An IPv4 address lives in the first 4 bytes; the rest is zero. Compare with sm_addr_eq(). */
struct sm_addr {
    uint8_t family;
    uint8_t bytes[16];
};

/* A directed endpoint pair: src sent the packet. */
struct sm_tuple {
    struct sm_addr src;
    struct sm_addr dst;
    uint16_t sport;
    uint16_t dport;
};

/* TCP flag bits as in the header's 12 flag bits (NS is bit 8). */
enum {
    SM_TH_FIN = 0x001,
    SM_TH_SYN = 0x002,
    SM_TH_RST = 0x004,
    SM_TH_PSH = 0x008,
    SM_TH_ACK = 0x010,
    SM_TH_URG = 0x020,
    SM_TH_ECE = 0x040,
    SM_TH_CWR = 0x080,
    SM_TH_NS = 0x100,
};

/* Which TCP options were present (bits of sm_tcp_opts.present). */
enum {
    SM_OPT_MSS = 0x01,
    SM_OPT_WSCALE = 0x02,
    SM_OPT_SACKOK = 0x04,
    SM_OPT_TS = 0x08,
};

struct sm_tcp_opts {
    uint8_t present;
    uint8_t wscale;
    uint16_t mss;
    uint32_t tsval;
    uint32_t tsecr;
};

/* Which side of the connection a sensor captures at. */
enum sm_role {
    SM_ROLE_CLIENT = 0,
    SM_ROLE_SERVER = 1,
};

/* Part of what a server sensor serves (docs/ARCHITECTURE.md, "Scope"): destinations
 * addr/prefix_len, on port (0 = any). */
struct sm_scope_entry {
    struct sm_addr addr;
    uint8_t prefix_len;
    uint16_t port;
};

#define SM_STREAM_NONE (-1)

struct sm_record {
    int64_t ts_ns; /* capture time, ns since the Unix epoch (event time) */
    struct sm_tuple tuple;
    uint32_t seq;
    uint32_t ack;
    uint16_t flags; /* SM_TH_* */
    uint16_t window;
    uint16_t ip_id; /* IPv4 identification; 0 for IPv6 */
    uint8_t ttl;    /* TTL or hop limit */
    uint8_t nvlan;  /* number of 802.1Q/802.1ad tags outside the IP header (capped at 2) */
    uint16_t vlan[2];
    struct sm_tcp_opts opts;
    uint64_t frame;  /* 1-based frame number in a file; 0 when live */
    int64_t stream;  /* Wireshark tcp.stream, or SM_STREAM_NONE */
};

/* A SYN is SYN set and ACK clear, whatever the other bits (ECE, CWR, NS, FIN, RST, PSH). */
static inline bool sm_flags_is_syn(uint16_t flags)
{
    return (flags & (SM_TH_SYN | SM_TH_ACK)) == SM_TH_SYN;
}

static inline bool sm_flags_is_synack(uint16_t flags)
{
    return (flags & (SM_TH_SYN | SM_TH_ACK)) == (SM_TH_SYN | SM_TH_ACK);
}

/* The records the pipeline carries: SYN, SYN/ACK and RST. */
static inline bool sm_flags_is_interesting(uint16_t flags)
{
    return (flags & (SM_TH_SYN | SM_TH_RST)) != 0;
}

#endif
