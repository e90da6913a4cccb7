/*
 * test_pcapfile.c - the capture-file reader, black box: every file is built byte by byte in
 * this test (classic pcap with each magic and byte order, pcapng sections of either byte order
 * with every packet block type, interface statistics, unknown blocks), written to a private
 * mkdtemp() directory or pushed through a pipe as standard input, and read back. Each way a
 * file can be wrong is checked for its error kind, its message and for staying stopped.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "synmatch/pcapfile.h"

#define NS_PER_SEC INT64_C(1000000000)
#define T0         INT64_C(1700000000) /* a Unix time in seconds */

#define MAGIC_US  0xa1b2c3d4u
#define MAGIC_NS  0xa1b23c4du
#define MAGIC_KUZ 0xa1b2cd34u /* 24-byte record headers */

enum {
    BT_SHB = 0x0a0d0d0a,
    BT_IDB = 1,
    BT_OPB = 2,
    BT_SPB = 3,
    BT_NRB = 4,
    BT_ISB = 5,
    BT_EPB = 6,
    BT_CUSTOM = 0x00000bad,
};

/* ---- building files --------------------------------------------------------------------- */

/* A growing byte string; multi-byte fields are written in the byte order of be. */
struct bytes {
    uint8_t *p;
    size_t n, cap;
    bool be;
};

static void b_init(struct bytes *b, bool be)
{
    memset(b, 0, sizeof *b);
    b->be = be;
}

static void b_free(struct bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static void b_raw(struct bytes *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->n + n)
            ncap *= 2;
        uint8_t *np = realloc(b->p, ncap);
        if (np == NULL) {
            perror("realloc");
            exit(2);
        }
        b->p = np;
        b->cap = ncap;
    }
    if (n > 0)
        memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void b_u8(struct bytes *b, uint8_t v)
{
    b_raw(b, &v, 1);
}

static void b_u16(struct bytes *b, uint16_t v)
{
    uint8_t x[2];
    if (b->be) {
        x[0] = (uint8_t)(v >> 8);
        x[1] = (uint8_t)v;
    } else {
        x[0] = (uint8_t)v;
        x[1] = (uint8_t)(v >> 8);
    }
    b_raw(b, x, 2);
}

static void b_u32(struct bytes *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[b->be ? 3 - i : i] = (uint8_t)(v >> (8 * i));
    b_raw(b, x, 4);
}

static void b_u64(struct bytes *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[b->be ? 7 - i : i] = (uint8_t)(v >> (8 * i));
    b_raw(b, x, 8);
}

static void b_pad4(struct bytes *b)
{
    while (b->n % 4 != 0)
        b_u8(b, 0);
}

/* Packet bytes that differ per frame, so a mix-up of frames shows. */
static void fill_payload(uint8_t *out, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(seed * 37u + i * 7u + (i >> 8));
}

static void pcap_global(struct bytes *b, uint32_t magic, uint32_t linktype)
{
    b_u32(b, magic);
    b_u16(b, 2);
    b_u16(b, 4);
    b_u32(b, 0);     /* thiszone */
    b_u32(b, 0);     /* sigfigs */
    b_u32(b, 65535); /* snaplen */
    b_u32(b, linktype);
}

static void pcap_record(struct bytes *b, bool kuz, uint32_t sec, uint32_t frac, uint32_t caplen,
                        uint32_t wirelen, const uint8_t *data)
{
    b_u32(b, sec);
    b_u32(b, frac);
    b_u32(b, caplen);
    b_u32(b, wirelen);
    if (kuz) { /* ifindex, protocol, packet type, padding: must be skipped */
        b_u32(b, 7);
        b_u16(b, 0x0800);
        b_u8(b, 4);
        b_u8(b, 0xee);
    }
    b_raw(b, data, caplen);
}

/* A block around body (built with the same byte order), padded to 4 bytes. */
static void ng_block(struct bytes *b, uint32_t type, const struct bytes *body)
{
    uint32_t len = (uint32_t)(12 + ((body->n + 3) & ~(size_t)3));
    b_u32(b, type);
    b_u32(b, len);
    b_raw(b, body->p, body->n);
    for (size_t i = body->n; i % 4 != 0; i++)
        b_u8(b, 0);
    b_u32(b, len);
}

static void ng_opt(struct bytes *body, uint16_t code, const void *val, uint16_t len)
{
    b_u16(body, code);
    b_u16(body, len);
    b_raw(body, val, len);
    b_pad4(body);
}

static void ng_opt_u64(struct bytes *body, uint16_t code, uint64_t v)
{
    b_u16(body, code);
    b_u16(body, 8);
    b_u64(body, v);
}

/* A timestamp-shaped option: the high 32 bits first, each word in the file's order. */
static void ng_opt_ts(struct bytes *body, uint16_t code, uint64_t ts)
{
    b_u16(body, code);
    b_u16(body, 8);
    b_u32(body, (uint32_t)(ts >> 32));
    b_u32(body, (uint32_t)ts);
}

static void ng_opt_end(struct bytes *body)
{
    b_u16(body, 0);
    b_u16(body, 0);
}

static void ng_shb(struct bytes *b)
{
    struct bytes body;
    b_init(&body, b->be);
    b_u32(&body, 0x1a2b3c4du);
    b_u16(&body, 1);
    b_u16(&body, 0);
    b_u64(&body, UINT64_MAX); /* section length unknown */
    ng_block(b, BT_SHB, &body);
    b_free(&body);
}

#define NO_TSRESOL (-1)

static void ng_idb(struct bytes *b, uint16_t linktype, uint32_t snaplen, int tsresol,
                   bool has_offset, int64_t offset_s)
{
    struct bytes body;
    b_init(&body, b->be);
    b_u16(&body, linktype);
    b_u16(&body, 0);
    b_u32(&body, snaplen);
    ng_opt(&body, 2, "eth0", 4); /* if_name: an option the reader does not need */
    if (tsresol != NO_TSRESOL) {
        uint8_t r = (uint8_t)tsresol;
        ng_opt(&body, 9, &r, 1);
    }
    if (has_offset)
        ng_opt_u64(&body, 14, (uint64_t)offset_s);
    ng_opt_end(&body);
    ng_block(b, BT_IDB, &body);
    b_free(&body);
}

