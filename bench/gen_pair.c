/*
 * gen_pair.c - write a realistic client/server capture pair for synmatch benchmarks.
 *
 *   gen_pair [options] CLIENT.pcap SERVER.pcap
 *
 * One C11 file, libc only, with the packet helpers of tests/lib/pkt.h; built with
 * -DSM_BENCH=ON (bench/CMakeLists.txt).
 *
 * The model (all addresses inside 198.18.0.0/15 and 2001:db8::/32):
 *
 *   client hosts 198.18.0.0/16, 2001:db8:c::/64
 *        |  client capture (CLIENT.pcap)
 *   firewall: masquerade to 198.19.0.1 / 2001:db8:f::1 with random source ports,
 *             MSS clamp (1400 / 1380), drops some SYNs, a few ms of one-way delay
 *        |  server capture (SERVER.pcap)
 *   server 198.19.10.10 / 2001:db8:10::10, ports 443 and 80
 *
 * Connection kinds, drawn per arrival (Poisson arrivals at --rate per second):
 *   - client->server through the NAT (these are the --connections): seen in both files;
 *   - client->other destination (198.19.20.0/24, 2001:db8:20::/64): client file only (out of scope
 *     for the "missing" question);
 *   - other public clients (198.19.64.0/18, 2001:db8:e::/48) -> server: server file only.
 *
 * A client->server connection: SYN (ISN identical at both captures, 5% with ECE|CWR),
 * SYN/ACK, ACK, --data-packets alternating request/response PSH|ACK segments, optional idle
 * time (20% stay open 1..30 s, so thousands are concurrent), then FIN/FIN/ACK or an RST.
 * --loss PCT of the connections lose their first SYN between the captures; the client
 * retransmits with the same ISN at about +1 s and +3 s (fewer attempts when its connect timeout
 * is shorter). Of those, --blackhole PCT are lost on every attempt (missing), the rest get through
 * on attempt 2 or 3. A small share instead lose the first SYN/ACK (server sees two SYNs).
 * --reuse PCT of connections reuse the previous 4-tuple of the same client host with a new ISN
 * (NAT keeps the translated port when its mapping is still reserved).
 *
 * Output: nanosecond pcap (magic 0xa1b23c4d), LINKTYPE_ETHERNET, timestamps non-decreasing.
 * Deterministic for a seed: both files are produced by replaying the same generator, one file
 * per process (fork) so the two files are written in parallel.
 *
 * Ground truth goes to stderr and to CLIENT.pcap.truth (see bench/README.md for the format),
 * the true stream map to CLIENT.pcap.truth.map.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pkt.h"

#define NS_PER_S 1000000000ULL
#define NS_PER_MS 1000000ULL
#define NS_PER_US 1000ULL
#define NEVER UINT64_MAX

/* 2024-05-01 12:00:00 UTC */
#define EPOCH_START (1714564800ULL * NS_PER_S)

enum { SIDE_C = 0, SIDE_S = 1 };
enum { K_CS = 0, K_ODST = 1, K_OCLI = 2 };
enum { OPT_NONE = 0, OPT_SYN = 1, OPT_TS = 2 };

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_ECE 0x40
#define TH_CWR 0x80

#define MAX_SYN_ATTEMPTS 3
#define MAX_SEG 1380u
#define POOL_BYTES (1u << 17)
#define PAY_WORD_RANGE ((POOL_BYTES - 2u * MAX_SEG) / 2u)

/* ------------------------------------------------------------------------------------------ */
/* random numbers: xoshiro256** seeded by splitmix64 */

