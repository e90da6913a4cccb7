/*
 * test_bpf.c - the agent's kernel BPF program (agent/capture.c), compiled by libpcap exactly
 * as the agent compiles it and run with pcap_offline_filter() over hand-built frames.
 *
 * Every combination of {IPv4, IPv6} x {untagged, 802.1Q, QinQ 0x88a8+0x8100} x {SYN,
 * SYN/ACK, RST, RST/ACK, SYN+ECE+CWR, ACK, FIN/ACK, PSH/ACK with data} must pass exactly the
 * headers with SYN or RST set; a user expression (`port 8080`) must narrow it in every
 * encapsulation. The documented limits (IPv6 extension headers, non-first fragments, a third
 * tag) are pinned too, so a change of behaviour shows up here and in docs/AGENT.md together.
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "check.h"

enum { ET_IPV4 = 0x0800, ET_IPV6 = 0x86dd, ET_VLAN = 0x8100, ET_QINQ = 0x88a8, ET_ARP = 0x0806 };
enum { ENC_UNTAGGED, ENC_DOT1Q, ENC_QINQ, ENC_TRIPLE, ENC_COUNT };
enum { P_TCP = 6, P_UDP = 17, P_HOPOPTS = 0 };

static const char *const enc_names[] = {"untagged", "802.1Q", "QinQ", "3 tags"};

struct flagcase {
    const char *name;
    uint8_t flags;
    uint16_t payload;
    bool want; /* SYN or RST set */
};

static const struct flagcase flagcases[] = {
    {"SYN", 0x02, 0, true},          {"SYN/ACK", 0x12, 0, true},
    {"RST", 0x04, 0, true},          {"RST/ACK", 0x14, 0, true},
    {"SYN+ECE+CWR", 0xc2, 0, true},  {"ACK", 0x10, 0, false},
    {"FIN/ACK", 0x11, 0, false},     {"PSH/ACK data", 0x18, 100, false},
};
#define NFLAGCASES (sizeof flagcases / sizeof flagcases[0])

struct frame {
    uint8_t b[512];
    uint32_t n;
};

static void put8(struct frame *f, uint8_t v)
{
    f->b[f->n++] = v;
}

static void put16(struct frame *f, uint16_t v)
{
    put8(f, (uint8_t)(v >> 8));
    put8(f, (uint8_t)v);
}

static void put32(struct frame *f, uint32_t v)
{
    put16(f, (uint16_t)(v >> 16));
    put16(f, (uint16_t)v);
}

static void put_bytes(struct frame *f, const void *d, uint32_t n)
{
    memcpy(f->b + f->n, d, n);
    f->n += n;
}

static void put_ether(struct frame *f, int enc, uint16_t ethertype)
{
    static const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
    put_bytes(f, dst, 6);
    put_bytes(f, src, 6);
    switch (enc) {
    case ENC_DOT1Q:
        put16(f, ET_VLAN);
        put16(f, 100);
        break;
    case ENC_QINQ:
        put16(f, ET_QINQ);
        put16(f, 200);
        put16(f, ET_VLAN);
        put16(f, 100);
        break;
    case ENC_TRIPLE:
        put16(f, ET_QINQ);
        put16(f, 300);
        put16(f, ET_VLAN);
        put16(f, 200);
        put16(f, ET_VLAN);
        put16(f, 100);
        break;
    default:
        break;
    }
    put16(f, ethertype);
}

static void put_tcp(struct frame *f, uint16_t sport, uint16_t dport, uint8_t flags,
                    uint16_t payload)
{
    put16(f, sport);
    put16(f, dport);
    put32(f, 0x11223344);
    put32(f, (flags & 0x10) ? 0x55667788 : 0);
    put8(f, 5 << 4); /* data offset 5, no options */
    put8(f, flags);
    put16(f, 64240);
    put16(f, 0); /* checksum: the filter does not look at it */
    put16(f, 0);
    for (uint16_t i = 0; i < payload; i++)
        put8(f, (uint8_t)i);
}

struct ipv4_opts {
    uint8_t ihl_words; /* 5 = no options */
    uint16_t frag;     /* flags and offset field */
    uint8_t proto;
};

