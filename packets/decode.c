/*
 * decode.c - link layer to TCP, the way tshark 4.0 dissects with default preferences.
 *
 * Every layer works on a span: a pointer, the bytes captured from it (cap) and the bytes the
 * packet claims from it (rep, from the wire length and the IP length fields). A field is read
 * only after have() proves it lies inside cap; tshark's decisions that depend on lengths
 * (which TCP headers get a stream at all, which may teach sequence bases) use rep, exactly as
 * docs/tcp-stream-numbering.md (R8-R13) describes. A malformed layer increments its counter
 * and ends the frame; nothing here logs, allocates per packet or asserts on input.
 *
 * Encapsulation recurses (tunnels, ICMP quotes), bounded by MAX_DEPTH.
 */
#include "synmatch/decode.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "defrag.h"

/*
 * Bounds of our own. tshark follows nesting until a frame has 500 protocol layers (its
 * gui.max_tree_depth, epan/packet.c: "saved_layers_len < prefs.gui_max_tree_depth"), about
 * 250 GRE tunnels; recursion that deep is not worth its stack here. A frame cut off by one of
 * these is counted (sm_decoder_bounded_frames) and the fronts say from which frame on the
 * numbers may differ from Wireshark's.
 */
#define MAX_DEPTH 64     /* IP layers per frame (tunnels and quotes) */
#define MAX_VLAN_TAGS 128 /* stacked 802.1Q/802.1ad tags per Ethernet header */
#define MAX_V6_EXT 256   /* IPv6 extension headers per chain */
/* (and, in defrag.c, 4,096 fragments per IP datagram) */
#define DEFAULT_FRAG_BYTES (32u * 1024u * 1024u)
#define DEFAULT_FRAG_DATAGRAMS 16384u

enum {
    LINKTYPE_NULL = 0,
    LINKTYPE_ETHERNET = 1,
    LINKTYPE_RAW_OLD = 12, /* DLT_RAW on most platforms, stored as-is by old writers */
    LINKTYPE_RAW_OPENBSD = 14,
    LINKTYPE_RAW = 101,
    LINKTYPE_LOOP = 108,
    LINKTYPE_LINUX_SLL = 113,
    LINKTYPE_IPV4 = 228,
    LINKTYPE_IPV6 = 229,
    LINKTYPE_LINUX_SLL2 = 276,
};

enum {
    ETH_IPV4 = 0x0800,
    ETH_IPV6 = 0x86dd,
    ETH_VLAN = 0x8100,
    ETH_QINQ = 0x88a8,
    ETH_QINQ_OLD = 0x9100,
    ETH_TEB = 0x6558, /* transparent Ethernet bridging, inside GRE */
};

enum {
    IPPROTO_V_ICMP = 1,
    IPPROTO_V_IPIP = 4,
    IPPROTO_V_TCP = 6,
    IPPROTO_V_UDP = 17,
    IPPROTO_V_IPV6 = 41,
    IPPROTO_V_GRE = 47,
    IPPROTO_V_AH = 51,
    IPPROTO_V_ICMPV6 = 58,
};

#define VXLAN_PORT 4789

struct sm_decoder {
    sm_defrag_t *defrag;
    uint64_t counters[SM_DC_COUNT];
    uint64_t bounded_frames, first_bounded_frame; /* cut off by a bound of our own */
};

/* Bytes a layer may read (cap) and bytes the packet says it has (rep). */
struct span {
    const uint8_t *p;
    uint32_t cap;
    uint32_t rep;
};

/* Per-frame state threaded through the layers. */
struct ctx {
    sm_decoder_t *d;
    const struct sm_frame *frame;
    sm_tcp_fn fn;
    void *arg;
    int ntcp;
    int depth;
    bool bounded;     /* a bound of our own cut this frame off */
    bool quoted;      /* below an ICMP error: TCP headers are never analyzable */
    uint16_t vlan_id; /* the innermost tag seen so far, as Wireshark's pinfo->vlan_id */
    uint8_t nvlan;
    uint16_t vlan[2];
};

/* What the IP layer hands to the transport layer. */
struct ipinfo {
    struct sm_addr src, dst; /* after the R13 address rules */
    uint16_t ip_id;
    uint8_t ttl;
    bool direct_fragment; /* a first fragment dissected without reassembly (R11) */
};