static void ng_epb(struct bytes *b, uint32_t ifid, uint64_t ts, uint32_t caplen, uint32_t wirelen,
                   const uint8_t *data)
{
    struct bytes body;
    b_init(&body, b->be);
    b_u32(&body, ifid);
    b_u32(&body, (uint32_t)(ts >> 32));
    b_u32(&body, (uint32_t)ts);
    b_u32(&body, caplen);
    b_u32(&body, wirelen);
    b_raw(&body, data, caplen);
    b_pad4(&body);
    uint8_t flags[4] = {1, 0, 0, 0};
    ng_opt(&body, 2, flags, 4); /* epb_flags after the data: skipped */
    ng_opt_end(&body);
    ng_block(b, BT_EPB, &body);
    b_free(&body);
}

static void ng_opb(struct bytes *b, uint16_t ifid, uint64_t ts, uint32_t caplen, uint32_t wirelen,
                   const uint8_t *data)
{
    struct bytes body;
    b_init(&body, b->be);
    b_u16(&body, ifid);
    b_u16(&body, 5); /* drops count */
    b_u32(&body, (uint32_t)(ts >> 32));
    b_u32(&body, (uint32_t)ts);
    b_u32(&body, caplen);
    b_u32(&body, wirelen);
    b_raw(&body, data, caplen);
    ng_block(b, BT_OPB, &body);
    b_free(&body);
}

static void ng_spb(struct bytes *b, uint32_t wirelen, const uint8_t *data, uint32_t datalen)
{
    struct bytes body;
    b_init(&body, b->be);
    b_u32(&body, wirelen);
    b_raw(&body, data, datalen);
    ng_block(b, BT_SPB, &body);
    b_free(&body);
}

static void ng_opaque(struct bytes *b, uint32_t type, size_t len)
{
    struct bytes body;
    b_init(&body, b->be);
    for (size_t i = 0; i < len; i++)
        b_u8(&body, (uint8_t)(0xa0 + i));
    ng_block(b, type, &body);
    b_free(&body);
}

/* ---- files ---------------------------------------------------------------------------- */

static char tmpdir[] = "/tmp/test_pcapfile.XXXXXX";
#define MAX_FILES 128
static char paths[MAX_FILES][128];
static int npaths;

static void put_file(const char *path, const uint8_t *p, size_t n)
{
    /* A new file rather than a truncated one: rewriting by truncation makes some file
     * systems flush on close, which made the sweeps below take seconds. */
    unlink(path);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL || (n > 0 && fwrite(p, 1, n, fp) != n) || fclose(fp) != 0) {
        perror(path);
        exit(2);
    }
}

/* Writes b as tmpdir/name (removed at the end) and returns its path. */
static const char *write_file(const char *name, const struct bytes *b)
{
    if (npaths == MAX_FILES) {
        fprintf(stderr, "too many files\n");
        exit(2);
    }
    char *path = paths[npaths++];
    snprintf(path, sizeof paths[0], "%s/%s", tmpdir, name);
    put_file(path, b->p, b->n);
    return path;
}

/* Frames read from a file, with their bytes copied out (data is only valid until next()). */
#define MAX_GOT 512
struct got {
    int n;
    int rc; /* what next() returned last */
    struct sm_frame f[MAX_GOT];
    uint8_t *data[MAX_GOT];
};

static struct got *got_new(void)
{
    struct got *g = calloc(1, sizeof *g);
    if (g == NULL)
        exit(2);
    return g;
}

static void read_all(sm_pcapfile_t *pf, struct got *g)
{
    memset(g, 0, sizeof *g);
    for (;;) {
        struct sm_frame fr;
        g->rc = sm_pcapfile_next(pf, &fr);
        if (g->rc != 1 || g->n == MAX_GOT)
            return;
        g->f[g->n] = fr;
        g->data[g->n] = malloc(fr.caplen ? fr.caplen : 1);
        if (g->data[g->n] == NULL)
            exit(2);
        if (fr.caplen)
            memcpy(g->data[g->n], fr.data, fr.caplen);
        g->n++;
    }
}

static void got_free(struct got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->data[i]);
    g->n = 0;
}

static bool frame_is(const struct got *g, int i, int64_t ts, uint32_t caplen, uint32_t wirelen,
                     uint32_t linktype, uint32_t ifc, const uint8_t *data)
{
    if (i >= g->n)
        return false;
    const struct sm_frame *f = &g->f[i];
    bool ok = f->ts_ns == ts && f->caplen == caplen && f->wirelen == wirelen &&
              f->linktype == linktype && f->interface == ifc && f->number == (uint64_t)i + 1 &&
              (caplen == 0 || memcmp(g->data[i], data, caplen) == 0);
    if (!ok)
        fprintf(stderr,
                "frame %d: ts %lld caplen %u wirelen %u linktype %u if %u number %llu; "
                "want ts %lld caplen %u wirelen %u linktype %u if %u\n",
                i + 1, (long long)f->ts_ns, f->caplen, f->wirelen, f->linktype, f->interface,
                (unsigned long long)f->number, (long long)ts, caplen, wirelen, linktype, ifc);
    return ok;
}

/* True if msg says "frame N" for exactly this N. */
static bool mentions_frame(const char *msg, unsigned n)
{
    char want[32];
    snprintf(want, sizeof want, "frame %u", n);
    for (const char *p = strstr(msg, want); p; p = strstr(p + 1, want)) {
        char after = p[strlen(want)];
        if (after < '0' || after > '9')
            return true;
    }
    return false;
}

static sm_pcapfile_t *open_ok(const char *path)
{
    enum sm_pcap_err kind = SM_PCAP_ERR_NONE;
    char eb[512] = "";
    sm_pcapfile_t *pf = sm_pcapfile_open(path, &kind, eb, sizeof eb);
    if (pf == NULL)
        fprintf(stderr, "open %s failed: %s\n", path, eb);
    return pf;
}

/* Opening fails with kind; the message names the path. */
static void expect_open_fails(const char *path, enum sm_pcap_err want)
{
    enum sm_pcap_err kind = SM_PCAP_ERR_NONE;
    char eb[512] = "";
    sm_pcapfile_t *pf = sm_pcapfile_open(path, &kind, eb, sizeof eb);
    CHECK(pf == NULL);
    CHECK_EQ_U(kind, want);
    CHECK(strstr(eb, path) != NULL);
    if (kind != want)
        fprintf(stderr, "  (%s: %s)\n", path, eb);
    sm_pcapfile_close(&pf);
}

/*
 * The file opens, gives good_frames frames, then stops with kind; the error message names
 * frame_no (0: not checked) and next() keeps failing.
 */