static void build_v4(struct frame *f, int enc, const struct ipv4_opts *io, uint16_t sport,
                     uint16_t dport, uint8_t flags, uint16_t payload)
{
    f->n = 0;
    put_ether(f, enc, ET_IPV4);
    uint16_t l4 = (uint16_t)(20 + payload);
    put8(f, (uint8_t)(0x40 | io->ihl_words));
    put8(f, 0);
    put16(f, (uint16_t)(io->ihl_words * 4 + l4));
    put16(f, 0x1234);
    put16(f, io->frag);
    put8(f, 64);
    put8(f, io->proto);
    put16(f, 0);
    put32(f, 0xc6120001); /* 198.18.0.1 */
    put32(f, 0xc6120002); /* 198.18.0.2 */
    for (int i = 5; i < io->ihl_words; i++)
        put32(f, 0x01010101); /* NOP options */
    put_tcp(f, sport, dport, flags, payload);
}

static void build_v6(struct frame *f, int enc, bool hopopts, uint16_t sport, uint16_t dport,
                     uint8_t flags, uint16_t payload)
{
    f->n = 0;
    put_ether(f, enc, ET_IPV6);
    uint16_t l4 = (uint16_t)(20 + payload);
    put32(f, 0x60000000);
    put16(f, (uint16_t)(l4 + (hopopts ? 8 : 0)));
    put8(f, hopopts ? P_HOPOPTS : P_TCP);
    put8(f, 64);
    uint8_t a[16];
    inet_pton(AF_INET6, "2001:db8::1", a);
    put_bytes(f, a, 16);
    inet_pton(AF_INET6, "2001:db8::2", a);
    put_bytes(f, a, 16);
    if (hopopts) {
        put8(f, P_TCP);
        put8(f, 0);
        put8(f, 1); /* PadN, 4 bytes of padding */
        put8(f, 4);
        put32(f, 0);
    }
    put_tcp(f, sport, dport, flags, payload);
}

/* Swaps source and destination address of the frame's IP header (w = 4 or 16 bytes). */
static void swap_addrs(struct frame *f, int enc, uint32_t w)
{
    uint32_t l2 = 14 + 4 * (uint32_t)(enc == ENC_DOT1Q ? 1 : enc == ENC_QINQ ? 2 : 0);
    uint32_t off = l2 + (w == 4 ? 12 : 8);
    uint8_t tmp[16];
    memcpy(tmp, f->b + off, w);
    memmove(f->b + off, f->b + off + w, w);
    memcpy(f->b + off + w, tmp, w);
}

/* A compiled program and the handle it was compiled on. */
struct prog {
    pcap_t *p;
    struct bpf_program bpf;
    bool ok;
};

static bool prog_compile(struct prog *pr, int linktype, const char *user)
{
    char text[8192];
    memset(pr, 0, sizeof *pr);
    if (sm_capture_filter_build(linktype, user, text, sizeof text) == -1) {
        fprintf(stderr, "filter_build failed for '%s'\n", user ? user : "");
        return false;
    }
    pr->p = pcap_open_dead(linktype, 65535);
    if (pr->p == NULL)
        return false;
    if (pcap_compile(pr->p, &pr->bpf, text, 1, PCAP_NETMASK_UNKNOWN) == PCAP_ERROR) {
        fprintf(stderr, "pcap_compile: %s\n  %s\n", pcap_geterr(pr->p), text);
        pcap_close(pr->p);
        pr->p = NULL;
        return false;
    }
    pr->ok = true;
    return true;
}

static void prog_free(struct prog *pr)
{
    if (pr->ok)
        pcap_freecode(&pr->bpf);
    if (pr->p != NULL)
        pcap_close(pr->p);
    memset(pr, 0, sizeof *pr);
}

static bool passes(const struct prog *pr, const struct frame *f)
{
    struct pcap_pkthdr h = {.caplen = f->n, .len = f->n};
    return pcap_offline_filter(&pr->bpf, &h, f->b) != 0;
}

static int mismatches;

static void expect(const struct prog *pr, const struct frame *f, bool want, const char *what)
{
    bool got = passes(pr, f);
    CHECK(got == want);
    if (got != want) {
        mismatches++;
        fprintf(stderr, "  %s: %s, expected %s\n", what, got ? "passed" : "rejected",
                want ? "pass" : "reject");
    }
}

static const struct ipv4_opts v4_plain = {5, 0x4000, P_TCP};