static const char *const counter_names[SM_DC_COUNT] = {
    [SM_DC_FRAMES] = "frames",
    [SM_DC_TCP_HEADERS] = "tcp_headers",
    [SM_DC_QUOTED_TCP] = "quoted_tcp_headers",
    [SM_DC_NOT_IP] = "not_ip",
    [SM_DC_NOT_TCP] = "not_tcp",
    [SM_DC_LINKTYPE_UNSUPPORTED] = "linktype_unsupported",
    [SM_DC_LINK_TRUNCATED] = "link_truncated",
    [SM_DC_VLAN_TRUNCATED] = "vlan_truncated",
    [SM_DC_VLAN_TOO_DEEP] = "vlan_too_deep",
    [SM_DC_IP_BAD_VERSION] = "ip_bad_version",
    [SM_DC_IPV4_TRUNCATED] = "ipv4_truncated",
    [SM_DC_IPV4_BAD_IHL] = "ipv4_bad_ihl",
    [SM_DC_IPV4_BAD_LENGTH] = "ipv4_bad_length",
    [SM_DC_IPV4_BAD_OPTION] = "ipv4_bad_option",
    [SM_DC_IPV6_TRUNCATED] = "ipv6_truncated",
    [SM_DC_IPV6_EXT_TRUNCATED] = "ipv6_ext_truncated",
    [SM_DC_IPV6_EXT_TOO_MANY] = "ipv6_ext_too_many",
    [SM_DC_AH_TRUNCATED] = "ah_truncated",
    [SM_DC_FRAG_HELD] = "frag_held",
    [SM_DC_FRAG_REASSEMBLED] = "frag_reassembled",
    [SM_DC_FRAG_UNREASSEMBLED] = "frag_unreassembled",
    [SM_DC_FRAG_EVICTED] = "frag_evicted",
    [SM_DC_FRAG_BAD] = "frag_bad",
    [SM_DC_TCP_TRUNCATED] = "tcp_truncated",
    [SM_DC_TCP_BAD_OFFSET] = "tcp_bad_offset",
    [SM_DC_TCP_SHORT] = "tcp_short",
    [SM_DC_TCP_BAD_OPTION] = "tcp_bad_option",
    [SM_DC_ICMP_TRUNCATED] = "icmp_truncated",
    [SM_DC_UDP_TRUNCATED] = "udp_truncated",
    [SM_DC_UDP_BAD_LENGTH] = "udp_bad_length",
    [SM_DC_GRE_TRUNCATED] = "gre_truncated",
    [SM_DC_GRE_UNSUPPORTED] = "gre_unsupported",
    [SM_DC_VXLAN_TRUNCATED] = "vxlan_truncated",
    [SM_DC_ENCAP_TOO_DEEP] = "encap_too_deep",
    [SM_DC_IPV6_OPT_MALFORMED] = "ipv6_opt_malformed",
};

const char *sm_decode_counter_name(enum sm_decode_counter c)
{
    return (unsigned)c < SM_DC_COUNT ? counter_names[c] : "?";
}

bool sm_decode_counter_is_error(enum sm_decode_counter c)
{
    switch (c) {
    case SM_DC_FRAMES:
    case SM_DC_TCP_HEADERS:
    case SM_DC_QUOTED_TCP:
    case SM_DC_NOT_IP:
    case SM_DC_NOT_TCP:
    case SM_DC_FRAG_HELD:
    case SM_DC_FRAG_REASSEMBLED:
    case SM_DC_FRAG_UNREASSEMBLED:
    case SM_DC_TCP_SHORT:
        return false;
    default:
        return true;
    }
}

/* ---- bounds-checked access ------------------------------------------------------------ */

static inline bool have(const struct span *s, uint32_t off, uint32_t n)
{
    return off <= s->cap && n <= s->cap - off;
}

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The span after the first off bytes; caller has checked off <= cap. */
static inline struct span after(const struct span *s, uint32_t off)
{
    struct span r = {s->p + off, s->cap - off, s->rep > off ? s->rep - off : 0};
    return r;
}

/* Limits a span to n reported bytes (a length field from a header). */
static inline struct span limit(struct span s, uint32_t n)
{
    if (s.rep > n)
        s.rep = n;
    if (s.cap > n)
        s.cap = n;
    return s;
}

static inline void count(struct ctx *c, enum sm_decode_counter k)
{
    c->d->counters[k]++;
}

/* Counts k, a bound of our own that tshark does not have, and remembers the frame. */
static void bound_hit(struct ctx *c, enum sm_decode_counter k)
{
    count(c, k);
    if (c->bounded)
        return;
    c->bounded = true;
    if (c->d->bounded_frames++ == 0)
        c->d->first_bounded_frame = c->frame->number;
}

static void decode_ethertype(struct ctx *c, uint16_t type, struct span s);
static void decode_ip_by_version(struct ctx *c, struct span s);
static void decode_ipv4(struct ctx *c, struct span s);
static void decode_ipv6(struct ctx *c, struct span s);

/* ---- TCP -------------------------------------------------------------------------------- */

/*
 * Options occupy [0, hdr_len) after the fixed header, of which only [0, cap_len) may have
 * been captured. An option running past the header is malformed (counted); one running past
 * the captured bytes was cut by the snapshot length, which is not an error: parsing stops.
 */
/* Not inlined: only SYN, SYN/ACK and RST headers come here, and inlined it made
 * decode_tcp() save and restore registers for every header (-6 M instructions of 1,042 M on
 * a 100 MB pair). */