/* path reads to its end, frames frames, one block read as padded to a multiple of 4. */
static void expect_read_unaligned(const char *path, int frames)
{
    sm_pcapfile_t *pf = open_ok(path);
    struct got *g = got_new();
    read_all(pf, g);
    CHECK_EQ_U(g->n, frames);
    CHECK(g->rc == 0);
    CHECK_EQ_U(sm_pcapfile_unaligned_blocks(pf), 1);
    got_free(g);
    free(g);
    sm_pcapfile_close(&pf);
}

static void expect_read_fails(const char *path, int good_frames, enum sm_pcap_err want,
                              unsigned frame_no)
{
    sm_pcapfile_t *pf = open_ok(path);
    CHECK(pf != NULL);
    if (pf == NULL)
        return;
    CHECK_EQ_U(sm_pcapfile_errkind(pf), SM_PCAP_ERR_NONE);
    struct got *g = got_new();
    read_all(pf, g);
    CHECK_EQ_U(g->n, good_frames);
    CHECK(g->rc == -1);
    CHECK_EQ_U(sm_pcapfile_errkind(pf), want);
    const char *msg = sm_pcapfile_error(pf);
    CHECK(msg != NULL && msg[0] != '\0');
    if (frame_no != 0) {
        CHECK(msg != NULL && mentions_frame(msg, frame_no));
    }
    if (sm_pcapfile_errkind(pf) != want || (frame_no && !mentions_frame(msg, frame_no)))
        fprintf(stderr, "  (%s: kind %d: %s)\n", path, sm_pcapfile_errkind(pf), msg);
    for (int i = 0; i < 3; i++) {
        struct sm_frame fr;
        CHECK(sm_pcapfile_next(pf, &fr) == -1);
        CHECK_EQ_U(sm_pcapfile_errkind(pf), want);
    }
    got_free(g);
    free(g);
    sm_pcapfile_close(&pf);
    CHECK(pf == NULL);
}

/* ---- classic pcap ------------------------------------------------------------------------- */

struct classic_variant {
    const char *name;
    uint32_t magic;
    bool be;
    bool nsec;
    bool kuz;
    uint32_t linktype_field; /* as written; the reader keeps the low 16 bits */
    uint32_t linktype;
};

static void test_classic(void)
{
    static const struct classic_variant vs[] = {
        {"us-le.pcap", MAGIC_US, false, false, false, 1, 1},
        {"us-be.pcap", MAGIC_US, true, false, false, 101, 101},
        {"ns-le.pcap", MAGIC_NS, false, true, false, 113, 113},
        {"ns-be.pcap", MAGIC_NS, true, true, false, 276, 276},
        {"kuz-le.pcap", MAGIC_KUZ, false, false, true, 1, 1},
        {"kuz-be.pcap", MAGIC_KUZ, true, false, true, 1, 1},
        /* FCS length bits above the link type (bit 26 + 4 bytes of FCS) */
        {"fcs-bits.pcap", MAGIC_US, false, false, false, 0x04000001u | (4u << 28), 1},
    };
    uint8_t d1[60], d2[100], d4[10];
    fill_payload(d1, sizeof d1, 1);
    fill_payload(d2, sizeof d2, 2);
    fill_payload(d4, sizeof d4, 4);
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        const struct classic_variant *v = &vs[i];
        struct bytes b;
        b_init(&b, v->be);
        pcap_global(&b, v->magic, v->linktype_field);
        uint32_t f1 = v->nsec ? 123456789u : 123456u;
        uint32_t f2 = v->nsec ? 999999999u : 999999u;
        pcap_record(&b, v->kuz, (uint32_t)T0, f1, sizeof d1, sizeof d1, d1);
        pcap_record(&b, v->kuz, (uint32_t)T0 + 1, f2, sizeof d2, 1514, d2); /* snaplen cut */
        pcap_record(&b, v->kuz, 0, 1, 0, 0, NULL);                          /* empty frame */
        pcap_record(&b, v->kuz, 4000000000u, 0, sizeof d4, 4, d4);          /* wirelen < caplen */
        const char *path = write_file(v->name, &b);

        sm_pcapfile_t *pf = open_ok(path);
        CHECK(pf != NULL);
        if (pf == NULL) {
            b_free(&b);
            continue;
        }
        CHECK(!sm_pcapfile_is_pcapng(pf));
        CHECK_EQ_U(sm_pcapfile_linktype(pf), v->linktype);
        struct got *g = got_new();
        read_all(pf, g);
        CHECK_EQ_U(g->rc, 0);
        CHECK_EQ_U(g->n, 4);
        int64_t ts1 = T0 * NS_PER_SEC + (v->nsec ? 123456789 : 123456000);
        int64_t ts2 = (T0 + 1) * NS_PER_SEC + (v->nsec ? 999999999 : 999999000);
        CHECK(frame_is(g, 0, ts1, sizeof d1, sizeof d1, v->linktype, 0, d1));
        CHECK(frame_is(g, 1, ts2, sizeof d2, 1514, v->linktype, 0, d2));
        CHECK(frame_is(g, 2, (v->nsec ? 1 : 1000), 0, 0, v->linktype, 0, NULL));
        CHECK(frame_is(g, 3, INT64_C(4000000000) * NS_PER_SEC, sizeof d4, sizeof d4, v->linktype, 0,
                       d4));
        CHECK_EQ_U(sm_pcapfile_errkind(pf), SM_PCAP_ERR_NONE);
        CHECK_EQ_U(sm_pcapfile_offset(pf), b.n);
        struct sm_frame fr;
        CHECK_EQ_U(sm_pcapfile_next(pf, &fr), 0); /* end of file stays the end */
        const struct sm_ifstats *st = NULL;
        CHECK_EQ_U(sm_pcapfile_ifstats(pf, &st), 0);
        got_free(g);
        free(g);
        sm_pcapfile_close(&pf);
        CHECK(pf == NULL);
        sm_pcapfile_close(&pf); /* NULL-safe */
        b_free(&b);
    }
}

/* ---- pcapng -------------------------------------------------------------------------------- */

/* 2^-6 second units: 1/64 s is 15625000 ns exactly. */
#define UNITS64(sec, n64) ((uint64_t)(sec)*64u + (n64))

