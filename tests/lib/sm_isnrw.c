/*
 * sm_isnrw: the lab's sequence-number-randomizing firewall (what Cisco ASA and Firepower do
 * by default), an NFQUEUE program run in the firewall namespace.
 *
 *   sm_isnrw [--queue N] [--mss N] [--log FILE]     (queues N and N + 1; N is 0 by default)
 *
 * Each connection (by the client's tuple as the client sends it) gets a random offset when
 * its SYN passes. Client to server: the offset is added to the sequence number. Server to
 * client: it is taken off the acknowledgement number and the SACK edges. --mss N clamps the
 * MSS option of SYNs and SYN/ACKs to N (ASA's default is 1380). TCP checksums are computed
 * again. Retransmitted SYNs keep their connection's offset; a new ISN on a tuple gets a new
 * one. --log FILE gets one line "REWRITTEN ORIGINAL" per connection (the ISNs as the server
 * and the client see them), for the lab's truth.
 *
 * Queue N takes the client's packets on their way to the server, queue N + 1 the packets on
 * their way to the client, both after the firewall's own rules and before NAT on the way out
 * (so both see the client's own tuple, and the firewall's rules and its rejections answer the
 * client's own sequence numbers: its ACL comes before the randomization, as on an ASA). The
 * rules, and conntrack's liberal mode for the server's answers, are in tests/lib/lab.sh
 * (lab_rewrite_on).
 *
 * Prints "ready" once the queue is bound. Test code: no state survives a restart, and the
 * table is small (LAB traffic); past it the oldest connection is forgotten.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#define CONNS 4096

struct conn {
    bool used;
    uint8_t fam;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint32_t isn, off;
};

static struct conn conns[CONNS];
static unsigned next_slot;
static int mss_clamp = -1;
static FILE *log_file;
static unsigned long n_rewritten, n_conns, n_passed;

struct pkt {
    uint8_t *ip;
    size_t len;
    uint8_t fam;
    uint8_t *src, *dst;
    size_t alen;
    uint8_t *tcp;
    size_t tcplen;
};

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* The TCP segment of an unfragmented IPv4 or IPv6 (no extension headers) packet. */
static bool parse(struct pkt *p)
{
    if (p->len < 20)
        return false;
    if ((p->ip[0] >> 4) == 4) {
        size_t ihl = (size_t)(p->ip[0] & 15) * 4, tot = be16(p->ip + 2);
        if (ihl < 20 || tot > p->len || tot < ihl + 20 || p->ip[9] != 6 ||
            (be16(p->ip + 6) & 0x3fff) != 0)
            return false;
        p->fam = 4, p->alen = 4, p->src = p->ip + 12, p->dst = p->ip + 16;
        p->tcp = p->ip + ihl, p->tcplen = tot - ihl;
    } else if ((p->ip[0] >> 4) == 6) {
        if (p->len < 60 || p->ip[6] != 6 || 40 + (size_t)be16(p->ip + 4) > p->len)
            return false;
        p->fam = 6, p->alen = 16, p->src = p->ip + 8, p->dst = p->ip + 24;
        p->tcp = p->ip + 40, p->tcplen = be16(p->ip + 4);
        if (p->tcplen < 20)
            return false;
    } else {
        return false;
    }
    size_t doff = (size_t)(p->tcp[12] >> 4) * 4;
    return doff >= 20 && doff <= p->tcplen;
}