static __attribute__((noinline)) void parse_tcp_options(struct ctx *c, const uint8_t *p,
                                                        uint32_t hdr_len, uint32_t cap_len,
                                                        struct sm_tcp_opts *o)
{
    uint32_t i = 0;
    while (i < hdr_len && i < cap_len) {
        uint8_t kind = p[i];
        if (kind == 0) /* end of list */
            return;
        if (kind == 1) { /* no-op */
            i++;
            continue;
        }
        if (i + 1 >= hdr_len) {
            count(c, SM_DC_TCP_BAD_OPTION);
            return;
        }
        if (i + 1 >= cap_len)
            return;
        uint8_t olen = p[i + 1];
        if (olen < 2 || olen > hdr_len - i) {
            count(c, SM_DC_TCP_BAD_OPTION);
            return;
        }
        if (olen > cap_len - i)
            return;
        const uint8_t *v = p + i + 2;
        switch (kind) {
        case 2:
            if (olen == 4) {
                o->mss = be16(v);
                o->present |= SM_OPT_MSS;
            }
            break;
        case 3:
            if (olen == 3) {
                o->wscale = v[0];
                o->present |= SM_OPT_WSCALE;
            }
            break;
        case 4:
            if (olen == 2)
                o->present |= SM_OPT_SACKOK;
            break;
        case 8:
            if (olen == 10) {
                o->tsval = be32(v);
                o->tsecr = be32(v + 4);
                o->present |= SM_OPT_TS;
            }
            break;
        default:
            break;
        }
        i += olen;
    }
}

static void decode_tcp(struct ctx *c, const struct ipinfo *ip, struct span s)
{
    /* R9: tshark needs the first 16 bytes both captured and inside the reported length. */
    if (!have(&s, 0, 16) || s.rep < 16) {
        count(c, SM_DC_TCP_TRUNCATED);
        return;
    }
    const uint8_t *h = s.p;
    struct sm_tcp_view v;
    struct sm_record *r = &v.rec;
    r->ts_ns = c->frame->ts_ns;
    r->frame = c->frame->number;
    r->stream = SM_STREAM_NONE;
    r->tuple.src = ip->src;
    r->tuple.dst = ip->dst;
    r->tuple.sport = be16(h);
    r->tuple.dport = be16(h + 2);
    r->seq = be32(h + 4);
    r->ack = be32(h + 8);
    r->flags = be16(h + 12) & 0x0fff;
    r->window = be16(h + 14);
    r->ip_id = ip->ip_id;
    r->ttl = ip->ttl;
    r->nvlan = c->nvlan;
    r->vlan[0] = c->vlan[0];
    r->vlan[1] = c->vlan[1];

    memset(&r->opts, 0, sizeof r->opts);
    uint32_t hlen = (uint32_t)(h[12] >> 4) * 4;
    if (hlen < 20)
        count(c, SM_DC_TCP_BAD_OFFSET);
    if (hlen > s.cap || s.cap < 20)
        count(c, SM_DC_TCP_SHORT);
    /* Options matter only in records (SYN, SYN/ACK, RST); skipping them for data packets
     * saves the hot path. So option errors are counted on those headers only. */
    if (hlen > 20 && s.cap > 20 && sm_flags_is_interesting(r->flags))
        parse_tcp_options(c, h + 20, hlen - 20, s.cap - 20, &r->opts);
    /* R8: analyzable when not quoted, not a direct first fragment, and the reported TCP
     * length covers the header (a bogus offset < 5 still satisfies this). */
    v.quoted = c->quoted;
    v.analyzable = !c->quoted && !ip->direct_fragment && s.rep >= hlen;
    count(c, SM_DC_TCP_HEADERS);
    if (c->quoted)
        count(c, SM_DC_QUOTED_TCP);
    c->ntcp++;
    c->fn(c->arg, &v);
}

/* ---- ICMP errors (R10) ------------------------------------------------------------------- */

/*
 * The quoted datagram of an ICMP or ICMPv6 error starts 8 bytes in. For ICMPv4 types 3, 11
 * and 12 with an RFC 4884 length L (32-bit words) set, tshark limits the quote to
 * (inner IHL + L) * 4 bytes (observed: tests/parity case 73). tshark's further conditions
 * (message longer than 8 + 4L, inner length above 4L) always hold when the limit matters,
 * i.e. when it hides the first 16 TCP bytes. ICMPv6 ignores its length byte.
 */
static void decode_icmp_quote(struct ctx *c, struct span s, uint32_t rfc4884_words, bool v6)
{
    struct span q = after(&s, 8);
    if (rfc4884_words != 0 && have(&q, 0, 1))
        q = limit(q, ((uint32_t)(q.p[0] & 0x0f) + rfc4884_words) * 4);
    bool saved = c->quoted;
    c->quoted = true;
    if (v6)
        decode_ipv6(c, q);
    else
        decode_ipv4(c, q);
    c->quoted = saved;
}

static void decode_icmp(struct ctx *c, struct span s)
{
    if (!have(&s, 0, 8)) {
        count(c, SM_DC_ICMP_TRUNCATED);
        return;
    }
    uint8_t type = s.p[0];
    switch (type) {
    case 3:  /* destination unreachable */
    case 11: /* time exceeded */
    case 12: /* parameter problem */
        decode_icmp_quote(c, s, s.p[5], false);
        break;
    case 4: /* source quench */
        decode_icmp_quote(c, s, 0, false);
        break;
    default:
        /* Redirect (5) quotes only IHL*4+8 bytes in tshark: never a TCP stream. Echo and
         * the rest carry no IP. */
        count(c, SM_DC_NOT_TCP);
        break;
    }
}

