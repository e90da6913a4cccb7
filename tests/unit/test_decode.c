/*
 * test_decode.c - the malformed-packet checklist of the decoder as a golden test: every frame
 * is built by hand here, decoded, and checked for the TCP headers it reports (count, tuple,
 * sequence numbers, flags, options, analyzable/quoted per docs/tcp-stream-numbering.md R8-R13,
 * VLAN ids) and for exactly which counters moved: the whole counter array is compared before
 * and after, so a case that also bumps an unexpected counter fails.
 *
 * A sweep then decodes every prefix and every single-byte corruption of a few valid frames,
 * each in a buffer of exactly its captured length, so that ASan/UBSan builds catch any read
 * past the captured bytes; the counters must stay consistent with the calls made.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "addr.h"
#include "synmatch/decode.h"
#include "synmatch/record.h"

enum {
    LT_NULL = 0,
    LT_ETHERNET = 1,
    LT_RAW = 101,
    LT_LOOP = 108,
    LT_SLL = 113,
    LT_IPV4 = 228,
    LT_IPV6 = 229,
    LT_SLL2 = 276,
    LT_IEEE802_11 = 105, /* not supported by the decoder */
};

enum {
    ET_IPV4 = 0x0800,
    ET_ARP = 0x0806,
    ET_IPV6 = 0x86dd,
    ET_VLAN = 0x8100,
    ET_QINQ = 0x88a8,
    ET_TEB = 0x6558,
};

enum {
    P_HOPOPTS = 0,
    P_ICMP = 1,
    P_IPIP = 4,
    P_TCP = 6,
    P_UDP = 17,
    P_IPV6 = 41,
    P_ROUTING = 43,
    P_FRAGMENT = 44,
    P_GRE = 47,
    P_ICMPV6 = 58,
    P_DSTOPTS = 60,
};

#define IPF_MF 0x2000

#define C4    "10.0.0.1"
#define S4    "10.0.0.2"
#define C6    "2001:db8::1"
#define S6    "2001:db8::2"
#define CPORT 40000
#define SPORT 80
#define TS0   INT64_C(1700000000123456789)

/* ---- building frames ---------------------------------------------------------------------- */

#define PKT_MAX 4096

struct pkt {
    uint8_t b[PKT_MAX];
    uint32_t n;
};

static void pk_bytes(struct pkt *p, const void *d, uint32_t n)
{
    if (p->n + n > PKT_MAX) {
        fprintf(stderr, "test frame too large\n");
        exit(2);
    }
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void pk_u8(struct pkt *p, uint8_t v)
{
    pk_bytes(p, &v, 1);
}

static void pk_be16(struct pkt *p, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    pk_bytes(p, x, 2);
}

static void pk_be32(struct pkt *p, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    pk_bytes(p, x, 4);
}

static void pk_le32(struct pkt *p, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    pk_bytes(p, x, 4);
}

static void pk_addr(struct pkt *p, int af, const char *text)
{
    uint8_t a[16];
    if (inet_pton(af, text, a) != 1) {
        fprintf(stderr, "bad address %s\n", text);
        exit(2);
    }
    pk_bytes(p, a, af == AF_INET ? 4 : 16);
}

static void pk_zero(struct pkt *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        pk_u8(p, 0);
}

/* Appends bytes [from, from + n) of src. */
static void pk_slice(struct pkt *p, const struct pkt *src, uint32_t from, uint32_t n)
{
    pk_bytes(p, src->b + from, n);
}

static void pk_all(struct pkt *p, const struct pkt *src)
{
    pk_bytes(p, src->b, src->n);
}

static void pk_set16(struct pkt *p, uint32_t off, uint16_t v)
{
    p->b[off] = (uint8_t)(v >> 8);
    p->b[off + 1] = (uint8_t)v;
}

struct tcpspec {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint16_t flags; /* 12 bits, NS included */
    uint16_t window;
    const uint8_t *opts;
    uint32_t optlen; /* a multiple of 4 */
    uint32_t payload;
};

static void mk_tcp(struct pkt *p, const struct tcpspec *t)
{
    p->n = 0;
    uint32_t doff = (20 + t->optlen) / 4;
    pk_be16(p, t->sport);
    pk_be16(p, t->dport);
    pk_be32(p, t->seq);
    pk_be32(p, t->ack);
    pk_be16(p, (uint16_t)(doff << 12 | (t->flags & 0x0fff)));
    pk_be16(p, t->window);
    pk_be16(p, 0xbeef); /* checksum: never checked */
    pk_be16(p, 0);
    if (t->optlen)
        pk_bytes(p, t->opts, t->optlen);
    for (uint32_t i = 0; i < t->payload; i++)
        pk_u8(p, (uint8_t)('a' + i % 26));
}

struct v4spec {
    const char *src, *dst;
    uint8_t proto;
    uint16_t id;
    uint8_t ttl;
    uint16_t frag; /* flags and offset field */
    const uint8_t *opts;
    uint32_t optlen;
    int total;   /* -1: computed */
    int version; /* 0: 4 */
};

static void mk_ipv4(struct pkt *p, const struct v4spec *s, const struct pkt *payload)
{
    p->n = 0;
    uint32_t ihl = (20 + s->optlen) / 4;
    uint32_t total = s->total >= 0 ? (uint32_t)s->total : 20 + s->optlen + payload->n;
    pk_u8(p, (uint8_t)((s->version ? s->version : 4) << 4 | (ihl & 0x0f)));
    pk_u8(p, 0);
    pk_be16(p, (uint16_t)total);
    pk_be16(p, s->id);
    pk_be16(p, s->frag);
    pk_u8(p, s->ttl ? s->ttl : 64);
    pk_u8(p, s->proto);
    pk_be16(p, 0); /* header checksum: never checked */
    pk_addr(p, AF_INET, s->src);
    pk_addr(p, AF_INET, s->dst);
    if (s->optlen)
        pk_bytes(p, s->opts, s->optlen);
    pk_all(p, payload);
}

struct v6spec {
    const char *src, *dst;
    uint8_t nxt;
    uint8_t hlim; /* 0: 59 */
    int plen;     /* -1: computed */
    int version;
};

static void mk_ipv6(struct pkt *p, const struct v6spec *s, const struct pkt *payload)
{
    p->n = 0;
    pk_be32(p, (uint32_t)(s->version ? s->version : 6) << 28 | 0x12345);
    pk_be16(p, (uint16_t)(s->plen >= 0 ? (uint32_t)s->plen : payload->n));
    pk_u8(p, s->nxt);
    pk_u8(p, s->hlim ? s->hlim : 59);
    pk_addr(p, AF_INET6, s->src);
    pk_addr(p, AF_INET6, s->dst);
    pk_all(p, payload);
}

static const uint8_t MAC_A[6] = {0x02, 0, 0, 0, 0, 0xaa};
static const uint8_t MAC_B[6] = {0x02, 0, 0, 0, 0, 0xbb};

/* Ethernet with tags: tags[] holds (TPID, TCI) pairs. */
static void mk_eth_tags(struct pkt *p, const uint16_t *tags, int ntags, uint16_t type,
                        const struct pkt *payload)
{
    p->n = 0;
    pk_bytes(p, MAC_A, 6);
    pk_bytes(p, MAC_B, 6);
    for (int i = 0; i < ntags; i++) {
        pk_be16(p, tags[2 * i]);
        pk_be16(p, tags[2 * i + 1]);
    }
    pk_be16(p, type);
    pk_all(p, payload);
}

static void mk_eth(struct pkt *p, uint16_t type, const struct pkt *payload)
{
    mk_eth_tags(p, NULL, 0, type, payload);
}

static void mk_sll(struct pkt *p, uint16_t proto, const struct pkt *payload)
{
    p->n = 0;
    pk_be16(p, 0); /* to us */
    pk_be16(p, 1); /* ARPHRD_ETHER */
    pk_be16(p, 6);
    pk_bytes(p, MAC_A, 6);
    pk_zero(p, 2);
    pk_be16(p, proto);
    pk_all(p, payload);
}

static void mk_sll2(struct pkt *p, uint16_t proto, const struct pkt *payload)
{
    p->n = 0;
    pk_be16(p, proto);
    pk_be16(p, 0);
    pk_be32(p, 3); /* interface index */
    pk_be16(p, 1);
    pk_u8(p, 4); /* outgoing */
    pk_u8(p, 6);
    pk_bytes(p, MAC_A, 6);
    pk_zero(p, 2);
    pk_all(p, payload);
}

/* BSD loopback: the family in the writer's byte order (NULL) or network order (LOOP). */
static void mk_null(struct pkt *p, uint32_t af, bool big_endian, const struct pkt *payload)
{
    p->n = 0;
    if (big_endian)
        pk_be32(p, af);
    else
        pk_le32(p, af);
    pk_all(p, payload);
}

/* The usual Linux SYN options. */
static const uint8_t SYN_OPTS[20] = {
    2, 4,  0x05, 0xb4,                     /* MSS 1460 */
    4, 2,                                  /* SACK permitted */
    8, 10, 0,    0,    0, 111, 0, 0, 0, 0, /* timestamps 111 and 0 */
    1,                                     /* NOP */
    3, 3,  7,                              /* window scale 7 */
};

/* A SYN C -> S (IPv4), 40-byte TCP header. */
static void syn4_tcp(struct pkt *t)
{
    mk_tcp(t, &(struct tcpspec){.sport = CPORT,
                                .dport = SPORT,
                                .seq = 1000,
                                .flags = SM_TH_SYN,
                                .window = 64240,
                                .opts = SYN_OPTS,
                                .optlen = 20});
}

static void syn4_ip(struct pkt *ip)
{
    struct pkt t;
    syn4_tcp(&t);
    mk_ipv4(ip,
            &(struct v4spec){
                .src = C4, .dst = S4, .proto = P_TCP, .id = 0x1234, .ttl = 61, .total = -1},
            &t);
}

static void syn6_ip(struct pkt *ip)
{
    struct pkt t;
    mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                 .dport = SPORT,
                                 .seq = 2000,
                                 .flags = SM_TH_SYN,
                                 .window = 64800,
                                 .opts = SYN_OPTS,
                                 .optlen = 20});
    mk_ipv6(ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_TCP, .hlim = 59, .plen = -1}, &t);
}

