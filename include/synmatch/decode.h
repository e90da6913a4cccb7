/*
 * decode.h - from a captured frame to the TCP headers it carries.
 *
 * The decoder walks link layer, VLAN tags, IPv4/IPv6 (options, extension headers, fragments),
 * tunnels (IP-in-IP, GRE, VXLAN) and ICMP/ICMPv6 error quotes, the way tshark 4.0 does with
 * its default preferences (see docs/tcp-stream-numbering.md), and reports every TCP header it
 * finds, in dissection order, through a callback. Every read is bounds-checked against the
 * captured length; every malformed case increments a named counter and ends decoding of that
 * frame (or, for advisory parts such as IP options, of that part). Nothing is logged.
 *
 * The decoder holds state only for IP reassembly, bounded by sm_decoder_config.
 */
#ifndef SYNMATCH_DECODE_H
#define SYNMATCH_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/frame.h"
#include "synmatch/record.h"

typedef struct sm_decoder sm_decoder_t;

/* Frame and malformed-packet counters, by reason. Names: sm_decode_counter_name(). */
enum sm_decode_counter {
    SM_DC_FRAMES,             /* frames given to the decoder */
    SM_DC_TCP_HEADERS,        /* TCP headers reported (including quoted ones) */
    SM_DC_QUOTED_TCP,         /* of which inside an ICMP error */
    SM_DC_NOT_IP,             /* a frame that does not carry IP (ARP, LLDP, ...) */
    SM_DC_NOT_TCP,            /* IP that carries neither TCP nor a decoded tunnel */
    SM_DC_LINKTYPE_UNSUPPORTED,
    SM_DC_LINK_TRUNCATED,
    SM_DC_VLAN_TRUNCATED,
    SM_DC_VLAN_TOO_DEEP,
    SM_DC_IP_BAD_VERSION,
    SM_DC_IPV4_TRUNCATED,
    SM_DC_IPV4_BAD_IHL,
    SM_DC_IPV4_BAD_LENGTH,
    SM_DC_IPV4_BAD_OPTION,
    SM_DC_IPV6_TRUNCATED,
    SM_DC_IPV6_EXT_TRUNCATED,
    SM_DC_IPV6_EXT_TOO_MANY,
    SM_DC_AH_TRUNCATED,       /* IPv4 Authentication Header cut short */
    SM_DC_FRAG_HELD,          /* fragments held waiting for the rest of their datagram */
    SM_DC_FRAG_REASSEMBLED,   /* datagrams completed */
    SM_DC_FRAG_UNREASSEMBLED, /* first fragments decoded alone because not fully captured */
    SM_DC_FRAG_EVICTED,       /* incomplete datagrams dropped to stay within the memory cap */
    SM_DC_FRAG_BAD,           /* fragments that cannot be right (past 64 KiB, bad length) */
    SM_DC_TCP_TRUNCATED,      /* fewer than 16 TCP header bytes: no stream (tshark does alike) */
    SM_DC_TCP_BAD_OFFSET,     /* data offset < 5 */
    SM_DC_TCP_SHORT,          /* header or options not all there (snapshot length, IP
                               * length or a short frame); decoded as far as it goes */
    SM_DC_TCP_BAD_OPTION,     /* option length 0 or 1, or one running past the header
                               * (checked on SYN, SYN/ACK and RST headers only) */
    SM_DC_ICMP_TRUNCATED,
    SM_DC_UDP_TRUNCATED,
    SM_DC_UDP_BAD_LENGTH,
    SM_DC_GRE_TRUNCATED,
    SM_DC_GRE_UNSUPPORTED,
    SM_DC_VXLAN_TRUNCATED,
    SM_DC_ENCAP_TOO_DEEP,
    SM_DC_IPV6_OPT_MALFORMED, /* a hop-by-hop or destination option runs past the datagram:
                               * Wireshark stops there (malformed), so no TCP is decoded */
    SM_DC_COUNT
};

const char *sm_decode_counter_name(enum sm_decode_counter c);

/* True for counters that mean "malformed input" rather than "not ours". */
bool sm_decode_counter_is_error(enum sm_decode_counter c);

struct sm_decoder_config {
    size_t frag_max_bytes;     /* bytes held in incomplete datagrams; 0 = default (32 MiB) */
    size_t frag_max_datagrams; /* incomplete datagrams held; 0 = default (16384) */
};

/*
 * One TCP header found in a frame. rec.stream is SM_STREAM_NONE (numbering is separate).
 * rec.opts is parsed only for SYN, SYN/ACK and RST headers (the ones that become records);
 * it is all zero for other headers, whose options are not looked at.
 */
struct sm_tcp_view {
    struct sm_record rec;
    bool analyzable; /* may teach the numbering sequence bases (R8) */
    bool quoted;     /* inside an ICMP/ICMPv6 error message (R10) */
};

typedef void (*sm_tcp_fn)(void *arg, const struct sm_tcp_view *view);

/* cfg may be NULL for defaults. Returns NULL only when out of memory. */
sm_decoder_t *sm_decoder_new(const struct sm_decoder_config *cfg);
void sm_decoder_destroy(sm_decoder_t **self_p);

bool sm_decode_linktype_supported(uint32_t linktype);

/*
 * Decodes one frame and calls fn once per TCP header, in dissection order (normally zero or
 * one). The frame's bytes are only read during the call. Returns the number of TCP headers.
 */
int sm_decode_frame(sm_decoder_t *d, const struct sm_frame *frame, sm_tcp_fn fn, void *arg);

/* Counters so far, indexed by enum sm_decode_counter. */
const uint64_t *sm_decoder_counters(const sm_decoder_t *d);

/* Frames cut off by a nesting bound of synmatch's own (IP layers, IPv6 extension headers,
 * VLAN tags) that tshark does not have, and the first of them (0 = none): from there on
 * tcp.stream may differ from Wireshark's. */
#define SM_DECODE_BOUNDS                                                                           \
    "64 IP layers, 256 IPv6 extension headers, 128 VLAN tags, 4,096 fragments per datagram"
uint64_t sm_decoder_bounded_frames(const sm_decoder_t *d);
uint64_t sm_decoder_first_bounded_frame(const sm_decoder_t *d);

#endif