static void decode_icmpv6(struct ctx *c, struct span s)
{
    if (!have(&s, 0, 8)) {
        count(c, SM_DC_ICMP_TRUNCATED);
        return;
    }
    uint8_t type = s.p[0];
    switch (type) {
    case 1: /* destination unreachable */
    case 2: /* packet too big */
    case 3: /* time exceeded */
    case 4: /* parameter problem */
        decode_icmp_quote(c, s, 0, true);
        break;
    default:
        count(c, SM_DC_NOT_TCP);
        break;
    }
}

/* ---- UDP tunnels, GRE --------------------------------------------------------------------- */

static void decode_ether(struct ctx *c, struct span s);

static void decode_udp(struct ctx *c, struct span s)
{
    if (!have(&s, 0, 8)) {
        count(c, SM_DC_UDP_TRUNCATED);
        return;
    }
    uint16_t sport = be16(s.p), dport = be16(s.p + 2), ulen = be16(s.p + 4);
    if (sport != VXLAN_PORT && dport != VXLAN_PORT) {
        count(c, SM_DC_NOT_TCP);
        return;
    }
    /* The UDP length bounds the payload; 0 (jumbogram) or less than the header is bogus. */
    if (ulen < 8) {
        count(c, SM_DC_UDP_BAD_LENGTH);
        return;
    }
    struct span dg = limit(s, ulen);
    struct span pl = after(&dg, 8);
    if (!have(&pl, 0, 8)) {
        count(c, SM_DC_VXLAN_TRUNCATED);
        return;
    }
    decode_ether(c, after(&pl, 8));
}

static void decode_gre(struct ctx *c, struct span s)
{
    if (!have(&s, 0, 4)) {
        count(c, SM_DC_GRE_TRUNCATED);
        return;
    }
    uint16_t fv = be16(s.p), proto = be16(s.p + 2);
    if ((fv & 0x0007) != 0 || (fv & 0x4000) != 0) {
        /* Version 1 (PPTP) and source routing are not decoded. */
        count(c, SM_DC_GRE_UNSUPPORTED);
        return;
    }
    uint32_t off = 4;
    if (fv & 0x8000) /* checksum + reserved */
        off += 4;
    if (fv & 0x2000) /* key */
        off += 4;
    if (fv & 0x1000) /* sequence number */
        off += 4;
    if (!have(&s, 0, off)) {
        count(c, SM_DC_GRE_TRUNCATED);
        return;
    }
    struct span pl = after(&s, off);
    if (proto == ETH_TEB)
        decode_ether(c, pl);
    else
        decode_ethertype(c, proto, pl);
}

/* ---- IP payload dispatch ------------------------------------------------------------------- */

static void decode_transport(struct ctx *c, uint8_t proto, const struct ipinfo *ip,
                             struct span s)
{
    switch (proto) {
    case IPPROTO_V_TCP:
        decode_tcp(c, ip, s);
        break;
    case IPPROTO_V_ICMP:
        decode_icmp(c, s);
        break;
    case IPPROTO_V_ICMPV6:
        decode_icmpv6(c, s);
        break;
    case IPPROTO_V_IPIP:
        decode_ip_by_version(c, s);
        break;
    case IPPROTO_V_IPV6:
        decode_ipv6(c, s);
        break;
    case IPPROTO_V_GRE:
        decode_gre(c, s);
        break;
    case IPPROTO_V_UDP:
        decode_udp(c, s);
        break;
    case IPPROTO_V_AH: {
        /* Authentication Header (over IPv4; IPv6 walks it in its chain): look through it. */
        if (!have(&s, 0, 2) || !have(&s, 0, ((uint32_t)s.p[1] + 2) * 4)) {
            count(c, SM_DC_AH_TRUNCATED);
            break;
        }
        uint8_t next = s.p[0];
        if (c->depth >= MAX_DEPTH || next == IPPROTO_V_AH) {
            bound_hit(c, SM_DC_ENCAP_TOO_DEEP);
            break;
        }
        decode_transport(c, next, ip, after(&s, ((uint32_t)s.p[1] + 2) * 4));
        break;
    }
    default:
        count(c, SM_DC_NOT_TCP);
        break;
    }
}

/* ---- IPv4 --------------------------------------------------------------------------------- */

/*
 * Walks the IPv4 options for the R13 rule: a Loose or Strict Source Route whose pointer still
 * points inside the option makes its last address the destination. A malformed option ends
 * the walk (and is counted); the packet is still decoded, as tshark does.
 */
static void ipv4_options(struct ctx *c, const uint8_t *p, uint32_t len, struct sm_addr *dst)
{
    uint32_t i = 0;
    while (i < len) {
        uint8_t type = p[i];
        if (type == 0)
            return;
        if (type == 1) {
            i++;
            continue;
        }
        if (i + 1 >= len) {
            count(c, SM_DC_IPV4_BAD_OPTION);
            return;
        }
        uint8_t olen = p[i + 1];
        if (olen < 2 || olen > len - i) {
            count(c, SM_DC_IPV4_BAD_OPTION);
            return;
        }
        if ((type == 131 || type == 137) && olen >= 7) {
            uint8_t ptr = p[i + 2];
            if (ptr <= olen - 3) {
                memcpy(dst->bytes, p + i + olen - 4, 4);
            }
        }
        i += olen;
    }
}