/* ---- decoding and checking ---------------------------------------------------------------- */

#define MAXV 8
static struct sm_tcp_view views[MAXV];
static int nviews;
static int64_t frame_no;

static void collect(void *arg, const struct sm_tcp_view *v)
{
    (void)arg;
    if (nviews < MAXV)
        views[nviews] = *v;
    nviews++;
}

/* Decodes the first caplen bytes of p (wire length wirelen) from an exactly-sized copy. */
static int decode(sm_decoder_t *d, uint32_t linktype, const uint8_t *bytes, uint32_t caplen,
                  uint32_t wirelen)
{
    uint8_t *copy = malloc(caplen ? caplen : 1);
    if (copy == NULL)
        exit(2);
    if (caplen)
        memcpy(copy, bytes, caplen);
    frame_no++;
    struct sm_frame fr = {
        .data = copy,
        .caplen = caplen,
        .wirelen = wirelen,
        .ts_ns = TS0 + frame_no - 1,
        .linktype = linktype,
        .interface = 0,
        .number = (uint64_t)frame_no,
    };
    nviews = 0;
    int n = sm_decode_frame(d, &fr, collect, NULL);
    free(copy);
    return n;
}

#define END (-1)

/*
 * Decodes one case and checks it: the number of TCP headers reported (want_tcp; the
 * tcp_headers counter is expected to move by as much), and then, as (counter, delta) pairs
 * ending with END, every other counter that must move. All others must stay put; frames
 * moves by one.
 */
static void run_case(sm_decoder_t *d, const char *name, uint32_t linktype, const struct pkt *p,
                     uint32_t caplen, uint32_t wirelen, int want_tcp, ...)
{
    uint64_t before[SM_DC_COUNT];
    memcpy(before, sm_decoder_counters(d), sizeof before);
    int n = decode(d, linktype, p->b, caplen, wirelen);
    const uint64_t *after = sm_decoder_counters(d);

    int64_t want[SM_DC_COUNT] = {0};
    want[SM_DC_FRAMES] = 1;
    want[SM_DC_TCP_HEADERS] = want_tcp;
    va_list ap;
    va_start(ap, want_tcp);
    for (int c = va_arg(ap, int); c != END; c = va_arg(ap, int))
        want[c] += va_arg(ap, int);
    va_end(ap);

    if (n != want_tcp || nviews != want_tcp)
        fprintf(stderr, "case %s: %d TCP headers reported (%d callbacks), expected %d\n", name, n,
                nviews, want_tcp);
    CHECK_EQ_U(n, want_tcp);
    CHECK_EQ_U(nviews, want_tcp);
    for (int c = 0; c < SM_DC_COUNT; c++) {
        int64_t moved = (int64_t)(after[c] - before[c]);
        if (moved != want[c])
            fprintf(stderr, "case %s: counter %s moved by %lld, expected %lld\n", name,
                    sm_decode_counter_name((enum sm_decode_counter)c), (long long)moved,
                    (long long)want[c]);
        CHECK_EQ_U(moved, want[c]);
    }
}

/* A frame of p->n bytes, fully captured. */
#define FULL(p) (p)->n, (p)->n

static bool addr_is(const struct sm_addr *a, const char *text)
{
    struct sm_addr want;
    memset(&want, 0, sizeof want);
    if (sm_addr_parse(text, &want) == -1)
        return false;
    return a->family == want.family && memcmp(a->bytes, want.bytes, 16) == 0;
}

/* Checks the tuple, sequence numbers, flags and the two R8/R10 bits of views[i]. */
static void check_view(const char *name, int i, const char *src, unsigned sport, const char *dst,
                       unsigned dport, uint32_t seq, uint32_t ack, uint16_t flags, bool analyzable,
                       bool quoted)
{
    if (i >= nviews || i >= MAXV) {
        fprintf(stderr, "case %s: no TCP header %d to check\n", name, i);
        CHECK(i < nviews);
        return;
    }
    const struct sm_tcp_view *v = &views[i];
    const struct sm_record *r = &v->rec;
    bool ok = addr_is(&r->tuple.src, src) && addr_is(&r->tuple.dst, dst) &&
              r->tuple.sport == sport && r->tuple.dport == dport && r->seq == seq &&
              r->ack == ack && r->flags == flags && v->analyzable == analyzable &&
              v->quoted == quoted && r->stream == SM_STREAM_NONE &&
              r->frame == (uint64_t)frame_no && r->ts_ns == TS0 + frame_no - 1;
    if (!ok) {
        char a[SM_ADDR_STRLEN], b[SM_ADDR_STRLEN];
        fprintf(stderr,
                "case %s: got %s:%u > %s:%u seq %u ack %u flags 0x%03x analyzable %d "
                "quoted %d stream %lld frame %llu\n"
                "  want %s:%u > %s:%u seq %u ack %u flags 0x%03x analyzable %d quoted %d\n",
                name, sm_addr_format(&r->tuple.src, a, sizeof a), r->tuple.sport,
                sm_addr_format(&r->tuple.dst, b, sizeof b), r->tuple.dport, r->seq, r->ack,
                r->flags, v->analyzable, v->quoted, (long long)r->stream,
                (unsigned long long)r->frame, src, sport, dst, dport, seq, ack, flags, analyzable,
                quoted);
    }
    CHECK(ok);
}

/* The default C -> S SYN of syn4_ip()/syn6_ip(), with its options and IP fields. */
static void check_syn4(const char *name, bool analyzable, bool quoted)
{
    check_view(name, 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, analyzable, quoted);
    if (nviews < 1)
        return;
    const struct sm_record *r = &views[0].rec;
    CHECK_EQ_U(r->window, 64240);
    CHECK_EQ_U(r->opts.present, SM_OPT_MSS | SM_OPT_WSCALE | SM_OPT_SACKOK | SM_OPT_TS);
    CHECK_EQ_U(r->opts.mss, 1460);
    CHECK_EQ_U(r->opts.wscale, 7);
    CHECK_EQ_U(r->opts.tsval, 111);
    CHECK_EQ_U(r->opts.tsecr, 0);
    if (r->window != 64240 || r->opts.present != 0x0f)
        fprintf(stderr, "case %s: window %u options 0x%x\n", name, r->window, r->opts.present);
}

static void check_syn6(const char *name, bool analyzable, bool quoted)
{
    check_view(name, 0, C6, CPORT, S6, SPORT, 2000, 0, SM_TH_SYN, analyzable, quoted);
    if (nviews < 1)
        return;
    const struct sm_record *r = &views[0].rec;
    CHECK_EQ_U(r->window, 64800);
    CHECK_EQ_U(r->opts.present, SM_OPT_MSS | SM_OPT_WSCALE | SM_OPT_SACKOK | SM_OPT_TS);
    CHECK_EQ_U(r->ip_id, 0);
    if (!quoted) {
        CHECK_EQ_U(r->ttl, 59);
    }
}

static void check_vlans(const char *name, uint8_t nvlan, uint16_t v0, uint16_t v1)
{
    if (nviews < 1)
        return;
    const struct sm_record *r = &views[0].rec;
    if (r->nvlan != nvlan || r->vlan[0] != v0 || r->vlan[1] != v1)
        fprintf(stderr, "case %s: vlans %u [%u %u], want %u [%u %u]\n", name, r->nvlan, r->vlan[0],
                r->vlan[1], nvlan, v0, v1);
    CHECK_EQ_U(r->nvlan, nvlan);
    CHECK_EQ_U(r->vlan[0], v0);
    CHECK_EQ_U(r->vlan[1], v1);
}

/* ---- link layers ---------------------------------------------------------------------- */