typedef struct {
    uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void rng_seed(rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* uniform in [0, n), n > 0 */
static uint64_t rng_below(rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* uniform in [lo, hi] */
static uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* uniform in [0, 1) */
static double rng_unif(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* natural log for x > 0 without libm: x = m * 2^e, ln m = 2 atanh((m-1)/(m+1)) */
static double ln_approx(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.41421356237309505) {
        m *= 0.5;
        e++;
    }
    double z = (m - 1.0) / (m + 1.0), z2 = z * z, term = z, sum = 0.0;
    for (int k = 1; k < 40; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return 2.0 * sum + e * 0.69314718055994530942;
}

/* exponential with mean 1 */
static double rng_exp1(rng_t *r)
{
    return -ln_approx(1.0 - rng_unif(r));
}

/* ------------------------------------------------------------------------------------------ */
/* options */

typedef struct {
    uint64_t nconn;
    double loss;        /* % of client->server connections whose first SYN is lost */
    double blackhole;   /* % of those lost on every attempt */
    double synack_loss; /* % of connections whose first SYN/ACK is lost */
    double v6;          /* % IPv6 */
    double odst;        /* client->other destinations, % of nconn */
    double ocli;        /* other clients -> server, % of nconn */
    double reuse;       /* % of client->server connections that reuse a 4-tuple */
    double rate;        /* arrivals per second */
    double clock_off_ms;
    unsigned kdata;
    unsigned payload;
    uint64_t seed;
    int unique_isn;
    int serial;
    const char *cpath, *spath;
} opts_t;

/* ------------------------------------------------------------------------------------------ */
/* connections */

typedef struct {
    uint64_t t[2];  /* time at the client / server capture, NEVER if not seen there */
    uint32_t seq, ack, tsval, tsecr;
    uint32_t payw;  /* payload: word offset into the pool */
    uint16_t len, win, ipid, mss;
    uint8_t flags, from_srv, opt, pad;
} pkt_t;

typedef struct conn {
    uint64_t id;
    uint64_t key;
    uint64_t t0;
    uint8_t kind, v6, hops, ttl_c;
    uint32_t host;
    uint32_t flow_c, flow_s;
    uint16_t cport, nport, sport;
    uint8_t caddr[16], naddr[16], saddr[16];
    int npkt, nord, cur;
    uint32_t *ord;
    pkt_t *pkt;
    struct conn *next_free;
} conn_t;

typedef struct {
    uint16_t next_port;
    uint8_t last_valid;
    uint16_t last_port, last_nport, last_sport;
    uint64_t last_end, last_nat_stamp;
} host_t;

typedef struct {
    uint64_t tc, ts; /* first packet at client / server capture */
    uint32_t isn;
    uint8_t kind, attempts, missing, srv_syns;
} trec_t;

typedef struct {
    uint64_t id, t0;
    uint32_t isn;
    uint8_t attempts, v6;
    uint16_t cport, sport;
    uint8_t caddr[16], saddr[16];
} tmiss_t;

typedef struct {
    trec_t *rec;
    size_t nrec, caprec;
    tmiss_t *miss;
    size_t nmiss, capmiss;
    uint64_t nkind[3], nv6[3];
    uint64_t lost_first, recovered_on[MAX_SYN_ATTEMPTS + 1], synack_lost;
    uint64_t missing_by_att[MAX_SYN_ATTEMPTS + 1], missing_pkts;
    uint64_t reuse_client, reuse_nat;
    uint64_t ecn;
    uint64_t pkts[2], bytes[2];
    uint64_t syn_pkts[2];
    uint64_t tfirst[2], tlast[2];
    uint64_t max_concurrent;
} truth_t;

typedef struct {
    const opts_t *o;
    rng_t r;
    uint64_t t, next_id, ncs;
    double mean_gap_ns, p_cs, p_odst;
    host_t *h4, *h6, *oh4, *oh6;
    uint32_t nh4, nh6, noh4, noh6;
    uint64_t *nat_busy[2];
    uint64_t *isnset;
    size_t isncap, isncount;
    size_t pkt_cap;
    conn_t *free_list;
    truth_t *truth;
} gen_t;

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "gen_pair: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p) {
        fprintf(stderr, "gen_pair: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "gen_pair: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return q;
}

static conn_t *conn_new(gen_t *g)
{
    conn_t *c = g->free_list;
    if (c) {
        g->free_list = c->next_free;
    } else {
        c = xmalloc(sizeof *c);
        c->pkt = xmalloc(g->pkt_cap * sizeof *c->pkt);
        c->ord = xmalloc(g->pkt_cap * sizeof *c->ord);
    }
    c->npkt = c->nord = c->cur = 0;
    c->next_free = NULL;
    return c;
}

static void conn_free(gen_t *g, conn_t *c)
{
    c->next_free = g->free_list;
    g->free_list = c;
}

/* addresses */
static void addr4(uint8_t *a, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
    memset(a, 0, 16);
    a[0] = b0;
    a[1] = b1;
    a[2] = b2;
    a[3] = b3;
}

static void addr6(uint8_t *a, uint16_t w2, uint16_t w3, uint64_t iid)
{
    memset(a, 0, 16);
    pkt_be16(a, 0x2001);
    pkt_be16(a + 2, 0x0db8);
    pkt_be16(a + 4, w2);
    pkt_be16(a + 6, w3);
    for (int i = 0; i < 8; i++)
        a[8 + i] = (uint8_t)(iid >> (56 - 8 * i));
}

static uint64_t mix64(uint64_t x)
{
    uint64_t s = x * 0x2545f4914f6cdd1dULL + 12345;
    return splitmix64(&s);
}

static void client_addr(uint8_t *a, int v6, uint32_t h)
{
    if (v6)
        addr6(a, 0xc, 0, mix64(h) & 0x0000ffffffffffffULL);
    else
        addr4(a, 198, 18, (uint8_t)(h / 254u), (uint8_t)(1u + h % 254u));
}

static void other_client_addr(uint8_t *a, int v6, uint32_t h)
{
    if (v6)
        addr6(a, 0xe, (uint16_t)h, mix64(h + 0x10000) & 0x0000ffffffffffffULL);
    else
        addr4(a, 198, 19, (uint8_t)(64u + h / 254u), (uint8_t)(1u + h % 254u));
}

static void server_addr(uint8_t *a, int v6)
{
    if (v6)
        addr6(a, 0x10, 0, 0x10);
    else
        addr4(a, 198, 19, 10, 10);
}

static void nat_addr(uint8_t *a, int v6)
{
    if (v6)
        addr6(a, 0xf, 0, 1);
    else
        addr4(a, 198, 19, 0, 1);
}

static void other_dst_addr(uint8_t *a, int v6, uint32_t k)
{
    if (v6)
        addr6(a, 0x20, 0, 1 + k);
    else
        addr4(a, 198, 19, 20, (uint8_t)(1 + k));
}

static int fmt_addr(char *buf, size_t n, const uint8_t *a, int v6)
{
    if (!v6)
        return snprintf(buf, n, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    /* compress the longest run of zero words (RFC 5952) */
    uint16_t w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (uint16_t)((a[2 * i] << 8) | a[2 * i + 1]);
    int best = -1, bestlen = 0;
    for (int i = 0; i < 8;) {
        if (w[i] == 0) {
            int j = i;
            while (j < 8 && w[j] == 0)
                j++;
            if (j - i > bestlen && j - i >= 2) {
                best = i;
                bestlen = j - i;
            }
            i = j;
        } else {
            i++;
        }
    }
    size_t off = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            off += (size_t)snprintf(buf + off, n - off, "::");
            i += bestlen - 1;
            continue;
        }
        if (off > 0 && buf[off - 1] != ':')
            off += (size_t)snprintf(buf + off, n - off, ":");
        off += (size_t)snprintf(buf + off, n - off, "%x", w[i]);
    }
    return (int)off;
}

/* ------------------------------------------------------------------------------------------ */
/* ISN uniqueness (only with --unique-isn) */

static int isn_insert(gen_t *g, uint32_t isn)
{
    if (g->isncount * 2 >= g->isncap) {
        size_t ncap = g->isncap ? g->isncap * 2 : (1u << 20);
        uint64_t *n = xcalloc(ncap, sizeof *n);
        for (size_t i = 0; i < g->isncap; i++) {
            if (!g->isnset[i])
                continue;
            size_t j = (size_t)(mix64(g->isnset[i]) & (ncap - 1));
            while (n[j])
                j = (j + 1) & (ncap - 1);
            n[j] = g->isnset[i];
        }
        free(g->isnset);
        g->isnset = n;
        g->isncap = ncap;
    }
    uint64_t v = (uint64_t)isn | (1ULL << 32);
    size_t j = (size_t)(mix64(v) & (g->isncap - 1));
    while (g->isnset[j]) {
        if (g->isnset[j] == v)
            return 0;
        j = (j + 1) & (g->isncap - 1);
    }
    g->isnset[j] = v;
    g->isncount++;
    return 1;
}

static uint32_t new_isn(gen_t *g)
{
    for (;;) {
        uint32_t isn = (uint32_t)rng_next(&g->r);
        if (!g->o->unique_isn || isn_insert(g, isn))
            return isn;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* building one connection's packets */

typedef struct {
    gen_t *g;
    conn_t *c;
    uint64_t d_cs, d_sc;
    uint32_t c_nxt, s_nxt;
    uint32_t c_tsr, s_tsr; /* last TSval each end received from its peer */
    uint32_t ts_off_c, ts_off_s;
    uint16_t ipid_c, ipid_s;
} bld_t;

static uint16_t sample_payload(gen_t *g)
{
    unsigned p = g->o->payload;
    if (p == 0)
        return 1;
    uint64_t len = rng_range(&g->r, p / 2 + 1, p + p / 2);
    if (len > MAX_SEG)
        len = MAX_SEG;
    return (uint16_t)len;
}

static pkt_t *bsend(bld_t *b, int from_srv, uint64_t tsend, int lost, uint8_t flags, uint16_t len)
{
    conn_t *c = b->c;
    rng_t *r = &b->g->r;
    pkt_t *p = &c->pkt[c->npkt++];
    memset(p, 0, sizeof *p);
    p->from_srv = (uint8_t)from_srv;
    p->flags = flags;
    p->len = len;
    p->opt = OPT_TS;
    p->win = (uint16_t)rng_range(r, 500, 510);
    uint64_t tarr = lost ? NEVER : tsend + (from_srv ? b->d_sc : b->d_cs) + rng_below(r, 60 * NS_PER_US);
    uint32_t ms = (uint32_t)(tsend / NS_PER_MS);
    if (from_srv) {
        p->t[SIDE_S] = tsend;
        p->t[SIDE_C] = tarr;
        p->seq = b->s_nxt;
        p->ack = (flags & TH_ACK) ? b->c_nxt : 0;
        p->tsval = ms + b->ts_off_s;
        p->tsecr = b->s_tsr;
        p->ipid = b->ipid_s++;
        if (!lost)
            b->c_tsr = p->tsval;
    } else {
        p->t[SIDE_C] = tsend;
        p->t[SIDE_S] = tarr;
        p->seq = b->c_nxt;
        p->ack = (flags & TH_ACK) ? b->s_nxt : 0;
        p->tsval = ms + b->ts_off_c;
        p->tsecr = b->c_tsr;
        p->ipid = b->ipid_c++;
        if (!lost)
            b->s_tsr = p->tsval;
    }
    p->payw = len ? (uint32_t)rng_below(r, PAY_WORD_RANGE) : 0;
    return p;
}

/* arrival time of p at the receiving end's capture (virtual if that end is not captured) */
static uint64_t arrival(const pkt_t *p)
{
    return p->from_srv ? p->t[SIDE_C] : p->t[SIDE_S];
}

static void sort_side(conn_t *c, int side)
{
    c->nord = 0;
    for (int i = 0; i < c->npkt; i++) {
        if (c->pkt[i].t[side] == NEVER)
            continue;
        uint32_t v = (uint32_t)i;
        uint64_t tv = c->pkt[i].t[side];
        int j = c->nord++;
        while (j > 0 && c->pkt[c->ord[j - 1]].t[side] > tv) {
            c->ord[j] = c->ord[j - 1];
            j--;
        }
        c->ord[j] = v;
    }
    c->cur = 0;
}

static uint16_t alloc_nat_port(gen_t *g, int v6, uint64_t t0)
{
    uint64_t *busy = g->nat_busy[v6];
    for (int tries = 0; tries < 1000; tries++) {
        uint16_t p = (uint16_t)rng_range(&g->r, 1024, 65535);
        if (busy[p] <= t0)
            return p;
    }
    for (uint32_t p = 1024; p < 65536; p++)
        if (busy[p] <= t0)
            return (uint16_t)p;
    fprintf(stderr, "gen_pair: NAT port space exhausted (lower --rate)\n");
    exit(1);
}

static uint16_t next_host_port(gen_t *g, host_t *h)
{
    uint32_t p = (uint32_t)h->next_port + 1u + (uint32_t)rng_below(&g->r, 7);
    if (p > 60999u)
        p = 32768u + (p - 61000u);
    h->next_port = (uint16_t)p;
    return h->next_port;
}

static void host_init(gen_t *g, host_t *h)
{
    memset(h, 0, sizeof *h);
    h->next_port = (uint16_t)rng_range(&g->r, 32768, 60999);
}

static conn_t *gen_next(gen_t *g)
{
    const opts_t *o = g->o;
    rng_t *r = &g->r;
    if (g->ncs >= o->nconn)
        return NULL;

    g->t += (uint64_t)(rng_exp1(r) * g->mean_gap_ns);
    uint64_t t0 = g->t;
    double u = rng_unif(r);
    int kind = u < g->p_cs ? K_CS : (u < g->p_cs + g->p_odst ? K_ODST : K_OCLI);
    int v6 = rng_unif(r) * 100.0 < o->v6;

    conn_t *c = conn_new(g);
    c->id = g->next_id++;
    c->t0 = t0;
    c->kind = (uint8_t)kind;
    c->v6 = (uint8_t)v6;
    c->hops = (uint8_t)rng_range(r, 6, 20);
    c->flow_c = (uint32_t)rng_below(r, 1u << 20);
    c->flow_s = (uint32_t)rng_below(r, 1u << 20);

    host_t *h = NULL;
    int reused = 0, reused_nat = 0;
    if (kind == K_OCLI) {
        uint32_t n = v6 ? g->noh6 : g->noh4;
        c->host = (uint32_t)rng_below(r, n);
        h = v6 ? &g->oh6[c->host] : &g->oh4[c->host];
        other_client_addr(c->caddr, v6, c->host);
        memcpy(c->naddr, c->caddr, 16);
        c->cport = c->nport = next_host_port(g, h);
        server_addr(c->saddr, v6);
        c->sport = rng_unif(r) < 0.8 ? 443 : 8443;
        c->ttl_c = (c->host % 3 == 0) ? 128 : 64;
    } else {
        uint32_t n = v6 ? g->nh6 : g->nh4;
        c->host = (uint32_t)rng_below(r, n);
        h = v6 ? &g->h6[c->host] : &g->h4[c->host];
        client_addr(c->caddr, v6, c->host);
        c->ttl_c = (c->host % 4 == 0) ? 128 : 64;
        if (kind == K_ODST) {
            other_dst_addr(c->saddr, v6, (uint32_t)rng_below(r, 50));
            c->sport = rng_unif(r) < 0.8 ? 443 : 8443;
            c->cport = next_host_port(g, h);
            memcpy(c->naddr, c->caddr, 16);
            c->nport = c->cport;
        } else {
            server_addr(c->saddr, v6);
            nat_addr(c->naddr, v6);
            double ur = rng_unif(r) * 100.0;
            if (ur < o->reuse && h->last_valid && t0 > h->last_end + NS_PER_S) {
                reused = 1;
                c->cport = h->last_port;
                c->sport = h->last_sport;
                if (g->nat_busy[v6][h->last_nport] == h->last_nat_stamp) {
                    c->nport = h->last_nport;
                    reused_nat = 1;
                } else {
                    c->nport = alloc_nat_port(g, v6, t0);
                }
            } else {
                c->cport = next_host_port(g, h);
                c->sport = rng_unif(r) < 0.8 ? 443 : 8443;
                c->nport = alloc_nat_port(g, v6, t0);
            }
        }
    }

    /* the connection's timeline */
    bld_t b;
    memset(&b, 0, sizeof b);
    b.g = g;
    b.c = c;
    b.d_cs = 2 * NS_PER_MS + rng_below(r, 4 * NS_PER_MS);
    b.d_sc = b.d_cs + rng_below(r, 400 * NS_PER_US) - 200 * NS_PER_US;
    b.ts_off_c = (uint32_t)rng_next(r);
    b.ts_off_s = (uint32_t)rng_next(r);
    b.ipid_c = (uint16_t)rng_next(r);
    b.ipid_s = (uint16_t)rng_next(r);
    uint32_t isn_c = new_isn(g);
    uint32_t isn_s = (uint32_t)rng_next(r);
    int ecn = rng_unif(r) < 0.05;

    int max_att = 3;
    double ua = rng_unif(r);
    if (ua < 0.03)
        max_att = 1;
    else if (ua < 0.10)
        max_att = 2;

    int first_ok = 0, synack_lost = 0, lost_first = 0;
    double ul = rng_unif(r) * 100.0, ub = rng_unif(r) * 100.0, us = rng_unif(r);
    double usa = rng_unif(r) * 100.0;
    if (kind == K_CS && ul < o->loss) {
        lost_first = 1;
        if (ub < o->blackhole)
            first_ok = -1;
        else
            first_ok = us < 0.75 ? 1 : 2;
        if (first_ok >= max_att)
            first_ok = -1;
    } else if (kind == K_CS && usa < o->synack_loss && max_att >= 2) {
        synack_lost = 1;
    }
    int n_syn = first_ok < 0 ? max_att : first_ok + 1 + synack_lost;

    static const uint64_t att_off[MAX_SYN_ATTEMPTS] = {0, 1 * NS_PER_S, 3 * NS_PER_S};
    pkt_t *syn[MAX_SYN_ATTEMPTS];
    uint16_t mss = v6 ? 1440 : 1460;
    b.c_nxt = isn_c;
    for (int a = 0; a < n_syn; a++) {
        uint64_t ts = t0 + att_off[a] + (a ? rng_below(r, 3 * NS_PER_MS) : 0);
        int lost = first_ok < 0 || a < first_ok;
        pkt_t *p = bsend(&b, 0, ts, lost, (uint8_t)(TH_SYN | (ecn ? TH_ECE | TH_CWR : 0)), 0);
        p->opt = OPT_SYN;
        p->mss = mss;
        p->win = v6 ? 64800 : 64240;
        p->tsecr = 0;
        syn[a] = p;
    }
    uint64_t end_all = 0;
    if (first_ok >= 0) {
        b.s_nxt = isn_s;
        pkt_t *sa = NULL;
        for (int a = first_ok; a < n_syn; a++) {
            uint64_t ts = syn[a]->t[SIDE_S] + rng_range(r, 20 * NS_PER_US, 200 * NS_PER_US);
            int lost = synack_lost && a == first_ok;
            b.c_nxt = isn_c + 1;
            pkt_t *p = bsend(&b, 1, ts, lost, (uint8_t)(TH_SYN | TH_ACK | (ecn ? TH_ECE : 0)), 0);
            p->opt = OPT_SYN;
            p->mss = mss;
            p->win = v6 ? 64800 : 65160;
            p->tsecr = syn[a]->tsval;
            if (!lost)
                sa = p;
        }
        b.s_nxt = isn_s + 1;
        b.c_nxt = isn_c + 1;
        /* the handshake's final ACK, then the data */
        uint64_t now = arrival(sa) + rng_range(r, 20 * NS_PER_US, 80 * NS_PER_US);
        pkt_t *p = bsend(&b, 0, now, 0, TH_ACK, 0);
        now += rng_range(r, 1 * NS_PER_US, 200 * NS_PER_US);
        for (unsigned i = 0; i < o->kdata; i++) {
            int from_srv = (int)(i & 1u);
            uint16_t len = sample_payload(g);
            p = bsend(&b, from_srv, now, 0, TH_PSH | TH_ACK, len);
            if (from_srv)
                b.s_nxt += len;
            else
                b.c_nxt += len;
            if (from_srv)
                now = arrival(p) + rng_range(r, 500 * NS_PER_US, 30 * NS_PER_MS);
            else
                now = arrival(p) + rng_range(r, 100 * NS_PER_US, 20 * NS_PER_MS);
        }
        /* idle, then close */
        if (rng_unif(r) < 0.2)
            now += rng_range(r, 1 * NS_PER_S, 30 * NS_PER_S);
        else
            now += rng_below(r, 100 * NS_PER_MS);
        double uc = rng_unif(r);
        if (uc < 0.02) {
            p = bsend(&b, 0, now, 0, TH_RST | TH_ACK, 0);
            p->opt = OPT_NONE;
            p->win = 0;
        } else {
            int closer = uc < 0.30; /* 1: the server closes first */
            p = bsend(&b, closer, now, 0, TH_FIN | TH_ACK, 0);
            if (closer)
                b.s_nxt++;
            else
                b.c_nxt++;
            now = arrival(p) + rng_range(r, 50 * NS_PER_US, 500 * NS_PER_US);
            p = bsend(&b, !closer, now, 0, TH_FIN | TH_ACK, 0);
            if (closer)
                b.c_nxt++;
            else
                b.s_nxt++;
            now = arrival(p) + rng_range(r, 20 * NS_PER_US, 80 * NS_PER_US);
            bsend(&b, closer, now, 0, TH_ACK, 0);
        }
    }

    /* what each capture sees */
    uint64_t first[2] = {NEVER, NEVER};
    for (int i = 0; i < c->npkt; i++) {
        pkt_t *p = &c->pkt[i];
        if (kind == K_ODST)
            p->t[SIDE_S] = NEVER;
        if (kind == K_OCLI)
            p->t[SIDE_C] = NEVER;
        for (int s = 0; s < 2; s++) {
            if (p->t[s] == NEVER)
                continue;
            if (p->t[s] < first[s])
                first[s] = p->t[s];
            if (p->t[s] > end_all)
                end_all = p->t[s];
        }
    }

    if (kind == K_CS) {
        uint64_t stamp = end_all + 10 * NS_PER_S;
        if (g->nat_busy[v6][c->nport] < stamp)
            g->nat_busy[v6][c->nport] = stamp;
        h->last_valid = 1;
        h->last_port = c->cport;
        h->last_nport = c->nport;
        h->last_sport = c->sport;
        h->last_end = end_all;
        h->last_nat_stamp = g->nat_busy[v6][c->nport];
        g->ncs++;
    }

    truth_t *tr = g->truth;
    if (tr) {
        if (tr->nrec == tr->caprec) {
            tr->caprec = tr->caprec ? tr->caprec * 2 : 65536;
            tr->rec = xrealloc(tr->rec, tr->caprec * sizeof *tr->rec);
        }
        trec_t *t = &tr->rec[tr->nrec++];
        t->tc = first[SIDE_C];
        t->ts = first[SIDE_S];
        t->isn = isn_c;
        t->kind = (uint8_t)kind;
        t->attempts = (uint8_t)n_syn;
        t->missing = first_ok < 0;
        t->srv_syns = 0;
        int srv_syns = 0, cli_syns = 0;
        for (int i = 0; i < c->npkt; i++) {
            if (c->pkt[i].flags & TH_SYN && !(c->pkt[i].flags & TH_ACK)) {
                if (c->pkt[i].t[SIDE_S] != NEVER)
                    srv_syns++;
                if (c->pkt[i].t[SIDE_C] != NEVER)
                    cli_syns++;
            }
        }
        t->srv_syns = (uint8_t)srv_syns;
        for (int i = 0; i < c->npkt; i++)
            for (int s = 0; s < 2; s++)
                tr->pkts[s] += c->pkt[i].t[s] != NEVER;
        tr->syn_pkts[SIDE_C] += (uint64_t)cli_syns;
        tr->syn_pkts[SIDE_S] += (uint64_t)srv_syns;
        tr->nkind[kind]++;
        tr->nv6[kind] += (uint64_t)v6;
        if (kind == K_CS) {
            tr->ecn += (uint64_t)ecn;
            tr->lost_first += (uint64_t)lost_first;
            if (lost_first && first_ok >= 0)
                tr->recovered_on[first_ok + 1]++;
            tr->synack_lost += (uint64_t)synack_lost;
            tr->reuse_client += (uint64_t)reused;
            tr->reuse_nat += (uint64_t)reused_nat;
            if (first_ok < 0) {
                tr->missing_by_att[n_syn]++;
                tr->missing_pkts += (uint64_t)n_syn;
                if (tr->nmiss == tr->capmiss) {
                    tr->capmiss = tr->capmiss ? tr->capmiss * 2 : 4096;
                    tr->miss = xrealloc(tr->miss, tr->capmiss * sizeof *tr->miss);
                }
                tmiss_t *m = &tr->miss[tr->nmiss++];
                m->id = c->id;
                m->t0 = t0;
                m->isn = isn_c;
                m->attempts = (uint8_t)n_syn;
                m->v6 = (uint8_t)v6;
                m->cport = c->cport;
                m->sport = c->sport;
                memcpy(m->caddr, c->caddr, 16);
                memcpy(m->saddr, c->saddr, 16);
            }
        }
    }
    return c;
}

static void gen_init(gen_t *g, const opts_t *o, truth_t *truth)
{
    memset(g, 0, sizeof *g);
    g->o = o;
    g->truth = truth;
    rng_seed(&g->r, o->seed);
    g->t = EPOCH_START;
    g->mean_gap_ns = 1e9 / o->rate;
    double wsum = 1.0 + o->odst / 100.0 + o->ocli / 100.0;
    g->p_cs = 1.0 / wsum;
    g->p_odst = (o->odst / 100.0) / wsum;
    uint64_t nh = o->nconn / 100;
    if (nh < 16)
        nh = 16;
    if (nh > 254u * 200u)
        nh = 254u * 200u;
    g->nh4 = (uint32_t)nh;
    g->nh6 = (uint32_t)(nh / 10 < 4 ? 4 : nh / 10);
    g->noh4 = 254u * 60u;
    g->noh6 = 4000;
    g->h4 = xmalloc(g->nh4 * sizeof *g->h4);
    g->h6 = xmalloc(g->nh6 * sizeof *g->h6);
    g->oh4 = xmalloc(g->noh4 * sizeof *g->oh4);
    g->oh6 = xmalloc(g->noh6 * sizeof *g->oh6);
    for (uint32_t i = 0; i < g->nh4; i++)
        host_init(g, &g->h4[i]);
    for (uint32_t i = 0; i < g->nh6; i++)
        host_init(g, &g->h6[i]);
    for (uint32_t i = 0; i < g->noh4; i++)
        host_init(g, &g->oh4[i]);
    for (uint32_t i = 0; i < g->noh6; i++)
        host_init(g, &g->oh6[i]);
    g->nat_busy[0] = xcalloc(65536, sizeof(uint64_t));
    g->nat_busy[1] = xcalloc(65536, sizeof(uint64_t));
    g->pkt_cap = (size_t)o->kdata + 2u * MAX_SYN_ATTEMPTS + 8u;
}

static void gen_free(gen_t *g)
{
    while (g->free_list) {
        conn_t *c = g->free_list;
        g->free_list = c->next_free;
        free(c->pkt);
        free(c->ord);
        free(c);
    }
    free(g->h4);
    free(g->h6);
    free(g->oh4);
    free(g->oh6);
    free(g->nat_busy[0]);
    free(g->nat_busy[1]);
    free(g->isnset);
}

/* ------------------------------------------------------------------------------------------ */
/* pcap writing */

typedef struct {
    int fd;
    const char *path;
    uint8_t *buf;
    size_t len, cap;
    uint64_t bytes, pkts;
} out_t;

static uint8_t g_pool[POOL_BYTES];

static void pool_init(void)
{
    uint64_t x = 0x5eed5eed5eedULL;
    for (size_t i = 0; i < POOL_BYTES; i += 8) {
        uint64_t v = splitmix64(&x);
        memcpy(g_pool + i, &v, 8);
    }
}

static void out_flush(out_t *o)
{
    size_t off = 0;
    while (off < o->len) {
        ssize_t n = write(o->fd, o->buf + off, o->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "gen_pair: write %s: %s\n", o->path, strerror(errno));
            exit(1);
        }
        off += (size_t)n;
    }
    o->bytes += o->len;
    o->len = 0;
}

static void out_open(out_t *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o->fd < 0) {
        fprintf(stderr, "gen_pair: open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    o->cap = 8u << 20;
    o->buf = xmalloc(o->cap);
    uint8_t *h = o->buf;
    pkt_le32(h, 0xa1b23c4du);
    pkt_le16(h + 4, 2);
    pkt_le16(h + 6, 4);
    pkt_le32(h + 8, 0);
    pkt_le32(h + 12, 0);
    pkt_le32(h + 16, 262144);
    pkt_le32(h + 20, 1);
    o->len = 24;
}

static void out_close(out_t *o)
{
    out_flush(o);
    if (close(o->fd) != 0) {
        fprintf(stderr, "gen_pair: close %s: %s\n", o->path, strerror(errno));
        exit(1);
    }
    free(o->buf);
}

static const uint8_t MAC_GW_C[6] = {0x02, 0x00, 0x00, 0xff, 0x00, 0x01};
static const uint8_t MAC_FW_S[6] = {0x02, 0x00, 0x00, 0xff, 0x00, 0x02};
static const uint8_t MAC_SRV[6] = {0x02, 0x00, 0x00, 0xff, 0x00, 0x10};

static void emit(out_t *o, const conn_t *c, const pkt_t *p, int side, int64_t clock_off)
{
    if (o->cap - o->len < 2048)
        out_flush(o);
    uint8_t *rec = o->buf + o->len;
    int v6 = c->v6;
    size_t iplen = v6 ? 40 : 20;
    size_t optlen = p->opt == OPT_SYN ? 20 : (p->opt == OPT_TS ? 12 : 0);
    size_t tcplen = 20 + optlen;
    size_t frame = 14 + iplen + tcplen + p->len;

    uint64_t t = p->t[side];
    if (side == SIDE_S)
        t = (uint64_t)((int64_t)t + clock_off);
    pkt_le32(rec, (uint32_t)(t / NS_PER_S));
    pkt_le32(rec + 4, (uint32_t)(t % NS_PER_S));
    pkt_le32(rec + 8, (uint32_t)frame);
    pkt_le32(rec + 12, (uint32_t)frame);
    uint8_t *eth = rec + 16;

    /* endpoints as seen at this capture */
    const uint8_t *cli = side == SIDE_C ? c->caddr : c->naddr;
    uint16_t cport = side == SIDE_C ? c->cport : c->nport;
    const uint8_t *src = p->from_srv ? c->saddr : cli;
    const uint8_t *dst = p->from_srv ? cli : c->saddr;
    uint16_t sp = p->from_srv ? c->sport : cport;
    uint16_t dp = p->from_srv ? cport : c->sport;

    uint8_t hostmac[6] = {0x02, 0x00, 0x00, (uint8_t)(c->host >> 16), (uint8_t)(c->host >> 8),
                          (uint8_t)c->host};
    const uint8_t *mac_local = side == SIDE_C ? hostmac : MAC_SRV;
    const uint8_t *mac_peer = side == SIDE_C ? MAC_GW_C : MAC_FW_S;
    int local_sent = (side == SIDE_S) == (p->from_srv != 0);
    memcpy(eth, local_sent ? mac_peer : mac_local, 6);
    memcpy(eth + 6, local_sent ? mac_local : mac_peer, 6);
    pkt_be16(eth + 12, v6 ? 0x86dd : 0x0800);

    uint8_t init_ttl = p->from_srv ? 64 : c->ttl_c;
    uint8_t ttl = local_sent ? init_ttl : (uint8_t)(init_ttl - c->hops);

    uint8_t *ip = eth + 14;
    if (v6) {
        uint32_t fl = p->from_srv ? c->flow_s : c->flow_c;
        pkt_be32(ip, (6u << 28) | fl);
        pkt_be16(ip + 4, (uint16_t)(tcplen + p->len));
        ip[6] = 6;
        ip[7] = ttl;
        memcpy(ip + 8, src, 16);
        memcpy(ip + 24, dst, 16);
    } else {
        ip[0] = 0x45;
        ip[1] = 0;
        pkt_be16(ip + 2, (uint16_t)(iplen + tcplen + p->len));
        pkt_be16(ip + 4, p->ipid);
        pkt_be16(ip + 6, 0x4000);
        ip[8] = ttl;
        ip[9] = 6;
        pkt_be16(ip + 10, 0);
        memcpy(ip + 12, src, 4);
        memcpy(ip + 16, dst, 4);
        pkt_be16(ip + 10, pkt_fold(pkt_sum(0, ip, 20)));
    }

    uint8_t *tcp = ip + iplen;
    pkt_be16(tcp, sp);
    pkt_be16(tcp + 2, dp);
    pkt_be32(tcp + 4, p->seq);
    pkt_be32(tcp + 8, p->ack);
    tcp[12] = (uint8_t)((tcplen / 4) << 4);
    tcp[13] = p->flags;
    pkt_be16(tcp + 14, p->win);
    pkt_be16(tcp + 16, 0);
    pkt_be16(tcp + 18, 0);
    uint8_t *op = tcp + 20;
    if (p->opt == OPT_SYN) {
        uint16_t mss = p->mss;
        /* the firewall between the captures clamps the MSS */
        uint16_t clamp = v6 ? 1380 : 1400;
        if (c->kind == K_CS && !local_sent && mss > clamp)
            mss = clamp;
        op[0] = 2;
        op[1] = 4;
        pkt_be16(op + 2, mss);
        op[4] = 4;
        op[5] = 2;
        op[6] = 8;
        op[7] = 10;
        pkt_be32(op + 8, p->tsval);
        pkt_be32(op + 12, p->tsecr);
        op[16] = 1;
        op[17] = 3;
        op[18] = 3;
        op[19] = 7;
    } else if (p->opt == OPT_TS) {
        op[0] = 1;
        op[1] = 1;
        op[2] = 8;
        op[3] = 10;
        pkt_be32(op + 4, p->tsval);
        pkt_be32(op + 8, p->tsecr);
    }
    if (p->len) {
        /* one TLS 1.2/1.3 application-data record per segment, opaque bytes inside */
        uint8_t *pay = tcp + tcplen;
        memcpy(pay, g_pool + 2u * p->payw, p->len);
        if (p->len > 5) {
            pay[0] = 0x17;
            pay[1] = 0x03;
            pay[2] = 0x03;
            pkt_be16(pay + 3, (uint16_t)(p->len - 5));
        }
    }
    pkt_be16(tcp + 16, pkt_l4_csum(v6, src, dst, 6, tcp, tcplen + p->len));

    o->len += 16 + frame;
    o->pkts++;
}

/* ------------------------------------------------------------------------------------------ */
/* the per-file merge: a heap of live connections keyed by (next packet time, id) */

typedef struct {
    conn_t **a;
    size_t n, cap;
} heap_t;

static int hless(const conn_t *x, const conn_t *y)
{
    return x->key < y->key || (x->key == y->key && x->id < y->id);
}

static void heap_push(heap_t *h, conn_t *c)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 4096;
        h->a = xrealloc(h->a, h->cap * sizeof *h->a);
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t par = (i - 1) / 2;
        if (!hless(c, h->a[par]))
            break;
        h->a[i] = h->a[par];
        i = par;
    }
    h->a[i] = c;
}

static void heap_sift_down(heap_t *h, size_t i)
{
    conn_t *c = h->a[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= h->n)
            break;
        size_t m = l;
        if (l + 1 < h->n && hless(h->a[l + 1], h->a[l]))
            m = l + 1;
        if (!hless(h->a[m], c))
            break;
        h->a[i] = h->a[m];
        i = m;
    }
    h->a[i] = c;
}

static void heap_pop(heap_t *h)
{
    h->n--;
    if (h->n > 0) {
        h->a[0] = h->a[h->n];
        heap_sift_down(h, 0);
    }
}

static void run_side(const opts_t *o, int side, truth_t *truth)
{
    gen_t g;
    gen_init(&g, o, truth);
    out_t out;
    out_open(&out, side == SIDE_C ? o->cpath : o->spath);
    heap_t h = {0};
    int64_t clock_off = (int64_t)(o->clock_off_ms * 1e6);
    uint64_t tfirst = NEVER, tlast = 0;
    size_t maxlive = 0;

    conn_t *next = gen_next(&g);
    while (next || h.n) {
        /* admit new connections whose start is not after the earliest pending packet */
        while (next) {
            /* arrivals are monotone and no packet precedes its connection's arrival */
            if (h.n && next->t0 > h.a[0]->key)
                break;
            sort_side(next, side);
            if (next->nord == 0) {
                conn_free(&g, next);
            } else {
                next->key = next->pkt[next->ord[0]].t[side];
                heap_push(&h, next);
                if (h.n > maxlive)
                    maxlive = h.n;
            }
            next = gen_next(&g);
        }
        if (h.n == 0)
            continue;
        conn_t *c = h.a[0];
        const pkt_t *p = &c->pkt[c->ord[c->cur]];
        if (tfirst == NEVER)
            tfirst = p->t[side];
        if (p->t[side] < tlast) {
            fprintf(stderr, "gen_pair: internal error: time went backwards\n");
            exit(2);
        }
        tlast = p->t[side];
        emit(&out, c, p, side, clock_off);
        if (++c->cur < c->nord) {
            c->key = c->pkt[c->ord[c->cur]].t[side];
            heap_sift_down(&h, 0);
        } else {
            heap_pop(&h);
            conn_free(&g, c);
        }
    }
    out_close(&out);
    if (truth) {
        if (truth->pkts[side] != out.pkts) {
            fprintf(stderr, "gen_pair: internal error: packet count mismatch\n");
            exit(2);
        }
        truth->bytes[side] = out.bytes;
        truth->tfirst[side] = tfirst;
        truth->tlast[side] = tlast;
        truth->max_concurrent = maxlive;
    }
    free(h.a);
    gen_free(&g);
}

/* ------------------------------------------------------------------------------------------ */
/* ground truth */

typedef struct {
    uint64_t t, id;
} tkey_t;

static int cmp_tkey(const void *a, const void *b)
{
    const tkey_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

typedef struct {
    uint32_t isn;
    uint32_t id;
} ikey_t;

static int cmp_ikey(const void *a, const void *b)
{
    const ikey_t *x = a, *y = b;
    if (x->isn != y->isn)
        return x->isn < y->isn ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static int cmp_miss(const void *a, const void *b)
{
    const tmiss_t *x = a, *y = b;
    if (x->isn != y->isn)
        return x->isn < y->isn ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static void write_truth(const opts_t *o, truth_t *tr, int argc, char **argv, double secs)
{
    size_t n = tr->nrec;
    uint32_t *cstream = xmalloc(n * sizeof *cstream);
    uint32_t *sstream = xmalloc(n * sizeof *sstream);
    tkey_t *k = xmalloc(n * sizeof *k);
    for (int side = 0; side < 2; side++) {
        uint32_t *st = side == SIDE_C ? cstream : sstream;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            st[i] = UINT32_MAX;
            uint64_t t = side == SIDE_C ? tr->rec[i].tc : tr->rec[i].ts;
            if (t != NEVER) {
                k[m].t = t;
                k[m].id = i;
                m++;
            }
        }
        qsort(k, m, sizeof *k, cmp_tkey);
        for (size_t j = 0; j < m; j++)
            st[k[j].id] = (uint32_t)j;
    }
    free(k);

    /* ISN statistics: values shared by several connections, and which missing ISNs a join on
     * the ISN alone cannot see (because some server-side SYN carries the same value) */
    ikey_t *ik = xmalloc(n * sizeof *ik);
    for (size_t i = 0; i < n; i++) {
        ik[i].isn = tr->rec[i].isn;
        ik[i].id = (uint32_t)i;
    }
    qsort(ik, n, sizeof *ik, cmp_ikey);
    uint64_t shared_values = 0, shared_conns = 0;
    uint8_t *masked = xcalloc(n, 1);
    /* first server-visible connection per ISN, for the ISN-only (article) map */
    uint32_t *first_srv = xmalloc(n * sizeof *first_srv);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint32_t best = UINT32_MAX;
        while (j < n && ik[j].isn == ik[i].isn) {
            uint32_t id = ik[j].id;
            if (tr->rec[id].ts != NEVER && tr->rec[id].srv_syns > 0 &&
                (best == UINT32_MAX || sstream[id] < sstream[best]))
                best = id;
            j++;
        }
        if (j - i > 1) {
            shared_values++;
            shared_conns += j - i;
        }
        for (size_t q = i; q < j; q++) {
            first_srv[ik[q].id] = best;
            if (best != UINT32_MAX && best != ik[q].id)
                masked[ik[q].id] = 1;
        }
        i = j;
    }
    free(ik);

    char path[4096];
    snprintf(path, sizeof path, "%s.truth.map", o->cpath);
    FILE *mf = fopen(path, "w");
    if (!mf) {
        fprintf(stderr, "gen_pair: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    /* rows in client stream order */
    uint32_t *byc = xmalloc(n * sizeof *byc);
    size_t nc = 0;
    for (size_t i = 0; i < n; i++)
        if (cstream[i] != UINT32_MAX)
            byc[cstream[i]] = (uint32_t)i, nc++;
    uint64_t map_rows = 0, article_rows = 0, article_wrong = 0;
    fprintf(mf, "client_stream,server_stream,seq\n");
    for (size_t j = 0; j < nc; j++) {
        uint32_t id = byc[j];
        const trec_t *t = &tr->rec[id];
        int matched = t->kind == K_CS && t->srv_syns > 0;
        if (matched) {
            fprintf(mf, "%zu,%u,%u\n", j, sstream[id], t->isn);
            map_rows++;
        }
        uint32_t a = first_srv[id];
        if (a != UINT32_MAX) {
            article_rows++;
            if (!matched || a != id)
                article_wrong++;
        }
    }
    fclose(mf);
    free(byc);

    snprintf(path, sizeof path, "%s.truth", o->cpath);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "gen_pair: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    qsort(tr->miss, tr->nmiss, sizeof *tr->miss, cmp_miss);
    uint64_t masked_missing = 0;
    for (size_t i = 0; i < tr->nmiss; i++)
        masked_missing += masked[tr->miss[i].id];

    for (int pass = 0; pass < 2; pass++) {
        FILE *w = pass == 0 ? f : stderr;
        fprintf(w, "# gen_pair truth v1\n# command:");
        for (int i = 0; i < argc; i++)
            fprintf(w, " %s", argv[i]);
        fprintf(w, "\n");
        fprintf(w, "seed=%" PRIu64 "\n", o->seed);
        fprintf(w, "connections=%" PRIu64 "\n", tr->nkind[K_CS]);
        fprintf(w, "connections_v6=%" PRIu64 "\n", tr->nv6[K_CS]);
        fprintf(w, "connections_ecn_syn=%" PRIu64 "\n", tr->ecn);
        fprintf(w, "other_destination_connections=%" PRIu64 "\n", tr->nkind[K_ODST]);
        fprintf(w, "other_client_connections=%" PRIu64 "\n", tr->nkind[K_OCLI]);
        fprintf(w, "client_streams=%" PRIu64 "\n", tr->nkind[K_CS] + tr->nkind[K_ODST]);
        fprintf(w, "server_streams=%" PRIu64 "\n",
                tr->nkind[K_CS] - tr->nmiss + tr->nkind[K_OCLI]);
        fprintf(w, "matched=%" PRIu64 "\n", map_rows);
        fprintf(w, "first_syn_lost=%" PRIu64 "\n", tr->lost_first);
        for (int a = 2; a <= MAX_SYN_ATTEMPTS; a++)
            fprintf(w, "recovered_on_attempt_%d=%" PRIu64 "\n", a, tr->recovered_on[a]);
        fprintf(w, "first_synack_lost=%" PRIu64 "\n", tr->synack_lost);
        fprintf(w, "missing=%zu\n", tr->nmiss);
        fprintf(w, "missing_syn_packets=%" PRIu64 "\n", tr->missing_pkts);
        for (int a = 1; a <= MAX_SYN_ATTEMPTS; a++)
            fprintf(w, "missing_attempts_%d=%" PRIu64 "\n", a, tr->missing_by_att[a]);
        fprintf(w, "missing_masked_by_isn_collision=%" PRIu64 "\n", masked_missing);
        fprintf(w, "isn_values_shared=%" PRIu64 "\n", shared_values);
        fprintf(w, "isn_connections_sharing=%" PRIu64 "\n", shared_conns);
        fprintf(w, "isn_join_map_rows=%" PRIu64 "\n", article_rows);
        fprintf(w, "isn_join_map_rows_wrong=%" PRIu64 "\n", article_wrong);
        fprintf(w, "port_reuse_client=%" PRIu64 "\n", tr->reuse_client);
        fprintf(w, "port_reuse_nat=%" PRIu64 "\n", tr->reuse_nat);
        fprintf(w, "client_packets=%" PRIu64 "\n", tr->pkts[SIDE_C]);
        fprintf(w, "client_syn_packets=%" PRIu64 "\n", tr->syn_pkts[SIDE_C]);
        fprintf(w, "server_packets=%" PRIu64 "\n", tr->pkts[SIDE_S]);
        fprintf(w, "server_syn_packets=%" PRIu64 "\n", tr->syn_pkts[SIDE_S]);
        fprintf(w, "client_bytes=%" PRIu64 "\n", tr->bytes[SIDE_C]);
        fprintf(w, "server_bytes=%" PRIu64 "\n", tr->bytes[SIDE_S]);
        fprintf(w, "client_first_ns=%" PRIu64 "\n", tr->tfirst[SIDE_C]);
        fprintf(w, "client_last_ns=%" PRIu64 "\n", tr->tlast[SIDE_C]);
        fprintf(w, "max_concurrent_client_connections=%" PRIu64 "\n", tr->max_concurrent);
        fprintf(w, "generate_seconds=%.2f\n", secs);
        if (pass == 1)
            break;
        fprintf(w, "[missing]\n");
        fprintf(w, "seq,attempts,client,client_port,server,server_port,first_syn_ns,masked\n");
        for (size_t i = 0; i < tr->nmiss; i++) {
            const tmiss_t *m = &tr->miss[i];
            char ca[64], sa[64];
            fmt_addr(ca, sizeof ca, m->caddr, m->v6);
            fmt_addr(sa, sizeof sa, m->saddr, m->v6);
            fprintf(w, "%u,%u,%s,%u,%s,%u,%" PRIu64 ",%u\n", m->isn, m->attempts, ca, m->cport,
                    sa, m->sport, m->t0, masked[m->id]);
        }
        /* what an ISN-only join (the article's --missing) should print */
        fprintf(w, "[isn_join_missing]\n");
        fprintf(w, "count,seq\n");
        for (size_t i = 0; i < tr->nmiss;) {
            size_t j = i;
            unsigned cnt = 0;
            while (j < tr->nmiss && tr->miss[j].isn == tr->miss[i].isn) {
                if (!masked[tr->miss[j].id])
                    cnt += tr->miss[j].attempts;
                j++;
            }
            if (cnt)
                fprintf(w, "%u,%u\n", cnt, tr->miss[i].isn);
            i = j;
        }
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "gen_pair: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    free(masked);
    free(first_srv);
    free(cstream);
    free(sstream);
}

/* ------------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gen_pair [options] CLIENT.pcap SERVER.pcap\n"
            "  --connections N      client->server connections (default 500000)\n"
            "  --loss PCT           %% of connections whose first SYN is lost (default 1)\n"
            "  --blackhole PCT      %% of those lost on every attempt = missing (default 50)\n"
            "  --synack-loss PCT    %% of connections whose first SYN/ACK is lost (default 0.1)\n"
            "  --v6 PCT             %% IPv6 (default 10)\n"
            "  --data-packets K     data segments per connection (default 4)\n"
            "  --payload BYTES      mean payload per data segment, max %u (default 290)\n"
            "  --other-dst PCT      extra client->other-host connections, client file only (default 2)\n"
            "  --other-clients PCT  extra other-client->server connections, server file only (default 5)\n"
            "  --reuse PCT          %% of connections reusing the host's previous 4-tuple (default 0.5)\n"
            "  --rate R             connection arrivals per second (default 500)\n"
            "  --clock-offset-ms M  add M ms to every server timestamp (default 0)\n"
            "  --unique-isn         never repeat a client ISN (default: random, collisions happen)\n"
            "  --seed S             (default 1)\n"
            "  --serial             write the two files one after the other in one process\n"
            "Ground truth: stderr, CLIENT.pcap.truth and CLIENT.pcap.truth.map\n",
            MAX_SEG);
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi) {
        fprintf(stderr, "gen_pair: bad value for %s: %s (range %g..%g)\n", name, v, lo, hi);
        exit(2);
    }
    return d;
}

static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    opts_t o;
    memset(&o, 0, sizeof o);
    o.nconn = 500000;
    o.loss = 1.0;
    o.blackhole = 50.0;
    o.synack_loss = 0.1;
    o.v6 = 10.0;
    o.odst = 2.0;
    o.ocli = 5.0;
    o.reuse = 0.5;
    o.rate = 500.0;
    o.kdata = 4;
    o.payload = 290;
    o.seed = 1;
    const char *pos[2];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--unique-isn")) {
            o.unique_isn = 1;
            continue;
        }
        if (!strcmp(a, "--serial")) {
            o.serial = 1;
            continue;
        }
        if (a[0] == '-' && a[1] == '-') {
            if (i + 1 >= argc) {
                fprintf(stderr, "gen_pair: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--connections"))
                o.nconn = (uint64_t)num_arg(a, v, 1, 1e9);
            else if (!strcmp(a, "--loss"))
                o.loss = num_arg(a, v, 0, 100);
            else if (!strcmp(a, "--blackhole"))
                o.blackhole = num_arg(a, v, 0, 100);
            else if (!strcmp(a, "--synack-loss"))
                o.synack_loss = num_arg(a, v, 0, 100);
            else if (!strcmp(a, "--v6"))
                o.v6 = num_arg(a, v, 0, 100);
            else if (!strcmp(a, "--data-packets"))
                o.kdata = (unsigned)num_arg(a, v, 0, 1000);
            else if (!strcmp(a, "--payload"))
                o.payload = (unsigned)num_arg(a, v, 0, MAX_SEG);
            else if (!strcmp(a, "--other-dst"))
                o.odst = num_arg(a, v, 0, 1000);
            else if (!strcmp(a, "--other-clients"))
                o.ocli = num_arg(a, v, 0, 1000);
            else if (!strcmp(a, "--reuse"))
                o.reuse = num_arg(a, v, 0, 100);
            else if (!strcmp(a, "--rate"))
                o.rate = num_arg(a, v, 0.001, 1e7);
            else if (!strcmp(a, "--clock-offset-ms"))
                o.clock_off_ms = num_arg(a, v, -1e6, 1e6);
            else if (!strcmp(a, "--seed"))
                o.seed = strtoull(v, NULL, 0);
            else {
                fprintf(stderr, "gen_pair: unknown option %s\n", a);
                usage(stderr);
                return 2;
            }
            continue;
        }
        if (npos == 2) {
            usage(stderr);
            return 2;
        }
        pos[npos++] = a;
    }
    if (npos != 2) {
        usage(stderr);
        return 2;
    }
    o.cpath = pos[0];
    o.spath = pos[1];
    pool_init();

    double t0 = now_secs();
    truth_t truth;
    memset(&truth, 0, sizeof truth);
    if (o.serial) {
        run_side(&o, SIDE_C, &truth);
        run_side(&o, SIDE_S, NULL);
    } else {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            perror("gen_pair: fork");
            return 1;
        }
        if (pid == 0) {
            run_side(&o, SIDE_S, NULL);
            _exit(0);
        }
        run_side(&o, SIDE_C, &truth);
        int st;
        while (waitpid(pid, &st, 0) < 0) {
            if (errno != EINTR) {
                perror("gen_pair: waitpid");
                return 1;
            }
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "gen_pair: server-side writer failed\n");
            return 1;
        }
    }
    /* the server file's size and packet count, from the file and the generator's counts */
    struct stat sb;
    if (stat(o.spath, &sb) == 0)
        truth.bytes[SIDE_S] = (uint64_t)sb.st_size;
    double secs = now_secs() - t0;
    write_truth(&o, &truth, argc, argv, secs);
    free(truth.rec);
    free(truth.miss);
    return 0;
}