static void test_pcapng_section(bool be)
{
    uint8_t d1[60], d2[40], d3[70], d4[54], d5[33];
    fill_payload(d1, sizeof d1, 11);
    fill_payload(d2, sizeof d2, 12);
    fill_payload(d3, sizeof d3, 13);
    fill_payload(d4, sizeof d4, 14);
    fill_payload(d5, sizeof d5, 15);
    const uint64_t ts1 = UINT64_C(1700000000123456789);
    const uint64_t ts4 = UINT64_C(1700000000123456);
    const uint64_t ts5 = UINT64_C(1700000006000000001);

    struct bytes b;
    b_init(&b, be);
    ng_shb(&b);
    ng_idb(&b, 1, 0, 9, false, 0);                /* if 0: ns */
    ng_idb(&b, 101, 262144, 0x86, true, 1000);    /* if 1: 2^-6 s, +1000 s */
    ng_idb(&b, 113, 0, NO_TSRESOL, true, -3600);  /* if 2: default us, -1 h */
    ng_epb(&b, 0, ts1, sizeof d1, sizeof d1, d1); /* frame 1 */
    ng_opaque(&b, BT_CUSTOM, 7);                  /* unknown types are skipped */
    ng_opaque(&b, BT_NRB, 16);
    ng_opaque(&b, 0x80000001u, 0);                      /* local use, empty body */
    ng_epb(&b, 1, UNITS64(T0, 3), sizeof d2, 1500, d2); /* frame 2 */
    ng_spb(&b, sizeof d3, d3, sizeof d3);               /* frame 3: no timestamp */
    ng_opb(&b, 2, ts4, sizeof d4, sizeof d4, d4);       /* frame 4 */
    {
        struct bytes body;
        b_init(&body, be);
        b_u32(&body, 0);
        b_u32(&body, (uint32_t)(UINT64_C(1700000005000000000) >> 32));
        b_u32(&body, (uint32_t)UINT64_C(1700000005000000000));
        ng_opt_ts(&body, 2, UINT64_C(1700000000000000000)); /* isb_starttime */
        ng_opt_ts(&body, 3, UINT64_C(1700000005000000000)); /* isb_endtime */
        ng_opt_u64(&body, 4, 100);                          /* isb_ifrecv: not kept */
        ng_opt_u64(&body, 5, 7);                            /* isb_ifdrop */
        ng_opt_u64(&body, 7, UINT64_C(0x100000003));        /* isb_osdrop */
        ng_opt_end(&body);
        ng_block(&b, BT_ISB, &body);
        b_free(&body);

        b_init(&body, be);
        uint64_t t = UNITS64(T0 + 10, 32);
        b_u32(&body, 1);
        b_u32(&body, (uint32_t)(t >> 32));
        b_u32(&body, (uint32_t)t);
        ng_opt_u64(&body, 5, 0); /* only isb_ifdrop, and it is zero */
        ng_opt_end(&body);
        ng_block(&b, BT_ISB, &body);
        b_free(&body);
    }
    ng_epb(&b, 0, ts5, sizeof d5, sizeof d5, d5); /* frame 5 */
    ng_spb(&b, 1000, d3, 64);                     /* frame 6: 64 of 1000 bytes */
    const char *path = write_file(be ? "section-be.pcapng" : "section-le.pcapng", &b);

    sm_pcapfile_t *pf = open_ok(path);
    CHECK(pf != NULL);
    if (pf == NULL) {
        b_free(&b);
        return;
    }
    CHECK(sm_pcapfile_is_pcapng(pf));
    struct got *g = got_new();
    read_all(pf, g);
    CHECK_EQ_U(g->rc, 0);
    CHECK_EQ_U(g->n, 6);
    CHECK_EQ_U(sm_pcapfile_linktype(pf), 1);
    const int64_t ns2 = (T0 + 1000) * NS_PER_SEC + 3 * 15625000;
    const int64_t ns4 = (T0 - 3600) * NS_PER_SEC + 123456000;
    CHECK(frame_is(g, 0, (int64_t)ts1, sizeof d1, sizeof d1, 1, 0, d1));
    CHECK(frame_is(g, 1, ns2, sizeof d2, 1500, 101, 1, d2));
    CHECK(frame_is(g, 2, ns2, sizeof d3, sizeof d3, 1, 0, d3)); /* previous frame's time */
    CHECK(frame_is(g, 3, ns4, sizeof d4, sizeof d4, 113, 2, d4));
    CHECK(frame_is(g, 4, (int64_t)ts5, sizeof d5, sizeof d5, 1, 0, d5));
    CHECK(frame_is(g, 5, (int64_t)ts5, 64, 1000, 1, 0, d3));

    const struct sm_ifstats *st = NULL;
    CHECK_EQ_U(sm_pcapfile_ifstats(pf, &st), 2);
    if (st != NULL && sm_pcapfile_ifstats(pf, &st) == 2) {
        CHECK_EQ_U(st[0].interface, 0);
        CHECK_EQ_U(st[0].ts_ns, INT64_C(1700000005000000000));
        CHECK(st[0].has_start && st[0].has_end && st[0].has_ifdrop && st[0].has_osdrop);
        CHECK_EQ_U(st[0].start_ns, INT64_C(1700000000000000000));
        CHECK_EQ_U(st[0].end_ns, INT64_C(1700000005000000000));
        CHECK_EQ_U(st[0].ifdrop, 7);
        CHECK_EQ_U(st[0].osdrop, UINT64_C(0x100000003));
        CHECK_EQ_U(st[1].interface, 1);
        CHECK_EQ_U(st[1].ts_ns, (T0 + 10 + 1000) * NS_PER_SEC + 500000000);
        CHECK(st[1].has_ifdrop);
        CHECK_EQ_U(st[1].ifdrop, 0);
        CHECK(!st[1].has_start && !st[1].has_end && !st[1].has_osdrop);
    }
    CHECK_EQ_U(sm_pcapfile_offset(pf), b.n);
    CHECK_EQ_U(sm_pcapfile_errkind(pf), SM_PCAP_ERR_NONE);
    got_free(g);
    free(g);
    sm_pcapfile_close(&pf);
    b_free(&b);
}

/* A little-endian section followed by a big-endian one: interface ids start again at 0. */
static void build_two_sections(struct bytes *b, bool bad_ifid_in_second)
{
    uint8_t d[48];
    fill_payload(d, sizeof d, 21);
    b_init(b, false);
    ng_shb(b);
    ng_idb(b, 1, 0, 9, false, 0);
    ng_idb(b, 101, 0, 9, false, 0);
    ng_epb(b, 1, UINT64_C(1700000000000000001), sizeof d, sizeof d, d);
    b->be = true;
    ng_shb(b);
    ng_idb(b, 113, 0, NO_TSRESOL, false, 0);
    ng_epb(b, 0, UINT64_C(1700000001000002), sizeof d, sizeof d, d);
    if (bad_ifid_in_second) /* interface 1 existed in the first section only */
        ng_epb(b, 1, UINT64_C(1700000001000003), sizeof d, sizeof d, d);
}