static void decode_ipv4(struct ctx *c, struct span s)
{
    if (c->depth >= MAX_DEPTH) {
        bound_hit(c, SM_DC_ENCAP_TOO_DEEP);
        return;
    }
    if (!have(&s, 0, 20)) {
        count(c, SM_DC_IPV4_TRUNCATED);
        return;
    }
    const uint8_t *h = s.p;
    if ((h[0] >> 4) != 4) {
        count(c, SM_DC_IP_BAD_VERSION);
        return;
    }
    uint32_t ihl = (uint32_t)(h[0] & 0x0f) * 4;
    if (ihl < 20) {
        count(c, SM_DC_IPV4_BAD_IHL);
        return;
    }
    uint32_t total = be16(h + 2);
    if (total == 0) /* TSO: tshark takes the length from the frame */
        total = s.rep;
    if (total < ihl) {
        count(c, SM_DC_IPV4_BAD_LENGTH);
        return;
    }
    if (!have(&s, 0, ihl)) {
        count(c, SM_DC_IPV4_TRUNCATED);
        return;
    }
    struct span dg = limit(s, total);
    struct ipinfo ip;
    ip.direct_fragment = false;
    ip.src.family = ip.dst.family = SM_AF_INET;
    memset(ip.src.bytes + 4, 0, 12);
    memset(ip.dst.bytes + 4, 0, 12);
    memcpy(ip.src.bytes, h + 12, 4);
    memcpy(ip.dst.bytes, h + 16, 4);
    ip.ip_id = be16(h + 4);
    ip.ttl = h[8];
    uint8_t proto = h[9];
    if (ihl > 20)
        ipv4_options(c, h + 20, ihl - 20, &ip.dst);

    c->depth++;
    uint16_t fragoff = be16(h + 6);
    bool more = (fragoff & 0x2000) != 0;
    uint32_t offset = (uint32_t)(fragoff & 0x1fff) * 8;
    struct span pl = after(&dg, ihl);

    if (more || offset != 0) {
        /* R11. Reassembly needs every byte of the fragment captured (a quote in an ICMP
         * error almost never has them); otherwise only a first fragment is decoded,
         * directly, and may not teach sequence bases. */
        uint32_t fraglen = total - ihl;
        if (fraglen > 0 && pl.cap >= fraglen) { /* tshark: ip_len > hlen, all captured */
            struct sm_frag_key key;
            memset(&key, 0, sizeof key);
            key.src = ip.src;
            key.dst = ip.dst;
            key.ident = (uint32_t)proto ^ ip.ip_id ^ be32(ip.src.bytes) ^ be32(ip.dst.bytes) ^
                        c->vlan_id;
            const uint8_t *out = NULL;
            uint32_t outlen = 0;
            enum sm_defrag_result res =
                sm_defrag_add(c->d->defrag, &key, offset, more, pl.p, fraglen, &out, &outlen,
                              &c->d->counters[SM_DC_FRAG_EVICTED]);
            if (res == SM_DEFRAG_COMPLETE) {
                count(c, SM_DC_FRAG_REASSEMBLED);
                struct span whole = {out, outlen, outlen};
                decode_transport(c, proto, &ip, whole);
            } else if (res == SM_DEFRAG_HELD) {
                count(c, SM_DC_FRAG_HELD);
            } else if (res == SM_DEFRAG_TOO_MANY) {
                bound_hit(c, SM_DC_FRAG_BAD);
            } else {
                count(c, SM_DC_FRAG_BAD);
            }
        } else if (offset == 0) {
            count(c, SM_DC_FRAG_UNREASSEMBLED);
            ip.direct_fragment = true;
            decode_transport(c, proto, &ip, pl);
        } else {
            count(c, SM_DC_NOT_TCP);
        }
    } else {
        decode_transport(c, proto, &ip, pl);
    }
    c->depth--;
}

/* ---- IPv6 --------------------------------------------------------------------------------- */

enum {
    V6_HOPOPTS = 0,
    V6_ROUTING = 43,
    V6_FRAGMENT = 44,
    V6_ESP = 50,
    V6_AH = 51,
    V6_NONE = 59,
    V6_DSTOPTS = 60,
    V6_MOBILITY = 135,
    V6_HIP = 139,
    V6_SHIM6 = 140,
};

/*
 * The options of a hop-by-hop or destination options header of elen bytes, avail bytes of
 * the datagram from its start on (captured and within the payload length). A Home Address
 * option (0xc9) in a destination options header makes its address the source (R13).
 * False when an option runs past the datagram: Wireshark reads every option's length and
 * data from the datagram, not from the header, and stops dissecting at such a read (the
 * packet is "malformed" and its TCP gets no stream, R14); one that only runs past its
 * header reads into what follows and is fine.
 */