static void test_link_layers(sm_decoder_t *d)
{
    struct pkt ip4, ip6, f;
    syn4_ip(&ip4);
    syn6_ip(&ip6);

    mk_eth(&f, ET_IPV4, &ip4);
    run_case(d, "ethernet", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn4("ethernet", true, false);
    check_vlans("ethernet", 0, 0, 0);
    if (nviews == 1) {
        CHECK_EQ_U(views[0].rec.ip_id, 0x1234);
        CHECK_EQ_U(views[0].rec.ttl, 61);
    }
    /* Ethernet minimum-size padding after the IP datagram changes nothing. */
    {
        struct pkt t, ip, padded;
        mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                     .dport = SPORT,
                                     .seq = 5,
                                     .ack = 6,
                                     .flags = SM_TH_ACK,
                                     .window = 100});
        mk_ipv4(&ip, &(struct v4spec){.src = C4, .dst = S4, .proto = P_TCP, .total = -1}, &t);
        mk_eth(&padded, ET_IPV4, &ip);
        for (int i = 0; i < 6; i++)
            pk_u8(&padded, 0xee);
        run_case(d, "ethernet padding", LT_ETHERNET, &padded, FULL(&padded), 1, END);
        check_view("ethernet padding", 0, C4, CPORT, S4, SPORT, 5, 6, SM_TH_ACK, true, false);
    }
    mk_eth(&f, ET_IPV6, &ip6);
    run_case(d, "ethernet ipv6", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn6("ethernet ipv6", true, false);

    /* 802.1Q with priority bits: only the 12-bit id counts. */
    mk_eth_tags(&f, (const uint16_t[]){ET_VLAN, 0xa00a}, 1, ET_IPV4, &ip4);
    run_case(d, "vlan", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn4("vlan", true, false);
    check_vlans("vlan", 1, 10, 0);
    mk_eth_tags(&f, (const uint16_t[]){ET_QINQ, 100, ET_VLAN, 200}, 2, ET_IPV6, &ip6);
    run_case(d, "qinq", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn6("qinq", true, false);
    check_vlans("qinq", 2, 100, 200);
    mk_eth_tags(&f, (const uint16_t[]){ET_QINQ, 100, ET_VLAN, 200, ET_VLAN, 300}, 3, ET_IPV4, &ip4);
    run_case(d, "three tags", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn4("three tags", true, false);
    check_vlans("three tags", 2, 100, 200);
    {
        /* tshark follows any number; synmatch 128 (a bound of its own, counted) */
        uint16_t tags[2 * 129];
        for (int i = 0; i < 129; i++) {
            tags[2 * i] = ET_VLAN;
            tags[2 * i + 1] = (uint16_t)(i % 4000 + 1);
        }
        mk_eth_tags(&f, tags, 128, ET_IPV4, &ip4);
        run_case(d, "128 tags", LT_ETHERNET, &f, FULL(&f), 1, END);
        check_syn4("128 tags", true, false);
        check_vlans("128 tags", 2, 1, 2);
        CHECK_EQ_U(sm_decoder_bounded_frames(d), 0);
        mk_eth_tags(&f, tags, 129, ET_IPV4, &ip4);
        run_case(d, "129 tags", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_VLAN_TOO_DEEP, 1, END);
        CHECK_EQ_U(sm_decoder_bounded_frames(d), 1);
    }

    mk_sll(&f, ET_IPV4, &ip4);
    run_case(d, "sll", LT_SLL, &f, FULL(&f), 1, END);
    check_syn4("sll", true, false);
    mk_sll(&f, ET_IPV6, &ip6);
    run_case(d, "sll ipv6", LT_SLL, &f, FULL(&f), 1, END);
    check_syn6("sll ipv6", true, false);
    mk_sll2(&f, ET_IPV4, &ip4);
    run_case(d, "sll2", LT_SLL2, &f, FULL(&f), 1, END);
    check_syn4("sll2", true, false);
    mk_sll2(&f, ET_IPV6, &ip6);
    run_case(d, "sll2 ipv6", LT_SLL2, &f, FULL(&f), 1, END);
    check_syn6("sll2 ipv6", true, false);

    run_case(d, "raw ipv4", LT_RAW, &ip4, FULL(&ip4), 1, END);
    check_syn4("raw ipv4", true, false);
    run_case(d, "raw ipv6", LT_RAW, &ip6, FULL(&ip6), 1, END);
    check_syn6("raw ipv6", true, false);
    run_case(d, "linktype ipv4", LT_IPV4, &ip4, FULL(&ip4), 1, END);
    check_syn4("linktype ipv4", true, false);
    run_case(d, "linktype ipv6", LT_IPV6, &ip6, FULL(&ip6), 1, END);
    check_syn6("linktype ipv6", true, false);

    mk_null(&f, 2, false, &ip4);
    run_case(d, "null le ipv4", LT_NULL, &f, FULL(&f), 1, END);
    check_syn4("null le ipv4", true, false);
    mk_null(&f, 2, true, &ip4);
    run_case(d, "null be ipv4", LT_NULL, &f, FULL(&f), 1, END);
    check_syn4("null be ipv4", true, false);
    mk_null(&f, 30, false, &ip6); /* AF_INET6 on macOS */
    run_case(d, "null le ipv6", LT_NULL, &f, FULL(&f), 1, END);
    check_syn6("null le ipv6", true, false);
    mk_null(&f, 24, true, &ip6); /* AF_INET6 on NetBSD/OpenBSD */
    run_case(d, "null be ipv6", LT_NULL, &f, FULL(&f), 1, END);
    check_syn6("null be ipv6", true, false);
    mk_null(&f, 28, false, &ip6); /* AF_INET6 on FreeBSD */
    run_case(d, "null le ipv6 28", LT_NULL, &f, FULL(&f), 1, END);
    check_syn6("null le ipv6 28", true, false);
    mk_null(&f, 2, true, &ip4);
    run_case(d, "loop ipv4", LT_LOOP, &f, FULL(&f), 1, END);
    check_syn4("loop ipv4", true, false);
    mk_null(&f, 24, true, &ip6);
    run_case(d, "loop ipv6", LT_LOOP, &f, FULL(&f), 1, END);
    check_syn6("loop ipv6", true, false);
    mk_null(&f, 7, false, &ip4);
    run_case(d, "null unknown family", LT_NULL, &f, FULL(&f), 0, SM_DC_NOT_IP, 1, END);
    run_case(d, "null truncated", LT_NULL, &f, 3, 3, 0, SM_DC_LINK_TRUNCATED, 1, END);

    mk_eth(&f, ET_IPV4, &ip4);
    run_case(d, "unsupported linktype", LT_IEEE802_11, &f, FULL(&f), 0, SM_DC_LINKTYPE_UNSUPPORTED,
             1, END);
    CHECK(!sm_decode_linktype_supported(LT_IEEE802_11));
    CHECK(sm_decode_linktype_supported(LT_ETHERNET) && sm_decode_linktype_supported(LT_SLL2) &&
          sm_decode_linktype_supported(LT_NULL) && sm_decode_linktype_supported(LT_LOOP) &&
          sm_decode_linktype_supported(LT_RAW) && sm_decode_linktype_supported(LT_SLL));

    /* Truncated link layers. */
    run_case(d, "ethernet truncated", LT_ETHERNET, &f, 13, 13, 0, SM_DC_LINK_TRUNCATED, 1, END);
    run_case(d, "ethernet cut by snaplen", LT_ETHERNET, &f, 13, f.n, 0, SM_DC_LINK_TRUNCATED, 1,
             END);
    run_case(d, "empty frame", LT_ETHERNET, &f, 0, 0, 0, SM_DC_LINK_TRUNCATED, 1, END);
    mk_sll(&f, ET_IPV4, &ip4);
    run_case(d, "sll truncated", LT_SLL, &f, 15, 15, 0, SM_DC_LINK_TRUNCATED, 1, END);
    mk_sll2(&f, ET_IPV4, &ip4);
    run_case(d, "sll2 truncated", LT_SLL2, &f, 19, 19, 0, SM_DC_LINK_TRUNCATED, 1, END);
    mk_eth_tags(&f, (const uint16_t[]){ET_VLAN, 10}, 1, ET_IPV4, &ip4);
    run_case(d, "vlan truncated", LT_ETHERNET, &f, 16, 16, 0, SM_DC_VLAN_TRUNCATED, 1, END);
    mk_eth_tags(&f, (const uint16_t[]){ET_QINQ, 10, ET_VLAN, 20}, 2, ET_IPV4, &ip4);
    run_case(d, "inner vlan truncated", LT_ETHERNET, &f, 20, f.n, 0, SM_DC_VLAN_TRUNCATED, 1, END);

    /* Not IP at all. */
    {
        struct pkt arp = {.n = 0};
        pk_zero(&arp, 28);
        mk_eth(&f, ET_ARP, &arp);
        run_case(d, "arp", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_NOT_IP, 1, END);
        mk_eth(&f, 46, &arp); /* 802.3 length field */
        run_case(d, "802.3", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_NOT_IP, 1, END);
        mk_eth_tags(&f, (const uint16_t[]){ET_VLAN, 10}, 1, 46, &arp);
        run_case(d, "802.3 in vlan", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_NOT_IP, 1, END);
    }
}

/* ---- IPv4 ------------------------------------------------------------------------------- */

static void test_ipv4(sm_decoder_t *d)
{
    struct pkt t, ip, f;
    syn4_tcp(&t);

    syn4_ip(&ip);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "ipv4 truncated", LT_ETHERNET, &f, 14 + 19, f.n, 0, SM_DC_IPV4_TRUNCATED, 1, END);
    run_case(d, "ipv4 empty", LT_ETHERNET, &f, 14, 14, 0, SM_DC_IPV4_TRUNCATED, 1, END);

    /* IHL 6 (one option word) but only 20 header bytes captured. */
    static const uint8_t nops[4] = {1, 1, 1, 1};
    mk_ipv4(&ip,
            &(struct v4spec){
                .src = C4, .dst = S4, .proto = P_TCP, .opts = nops, .optlen = 4, .total = -1},
            &t);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "ipv4 options truncated", LT_ETHERNET, &f, 14 + 22, f.n, 0, SM_DC_IPV4_TRUNCATED, 1,
             END);
    run_case(d, "ipv4 nop options", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn4("ipv4 nop options", true, false);

    for (int ihl = 0; ihl < 5; ihl++) {
        mk_ipv4(&ip, &(struct v4spec){.src = C4, .dst = S4, .proto = P_TCP, .total = -1}, &t);
        ip.b[0] = (uint8_t)(0x40 | ihl);
        mk_eth(&f, ET_IPV4, &ip);
        char name[32];
        snprintf(name, sizeof name, "ihl %d", ihl);
        run_case(d, name, LT_ETHERNET, &f, FULL(&f), 0, SM_DC_IPV4_BAD_IHL, 1, END);
    }
    mk_ipv4(&ip, &(struct v4spec){.src = C4, .dst = S4, .proto = P_TCP, .total = 19}, &t);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "total < ihl", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_IPV4_BAD_LENGTH, 1, END);
    mk_ipv4(&ip,
            &(struct v4spec){
                .src = C4, .dst = S4, .proto = P_TCP, .opts = nops, .optlen = 4, .total = 22},
            &t);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "total < ihl*4", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_IPV4_BAD_LENGTH, 1, END);

    /* Total length 0 (TSO): the frame's length is used; a header that fits is analyzable. */
    mk_ipv4(&ip, &(struct v4spec){.src = C4, .dst = S4, .proto = P_TCP, .total = 0}, &t);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "tso total 0", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn4("tso total 0", true, false);
    /* ... and the frame's wire length, not its captured length. */
    run_case(d, "tso total 0 snaplen", LT_ETHERNET, &f, 14 + 20 + 26, f.n, 1, SM_DC_TCP_SHORT, 1,
             END);
    check_view("tso total 0 snaplen", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, true, false);

    /* Version mismatches. IPv4's ethertype carrying IPv6 is handed to IPv6, as tshark does. */
    syn4_ip(&ip);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "v4 in ipv6 ethertype", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_IP_BAD_VERSION, 1, END);
    mk_ipv4(&ip, &(struct v4spec){.src = C4, .dst = S4, .proto = P_TCP, .total = -1, .version = 5},
            &t);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "version 5", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_IP_BAD_VERSION, 1, END);
    run_case(d, "raw version 5", LT_RAW, &ip, FULL(&ip), 0, SM_DC_IP_BAD_VERSION, 1, END);
    run_case(d, "linktype ipv4 version 5", LT_IPV4, &ip, FULL(&ip), 0, SM_DC_IP_BAD_VERSION, 1,
             END);
    syn6_ip(&ip);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "v6 in ipv4 ethertype", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn6("v6 in ipv4 ethertype", true, false);

    /* R13: a loose source route with addresses left: the last one is the destination. */
    static const uint8_t lsrr_inside[12] = {1, 131, 11, 4, 192, 0, 2, 1, 192, 0, 2, 9};
    mk_ipv4(
        &ip,
        &(struct v4spec){
            .src = C4, .dst = S4, .proto = P_TCP, .opts = lsrr_inside, .optlen = 12, .total = -1},
        &t);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "lsrr pointer inside", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("lsrr pointer inside", 0, C4, CPORT, "192.0.2.9", SPORT, 1000, 0, SM_TH_SYN, true,
               false);
    static const uint8_t lsrr_last[12] = {1, 131, 11, 8, 192, 0, 2, 1, 192, 0, 2, 9};
    mk_ipv4(&ip,
            &(struct v4spec){
                .src = C4, .dst = S4, .proto = P_TCP, .opts = lsrr_last, .optlen = 12, .total = -1},
            &t);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "lsrr pointer at last", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("lsrr pointer at last", 0, C4, CPORT, "192.0.2.9", SPORT, 1000, 0, SM_TH_SYN, true,
               false);
    static const uint8_t lsrr_done[12] = {1, 131, 11, 12, 192, 0, 2, 1, 192, 0, 2, 9};
    mk_ipv4(&ip,
            &(struct v4spec){
                .src = C4, .dst = S4, .proto = P_TCP, .opts = lsrr_done, .optlen = 12, .total = -1},
            &t);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "lsrr exhausted", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("lsrr exhausted", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, true, false);
    static const uint8_t ssrr_inside[8] = {137, 7, 4, 198, 51, 100, 7, 0};
    mk_ipv4(
        &ip,
        &(struct v4spec){
            .src = C4, .dst = S4, .proto = P_TCP, .opts = ssrr_inside, .optlen = 8, .total = -1},
        &t);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "ssrr pointer inside", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("ssrr pointer inside", 0, C4, CPORT, "198.51.100.7", SPORT, 1000, 0, SM_TH_SYN, true,
               false);

    /* Malformed options are counted; the packet is still decoded with its header addresses. */
    static const uint8_t opt_len0[4] = {68, 0, 0, 0};
    static const uint8_t opt_len1[4] = {1, 68, 1, 0};
    static const uint8_t opt_past[8] = {131, 11, 4, 192, 0, 2, 1, 0}; /* 11 > 8 */
    static const uint8_t opt_nolen[4] = {1, 1, 1, 131};
    const struct {
        const char *name;
        const uint8_t *o;
        uint32_t n;
    } bad[] = {{"ip option length 0", opt_len0, 4},
               {"ip option length 1", opt_len1, 4},
               {"ip option past header", opt_past, 8},
               {"ip option without length", opt_nolen, 4}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mk_ipv4(&ip,
                &(struct v4spec){.src = C4,
                                 .dst = S4,
                                 .proto = P_TCP,
                                 .opts = bad[i].o,
                                 .optlen = bad[i].n,
                                 .total = -1},
                &t);
        mk_eth(&f, ET_IPV4, &ip);
        run_case(d, bad[i].name, LT_ETHERNET, &f, FULL(&f), 1, SM_DC_IPV4_BAD_OPTION, 1, END);
        check_syn4(bad[i].name, true, false);
    }
    /* End of option list stops the walk: a route after it is not read. */
    static const uint8_t opt_eol[12] = {0, 131, 11, 4, 192, 0, 2, 1, 192, 0, 2, 9};
    mk_ipv4(&ip,
            &(struct v4spec){
                .src = C4, .dst = S4, .proto = P_TCP, .opts = opt_eol, .optlen = 12, .total = -1},
            &t);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "ip option end of list", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("ip option end of list", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, true, false);

    /* Other protocols. */
    struct pkt udp = {.n = 0};
    pk_be16(&udp, 5353);
    pk_be16(&udp, 53);
    pk_be16(&udp, 12);
    pk_be16(&udp, 0);
    pk_be32(&udp, 0);
    mk_ipv4(&ip, &(struct v4spec){.src = C4, .dst = S4, .proto = P_UDP, .total = -1}, &udp);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "udp dns", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_NOT_TCP, 1, END);
    run_case(d, "udp truncated", LT_ETHERNET, &f, 14 + 20 + 7, f.n, 0, SM_DC_UDP_TRUNCATED, 1, END);
    mk_ipv4(&ip, &(struct v4spec){.src = C4, .dst = S4, .proto = 132, .total = -1}, &udp);
    mk_eth(&f, ET_IPV4, &ip);
    run_case(d, "sctp", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_NOT_TCP, 1, END);
}