static void test_pcapng_two_sections(void)
{
    uint8_t d[48];
    fill_payload(d, sizeof d, 21);
    struct bytes b;
    build_two_sections(&b, false);
    const char *path = write_file("two-sections.pcapng", &b);
    sm_pcapfile_t *pf = open_ok(path);
    CHECK(pf != NULL);
    if (pf != NULL) {
        struct got *g = got_new();
        read_all(pf, g);
        CHECK_EQ_U(g->rc, 0);
        CHECK_EQ_U(g->n, 2);
        CHECK(frame_is(g, 0, INT64_C(1700000000000000001), sizeof d, sizeof d, 101, 1, d));
        CHECK(frame_is(g, 1, INT64_C(1700000001000002000), sizeof d, sizeof d, 113, 0, d));
        CHECK_EQ_U(sm_pcapfile_linktype(pf), 1); /* the first interface of the file */
        got_free(g);
        free(g);
        sm_pcapfile_close(&pf);
    }
    b_free(&b);

    build_two_sections(&b, true);
    expect_read_fails(write_file("two-sections-bad-if.pcapng", &b), 2, SM_PCAP_ERR_CORRUPT, 3);
    b_free(&b);
}

/* ---- standard input --------------------------------------------------------------------- */

/* Opens "-" with a pipe on standard input that a child fills with b, and reads it all. */
static void read_through_pipe(const struct bytes *b, struct got *g, bool *ng, uint64_t *offset,
                              enum sm_pcap_err *kind)
{
    int fds[2];
    if (pipe(fds) == -1) {
        perror("pipe");
        exit(2);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == -1) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        size_t done = 0;
        while (done < b->n) {
            ssize_t w = write(fds[1], b->p + done, b->n - done);
            if (w == -1)
                _exit(1);
            done += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    int saved = dup(STDIN_FILENO);
    if (saved == -1 || dup2(fds[0], STDIN_FILENO) == -1) {
        perror("dup2");
        exit(2);
    }
    close(fds[0]);

    enum sm_pcap_err k = SM_PCAP_ERR_NONE;
    char eb[512] = "";
    sm_pcapfile_t *pf = sm_pcapfile_open("-", &k, eb, sizeof eb);
    CHECK(pf != NULL);
    memset(g, 0, sizeof *g);
    if (pf != NULL) {
        read_all(pf, g);
        *ng = sm_pcapfile_is_pcapng(pf);
        *offset = sm_pcapfile_offset(pf);
        *kind = sm_pcapfile_errkind(pf);
        sm_pcapfile_close(&pf);
    } else {
        fprintf(stderr, "open -: %s\n", eb);
    }
    /* The reader must leave standard input open: it is not its descriptor. */
    CHECK(fcntl(STDIN_FILENO, F_GETFD) != -1);
    dup2(saved, STDIN_FILENO);
    close(saved);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_stdin(void)
{
    /* Far more than a pipe holds, and one record larger than the reader's first buffer. */
    enum { NSMALL = 300, SMALL = 1000, BIG = 1536 * 1024 };
    uint8_t *small = malloc(SMALL), *big = malloc(BIG);
    struct got *g = got_new();
    if (small == NULL || big == NULL)
        exit(2);
    fill_payload(small, SMALL, 31);
    fill_payload(big, BIG, 32);
    struct bytes b;
    b_init(&b, true);
    pcap_global(&b, MAGIC_NS, 1);
    for (unsigned i = 0; i < NSMALL; i++)
        pcap_record(&b, false, (uint32_t)T0 + i, i, SMALL, SMALL, small);
    pcap_record(&b, false, (uint32_t)T0 + NSMALL, 5, BIG, BIG, big);
    pcap_record(&b, false, (uint32_t)T0 + NSMALL + 1, 6, SMALL, SMALL, small);

    bool ng = true;
    uint64_t off = 0;
    enum sm_pcap_err kind = SM_PCAP_ERR_OPEN;
    read_through_pipe(&b, g, &ng, &off, &kind);
    CHECK_EQ_U(g->rc, 0);
    CHECK_EQ_U(g->n, NSMALL + 2);
    CHECK(!ng);
    CHECK_EQ_U(off, b.n);
    CHECK_EQ_U(kind, SM_PCAP_ERR_NONE);
    bool all = true;
    for (int i = 0; i < NSMALL && i < g->n; i++)
        all = all && frame_is(g, i, (T0 + i) * NS_PER_SEC + i, SMALL, SMALL, 1, 0, small);
    CHECK(all);
    CHECK(frame_is(g, NSMALL, (T0 + NSMALL) * NS_PER_SEC + 5, BIG, BIG, 1, 0, big));
    CHECK(frame_is(g, NSMALL + 1, (T0 + NSMALL + 1) * NS_PER_SEC + 6, SMALL, SMALL, 1, 0, small));
    got_free(g);
    b_free(&b);

    /* pcapng from a pipe too, ending in a truncated block. */
    b_init(&b, false);
    ng_shb(&b);
    ng_idb(&b, 1, 0, 9, false, 0);
    for (unsigned i = 0; i < 100; i++)
        ng_epb(&b, 0, (uint64_t)T0 * 1000000000u + i, SMALL, SMALL, small);
    b.n -= 10;
    read_through_pipe(&b, g, &ng, &off, &kind);
    CHECK_EQ_U(g->n, 99);
    CHECK(g->rc == -1);
    CHECK(ng);
    CHECK_EQ_U(kind, SM_PCAP_ERR_TRUNCATED);
    CHECK(frame_is(g, 98, T0 * NS_PER_SEC + 98, SMALL, SMALL, 1, 0, small));
    got_free(g);
    free(g);
    b_free(&b);
    free(small);
    free(big);
}

/* ---- errors --------------------------------------------------------------------------- */

static void test_open_errors(void)
{
    struct bytes b;
    b_init(&b, false);
    expect_open_fails(write_file("empty.pcap", &b), SM_PCAP_ERR_EMPTY);

    const char *text = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
    b_raw(&b, text, strlen(text));
    expect_open_fails(write_file("text.pcap", &b), SM_PCAP_ERR_NOT_CAPTURE);
    b_free(&b);

    char missing[160];
    snprintf(missing, sizeof missing, "%s/no-such-file.pcap", tmpdir);
    expect_open_fails(missing, SM_PCAP_ERR_OPEN);

    /* Truncated file headers: classic, both orders; pcapng inside and before its length. */
    b_init(&b, false);
    pcap_global(&b, MAGIC_US, 1);
    b.n = 14;
    expect_open_fails(write_file("short-header-le.pcap", &b), SM_PCAP_ERR_TRUNCATED);
    b_free(&b);
    b_init(&b, true);
    pcap_global(&b, MAGIC_NS, 1);
    b.n = 23;
    expect_open_fails(write_file("short-header-be.pcap", &b), SM_PCAP_ERR_TRUNCATED);
    b_free(&b);
    b_init(&b, false);
    ng_shb(&b);
    b.n = 20;
    expect_open_fails(write_file("short-shb.pcapng", &b), SM_PCAP_ERR_TRUNCATED);
    b.n = 8;
    expect_open_fails(write_file("shorter-shb.pcapng", &b), SM_PCAP_ERR_TRUNCATED);
    b_free(&b);

    /* A pcapng section header with a wrong byte-order magic, a classic header of version 3. */
    b_init(&b, false);
    ng_shb(&b);
    b.p[8] ^= 0xff;
    expect_open_fails(write_file("bad-bom.pcapng", &b), SM_PCAP_ERR_NOT_CAPTURE);
    b_free(&b);
    b_init(&b, false);
    pcap_global(&b, MAGIC_US, 1);
    b.p[4] = 3;
    expect_open_fails(write_file("version3.pcap", &b), SM_PCAP_ERR_NOT_CAPTURE);
    b_free(&b);
}

static void test_classic_errors(void)
{
    uint8_t d[100];
    fill_payload(d, sizeof d, 41);
    struct bytes b;

    /* Record header cut after 10 of 16 bytes, and after 20 of Kuznetzov's 24. */
    b_init(&b, false);
    pcap_global(&b, MAGIC_US, 1);
    pcap_record(&b, false, (uint32_t)T0, 0, 60, 60, d);
    pcap_record(&b, false, (uint32_t)T0, 1, 60, 60, d);
    pcap_record(&b, false, (uint32_t)T0, 2, 60, 60, d);
    b.n -= 60 + 6;
    expect_read_fails(write_file("cut-rechdr.pcap", &b), 2, SM_PCAP_ERR_TRUNCATED, 3);
    b_free(&b);
    b_init(&b, true);
    pcap_global(&b, MAGIC_KUZ, 1);
    pcap_record(&b, true, (uint32_t)T0, 0, 60, 60, d);
    pcap_record(&b, true, (uint32_t)T0, 1, 60, 60, d);
    pcap_record(&b, true, (uint32_t)T0, 2, 60, 60, d);
    b.n -= 60 + 4;
    expect_read_fails(write_file("cut-rechdr-kuz.pcap", &b), 2, SM_PCAP_ERR_TRUNCATED, 3);
    b_free(&b);

    /* Packet data cut: 40 of 100 bytes. */
    b_init(&b, true);
    pcap_global(&b, MAGIC_NS, 1);
    pcap_record(&b, false, (uint32_t)T0, 0, 60, 60, d);
    pcap_record(&b, false, (uint32_t)T0, 1, 60, 60, d);
    pcap_record(&b, false, (uint32_t)T0, 2, 100, 100, d);
    b.n -= 60;
    expect_read_fails(write_file("cut-data.pcap", &b), 2, SM_PCAP_ERR_TRUNCATED, 3);
    b_free(&b);

    /*
     * A captured length over SM_PCAP_MAX_RECORD is corrupt, and refused before anything is
     * allocated or read for it: had the reader tried, the file's end would make it
     * TRUNCATED (or OPEN for a failed allocation). The largest accepted length is read.
     */
    static const uint32_t absurd[] = {SM_PCAP_MAX_RECORD + 1, UINT32_MAX, 0x80000000u};
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
        b_init(&b, i % 2 == 1);
        pcap_global(&b, MAGIC_US, 1);
        pcap_record(&b, false, (uint32_t)T0, 0, 60, 60, d);
        b_u32(&b, (uint32_t)T0);
        b_u32(&b, 1);
        b_u32(&b, absurd[i]);
        b_u32(&b, 60);
        b_raw(&b, d, 60);
        expect_read_fails(write_file("absurd-caplen.pcap", &b), 1, SM_PCAP_ERR_CORRUPT, 2);
        b_free(&b);
    }
    b_init(&b, false);
    pcap_global(&b, MAGIC_US, 1);
    b_u32(&b, (uint32_t)T0);
    b_u32(&b, 0);
    b_u32(&b, SM_PCAP_MAX_RECORD);
    b_u32(&b, SM_PCAP_MAX_RECORD);
    b_raw(&b, d, 60);
    expect_read_fails(write_file("max-caplen.pcap", &b), 0, SM_PCAP_ERR_TRUNCATED, 1);
    b_free(&b);

    /* A partial trailing record header of one byte. */
    b_init(&b, false);
    pcap_global(&b, MAGIC_US, 1);
    pcap_record(&b, false, (uint32_t)T0, 0, 60, 60, d);
    b_u8(&b, 0);
    expect_read_fails(write_file("one-byte-tail.pcap", &b), 1, SM_PCAP_ERR_TRUNCATED, 2);
    b_free(&b);
}

/* SHB, IDB (if 0), two good EPBs: the start of every broken pcapng file below. */
static void ng_prefix(struct bytes *b, bool be)
{
    uint8_t d[60];
    fill_payload(d, sizeof d, 51);
    b_init(b, be);
    ng_shb(b);
    ng_idb(b, 1, 0, 9, false, 0);
    ng_epb(b, 0, UINT64_C(1700000000000000001), sizeof d, sizeof d, d);
    ng_epb(b, 0, UINT64_C(1700000000000000002), sizeof d, sizeof d, d);
}

/* Overwrites the 32-bit field at off in the file's byte order. */
static void poke32(struct bytes *b, size_t off, uint32_t v)
{
    size_t n = b->n;
    b->n = off;
    b_u32(b, v);
    b->n = n;
}

static void test_pcapng_errors(void)
{
    uint8_t d[60];
    fill_payload(d, sizeof d, 52);
    for (int be = 0; be <= 1; be++) {
        struct bytes b;
        size_t at;

        /* Truncated inside a block, and inside a block header. */
        ng_prefix(&b, be);
        ng_epb(&b, 0, 3, sizeof d, sizeof d, d);
        b.n -= 30;
        expect_read_fails(write_file("ng-cut-block.pcapng", &b), 2, SM_PCAP_ERR_TRUNCATED, 3);
        b_free(&b);
        ng_prefix(&b, be);
        b_u32(&b, BT_EPB);
        b_u32(&b, 100);
        b_u16(&b, 0);
        expect_read_fails(write_file("ng-cut-blockhdr.pcapng", &b), 2, SM_PCAP_ERR_TRUNCATED, 3);
        b_free(&b);

        /* Block length below 12, over the maximum, or not a multiple of 4 with nothing at
         * its padded end that says so. */
        static const uint32_t bad_len[] = {30, 8, 0, 11, SM_PCAP_MAX_RECORD + 4, 0xfffffffcu};
        for (size_t i = 0; i < sizeof bad_len / sizeof bad_len[0]; i++) {
            ng_prefix(&b, be);
            at = b.n;
            ng_epb(&b, 0, 3, sizeof d, sizeof d, d);
            poke32(&b, at + 4, bad_len[i]);
            expect_read_fails(write_file("ng-bad-len.pcapng", &b), 2, SM_PCAP_ERR_CORRUPT, 3);
            b_free(&b);
        }
        /* A length 1 to 3 short of a multiple of 4, whose block is that multiple long (its
         * trailer says either): read as padded, as tshark does, and counted. */
        for (uint32_t short_by = 1; short_by <= 3; short_by++) {
            ng_prefix(&b, be);
            at = b.n;
            ng_epb(&b, 0, 3, sizeof d, sizeof d, d);
            uint32_t real = (uint32_t)(b.n - at);
            poke32(&b, at + 4, real - short_by);
            if (short_by == 2)
                poke32(&b, b.n - 4, real - short_by); /* the trailer agrees with the header */
            ng_epb(&b, 0, 4, sizeof d, sizeof d, d);
            expect_read_unaligned(write_file("ng-unaligned.pcapng", &b), 4);
            b_free(&b);
        }
        /*
         * A 30-byte block whose bytes 26..29 happen to hold 30, followed by a good EPB at
         * byte 30: only the multiple-of-4 rule tells that the length is wrong.
         */
        ng_prefix(&b, be);
        b_u32(&b, BT_CUSTOM);
        b_u32(&b, 30);
        for (int i = 0; i < 18; i++)
            b_u8(&b, 0x55);
        b_u32(&b, 30);
        ng_epb(&b, 0, 3, sizeof d, sizeof d, d);
        expect_read_fails(write_file("ng-len-30.pcapng", &b), 2, SM_PCAP_ERR_CORRUPT, 3);
        b_free(&b);
        /* A block that is not a packet block (an unknown type), 2 short of its padded
         * length: read on, counted. */
        ng_prefix(&b, be);
        at = b.n;
        ng_opaque(&b, BT_CUSTOM, 16);
        poke32(&b, at + 4, 26);
        expect_read_unaligned(write_file("ng-unaligned-custom.pcapng", &b), 2);
        b_free(&b);

        /* Trailing length does not match the leading one. */
        ng_prefix(&b, be);
        ng_epb(&b, 0, 3, sizeof d, sizeof d, d);
        poke32(&b, b.n - 4, 96);
        expect_read_fails(write_file("ng-trailer.pcapng", &b), 2, SM_PCAP_ERR_CORRUPT, 3);
        b_free(&b);

        /* EPB captured length larger than the block holds. */
        ng_prefix(&b, be);
        at = b.n;
        ng_epb(&b, 0, 3, sizeof d, sizeof d, d);
        poke32(&b, at + 8 + 12, 61 + 12); /* the block has 60 data + 12 option bytes */
        expect_read_fails(write_file("ng-epb-caplen.pcapng", &b), 2, SM_PCAP_ERR_CORRUPT, 3);
        b_free(&b);
        ng_prefix(&b, be);
        at = b.n;
        ng_epb(&b, 0, 3, sizeof d, sizeof d, d);
        poke32(&b, at + 8 + 12, UINT32_MAX);
        expect_read_fails(write_file("ng-epb-caplen-max.pcapng", &b), 2, SM_PCAP_ERR_CORRUPT, 3);
        b_free(&b);
        /* An EPB too short to hold its fixed fields. */
        ng_prefix(&b, be);
        {
            struct bytes body;
            b_init(&body, b.be);
            b_u32(&body, 0);
            b_u32(&body, 0);
            ng_block(&b, BT_EPB, &body);
            b_free(&body);
        }
        expect_read_fails(write_file("ng-epb-short.pcapng", &b), 2, SM_PCAP_ERR_CORRUPT, 3);
        b_free(&b);

        /* Packet blocks naming an interface that does not exist. */
        ng_prefix(&b, be);
        ng_epb(&b, 1, 3, sizeof d, sizeof d, d);
        expect_read_fails(write_file("ng-no-if.pcapng", &b), 2, SM_PCAP_ERR_CORRUPT, 3);
        b_free(&b);
        ng_prefix(&b, be);
        ng_opb(&b, 4, 3, sizeof d, sizeof d, d);
        expect_read_fails(write_file("ng-opb-no-if.pcapng", &b), 2, SM_PCAP_ERR_CORRUPT, 3);
        b_free(&b);
        b_init(&b, be);
        ng_shb(&b);
        ng_spb(&b, sizeof d, d, sizeof d); /* no interface at all */
        expect_read_fails(write_file("ng-spb-no-if.pcapng", &b), 0, SM_PCAP_ERR_CORRUPT, 1);
        b_free(&b);
    }
}

/* ---- every prefix and every corrupted byte ------------------------------------------------- */

/* Where a file's header, blocks and records end, and how many frames precede each end. */
#define MAX_ENDS 64
struct layout {
    size_t header;
    size_t end[MAX_ENDS];
    int frames[MAX_ENDS];
    int n;
};

static void mark(struct layout *l, const struct bytes *b, int frames)
{
    if (l->n < MAX_ENDS) {
        l->end[l->n] = b->n;
        l->frames[l->n] = frames;
        l->n++;
    }
}

static void build_sweep_classic(struct bytes *b, struct layout *l)
{
    uint8_t d[14];
    fill_payload(d, sizeof d, 61);
    memset(l, 0, sizeof *l);
    b_init(b, true);
    pcap_global(b, MAGIC_KUZ, 1);
    l->header = b->n;
    pcap_record(b, true, (uint32_t)T0, 1, 10, 10, d);
    mark(l, b, 1);
    pcap_record(b, true, (uint32_t)T0, 2, 0, 0, d);
    mark(l, b, 2);
    pcap_record(b, true, (uint32_t)T0, 3, 14, 1500, d);
    mark(l, b, 3);
}

static void build_sweep_ng(struct bytes *b, struct layout *l)
{
    uint8_t d[13];
    fill_payload(d, sizeof d, 62);
    memset(l, 0, sizeof *l);
    b_init(b, false);
    ng_shb(b);
    l->header = b->n;
    ng_idb(b, 1, 0, 9, true, 5);
    mark(l, b, 0);
    ng_epb(b, 0, 1, sizeof d, sizeof d, d);
    mark(l, b, 1);
    ng_opaque(b, BT_CUSTOM, 5);
    mark(l, b, 1);
    ng_spb(b, 40, d, 9);
    mark(l, b, 2);
    {
        struct bytes body;
        b_init(&body, false);
        b_u32(&body, 0);
        b_u32(&body, 0);
        b_u32(&body, 9);
        ng_opt_u64(&body, 5, 1);
        ng_opt_end(&body);
        ng_block(b, BT_ISB, &body);
        b_free(&body);
    }
    mark(l, b, 2);
    b->be = true;
    ng_shb(b);
    mark(l, b, 2);
    ng_idb(b, 101, 0, 0x86, false, 0);
    mark(l, b, 2);
    ng_opb(b, 0, 77, 13, 13, d);
    mark(l, b, 3);
    ng_epb(b, 0, 78, 0, 0, d);
    mark(l, b, 4);
}

/*
 * Every prefix of a valid file: a cut at a block or record boundary is a clean end with the
 * frames before it; any other cut is TRUNCATED after them (or fails to open, inside the file
 * header). Then every byte set to 0x00 and to its complement: nothing may crash, and reading
 * ends either cleanly or with a reason.
 */
static void sweep_file(const char *name, const struct bytes *b, const struct layout *l)
{
    struct bytes cut;
    b_init(&cut, false);
    b_raw(&cut, b->p, b->n);
    const char *path = write_file(name, &cut);
    bool ok = true;
    struct got *g = got_new();
    for (size_t n = 0; n <= b->n; n++) {
        put_file(path, b->p, n);
        enum sm_pcap_err kind = SM_PCAP_ERR_NONE;
        char eb[512];
        sm_pcapfile_t *pf = sm_pcapfile_open(path, &kind, eb, sizeof eb);
        if (n < l->header) {
            enum sm_pcap_err want = n == 0 ? SM_PCAP_ERR_EMPTY : SM_PCAP_ERR_TRUNCATED;
            bool good = pf == NULL && (kind == want || (n < 4 && kind == SM_PCAP_ERR_NOT_CAPTURE));
            if (!good)
                fprintf(stderr, "%s cut at %zu: open gave kind %d (%s)\n", name, n, kind, eb);
            ok = ok && good;
            sm_pcapfile_close(&pf);
            continue;
        }
        if (pf == NULL) {
            fprintf(stderr, "%s cut at %zu: %s\n", name, n, eb);
            ok = false;
            continue;
        }
        int want_frames = 0;
        bool boundary = n == l->header;
        for (int i = 0; i < l->n; i++) {
            if (l->end[i] <= n)
                want_frames = l->frames[i];
            if (l->end[i] == n)
                boundary = true;
        }
        read_all(pf, g);
        enum sm_pcap_err want = boundary ? SM_PCAP_ERR_NONE : SM_PCAP_ERR_TRUNCATED;
        bool good =
            g->n == want_frames && g->rc == (boundary ? 0 : -1) && sm_pcapfile_errkind(pf) == want;
        if (!good)
            fprintf(stderr, "%s cut at %zu: %d frames rc %d kind %d (%s); want %d frames%s\n", name,
                    n, g->n, g->rc, sm_pcapfile_errkind(pf), sm_pcapfile_error(pf), want_frames,
                    boundary ? " and a clean end" : ", truncated");
        ok = ok && good;
        got_free(g);
        sm_pcapfile_close(&pf);
    }
    CHECK(ok);

    ok = true;
    for (size_t i = 0; i < b->n; i++) {
        for (int k = 0; k < 2; k++) {
            if (k == 0 && b->p[i] == 0)
                continue; /* unchanged: the whole file was read above */
            memcpy(cut.p, b->p, b->n);
            cut.p[i] = k ? (uint8_t)~b->p[i] : 0;
            put_file(path, cut.p, cut.n);
            enum sm_pcap_err kind = SM_PCAP_ERR_NONE;
            char eb[512];
            sm_pcapfile_t *pf = sm_pcapfile_open(path, &kind, eb, sizeof eb);
            if (pf == NULL) {
                ok = ok && kind != SM_PCAP_ERR_NONE;
                continue;
            }
            read_all(pf, g);
            bool good = (g->rc == 0 && sm_pcapfile_errkind(pf) == SM_PCAP_ERR_NONE) ||
                        (g->rc == -1 && sm_pcapfile_errkind(pf) != SM_PCAP_ERR_NONE &&
                         sm_pcapfile_error(pf)[0] != '\0');
            for (int j = 0; j < g->n; j++)
                good =
                    good && g->f[j].wirelen >= g->f[j].caplen && g->f[j].number == (uint64_t)j + 1;
            if (!good)
                fprintf(stderr, "%s byte %zu = 0x%02x: rc %d kind %d\n", name, i, cut.p[i], g->rc,
                        sm_pcapfile_errkind(pf));
            ok = ok && good;
            got_free(g);
            sm_pcapfile_close(&pf);
        }
    }
    CHECK(ok);
    free(g);
    b_free(&cut);
}

static void test_sweeps(void)
{
    struct bytes b;
    struct layout l;
    build_sweep_classic(&b, &l);
    sweep_file("sweep.pcap", &b, &l);
    b_free(&b);
    build_sweep_ng(&b, &l);
    sweep_file("sweep.pcapng", &b, &l);
    b_free(&b);

    /* A file header and nothing else is a valid, empty capture. */
    b_init(&b, false);
    pcap_global(&b, MAGIC_US, 1);
    sm_pcapfile_t *pf = open_ok(write_file("header-only.pcap", &b));
    CHECK(pf != NULL);
    if (pf != NULL) {
        struct sm_frame fr;
        CHECK_EQ_U(sm_pcapfile_next(pf, &fr), 0);
        CHECK_EQ_U(sm_pcapfile_next(pf, &fr), 0);
        CHECK_EQ_U(sm_pcapfile_errkind(pf), SM_PCAP_ERR_NONE);
        sm_pcapfile_close(&pf);
    }
    b_free(&b);
}

static void cleanup(void)
{
    for (int i = 0; i < npaths; i++)
        unlink(paths[i]);
    rmdir(tmpdir);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_classic();
    test_pcapng_section(false);
    test_pcapng_section(true);
    test_pcapng_two_sections();
    test_stdin();
    test_open_errors();
    test_classic_errors();
    test_pcapng_errors();
    test_sweeps();
    cleanup();
    return check_done();
}