static bool v6_options(const uint8_t *p, uint32_t elen, uint32_t avail, struct sm_addr *src)
{
    uint32_t i = 2;
    while (i < elen) {
        uint8_t type = p[i];
        if (type == 0) { /* Pad1 */
            i++;
            continue;
        }
        if (i + 1 >= avail)
            return false;
        uint8_t olen = p[i + 1];
        if ((uint32_t)olen + 2 > avail - i)
            return false;
        if (src != NULL && type == 0xc9 && olen == 16 && i + 18 <= elen)
            memcpy(src->bytes, p + i + 2, 16);
        i += 2u + olen;
    }
    return true;
}

/* Routing header with segments left: the final destination becomes the destination (R13). */
static void v6_routing(const uint8_t *p, uint32_t len, struct sm_addr *dst)
{
    uint8_t type = p[2], segleft = p[3];
    if (segleft == 0 || len < 24)
        return;
    uint32_t naddr = (len - 8) / 16;
    switch (type) {
    case 0: /* last listed address */
        memcpy(dst->bytes, p + 8 + (naddr - 1) * 16, 16);
        break;
    case 2: /* the home address */
    case 4: /* segment routing: segment[0] is the final one */
        memcpy(dst->bytes, p + 8, 16);
        break;
    default:
        break;
    }
}

static void decode_ipv6(struct ctx *c, struct span s)
{
    if (c->depth >= MAX_DEPTH) {
        bound_hit(c, SM_DC_ENCAP_TOO_DEEP);
        return;
    }
    if (!have(&s, 0, 40)) {
        count(c, SM_DC_IPV6_TRUNCATED);
        return;
    }
    const uint8_t *h = s.p;
    if ((h[0] >> 4) != 6) {
        count(c, SM_DC_IP_BAD_VERSION);
        return;
    }
    uint32_t plen = be16(h + 4);
    struct ipinfo ip;
    ip.direct_fragment = false;
    ip.ip_id = 0;
    ip.src.family = ip.dst.family = SM_AF_INET6;
    memcpy(ip.src.bytes, h + 8, 16);
    memcpy(ip.dst.bytes, h + 24, 16);
    ip.ttl = h[7];
    uint8_t nxt = h[6];
    /* The payload length bounds the datagram (a length of 0 is taken literally). left is
     * what the header declares beyond the current extension header, captured or not. */
    struct span dg = limit(s, 40 + plen);
    struct span cur = after(&dg, 40);
    uint32_t left = plen;
    c->depth++;

    for (unsigned n = 0;; n++) {
        if (n > MAX_V6_EXT) {
            bound_hit(c, SM_DC_IPV6_EXT_TOO_MANY);
            goto out;
        }
        switch (nxt) {
        case V6_HOPOPTS:
        case V6_ROUTING:
        case V6_DSTOPTS:
        case V6_MOBILITY:
        case V6_HIP:
        case V6_SHIM6: {
            if (!have(&cur, 0, 2)) {
                count(c, SM_DC_IPV6_EXT_TRUNCATED);
                goto out;
            }
            uint32_t elen = ((uint32_t)cur.p[1] + 1) * 8;
            if (!have(&cur, 0, elen) || cur.rep < elen) {
                count(c, SM_DC_IPV6_EXT_TRUNCATED);
                goto out;
            }
            if ((nxt == V6_HOPOPTS || nxt == V6_DSTOPTS) &&
                !v6_options(cur.p, elen, cur.cap < cur.rep ? cur.cap : cur.rep,
                            nxt == V6_DSTOPTS ? &ip.src : NULL)) {
                count(c, SM_DC_IPV6_OPT_MALFORMED);
                goto out;
            }
            if (nxt == V6_ROUTING)
                v6_routing(cur.p, elen, &ip.dst);
            else if (nxt == V6_MOBILITY) {
                count(c, SM_DC_NOT_TCP);
                goto out;
            }
            nxt = cur.p[0];
            cur = after(&cur, elen);
            left -= elen;
            break;
        }
        case V6_AH: {
            if (!have(&cur, 0, 2)) {
                count(c, SM_DC_IPV6_EXT_TRUNCATED);
                goto out;
            }
            uint32_t elen = ((uint32_t)cur.p[1] + 2) * 4;
            if (!have(&cur, 0, elen) || cur.rep < elen) {
                count(c, SM_DC_IPV6_EXT_TRUNCATED);
                goto out;
            }
            nxt = cur.p[0];
            cur = after(&cur, elen);
            left -= elen;
            break;
        }
        case V6_FRAGMENT: {
            if (!have(&cur, 0, 8) || cur.rep < 8) {
                count(c, SM_DC_IPV6_EXT_TRUNCATED);
                goto out;
            }
            uint16_t offm = be16(cur.p + 2);
            uint32_t offset = (uint32_t)(offm & 0xfff8);
            bool more = (offm & 1) != 0;
            uint32_t ident = be32(cur.p + 4);
            nxt = cur.p[0];
            cur = after(&cur, 8);
            left -= 8;
            if (offset == 0 && !more) /* an atomic fragment: not fragmented at all */
                break;
            /* R11 for IPv6: a fragment is only ever decoded through reassembly, and only
             * when all of its declared bytes were captured. */
            if (cur.cap < left) {
                count(c, offset == 0 ? SM_DC_FRAG_UNREASSEMBLED : SM_DC_NOT_TCP);
                goto out;
            }
            struct sm_frag_key key;
            memset(&key, 0, sizeof key);
            key.src = ip.src;
            key.dst = ip.dst;
            key.ident = ident;
            const uint8_t *dout = NULL;
            uint32_t outlen = 0;
            enum sm_defrag_result res =
                sm_defrag_add(c->d->defrag, &key, offset, more, cur.p, left, &dout, &outlen,
                              &c->d->counters[SM_DC_FRAG_EVICTED]);
            if (res == SM_DEFRAG_HELD) {
                count(c, SM_DC_FRAG_HELD);
                goto out;
            }
            if (res == SM_DEFRAG_BAD || res == SM_DEFRAG_TOO_MANY) {
                if (res == SM_DEFRAG_TOO_MANY)
                    bound_hit(c, SM_DC_FRAG_BAD);
                else
                    count(c, SM_DC_FRAG_BAD);
                goto out;
            }
            count(c, SM_DC_FRAG_REASSEMBLED);
            cur.p = dout;
            cur.cap = cur.rep = left = outlen;
            break;
        }
        case V6_ESP:
        case V6_NONE:
            count(c, SM_DC_NOT_TCP);
            goto out;
        default:
            decode_transport(c, nxt, &ip, cur);
            goto out;
        }
    }
out:
    c->depth--;
}