/* ---- IPv6 --------------------------------------------------------------------------------- */

/* An 8-byte extension header (hop-by-hop or destination options) of PadN. */
static void ext8(struct pkt *p, uint8_t nxt)
{
    pk_u8(p, nxt);
    pk_u8(p, 0);
    pk_u8(p, 1); /* PadN */
    pk_u8(p, 4);
    pk_zero(p, 4);
}

static void test_ipv6(sm_decoder_t *d)
{
    struct pkt t, pl, ip, f;
    mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                 .dport = SPORT,
                                 .seq = 2000,
                                 .flags = SM_TH_SYN,
                                 .window = 64800,
                                 .opts = SYN_OPTS,
                                 .optlen = 20});
    syn6_ip(&ip);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "ipv6 truncated", LT_ETHERNET, &f, 14 + 39, f.n, 0, SM_DC_IPV6_TRUNCATED, 1, END);

    /* Hop-by-hop, destination options, routing with no segments left: all skipped. */
    pl.n = 0;
    ext8(&pl, P_DSTOPTS);
    ext8(&pl, P_ROUTING);
    pk_u8(&pl, P_TCP);
    pk_u8(&pl, 4); /* 40 bytes: two addresses */
    pk_u8(&pl, 0); /* type 0 */
    pk_u8(&pl, 0); /* segments left 0: the route is done */
    pk_zero(&pl, 4);
    pk_addr(&pl, AF_INET6, "2001:db8::a");
    pk_addr(&pl, AF_INET6, "2001:db8::b");
    pk_all(&pl, &t);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_HOPOPTS, .hlim = 59, .plen = -1},
            &pl);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "ipv6 ext chain", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn6("ipv6 ext chain", true, false);

    /* R13: routing type 0 with segments left: the last listed address is the destination. */
    pk_set16(&pl, 16 + 2, 0x0002); /* type 0, segments left 2 */
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_HOPOPTS, .plen = -1}, &pl);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "routing type 0 segments left", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("routing type 0 segments left", 0, C6, CPORT, "2001:db8::b", SPORT, 2000, 0,
               SM_TH_SYN, true, false);

    /* Type 4 (segment routing) with segments left: segment[0] is the final destination. */
    pk_set16(&pl, 16 + 2, 0x0401);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_HOPOPTS, .plen = -1}, &pl);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "routing type 4 segments left", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("routing type 4 segments left", 0, C6, CPORT, "2001:db8::a", SPORT, 2000, 0,
               SM_TH_SYN, true, false);
    /* Type 2 (mobile IPv6): the home address. */
    pl.n = 0;
    pk_u8(&pl, P_TCP);
    pk_u8(&pl, 2);
    pk_u8(&pl, 2);
    pk_u8(&pl, 1);
    pk_zero(&pl, 4);
    pk_addr(&pl, AF_INET6, "2001:db8:77::7");
    pk_all(&pl, &t);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_ROUTING, .plen = -1}, &pl);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "routing type 2", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("routing type 2", 0, C6, CPORT, "2001:db8:77::7", SPORT, 2000, 0, SM_TH_SYN, true,
               false);

    /* R13: a Home Address destination option makes its address the source. */
    pl.n = 0;
    pk_u8(&pl, P_TCP);
    pk_u8(&pl, 2); /* 24 bytes */
    pk_u8(&pl, 1); /* PadN of 2 to align the option at 8n+6 */
    pk_u8(&pl, 2);
    pk_zero(&pl, 2);
    pk_u8(&pl, 0xc9);
    pk_u8(&pl, 16);
    pk_addr(&pl, AF_INET6, "2001:db8:99::99");
    pk_all(&pl, &t);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_DSTOPTS, .plen = -1}, &pl);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "home address option", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("home address option", 0, "2001:db8:99::99", CPORT, S6, SPORT, 2000, 0, SM_TH_SYN,
               true, false);

    /* 256 extension headers are followed (tshark: any number); 300 are too many for us. */
    pl.n = 0;
    for (int i = 0; i < 256; i++)
        ext8(&pl, i == 255 ? P_TCP : P_DSTOPTS);
    pk_all(&pl, &t);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_HOPOPTS, .plen = -1}, &pl);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "256 extension headers", LT_ETHERNET, &f, FULL(&f), 1, END);
    pl.n = 0;
    for (int i = 0; i < 300; i++)
        ext8(&pl, i == 299 ? P_TCP : P_DSTOPTS);
    pk_all(&pl, &t);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_HOPOPTS, .plen = -1}, &pl);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "300 extension headers", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_IPV6_EXT_TOO_MANY, 1,
             END);

    /* An extension header cut by the capture, by the payload length, before its length. */
    pl.n = 0;
    pk_u8(&pl, P_TCP);
    pk_u8(&pl, 1); /* 16 bytes */
    pk_u8(&pl, 1);
    pk_u8(&pl, 12);
    pk_zero(&pl, 12);
    pk_all(&pl, &t);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_HOPOPTS, .plen = -1}, &pl);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "ipv6 ext whole", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn6("ipv6 ext whole", true, false);
    run_case(d, "ipv6 ext cut by snaplen", LT_ETHERNET, &f, 14 + 40 + 10, f.n, 0,
             SM_DC_IPV6_EXT_TRUNCATED, 1, END);
    run_case(d, "ipv6 ext header, 1 byte", LT_ETHERNET, &f, 14 + 40 + 1, f.n, 0,
             SM_DC_IPV6_EXT_TRUNCATED, 1, END);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_HOPOPTS, .plen = 8}, &pl);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "ipv6 ext past payload length", LT_ETHERNET, &f, FULL(&f), 0,
             SM_DC_IPV6_EXT_TRUNCATED, 1, END);

    /* Options walked as Wireshark does (R14): one running past the datagram hides the TCP
     * header, one running only past its header (into the TCP header) does not. */
    for (int over = 0; over <= 2; over++) {
        pl.n = 0;
        pk_u8(&pl, P_TCP);
        pk_u8(&pl, 0); /* 8 bytes */
        pk_u8(&pl, 1); /* PadN: to the datagram's end (24), one past it, or into TCP only */
        pk_u8(&pl, (uint8_t)(over == 0 ? 4 + t.n : over == 1 ? 5 + t.n : 5));
        pk_zero(&pl, 4);
        pk_all(&pl, &t);
        mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = over == 2 ? P_DSTOPTS : P_HOPOPTS,
                                      .plen = -1}, &pl);
        mk_eth(&f, ET_IPV6, &ip);
        if (over == 1)
            run_case(d, "ipv6 option past the datagram", LT_ETHERNET, &f, FULL(&f), 0,
                     SM_DC_IPV6_OPT_MALFORMED, 1, END);
        else
            run_case(d, "ipv6 option within the datagram", LT_ETHERNET, &f, FULL(&f), 1, END);
    }
    /* ... and one running past what the capture kept of it */
    run_case(d, "ipv6 option past the snapshot", LT_ETHERNET, &f, 14 + 40 + 8, f.n, 0,
             SM_DC_IPV6_OPT_MALFORMED, 1, END);

    /* Payload length shorter than the TCP header: reported (16+ bytes) but not analyzable. */
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_TCP, .plen = 36}, &t);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "ipv6 plen 36", LT_ETHERNET, &f, FULL(&f), 1, SM_DC_TCP_SHORT, 1, END);
    check_view("ipv6 plen 36", 0, C6, CPORT, S6, SPORT, 2000, 0, SM_TH_SYN, false, false);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_TCP, .plen = 15}, &t);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "ipv6 plen 15", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_TCP_TRUNCATED, 1, END);

    /* No next header, ESP: no TCP. */
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = 59, .plen = -1}, &t);
    mk_eth(&f, ET_IPV6, &ip);
    run_case(d, "ipv6 no next header", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_NOT_TCP, 1, END);
}