/* The matrix: family x encapsulation x flags, with the base program alone. */
static void test_base_matrix(void)
{
    struct prog pr;
    CHECK(prog_compile(&pr, DLT_EN10MB, NULL));
    if (!pr.ok)
        return;
    struct frame f;
    char what[128];
    for (int fam = 4; fam <= 6; fam += 2)
        for (int enc = ENC_UNTAGGED; enc <= ENC_QINQ; enc++)
            for (size_t k = 0; k < NFLAGCASES; k++) {
                const struct flagcase *fc = &flagcases[k];
                if (fam == 4)
                    build_v4(&f, enc, &v4_plain, 40000, 80, fc->flags, fc->payload);
                else
                    build_v6(&f, enc, false, 40000, 80, fc->flags, fc->payload);
                snprintf(what, sizeof what, "IPv%d %s %s", fam, enc_names[enc], fc->name);
                expect(&pr, &f, fc->want, what);
            }
    prog_free(&pr);
}

/* `port 8080` narrows every encapsulation: SYN/RST to 8080 pass, the same to port 80 do not. */
static void test_user_expression(void)
{
    struct prog pr;
    CHECK(prog_compile(&pr, DLT_EN10MB, "port 8080"));
    if (!pr.ok)
        return;
    struct frame f;
    char what[128];
    for (int fam = 4; fam <= 6; fam += 2)
        for (int enc = ENC_UNTAGGED; enc <= ENC_QINQ; enc++)
            for (size_t k = 0; k < NFLAGCASES; k++) {
                const struct flagcase *fc = &flagcases[k];
                for (int to8080 = 0; to8080 <= 1; to8080++) {
                    /* the reply direction too: sport 8080 */
                    for (int reverse = 0; reverse <= 1; reverse++) {
                        uint16_t far = to8080 ? 8080 : 80;
                        uint16_t sport = reverse ? far : 40000, dport = reverse ? 40000 : far;
                        if (fam == 4)
                            build_v4(&f, enc, &v4_plain, sport, dport, fc->flags, fc->payload);
                        else
                            build_v6(&f, enc, false, sport, dport, fc->flags, fc->payload);
                        snprintf(what, sizeof what, "port 8080: IPv%d %s %s %u->%u", fam,
                                 enc_names[enc], fc->name, sport, dport);
                        expect(&pr, &f, fc->want && to8080, what);
                    }
                }
            }
    prog_free(&pr);

    /* An address expression narrows under tags too (it reads the inner IP header). */
    CHECK(prog_compile(&pr, DLT_EN10MB, "dst host 198.18.0.2 or dst host 2001:db8::2"));
    if (!pr.ok)
        return;
    for (int enc = ENC_UNTAGGED; enc <= ENC_QINQ; enc++) {
        snprintf(what, sizeof what, "dst host: IPv4 %s SYN", enc_names[enc]);
        build_v4(&f, enc, &v4_plain, 40000, 80, 0x02, 0);
        expect(&pr, &f, true, what);
        build_v6(&f, enc, false, 40000, 80, 0x02, 0);
        snprintf(what, sizeof what, "dst host: IPv6 %s SYN", enc_names[enc]);
        expect(&pr, &f, true, what);
        build_v4(&f, enc, &v4_plain, 80, 40000, 0x12, 0);
        swap_addrs(&f, enc, 4);
        snprintf(what, sizeof what, "dst host: IPv4 %s SYN/ACK to the client", enc_names[enc]);
        expect(&pr, &f, false, what);
        build_v6(&f, enc, false, 80, 40000, 0x12, 0);
        swap_addrs(&f, enc, 16);
        snprintf(what, sizeof what, "dst host: IPv6 %s SYN/ACK to the client", enc_names[enc]);
        expect(&pr, &f, false, what);
    }
    prog_free(&pr);
}