static void decode_ip_by_version(struct ctx *c, struct span s)
{
    if (!have(&s, 0, 1)) {
        count(c, SM_DC_IPV4_TRUNCATED);
        return;
    }
    switch (s.p[0] >> 4) {
    case 4:
        decode_ipv4(c, s);
        break;
    case 6:
        decode_ipv6(c, s);
        break;
    default:
        count(c, SM_DC_IP_BAD_VERSION);
        break;
    }
}

/* ---- link layers -------------------------------------------------------------------------- */

static void decode_ethertype(struct ctx *c, uint16_t type, struct span s)
{
    for (unsigned tags = 0;; tags++) {
        switch (type) {
        case ETH_IPV4:
            /* tshark's IPv4 dissector hands version 6 to IPv6. */
            decode_ip_by_version(c, s);
            return;
        case ETH_IPV6:
            decode_ipv6(c, s);
            return;
        case ETH_VLAN:
        case ETH_QINQ:
        case ETH_QINQ_OLD: {
            if (tags >= MAX_VLAN_TAGS) {
                bound_hit(c, SM_DC_VLAN_TOO_DEEP);
                return;
            }
            if (!have(&s, 0, 4)) {
                count(c, SM_DC_VLAN_TRUNCATED);
                return;
            }
            uint16_t vid = be16(s.p) & 0x0fff;
            c->vlan_id = vid;
            if (c->nvlan < 2 && c->depth == 0)
                c->vlan[c->nvlan++] = vid;
            type = be16(s.p + 2);
            s = after(&s, 4);
            if (type <= 1500) { /* 802.3 length: LLC follows, not IP */
                count(c, SM_DC_NOT_IP);
                return;
            }
            break;
        }
        default:
            count(c, SM_DC_NOT_IP);
            return;
        }
    }
}

/*
 * The frame nearly every capture is made of: untagged Ethernet, IPv4 without options or
 * fragmentation, TCP. Straight to decode_tcp() with what decode_ipv4() would have handed it;
 * any other frame (or a short one) returns false untouched and takes the general path.
 */
static bool decode_ether_ipv4_tcp(struct ctx *c, struct span s)
{
    if (s.cap < 14 + 20 || c->depth >= MAX_DEPTH) /* (inside tunnels too: VXLAN, GRE) */
        return false;
    const uint8_t *h = s.p + 14;
    if (be16(s.p + 12) != ETH_IPV4 || h[0] != 0x45 || h[9] != IPPROTO_V_TCP ||
        (be16(h + 6) & 0x3fff) != 0)
        return false;
    struct span ipspan = after(&s, 14);
    uint32_t total = be16(h + 2);
    if (total == 0) /* TSO: tshark takes the length from the frame */
        total = ipspan.rep;
    if (total < 20)
        return false; /* the general path counts it */
    struct ipinfo ip;
    ip.direct_fragment = false;
    memset(&ip.src, 0, sizeof ip.src);
    memset(&ip.dst, 0, sizeof ip.dst);
    ip.src.family = ip.dst.family = SM_AF_INET;
    memcpy(ip.src.bytes, h + 12, 4);
    memcpy(ip.dst.bytes, h + 16, 4);
    ip.ip_id = be16(h + 4);
    ip.ttl = h[8];
    struct span dg = limit(ipspan, total);
    c->depth++;
    decode_tcp(c, &ip, after(&dg, 20));
    c->depth--;
    return true;
}

static void decode_ether(struct ctx *c, struct span s)
{
    if (decode_ether_ipv4_tcp(c, s))
        return;
    if (!have(&s, 0, 14)) {
        count(c, SM_DC_LINK_TRUNCATED);
        return;
    }
    uint16_t type = be16(s.p + 12);
    if (type <= 1500) {
        count(c, SM_DC_NOT_IP);
        return;
    }
    decode_ethertype(c, type, after(&s, 14));
}