/* ---- TCP ------------------------------------------------------------------------------------ */

/* Ethernet + IPv4 (total length: computed, or ip_total) around t. */
static void eth_v4(struct pkt *f, const struct pkt *t, int ip_total)
{
    struct pkt ip;
    mk_ipv4(&ip, &(struct v4spec){.src = C4, .dst = S4, .proto = P_TCP, .total = ip_total}, t);
    mk_eth(f, ET_IPV4, &ip);
}

static void test_tcp(sm_decoder_t *d)
{
    struct pkt t, f;
    const uint32_t L = 14 + 20; /* link + IP */

    /* R9: 15 TCP bytes get no stream, 16 do. */
    syn4_tcp(&t);
    eth_v4(&f, &t, -1);
    run_case(d, "tcp 15 bytes captured", LT_ETHERNET, &f, L + 15, f.n, 0, SM_DC_TCP_TRUNCATED, 1,
             END);
    run_case(d, "tcp 16 bytes captured", LT_ETHERNET, &f, L + 16, f.n, 1, SM_DC_TCP_SHORT, 1, END);
    check_view("tcp 16 bytes captured", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, true, false);
    if (nviews == 1) {
        CHECK_EQ_U(views[0].rec.window, 64240);
        CHECK_EQ_U(views[0].rec.opts.present, 0);
    }
    mk_tcp(&t,
           &(struct tcpspec){
               .sport = CPORT, .dport = SPORT, .seq = 1000, .flags = SM_TH_SYN, .window = 1024});
    eth_v4(&f, &t, 20 + 15);
    run_case(d, "tcp 15 bytes in ip length", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_TCP_TRUNCATED, 1,
             END);
    eth_v4(&f, &t, 20 + 16);
    run_case(d, "tcp 16 bytes in ip length", LT_ETHERNET, &f, FULL(&f), 1, SM_DC_TCP_SHORT, 1, END);
    check_view("tcp 16 bytes in ip length", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, false,
               false);
    eth_v4(&f, &t, -1);
    run_case(d, "tcp 15 bytes in frame", LT_ETHERNET, &f, L + 15, L + 15, 0, SM_DC_TCP_TRUNCATED, 1,
             END);
    run_case(d, "tcp 16 bytes in frame", LT_ETHERNET, &f, L + 16, L + 16, 1, SM_DC_TCP_SHORT, 1,
             END);
    check_view("tcp 16 bytes in frame", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, false, false);

    /* Every flag bit, NS included, and the window. */
    mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                 .dport = SPORT,
                                 .seq = 0xfffffffe,
                                 .ack = 0x80000001,
                                 .flags = 0x1ff,
                                 .window = 0xffff});
    eth_v4(&f, &t, -1);
    run_case(d, "all flags", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("all flags", 0, C4, CPORT, S4, SPORT, 0xfffffffe, 0x80000001, 0x1ff, true, false);
    if (nviews == 1) {
        CHECK_EQ_U(views[0].rec.window, 0xffff);
        CHECK_EQ_U(views[0].rec.opts.present, 0);
    }
    mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                 .dport = SPORT,
                                 .seq = 4000,
                                 .flags = SM_TH_NS | SM_TH_CWR | SM_TH_ECE | SM_TH_SYN,
                                 .window = 512});
    eth_v4(&f, &t, -1);
    run_case(d, "syn ns ecn", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_view("syn ns ecn", 0, C4, CPORT, S4, SPORT, 4000, 0, 0x1c2, true, false);

    /* R8: a data offset below 5 is counted but still reported and analyzable. */
    for (int off = 0; off < 5; off++) {
        mk_tcp(&t,
               &(struct tcpspec){
                   .sport = CPORT, .dport = SPORT, .seq = 1000, .flags = SM_TH_SYN, .window = 1});
        t.b[12] = (uint8_t)(off << 4);
        eth_v4(&f, &t, -1);
        char name[32];
        snprintf(name, sizeof name, "tcp data offset %d", off);
        run_case(d, name, LT_ETHERNET, &f, FULL(&f), 1, SM_DC_TCP_BAD_OFFSET, 1, END);
        check_view(name, 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, true, false);
    }

    /* Option lists. */
    static const struct {
        const char *name;
        uint8_t o[12];
        uint32_t n;
        bool bad;
        uint8_t present;
    } ol[] = {
        {"tcp option length 0", {2, 0, 0, 0}, 4, true, 0},
        {"tcp option length 1", {3, 1, 0, 0}, 4, true, 0},
        {"tcp option past header", {2, 4, 5, 0xb4, 8, 10, 0, 0}, 8, true, SM_OPT_MSS},
        {"tcp option kind at the end", {1, 1, 1, 2}, 4, true, 0},
        {"tcp option eol", {2, 4, 5, 0xb4, 0, 0xff, 0xff, 0xff}, 8, false, SM_OPT_MSS},
        {"tcp unknown option", {30, 6, 1, 2, 3, 4, 4, 2}, 8, false, SM_OPT_SACKOK},
        {"tcp options of odd sizes", {2, 5, 5, 0xb4, 9, 3, 4, 7, 0, 1, 1, 1}, 12, false, 0},
    };
    for (size_t i = 0; i < sizeof ol / sizeof ol[0]; i++) {
        mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                     .dport = SPORT,
                                     .seq = 1000,
                                     .flags = SM_TH_SYN,
                                     .window = 1,
                                     .opts = ol[i].o,
                                     .optlen = ol[i].n});
        eth_v4(&f, &t, -1);
        if (ol[i].bad)
            run_case(d, ol[i].name, LT_ETHERNET, &f, FULL(&f), 1, SM_DC_TCP_BAD_OPTION, 1, END);
        else
            run_case(d, ol[i].name, LT_ETHERNET, &f, FULL(&f), 1, END);
        check_view(ol[i].name, 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, true, false);
        if (nviews == 1) {
            CHECK_EQ_U(views[0].rec.opts.present, ol[i].present);
            if (ol[i].present & SM_OPT_MSS) {
                CHECK_EQ_U(views[0].rec.opts.mss, 1460);
            }
        }
    }

    /*
     * Snaplen-cut SYN (wirelen > caplen): the reported length still covers the header, so it
     * is analyzable; options that were captured are read. Cut at an option boundary (after
     * MSS and SACK-permitted) and inside the timestamp option: a cut is tcp_short, not a
     * malformed option.
     */
    syn4_tcp(&t);
    eth_v4(&f, &t, -1);
    run_case(d, "syn cut between options", LT_ETHERNET, &f, L + 26, f.n, 1, SM_DC_TCP_SHORT, 1,
             END);
    check_view("syn cut between options", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, true, false);
    if (nviews == 1) {
        CHECK_EQ_U(views[0].rec.opts.present, SM_OPT_MSS | SM_OPT_SACKOK);
        CHECK_EQ_U(views[0].rec.opts.mss, 1460);
    }
    run_case(d, "syn cut inside an option", LT_ETHERNET, &f, L + 30, f.n, 1, SM_DC_TCP_SHORT, 1,
             END);
    check_view("syn cut inside an option", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, true,
               false);
    if (nviews == 1) {
        CHECK_EQ_U(views[0].rec.opts.present, SM_OPT_MSS | SM_OPT_SACKOK);
    }
    run_case(d, "syn cut after 20 bytes", LT_ETHERNET, &f, L + 20, f.n, 1, SM_DC_TCP_SHORT, 1, END);
    check_view("syn cut after 20 bytes", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, true, false);

    /* R8(c), case 30: a frame physically shorter than the IP total length is not analyzable
     * when the header does not fit... */
    static const uint8_t mss[4] = {2, 4, 5, 0xb4};
    mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                 .dport = SPORT,
                                 .seq = 1000,
                                 .flags = SM_TH_SYN,
                                 .window = 1,
                                 .opts = mss,
                                 .optlen = 4});
    eth_v4(&f, &t, -1);
    run_case(d, "frame shorter than ip length", LT_ETHERNET, &f, L + 20, L + 20, 1, SM_DC_TCP_SHORT,
             1, END);
    check_view("frame shorter than ip length", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, false,
               false);
    /* ... and is when it does (only payload missing). */
    mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                 .dport = SPORT,
                                 .seq = 1000,
                                 .flags = SM_TH_SYN,
                                 .window = 1,
                                 .opts = mss,
                                 .optlen = 4,
                                 .payload = 10});
    eth_v4(&f, &t, -1);
    run_case(d, "frame shorter, header whole", LT_ETHERNET, &f, L + 24, L + 24, 1, END);
    check_view("frame shorter, header whole", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, true,
               false);
}