/* What the kernel program does not pass, as docs/AGENT.md states. */
static void test_documented_limits(void)
{
    struct prog pr;
    CHECK(prog_compile(&pr, DLT_EN10MB, NULL));
    if (!pr.ok)
        return;
    struct frame f;
    for (int enc = ENC_UNTAGGED; enc <= ENC_QINQ; enc++) {
        build_v6(&f, enc, true, 40000, 80, 0x02, 0);
        expect(&pr, &f, false, "IPv6 SYN behind a hop-by-hop header");
        struct ipv4_opts nonfirst = {5, 0x00b9, P_TCP}; /* offset 185 * 8 */
        build_v4(&f, enc, &nonfirst, 40000, 80, 0x02, 0);
        expect(&pr, &f, false, "IPv4 non-first fragment");
        struct ipv4_opts first = {5, 0x2000, P_TCP}; /* MF, offset 0 */
        build_v4(&f, enc, &first, 40000, 80, 0x02, 0);
        expect(&pr, &f, true, "IPv4 first fragment carrying a SYN");
        struct ipv4_opts options = {7, 0x4000, P_TCP};
        build_v4(&f, enc, &options, 40000, 80, 0x02, 0);
        expect(&pr, &f, true, "IPv4 SYN with 8 bytes of IP options");
        build_v4(&f, enc, &options, 40000, 80, 0x10, 0);
        expect(&pr, &f, false, "IPv4 ACK with 8 bytes of IP options");
        struct ipv4_opts udp = {5, 0x4000, P_UDP};
        build_v4(&f, enc, &udp, 40000, 80, 0x02, 0);
        expect(&pr, &f, false, "UDP whose byte 13 looks like SYN");
    }
    build_v4(&f, ENC_TRIPLE, &v4_plain, 40000, 80, 0x02, 0);
    expect(&pr, &f, false, "IPv4 SYN under three tags");
    f.n = 0;
    put_ether(&f, ENC_UNTAGGED, ET_ARP);
    for (int i = 0; i < 28; i++)
        put8(&f, 0x02);
    expect(&pr, &f, false, "ARP");
    prog_free(&pr);
}

/* Link types without VLAN support in libpcap get the base program alone, and it works. */
static void test_other_linktypes(void)
{
    char text[4096];
    CHECK(sm_capture_filter_build(DLT_RAW, NULL, text, sizeof text) == 0);
    CHECK(strstr(text, "vlan") == NULL);
    CHECK(sm_capture_filter_build(DLT_EN10MB, NULL, text, sizeof text) == 0);
    CHECK(strstr(text, "vlan") != NULL);

    struct prog pr;
    CHECK(prog_compile(&pr, DLT_RAW, "port 8080"));
    if (!pr.ok)
        return;
    struct frame eth, raw;
    for (size_t k = 0; k < NFLAGCASES; k++) {
        const struct flagcase *fc = &flagcases[k];
        build_v4(&eth, ENC_UNTAGGED, &v4_plain, 40000, 8080, fc->flags, fc->payload);
        raw.n = eth.n - 14;
        memcpy(raw.b, eth.b + 14, raw.n);
        expect(&pr, &raw, fc->want, "DLT_RAW IPv4");
        build_v6(&eth, ENC_UNTAGGED, false, 40000, 8080, fc->flags, fc->payload);
        raw.n = eth.n - 14;
        memcpy(raw.b, eth.b + 14, raw.n);
        expect(&pr, &raw, fc->want, "DLT_RAW IPv6");
        build_v6(&eth, ENC_UNTAGGED, false, 40000, 80, fc->flags, fc->payload);
        raw.n = eth.n - 14;
        memcpy(raw.b, eth.b + 14, raw.n);
        expect(&pr, &raw, false, "DLT_RAW IPv6 port 80");
    }
    prog_free(&pr);
    CHECK(prog_compile(&pr, DLT_LINUX_SLL2, NULL));
    prog_free(&pr);
}

/* Expressions that would move the base program's offsets are refused, not mis-applied. */
static void test_refused_expressions(void)
{
    char text[4096];
    CHECK(sm_capture_filter_build(DLT_EN10MB, "vlan 100", text, sizeof text) == -1);
    CHECK(sm_capture_filter_build(DLT_EN10MB, "port 80 and (mpls)", text, sizeof text) == -1);
    CHECK(sm_capture_filter_build(DLT_EN10MB, "pppoes", text, sizeof text) == -1);
    CHECK(sm_capture_filter_build(DLT_EN10MB, "geneve and port 1", text, sizeof text) == -1);
    CHECK(sm_capture_filter_build(DLT_EN10MB, "host vlan-gw.example", text, sizeof text) == 0);
    CHECK(sm_capture_filter_build(DLT_EN10MB, "   ", text, sizeof text) == 0);
    CHECK(strstr(text, "and ()") == NULL);
    CHECK(sm_capture_filter_build(DLT_EN10MB, NULL, text, 16) == -1); /* too small */
}

int main(void)
{
    char text[4096];
    if (sm_capture_filter_build(DLT_EN10MB, NULL, text, sizeof text) == 0)
        printf("kernel program (Ethernet):\n  %s\n", text);
    test_base_matrix();
    test_user_expression();
    test_documented_limits();
    test_other_linktypes();
    test_refused_expressions();
    if (mismatches)
        fprintf(stderr, "%d frames filtered wrongly\n", mismatches);
    return check_done();
}