/* BSD loopback: the address family in the writer's byte order (tshark's heuristic). */
static void decode_null(struct ctx *c, struct span s, bool network_order)
{
    if (!have(&s, 0, 4)) {
        count(c, SM_DC_LINK_TRUNCATED);
        return;
    }
    if (!network_order && be16(s.p) == 0xff03) { /* PPP in HDLC framing */
        count(c, SM_DC_NOT_IP);
        return;
    }
    uint32_t af;
    if (network_order) {
        af = be32(s.p);
    } else {
        af = (uint32_t)s.p[0] | (uint32_t)s.p[1] << 8 | (uint32_t)s.p[2] << 16 |
             (uint32_t)s.p[3] << 24;
        if ((af & 0xffff0000u) != 0) {
            if ((af & 0xff000000u) == 0 && (af & 0x00ff0000u) < 0x00060000u)
                af >>= 16;
            else
                af = __builtin_bswap32(af);
        } else if ((af & 0xffu) == 0 && (af & 0xff00u) < 0x0600u) {
            af = (uint32_t)__builtin_bswap16((uint16_t)af);
        }
    }
    struct span pl = after(&s, 4);
    if (af > 1500) {
        decode_ethertype(c, (uint16_t)af, pl);
        return;
    }
    switch (af) {
    case 2:
        decode_ip_by_version(c, pl);
        break;
    case 24:
    case 28:
    case 30:
        decode_ipv6(c, pl);
        break;
    default:
        count(c, SM_DC_NOT_IP);
        break;
    }
}

bool sm_decode_linktype_supported(uint32_t linktype)
{
    switch (linktype) {
    case LINKTYPE_NULL:
    case LINKTYPE_ETHERNET:
    case LINKTYPE_RAW_OLD:
    case LINKTYPE_RAW_OPENBSD:
    case LINKTYPE_RAW:
    case LINKTYPE_LOOP:
    case LINKTYPE_LINUX_SLL:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
    case LINKTYPE_LINUX_SLL2:
        return true;
    default:
        return false;
    }
}

int sm_decode_frame(sm_decoder_t *d, const struct sm_frame *frame, sm_tcp_fn fn, void *arg)
{
    struct ctx c = {.d = d, .frame = frame, .fn = fn, .arg = arg};
    d->counters[SM_DC_FRAMES]++;
    struct span s = {frame->data, frame->caplen,
                     frame->wirelen > frame->caplen ? frame->wirelen : frame->caplen};

    /* Nearly every capture is Ethernet: one comparison instead of the switch's search. */
    if (frame->linktype == LINKTYPE_ETHERNET) {
        decode_ether(&c, s);
        return c.ntcp;
    }
    switch (frame->linktype) {
    case LINKTYPE_ETHERNET:
        decode_ether(&c, s);
        break;
    case LINKTYPE_LINUX_SLL:
        if (!have(&s, 0, 16)) {
            count(&c, SM_DC_LINK_TRUNCATED);
            break;
        }
        decode_ethertype(&c, be16(s.p + 14), after(&s, 16));
        break;
    case LINKTYPE_LINUX_SLL2:
        if (!have(&s, 0, 20)) {
            count(&c, SM_DC_LINK_TRUNCATED);
            break;
        }
        decode_ethertype(&c, be16(s.p), after(&s, 20));
        break;
    case LINKTYPE_RAW_OLD:
    case LINKTYPE_RAW_OPENBSD:
    case LINKTYPE_RAW:
        decode_ip_by_version(&c, s);
        break;
    case LINKTYPE_IPV4:
        decode_ipv4(&c, s);
        break;
    case LINKTYPE_IPV6:
        decode_ipv6(&c, s);
        break;
    case LINKTYPE_NULL:
        decode_null(&c, s, false);
        break;
    case LINKTYPE_LOOP:
        decode_null(&c, s, true);
        break;
    default:
        count(&c, SM_DC_LINKTYPE_UNSUPPORTED);
        break;
    }
    return c.ntcp;
}

sm_decoder_t *sm_decoder_new(const struct sm_decoder_config *cfg)
{
    sm_decoder_t *d = sm_calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    size_t bytes = cfg && cfg->frag_max_bytes ? cfg->frag_max_bytes : DEFAULT_FRAG_BYTES;
    size_t dgrams =
        cfg && cfg->frag_max_datagrams ? cfg->frag_max_datagrams : DEFAULT_FRAG_DATAGRAMS;
    d->defrag = sm_defrag_new(bytes, dgrams);
    if (d->defrag == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

void sm_decoder_destroy(sm_decoder_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_defrag_destroy(&(*self_p)->defrag);
    free(*self_p);
    *self_p = NULL;
}

const uint64_t *sm_decoder_counters(const sm_decoder_t *d)
{
    return d->counters;
}

uint64_t sm_decoder_bounded_frames(const sm_decoder_t *d)
{
    return d->bounded_frames;
}

uint64_t sm_decoder_first_bounded_frame(const sm_decoder_t *d)
{
    return d->first_bounded_frame;
}