/* ---- fragments ------------------------------------------------------------------------------- */

/* A SYN with 24 payload bytes (64 TCP bytes) from C4 split at byte 48 into two fragments. */
static void v4_frags(uint16_t id, struct pkt *first, struct pkt *second)
{
    struct pkt t, a, b, ip;
    mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                 .dport = SPORT,
                                 .seq = 7000,
                                 .flags = SM_TH_SYN,
                                 .window = 64240,
                                 .opts = SYN_OPTS,
                                 .optlen = 20,
                                 .payload = 24});
    a.n = b.n = 0;
    pk_slice(&a, &t, 0, 48);
    pk_slice(&b, &t, 48, 16);
    mk_ipv4(&ip,
            &(struct v4spec){
                .src = C4, .dst = S4, .proto = P_TCP, .id = id, .frag = IPF_MF, .total = -1},
            &a);
    mk_eth(first, ET_IPV4, &ip);
    mk_ipv4(&ip,
            &(struct v4spec){
                .src = C4, .dst = S4, .proto = P_TCP, .id = id, .frag = 48 / 8, .total = -1},
            &b);
    mk_eth(second, ET_IPV4, &ip);
}

static void check_frag_syn(const char *name, bool analyzable)
{
    check_view(name, 0, C4, CPORT, S4, SPORT, 7000, 0, SM_TH_SYN, analyzable, false);
    if (nviews == 1) {
        CHECK_EQ_U(views[0].rec.opts.present, 0x0f);
        CHECK_EQ_U(views[0].rec.opts.tsval, 111);
    }
}

/* IPv6: the same SYN, split at byte 48 of the fragmentable part. */
static void v6_frags(uint32_t ident, struct pkt *first, struct pkt *second)
{
    struct pkt t, a, b, ip;
    mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                 .dport = SPORT,
                                 .seq = 8000,
                                 .flags = SM_TH_SYN,
                                 .window = 64240,
                                 .opts = SYN_OPTS,
                                 .optlen = 20,
                                 .payload = 24});
    a.n = b.n = 0;
    pk_u8(&a, P_TCP);
    pk_u8(&a, 0);
    pk_be16(&a, 0 | 1); /* offset 0, more */
    pk_be32(&a, ident);
    pk_slice(&a, &t, 0, 48);
    pk_u8(&b, P_TCP);
    pk_u8(&b, 0);
    pk_be16(&b, 48);
    pk_be32(&b, ident);
    pk_slice(&b, &t, 48, 16);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_FRAGMENT, .plen = -1}, &a);
    mk_eth(first, ET_IPV6, &ip);
    mk_ipv6(&ip, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_FRAGMENT, .plen = -1}, &b);
    mk_eth(second, ET_IPV6, &ip);
}

static void test_fragments(sm_decoder_t *d)
{
    struct pkt a, b;

    /* R11: in order, the datagram is decoded on the completing (last) frame. */
    v4_frags(0x101, &a, &b);
    run_case(d, "v4 first fragment", LT_ETHERNET, &a, FULL(&a), 0, SM_DC_FRAG_HELD, 1, END);
    run_case(d, "v4 last fragment", LT_ETHERNET, &b, FULL(&b), 1, SM_DC_FRAG_REASSEMBLED, 1, END);
    check_frag_syn("v4 last fragment", true);
    /* Reversed: on the first fragment, which now completes it. */
    v4_frags(0x102, &a, &b);
    run_case(d, "v4 reversed last", LT_ETHERNET, &b, FULL(&b), 0, SM_DC_FRAG_HELD, 1, END);
    run_case(d, "v4 reversed first", LT_ETHERNET, &a, FULL(&a), 1, SM_DC_FRAG_REASSEMBLED, 1, END);
    check_frag_syn("v4 reversed first", true);
    /* A completed datagram is forgotten: the same last fragment again waits for a new one. */
    run_case(d, "v4 fragment after completion", LT_ETHERNET, &b, FULL(&b), 0, SM_DC_FRAG_HELD, 1,
             END);
    /* First fragment only: held, nothing reported. */
    v4_frags(0x103, &a, &b);
    run_case(d, "v4 first fragment only", LT_ETHERNET, &a, FULL(&a), 0, SM_DC_FRAG_HELD, 1, END);
    /* First fragment cut by the snaplen (TCP header whole, payload cut): decoded directly,
     * not analyzable. */
    v4_frags(0x104, &a, &b);
    run_case(d, "v4 first fragment cut", LT_ETHERNET, &a, 14 + 20 + 40, a.n, 1,
             SM_DC_FRAG_UNREASSEMBLED, 1, END);
    check_frag_syn("v4 first fragment cut", false);
    /* A non-first fragment cut by the snaplen: never decoded. */
    run_case(d, "v4 last fragment cut", LT_ETHERNET, &b, b.n - 1, b.n, 0, SM_DC_NOT_TCP, 1, END);
    /* A fragment reaching past 64 KiB. */
    {
        struct pkt t = {.n = 0}, ip, f;
        pk_zero(&t, 16);
        mk_ipv4(&ip,
                &(struct v4spec){
                    .src = C4, .dst = S4, .proto = P_TCP, .id = 0x105, .frag = 0x1fff, .total = -1},
                &t);
        mk_eth(&f, ET_IPV4, &ip);
        run_case(d, "v4 fragment past 64k", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_FRAG_BAD, 1, END);
    }
    /* The VLAN is part of the reassembly key (as Wireshark's pinfo->vlan_id). */
    {
        struct pkt fa, fb, tb;
        v4_frags(0x106, &a, &b);
        fa.n = fb.n = 0;
        pk_slice(&fa, &a, 0, 12);
        pk_be16(&fa, ET_VLAN);
        pk_be16(&fa, 10);
        pk_slice(&fa, &a, 12, a.n - 12);
        pk_slice(&fb, &b, 0, 12);
        pk_be16(&fb, ET_VLAN);
        pk_be16(&fb, 20);
        pk_slice(&fb, &b, 12, b.n - 12);
        run_case(d, "v4 fragment vlan 10", LT_ETHERNET, &fa, FULL(&fa), 0, SM_DC_FRAG_HELD, 1, END);
        run_case(d, "v4 fragment vlan 20", LT_ETHERNET, &fb, FULL(&fb), 0, SM_DC_FRAG_HELD, 1, END);
        tb = fb;
        tb.b[15] = 10;
        run_case(d, "v4 fragment vlan 10 again", LT_ETHERNET, &tb, FULL(&tb), 1,
                 SM_DC_FRAG_REASSEMBLED, 1, END);
        check_frag_syn("v4 fragment vlan 10 again", true);
        check_vlans("v4 fragment vlan 10 again", 1, 10, 0);
    }

    /* IPv6, in order. */
    v6_frags(0x10001, &a, &b);
    run_case(d, "v6 first fragment", LT_ETHERNET, &a, FULL(&a), 0, SM_DC_FRAG_HELD, 1, END);
    run_case(d, "v6 last fragment", LT_ETHERNET, &b, FULL(&b), 1, SM_DC_FRAG_REASSEMBLED, 1, END);
    check_view("v6 last fragment", 0, C6, CPORT, S6, SPORT, 8000, 0, SM_TH_SYN, true, false);
    if (nviews == 1) {
        CHECK_EQ_U(views[0].rec.opts.present, 0x0f);
    }
    /* A cut IPv6 fragment is never decoded, first or not. */
    v6_frags(0x10002, &a, &b);
    run_case(d, "v6 first fragment cut", LT_ETHERNET, &a, a.n - 4, a.n, 0, SM_DC_FRAG_UNREASSEMBLED,
             1, END);
    run_case(d, "v6 last fragment cut", LT_ETHERNET, &b, b.n - 4, b.n, 0, SM_DC_NOT_TCP, 1, END);
    /* An atomic fragment (offset 0, no more) is no fragment at all. */
    {
        struct pkt t, pl = {.n = 0}, ip, f;
        syn6_ip(&ip);
        mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                     .dport = SPORT,
                                     .seq = 2000,
                                     .flags = SM_TH_SYN,
                                     .window = 64800,
                                     .opts = SYN_OPTS,
                                     .optlen = 20});
        pk_u8(&pl, P_TCP);
        pk_u8(&pl, 0);
        pk_be16(&pl, 0);
        pk_be32(&pl, 77);
        pk_all(&pl, &t);
        mk_ipv6(&ip,
                &(struct v6spec){.src = C6, .dst = S6, .nxt = P_FRAGMENT, .hlim = 59, .plen = -1},
                &pl);
        mk_eth(&f, ET_IPV6, &ip);
        run_case(d, "v6 atomic fragment", LT_ETHERNET, &f, FULL(&f), 1, END);
        check_syn6("v6 atomic fragment", true, false);
    }
}

/* ---- ICMP quotes ----------------------------------------------------------------------------- */