static void tcp_checksum(struct pkt *p)
{
    uint32_t s = 0;
    for (size_t i = 0; i < p->alen; i += 2)
        s += be16(p->src + i) + be16(p->dst + i);
    s += 6 + (uint32_t)p->tcplen;
    put16(p->tcp + 16, 0);
    for (size_t i = 0; i + 1 < p->tcplen; i += 2)
        s += be16(p->tcp + i);
    if (p->tcplen & 1)
        s += (uint32_t)p->tcp[p->tcplen - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    put16(p->tcp + 16, (uint16_t)~s);
}

/* The connection whose client tuple is (a, ap) -> (b, bp), or NULL. */
static struct conn *find(const struct pkt *p, const uint8_t *a, uint16_t ap, const uint8_t *b,
                         uint16_t bp)
{
    for (unsigned i = 0; i < CONNS; i++) {
        struct conn *c = &conns[i];
        if (c->used && c->fam == p->fam && c->sport == ap && c->dport == bp &&
            memcmp(c->src, a, p->alen) == 0 && memcmp(c->dst, b, p->alen) == 0)
            return c;
    }
    return NULL;
}

/* Clamps an MSS option; SACK edges (server to client) lose the offset. */
static void options(struct pkt *p, bool syn, uint32_t sack_off)
{
    uint8_t *o = p->tcp + 20, *end = p->tcp + (size_t)(p->tcp[12] >> 4) * 4;
    while (o < end) {
        if (o[0] == 0)
            break;
        if (o[0] == 1) {
            o++;
            continue;
        }
        if (o + 1 >= end || o[1] < 2 || o + o[1] > end)
            break;
        if (o[0] == 2 && o[1] == 4 && syn && mss_clamp >= 0 && be16(o + 2) > mss_clamp)
            put16(o + 2, (uint16_t)mss_clamp);
        if (o[0] == 5 && sack_off)
            for (uint8_t *e = o + 2; e + 4 <= o + o[1]; e += 4)
                put32(e, be32(e) - sack_off);
        o += o[1];
    }
}

/* Rewrites p in place; true when it changed. */
static bool rewrite(struct pkt *p, bool from_client)
{
    uint16_t sport = be16(p->tcp), dport = be16(p->tcp + 2);
    uint8_t flags = p->tcp[13];
    bool syn = flags & 0x02, ack = flags & 0x10;
    if (from_client) {
        struct conn *c = find(p, p->src, sport, p->dst, dport);
        uint32_t seq = be32(p->tcp + 4);
        if (syn && !ack && (c == NULL || c->isn != seq)) {
            if (c == NULL) {
                c = &conns[next_slot];
                next_slot = (next_slot + 1) % CONNS;
            }
            memset(c, 0, sizeof *c);
            c->used = true;
            c->fam = p->fam;
            memcpy(c->src, p->src, p->alen);
            memcpy(c->dst, p->dst, p->alen);
            c->sport = sport;
            c->dport = dport;
            c->isn = seq;
            do {
                if (getrandom(&c->off, sizeof c->off, 0) != sizeof c->off)
                    c->off = (uint32_t)random() << 1 | 1;
            } while (c->off == 0);
            n_conns++;
            if (log_file) {
                fprintf(log_file, "%u %u\n", seq + c->off, seq);
                fflush(log_file);
            }
        }
        if (c == NULL)
            return false;
        put32(p->tcp + 4, seq + c->off);
        options(p, syn, 0);
    } else {
        struct conn *c = find(p, p->dst, dport, p->src, sport);
        if (c == NULL)
            return false;
        if (ack)
            put32(p->tcp + 8, be32(p->tcp + 8) - c->off);
        options(p, syn, c->off);
    }
    tcp_checksum(p);
    return true;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *arg)
{
    (void)msg;
    bool from_client = *(const bool *)arg;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (ph == NULL)
        return 0;
    uint32_t id = ntohl(ph->packet_id);
    unsigned char *data;
    int len = nfq_get_payload(nfa, &data);
    struct pkt p = {.ip = data, .len = len > 0 ? (size_t)len : 0};
    if (len > 0 && parse(&p) && rewrite(&p, from_client)) {
        n_rewritten++;
        return nfq_set_verdict(qh, id, NF_ACCEPT, (uint32_t)len, data);
    }
    n_passed++;
    return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sm_isnrw [--queue N] [--mss N] [--log FILE]\n"
               "Randomizes each connection's ISN as Cisco ASA does (NFQUEUE; see the source).\n");
}

int main(int argc, char **argv)
{
    unsigned queue = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--queue") == 0 && i + 1 < argc) {
            queue = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--mss") == 0 && i + 1 < argc) {
            mss_clamp = atoi(argv[++i]);
            if (mss_clamp < 1 || mss_clamp > 65535) {
                fprintf(stderr, "sm_isnrw: --mss %s: not 1..65535\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            log_file = fopen(argv[++i], "w");
            if (log_file == NULL) {
                fprintf(stderr, "sm_isnrw: %s: %s\n", argv[i], strerror(errno));
                return 1;
            }
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    struct nfq_handle *h = nfq_open();
    if (h == NULL) {
        fprintf(stderr, "sm_isnrw: nfq_open: %s (is nfnetlink_queue in the kernel?)\n",
                strerror(errno));
        return 1;
    }
    static bool way[2] = {true, false};
    for (unsigned q = 0; q < 2; q++) {
        struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)(queue + q), on_packet, &way[q]);
        if (qh == NULL) {
            fprintf(stderr, "sm_isnrw: queue %u: %s\n", queue + q, strerror(errno));
            return 1;
        }
        if (nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xffff) < 0) {
            fprintf(stderr, "sm_isnrw: nfq_set_mode: %s\n", strerror(errno));
            return 1;
        }
    }
    printf("ready\n");
    fflush(stdout);
    static char buf[1 << 18];
    int fd = nfq_fd(h);
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOBUFS) { /* the kernel dropped queued packets: a lab failure */
                fprintf(stderr, "sm_isnrw: queue overrun (packets lost)\n");
                continue;
            }
            fprintf(stderr, "sm_isnrw: recv: %s\n", strerror(errno));
            return 1;
        }
        nfq_handle_packet(h, buf, (int)n);
        if (log_file && (n_rewritten + n_passed) % 1024 == 0)
            fflush(log_file);
    }
}