/* An ICMP message (type, code, 4 bytes of rest) from the router 192.0.2.254 to C4. */
static void icmp4(struct pkt *f, uint8_t type, uint8_t code, uint32_t rest, const struct pkt *quote)
{
    struct pkt m = {.n = 0}, ip;
    pk_u8(&m, type);
    pk_u8(&m, code);
    pk_be16(&m, 0);
    pk_be32(&m, rest);
    pk_all(&m, quote);
    mk_ipv4(&ip, &(struct v4spec){.src = "192.0.2.254", .dst = C4, .proto = P_ICMP, .total = -1},
            &m);
    mk_eth(f, ET_IPV4, &ip);
}

static void icmp6(struct pkt *f, uint8_t type, uint8_t code, uint32_t rest, const struct pkt *quote)
{
    struct pkt m = {.n = 0}, ip;
    pk_u8(&m, type);
    pk_u8(&m, code);
    pk_be16(&m, 0);
    pk_be32(&m, rest);
    pk_all(&m, quote);
    mk_ipv6(&ip, &(struct v6spec){.src = "2001:db8::fe", .dst = C6, .nxt = P_ICMPV6, .plen = -1},
            &m);
    mk_eth(f, ET_IPV6, &ip);
}

static void test_icmp(sm_decoder_t *d)
{
    struct pkt syn, q, f;
    syn4_ip(&syn);

    /* R10: a full quoted SYN is reported with the inner addresses, never analyzable. */
    icmp4(&f, 3, 1, 0, &syn);
    run_case(d, "icmp unreachable full syn", LT_ETHERNET, &f, FULL(&f), 1, SM_DC_QUOTED_TCP, 1,
             END);
    check_syn4("icmp unreachable full syn", false, true);
    static const uint8_t types[] = {4, 11, 12};
    for (size_t i = 0; i < sizeof types; i++) {
        icmp4(&f, types[i], 0, 0, &syn);
        char name[32];
        snprintf(name, sizeof name, "icmp type %u", types[i]);
        run_case(d, name, LT_ETHERNET, &f, FULL(&f), 1, SM_DC_QUOTED_TCP, 1, END);
        check_syn4(name, false, true);
    }
    /* RFC 792 minimum quote: IP header + 8 bytes is not enough for a stream (R9). */
    q.n = 0;
    pk_slice(&q, &syn, 0, 28);
    icmp4(&f, 3, 3, 0, &q);
    run_case(d, "icmp quote of 8 bytes", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_TCP_TRUNCATED, 1, END);
    /* 16 quoted TCP bytes are. */
    q.n = 0;
    pk_slice(&q, &syn, 0, 36);
    icmp4(&f, 3, 3, 0, &q);
    run_case(d, "icmp quote of 16 bytes", LT_ETHERNET, &f, FULL(&f), 1, SM_DC_QUOTED_TCP, 1,
             SM_DC_TCP_SHORT, 1, END);
    check_view("icmp quote of 16 bytes", 0, C4, CPORT, S4, SPORT, 1000, 0, SM_TH_SYN, false, true);
    /* Redirect and echo carry no stream. */
    icmp4(&f, 5, 1, 0xc0000201, &syn);
    run_case(d, "icmp redirect", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_NOT_TCP, 1, END);
    icmp4(&f, 0, 0, 0x00010001, &syn);
    run_case(d, "icmp echo reply", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_NOT_TCP, 1, END);
    icmp4(&f, 3, 1, 0, &syn);
    run_case(d, "icmp truncated", LT_ETHERNET, &f, 14 + 20 + 7, f.n, 0, SM_DC_ICMP_TRUNCATED, 1,
             END);
    run_case(d, "icmp quote without ip", LT_ETHERNET, &f, 14 + 20 + 8 + 10, f.n, 0,
             SM_DC_IPV4_TRUNCATED, 1, END);

    /* ICMPv6: packet too big, unreachable, time exceeded, parameter problem. */
    syn6_ip(&syn);
    icmp6(&f, 2, 0, 1280, &syn);
    run_case(d, "icmpv6 packet too big", LT_ETHERNET, &f, FULL(&f), 1, SM_DC_QUOTED_TCP, 1, END);
    check_syn6("icmpv6 packet too big", false, true);
    static const uint8_t types6[] = {1, 3, 4};
    for (size_t i = 0; i < sizeof types6; i++) {
        icmp6(&f, types6[i], 0, 0, &syn);
        char name[32];
        snprintf(name, sizeof name, "icmpv6 type %u", types6[i]);
        run_case(d, name, LT_ETHERNET, &f, FULL(&f), 1, SM_DC_QUOTED_TCP, 1, END);
        check_syn6(name, false, true);
    }
    icmp6(&f, 128, 0, 0, &syn);
    run_case(d, "icmpv6 echo request", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_NOT_TCP, 1, END);
    run_case(d, "icmpv6 truncated", LT_ETHERNET, &f, 14 + 40 + 4, f.n, 0, SM_DC_ICMP_TRUNCATED, 1,
             END);
}

/* ---- tunnels --------------------------------------------------------------------------------- */

static void outer_v4(struct pkt *f, uint8_t proto, const struct pkt *payload)
{
    struct pkt ip;
    mk_ipv4(
        &ip,
        &(struct v4spec){
            .src = "198.51.100.1", .dst = "198.51.100.2", .proto = proto, .ttl = 30, .total = -1},
        payload);
    mk_eth(f, ET_IPV4, &ip);
}

static void test_tunnels(sm_decoder_t *d)
{
    struct pkt syn, syn6, g, f;
    syn4_ip(&syn);
    syn6_ip(&syn6);

    /* GRE, plain. */
    g.n = 0;
    pk_be16(&g, 0);
    pk_be16(&g, ET_IPV4);
    pk_all(&g, &syn);
    outer_v4(&f, P_GRE, &g);
    run_case(d, "gre", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn4("gre", true, false);
    if (nviews == 1) {
        CHECK_EQ_U(views[0].rec.ttl, 61); /* the inner header's */
        CHECK_EQ_U(views[0].rec.ip_id, 0x1234);
    }
    run_case(d, "gre truncated", LT_ETHERNET, &f, 14 + 20 + 3, f.n, 0, SM_DC_GRE_TRUNCATED, 1, END);
    /* GRE with checksum, key and sequence number. */
    g.n = 0;
    pk_be16(&g, 0xb000);
    pk_be16(&g, ET_IPV6);
    pk_be32(&g, 0x12340000);
    pk_be32(&g, 0xcafe);
    pk_be32(&g, 42);
    pk_all(&g, &syn6);
    outer_v4(&f, P_GRE, &g);
    run_case(d, "gre csum key seq", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn6("gre csum key seq", true, false);
    run_case(d, "gre options truncated", LT_ETHERNET, &f, 14 + 20 + 12, f.n, 0, SM_DC_GRE_TRUNCATED,
             1, END);
    /* GRE carrying Ethernet (transparent bridging). */
    {
        struct pkt inner;
        mk_eth(&inner, ET_IPV4, &syn);
        g.n = 0;
        pk_be16(&g, 0x2000);
        pk_be16(&g, ET_TEB);
        pk_be32(&g, 7);
        pk_all(&g, &inner);
        outer_v4(&f, P_GRE, &g);
        run_case(d, "gre teb", LT_ETHERNET, &f, FULL(&f), 1, END);
        check_syn4("gre teb", true, false);
    }
    /* GRE version 1 (PPTP) is not decoded. */
    g.n = 0;
    pk_be16(&g, 0x2001);
    pk_be16(&g, 0x880b);
    pk_be16(&g, 0);
    pk_be16(&g, 0);
    pk_all(&g, &syn);
    outer_v4(&f, P_GRE, &g);
    run_case(d, "gre version 1", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_GRE_UNSUPPORTED, 1, END);

    /* VXLAN: the outer VLAN is recorded, the inner one is not. */
    {
        struct pkt inner, u = {.n = 0}, ip;
        mk_eth_tags(&inner, (const uint16_t[]){ET_VLAN, 99}, 1, ET_IPV4, &syn);
        pk_be16(&u, 49152);
        pk_be16(&u, 4789);
        pk_be16(&u, (uint16_t)(8 + 8 + inner.n));
        pk_be16(&u, 0);
        pk_be32(&u, 0x08000000);
        pk_be32(&u, 0x00006400); /* VNI 100 */
        pk_all(&u, &inner);
        mk_ipv4(&ip,
                &(struct v4spec){
                    .src = "198.51.100.1", .dst = "198.51.100.2", .proto = P_UDP, .total = -1},
                &u);
        mk_eth_tags(&f, (const uint16_t[]){ET_VLAN, 10}, 1, ET_IPV4, &ip);
        run_case(d, "vxlan", LT_ETHERNET, &f, FULL(&f), 1, END);
        check_syn4("vxlan", true, false);
        check_vlans("vxlan", 1, 10, 0);
        run_case(d, "vxlan header truncated", LT_ETHERNET, &f, 18 + 20 + 8 + 7, f.n, 0,
                 SM_DC_VXLAN_TRUNCATED, 1, END);
        pk_set16(&f, 18 + 20 + 4, 7); /* UDP length below its own header */
        run_case(d, "vxlan udp length 7", LT_ETHERNET, &f, FULL(&f), 0, SM_DC_UDP_BAD_LENGTH, 1,
                 END);
    }

    /* IP-in-IP and 6in4. */
    outer_v4(&f, P_IPIP, &syn);
    run_case(d, "ip in ip", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn4("ip in ip", true, false);
    outer_v4(&f, P_IPV6, &syn6);
    run_case(d, "6in4", LT_ETHERNET, &f, FULL(&f), 1, END);
    check_syn6("6in4", true, false);
    /* IPv6 carrying IPv4 (4in6). */
    {
        struct pkt ip;
        mk_ipv6(&ip,
                &(struct v6spec){
                    .src = "2001:db8:ff::1", .dst = "2001:db8:ff::2", .nxt = P_IPIP, .plen = -1},
                &syn);
        mk_eth(&f, ET_IPV6, &ip);
        run_case(d, "4in6", LT_ETHERNET, &f, FULL(&f), 1, END);
        check_syn4("4in6", true, false);
    }
    /* 64 nested IP headers are decoded; a 65th is too deep (tshark: up to its 500 layers). */
    {
        struct pkt a, b;
        a = syn;
        for (int i = 1; i < 64; i++) {
            mk_ipv4(&b,
                    &(struct v4spec){
                        .src = "198.51.100.1", .dst = "198.51.100.2", .proto = P_IPIP, .total = -1},
                    &a);
            a = b;
        }
        run_case(d, "64 nested ip", LT_RAW, &a, FULL(&a), 1, END);
        check_syn4("64 nested ip", true, false);
        mk_ipv4(&b,
                &(struct v4spec){
                    .src = "198.51.100.1", .dst = "198.51.100.2", .proto = P_IPIP, .total = -1},
                &a);
        run_case(d, "65 nested ip", LT_RAW, &b, FULL(&b), 0, SM_DC_ENCAP_TOO_DEEP, 1, END);
    }
    /* The same bound through VXLAN, whose inner frames are plain Ethernet/IPv4/TCP (the
     * decoder's fast path): 63 wraps make 64 IP layers, 64 make 65. */
    {
        struct pkt e, u, ip;
        mk_eth(&e, ET_IPV4, &syn);
        for (int wraps = 1; wraps <= 64; wraps++) {
            u.n = 0;
            pk_be16(&u, 49152);
            pk_be16(&u, 4789);
            pk_be16(&u, (uint16_t)(8 + 8 + e.n));
            pk_be16(&u, 0);
            pk_be32(&u, 0x08000000);
            pk_be32(&u, 0x00006400);
            pk_all(&u, &e);
            mk_ipv4(&ip,
                    &(struct v4spec){
                        .src = "198.51.100.1", .dst = "198.51.100.2", .proto = P_UDP, .total = -1},
                    &u);
            mk_eth(&e, ET_IPV4, &ip);
            if (wraps == 63) {
                run_case(d, "63 nested vxlan", LT_ETHERNET, &e, FULL(&e), 1, END);
                check_syn4("63 nested vxlan", true, false);
            }
        }
        run_case(d, "64 nested vxlan", LT_ETHERNET, &e, FULL(&e), 0, SM_DC_ENCAP_TOO_DEEP, 1, END);
    }
}

/* ---- never crash ------------------------------------------------------------------------ */

static uint64_t sweep_calls;

/* Decodes one variant and checks the counters against the call. */
static void sweep_one(sm_decoder_t *d, uint32_t linktype, const uint8_t *bytes, uint32_t caplen,
                      uint32_t wirelen, bool *ok)
{
    uint64_t before[SM_DC_COUNT];
    memcpy(before, sm_decoder_counters(d), sizeof before);
    int n = decode(d, linktype, bytes, caplen, wirelen);
    const uint64_t *after = sm_decoder_counters(d);
    sweep_calls++;
    uint64_t others = 0;
    for (int c = 0; c < SM_DC_COUNT; c++) {
        if (after[c] < before[c])
            *ok = false;
        if (c != SM_DC_FRAMES && c != SM_DC_TCP_HEADERS && c != SM_DC_QUOTED_TCP)
            others += after[c] - before[c];
    }
    int quoted = 0;
    for (int i = 0; i < nviews && i < MAXV; i++) {
        quoted += views[i].quoted;
        if (views[i].quoted && views[i].analyzable)
            *ok = false;
    }
    bool good = after[SM_DC_FRAMES] - before[SM_DC_FRAMES] == 1 && n >= 0 && n == nviews &&
                after[SM_DC_TCP_HEADERS] - before[SM_DC_TCP_HEADERS] == (uint64_t)n &&
                after[SM_DC_QUOTED_TCP] - before[SM_DC_QUOTED_TCP] == (uint64_t)quoted &&
                (n > 0 || others > 0) && after[SM_DC_FRAMES] == sweep_calls;
    if (!good && *ok)
        fprintf(stderr, "sweep: inconsistent counters (linktype %u, caplen %u, wirelen %u)\n",
                linktype, caplen, wirelen);
    *ok = *ok && good;
}

static void sweep(const char *name, uint32_t linktype, const struct pkt *p)
{
    /* A fresh decoder per frame, so that its frames counter equals the calls made. */
    sm_decoder_t *d = sm_decoder_new(NULL);
    CHECK(d != NULL);
    if (d == NULL)
        return;
    sweep_calls = 0;
    bool ok = true;
    uint8_t buf[PKT_MAX];
    for (uint32_t len = 0; len <= p->n; len++) {
        sweep_one(d, linktype, p->b, len, p->n, &ok);
        sweep_one(d, linktype, p->b, len, len, &ok);
    }
    for (uint32_t i = 0; i < p->n; i++) {
        const uint8_t vals[3] = {0x00, 0xff, (uint8_t)~p->b[i]};
        for (int k = 0; k < 3; k++) {
            memcpy(buf, p->b, p->n);
            buf[i] = vals[k];
            sweep_one(d, linktype, buf, p->n, p->n, &ok);
        }
    }
    if (!ok)
        fprintf(stderr, "sweep %s failed\n", name);
    CHECK(ok);
    CHECK_EQ_U(sm_decoder_counters(d)[SM_DC_FRAMES], sweep_calls);
    sm_decoder_destroy(&d);
    CHECK(d == NULL);
}

static void test_sweep(void)
{
    struct pkt ip4, ip6, f, t, pl, a, b;
    syn4_ip(&ip4);
    syn6_ip(&ip6);

    mk_eth_tags(&f, (const uint16_t[]){ET_QINQ, 100, ET_VLAN, 200}, 2, ET_IPV4, &ip4);
    sweep("qinq ipv4 syn", LT_ETHERNET, &f);
    mk_sll2(&f, ET_IPV6, &ip6);
    sweep("sll2 ipv6 syn", LT_SLL2, &f);
    mk_null(&f, 2, false, &ip4);
    sweep("null ipv4", LT_NULL, &f);
    mk_sll(&f, ET_IPV4, &ip4);
    sweep("sll ipv4", LT_SLL, &f);

    /* IPv4 with a source route, IPv6 with hop-by-hop, routing and home address. */
    static const uint8_t lsrr[12] = {1, 131, 11, 4, 192, 0, 2, 1, 192, 0, 2, 9};
    syn4_tcp(&t);
    mk_ipv4(&f,
            &(struct v4spec){
                .src = C4, .dst = S4, .proto = P_TCP, .opts = lsrr, .optlen = 12, .total = -1},
            &t);
    sweep("ipv4 lsrr", LT_RAW, &f);
    mk_tcp(&t, &(struct tcpspec){.sport = CPORT,
                                 .dport = SPORT,
                                 .seq = 2000,
                                 .flags = SM_TH_SYN,
                                 .window = 64800,
                                 .opts = SYN_OPTS,
                                 .optlen = 20});
    pl.n = 0;
    ext8(&pl, P_ROUTING);
    pk_u8(&pl, P_DSTOPTS);
    pk_u8(&pl, 2);
    pk_u8(&pl, 0);
    pk_u8(&pl, 1);
    pk_zero(&pl, 4);
    pk_addr(&pl, AF_INET6, "2001:db8::a");
    pk_u8(&pl, P_TCP);
    pk_u8(&pl, 2);
    pk_u8(&pl, 1);
    pk_u8(&pl, 2);
    pk_zero(&pl, 2);
    pk_u8(&pl, 0xc9);
    pk_u8(&pl, 16);
    pk_addr(&pl, AF_INET6, "2001:db8:99::99");
    pk_all(&pl, &t);
    mk_ipv6(&f, &(struct v6spec){.src = C6, .dst = S6, .nxt = P_HOPOPTS, .plen = -1}, &pl);
    sweep("ipv6 extension headers", LT_RAW, &f);

    /* An ICMP quote, GRE with options, VXLAN. */
    icmp4(&f, 3, 1, 0, &ip4);
    sweep("icmp quote", LT_ETHERNET, &f);
    icmp6(&f, 1, 0, 0, &ip6);
    sweep("icmpv6 quote", LT_ETHERNET, &f);
    pl.n = 0;
    pk_be16(&pl, 0xb000);
    pk_be16(&pl, ET_IPV4);
    pk_zero(&pl, 12);
    pk_all(&pl, &ip4);
    outer_v4(&f, P_GRE, &pl);
    sweep("gre", LT_ETHERNET, &f);
    {
        struct pkt inner, u = {.n = 0};
        mk_eth(&inner, ET_IPV6, &ip6);
        pk_be16(&u, 49152);
        pk_be16(&u, 4789);
        pk_be16(&u, (uint16_t)(16 + inner.n));
        pk_be16(&u, 0);
        pk_be32(&u, 0x08000000);
        pk_be32(&u, 0x00006400);
        pk_all(&u, &inner);
        outer_v4(&f, P_UDP, &u);
        sweep("vxlan", LT_ETHERNET, &f);
    }
    /* Fragments: each decoder sees one fragment, so the reassembler holds partial state. */
    v4_frags(0x201, &a, &b);
    sweep("ipv4 first fragment", LT_ETHERNET, &a);
    sweep("ipv4 last fragment", LT_ETHERNET, &b);
    v6_frags(0x202, &a, &b);
    sweep("ipv6 first fragment", LT_ETHERNET, &a);
    sweep("ipv6 last fragment", LT_ETHERNET, &b);
}

int main(void)
{
    for (int c = 0; c < SM_DC_COUNT; c++) {
        const char *n = sm_decode_counter_name((enum sm_decode_counter)c);
        CHECK(n != NULL && strcmp(n, "?") != 0);
    }
    CHECK(!sm_decode_counter_is_error(SM_DC_FRAMES));
    CHECK(sm_decode_counter_is_error(SM_DC_TCP_BAD_OPTION));

    sm_decoder_t *d = sm_decoder_new(NULL);
    CHECK(d != NULL);
    if (d == NULL)
        return check_done();
    test_link_layers(d);
    test_ipv4(d);
    test_ipv6(d);
    test_tcp(d);
    test_fragments(d);
    test_icmp(d);
    test_tunnels(d);
    sm_decoder_destroy(&d);
    CHECK(d == NULL);
    sm_decoder_destroy(&d);

    test_sweep();
    return check_done();
}
