/*
 * test_wire.c - batches through encode and decode, and every rejection reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "synmatch.pb-c.h"
#include "addr.h"
#include "synmatch/wire.h"

static struct sm_record rec(const char *src, unsigned sport, const char *dst, unsigned dport,
                            uint16_t flags, int64_t ts)
{
    struct sm_record r;
    memset(&r, 0, sizeof r);
    sm_addr_parse(src, &r.tuple.src);
    sm_addr_parse(dst, &r.tuple.dst);
    r.tuple.sport = (uint16_t)sport;
    r.tuple.dport = (uint16_t)dport;
    r.flags = flags;
    r.ts_ns = ts;
    r.seq = 0xdeadbeef;
    r.ack = 7;
    r.window = 64240;
    r.ip_id = 0xabcd;
    r.ttl = 63;
    r.opts.present = SM_OPT_MSS | SM_OPT_TS | SM_OPT_WSCALE | SM_OPT_SACKOK;
    r.opts.mss = 1460;
    r.opts.wscale = 7;
    r.opts.tsval = 123456;
    r.opts.tsecr = 654321;
    r.nvlan = 2;
    r.vlan[0] = 0;
    r.vlan[1] = 4095;
    r.frame = 42;
    r.stream = 9;
    return r;
}

static struct sm_wire_header header(void)
{
    struct sm_wire_header h;
    memset(&h, 0, sizeof h);
    strcpy(h.sensor_id, "server-1.dc:a@b");
    h.role = SM_ROLE_SERVER;
    h.boot_epoch = 1790000000123456789ull;
    h.seq = 77;
    h.watermark_ns = 2000;
    h.counters.pcap_received = 10;
    h.counters.pcap_dropped = 2;
    h.counters.records_emitted = 5;
    h.counters.records_unsent = 1;
    h.counters.decode_errors = 3;
    h.unsent_from_ns = 100;
    h.unsent_to_ns = 200;
    h.nscope = 2;
    sm_addr_parse("198.18.2.0", &h.scope[0].addr);
    h.scope[0].prefix_len = 24;
    h.scope[0].port = 443;
    sm_addr_parse("2001:db8::2", &h.scope[1].addr);
    h.scope[1].prefix_len = 128;
    return h;
}

static enum sm_wire_reject roundtrip_batch(Synmatch__Batch *b)
{
    size_t len = synmatch__batch__get_packed_size(b);
    uint8_t *buf = malloc(len + 1);
    synmatch__batch__pack(b, buf);
    struct sm_wire_header h;
    struct sm_record *recs;
    size_t n;
    enum sm_wire_reject why = sm_wire_decode(buf, len, &h, &recs, &n);
    free(recs);
    free(buf);
    return why;
}

static void test_roundtrip(void)
{
    struct sm_record in[3] = {
        rec("198.18.0.1", 40000, "198.18.2.2", 443, SM_TH_SYN, 1000),
        rec("2001:db8::1", 40001, "2001:db8::2", 80, SM_TH_SYN | SM_TH_ACK | SM_TH_NS, 1500),
        rec("198.18.2.2", 443, "198.18.0.1", 40000, SM_TH_RST | SM_TH_ACK, 2000),
    };
    struct sm_wire_header h = header();
    for (int files = 0; files < 2; files++) {
        size_t len;
        uint8_t *buf = sm_wire_encode(&h, in, 3, files, &len);
        CHECK(buf != NULL);
        struct sm_wire_header out;
        struct sm_record *recs;
        size_t n;
        CHECK(sm_wire_decode(buf, len, &out, &recs, &n) == SM_WIRE_OK);
        CHECK_EQ_U(n, 3);
        CHECK_EQ_S(out.sensor_id, h.sensor_id);
        CHECK(out.role == SM_ROLE_SERVER);
        CHECK_EQ_U(out.boot_epoch, h.boot_epoch);
        CHECK_EQ_U(out.seq, 77);
        CHECK_EQ_U(out.watermark_ns, 2000);
        CHECK_EQ_U(out.counters.pcap_dropped, 2);
        CHECK_EQ_U(out.counters.records_unsent, 1);
        CHECK_EQ_U(out.unsent_to_ns, 200);
        CHECK_EQ_U(out.nscope, 2);
        CHECK_EQ_U(out.scope[0].prefix_len, 24);
        CHECK_EQ_U(out.scope[0].port, 443);
        CHECK(sm_addr_eq(&out.scope[1].addr, &h.scope[1].addr));
        for (size_t i = 0; i < n; i++) {
            CHECK(sm_addr_eq(&recs[i].tuple.src, &in[i].tuple.src));
            CHECK(sm_addr_eq(&recs[i].tuple.dst, &in[i].tuple.dst));
            CHECK_EQ_U(recs[i].tuple.sport, in[i].tuple.sport);
            CHECK_EQ_U(recs[i].tuple.dport, in[i].tuple.dport);
            CHECK_EQ_U(recs[i].flags, in[i].flags);
            CHECK_EQ_U(recs[i].ts_ns, in[i].ts_ns);
            CHECK_EQ_U(recs[i].seq, in[i].seq);
            CHECK_EQ_U(recs[i].ack, in[i].ack);
            CHECK_EQ_U(recs[i].window, in[i].window);
            CHECK_EQ_U(recs[i].ip_id, in[i].ip_id);
            CHECK_EQ_U(recs[i].ttl, in[i].ttl);
            CHECK(memcmp(&recs[i].opts, &in[i].opts, sizeof in[i].opts) == 0);
            CHECK_EQ_U(recs[i].nvlan, 2);
            CHECK_EQ_U(recs[i].vlan[0], 0);
            CHECK_EQ_U(recs[i].vlan[1], 4095);
            CHECK_EQ_U(recs[i].frame, files ? 42 : 0);
            CHECK(recs[i].stream == (files ? 9 : SM_STREAM_NONE));
        }
        free(recs);
        free(buf);
    }
    /* An empty heartbeat, as part 5 of 64 of a partitioned batch. */
    size_t len;
    h.partition = 5;
    h.partition_count = 64;
    uint8_t *buf = sm_wire_encode(&h, NULL, 0, false, &len);
    struct sm_wire_header out;
    struct sm_record *recs;
    size_t n;
    CHECK(sm_wire_decode(buf, len, &out, &recs, &n) == SM_WIRE_OK);
    CHECK_EQ_U(n, 0);
    CHECK(recs == NULL);
    CHECK_EQ_U(out.partition, 5);
    CHECK_EQ_U(out.partition_count, 64);
    free(buf);
}

static uint8_t *saved_scope_data; /* restored before free_unpacked, which would free ours */

/* Decodes an encoded valid batch after `mutate` changed its unpacked form. */
static enum sm_wire_reject mutated(void (*mutate)(Synmatch__Batch *b))
{
    struct sm_record in[2] = {
        rec("198.18.0.1", 40000, "198.18.2.2", 443, SM_TH_SYN, 1000),
        rec("2001:db8::1", 40001, "2001:db8::2", 80, SM_TH_SYN, 1500),
    };
    struct sm_wire_header h = header();
    size_t len;
    uint8_t *buf = sm_wire_encode(&h, in, 2, false, &len);
    Synmatch__Batch *b = synmatch__batch__unpack(NULL, len, buf);
    free(buf);
    mutate(b);
    enum sm_wire_reject why = roundtrip_batch(b);
    if (saved_scope_data) {
        b->scope->addr[0].data = saved_scope_data;
        b->scope->addr[0].len = 4;
        saved_scope_data = NULL;
    }
    synmatch__batch__free_unpacked(b, NULL);
    return why;
}

static void m_schema(Synmatch__Batch *b) { b->schema = 2; }
static void m_sensor_empty(Synmatch__Batch *b) { b->sensor_id[0] = '\0'; }
static void m_sensor_quote(Synmatch__Batch *b) { b->sensor_id[0] = '"'; }
static void m_role(Synmatch__Batch *b) { b->role = 7; }
static void m_columns(Synmatch__Batch *b) { b->n_tcp_ack = 1; }
static void m_family(Synmatch__Batch *b) { b->family[1] = 5; }
static void m_addrs(Synmatch__Batch *b) { b->addrs.len -= 1; }
static void m_port(Synmatch__Batch *b) { b->ports[0] &= 0xffff0000u; }
static void m_flags_none(Synmatch__Batch *b) { b->flags[0] = 0x10; }
static void m_flags_high(Synmatch__Batch *b) { b->flags[0] = 0x1002; }
static void m_time_future(Synmatch__Batch *b) { b->ts_ns[1] = b->watermark_ns + 1; }
static void m_time_negative(Synmatch__Batch *b) { b->ts_ns[0] = -1; }
static void m_scope_prefix(Synmatch__Batch *b) { b->scope->prefix_len[0] = 33; }
static void m_part_past(Synmatch__Batch *b) { b->partition = 4; b->partition_count = 4; }
static void m_part_alone(Synmatch__Batch *b) { b->partition = 1; b->partition_count = 0; }
static void m_part_many(Synmatch__Batch *b) { b->partition_count = SM_WIRE_MAX_PARTITIONS + 1; }
static uint8_t seven_bytes[7] = {198, 18, 2, 0, 0, 0, 1};
static void m_scope_len(Synmatch__Batch *b)
{
    saved_scope_data = b->scope->addr[0].data;
    b->scope->addr[0].data = seven_bytes; /* 7 real bytes: the unpacked buffer has 4 */
    b->scope->addr[0].len = sizeof seven_bytes;
}

static void test_rejections(void)
{
    CHECK(mutated(m_schema) == SM_WIRE_SCHEMA_VERSION);
    CHECK(mutated(m_sensor_empty) == SM_WIRE_BAD_SENSOR_ID);
    CHECK(mutated(m_sensor_quote) == SM_WIRE_BAD_SENSOR_ID);
    CHECK(mutated(m_role) == SM_WIRE_BAD_ROLE);
    CHECK(mutated(m_columns) == SM_WIRE_BAD_COLUMNS);
    CHECK(mutated(m_family) == SM_WIRE_BAD_FAMILY);
    CHECK(mutated(m_addrs) == SM_WIRE_BAD_ADDRS);
    CHECK(mutated(m_port) == SM_WIRE_BAD_PORT);
    CHECK(mutated(m_flags_none) == SM_WIRE_BAD_FLAGS);
    CHECK(mutated(m_flags_high) == SM_WIRE_BAD_FLAGS);
    CHECK(mutated(m_time_future) == SM_WIRE_BAD_TIME);
    CHECK(mutated(m_time_negative) == SM_WIRE_BAD_TIME);
    CHECK(mutated(m_scope_prefix) == SM_WIRE_BAD_SCOPE);
    CHECK(mutated(m_scope_len) == SM_WIRE_BAD_SCOPE);
    CHECK(mutated(m_part_past) == SM_WIRE_BAD_PARTITION);
    CHECK(mutated(m_part_alone) == SM_WIRE_BAD_PARTITION);
    CHECK(mutated(m_part_many) == SM_WIRE_BAD_PARTITION);

    struct sm_wire_header h;
    struct sm_record *recs;
    size_t n;
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    CHECK(sm_wire_decode(junk, sizeof junk, &h, &recs, &n) == SM_WIRE_UNPACK);
    CHECK(sm_wire_decode(junk, SM_WIRE_MAX_MESSAGE + 1, &h, &recs, &n) == SM_WIRE_TOO_BIG);
    CHECK(recs == NULL && n == 0);
    for (int r = 0; r < SM_WIRE_REJECT_COUNT; r++)
        CHECK(strcmp(sm_wire_reject_name((enum sm_wire_reject)r), "?") != 0);
}

/* ---- sm_wire_decode() against the whole message through protobuf-c ----------------------- */

struct field {
    unsigned num, wt;
    const uint8_t *at, *val, *end; /* the field, its value (packed bytes), its end */
};

static size_t rd_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (size_t i = 0; i < 10 && p + i < end; i++) {
        *v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80))
            return i + 1;
    }
    return 0;
}

static size_t wr_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* The top-level fields of a well-formed message. */
static size_t fields(const uint8_t *buf, size_t len, struct field *f, size_t max)
{
    size_t k = 0;
    for (const uint8_t *p = buf, *end = buf + len; p < end && k < max; k++) {
        uint64_t key, v;
        f[k].at = p;
        p += rd_varint(p, end, &key);
        f[k].num = (unsigned)(key >> 3);
        f[k].wt = (unsigned)(key & 7);
        f[k].val = p;
        if (f[k].wt == 0) {
            p += rd_varint(p, end, &v);
        } else {
            p += rd_varint(p, end, &v);
            f[k].val = p;
            p += v;
        }
        f[k].end = p;
    }
    return k;
}

static size_t put_field(uint8_t *out, unsigned num, unsigned wt, const uint8_t *val, size_t n)
{
    size_t o = wr_varint(out, (uint64_t)num << 3 | wt);
    if (wt == 2)
        o += wr_varint(out + o, n);
    memcpy(out + o, val, n);
    return o + n;
}

static bool packed_column(const struct field *f)
{
    return f->wt == 2 && f->num >= 20 && f->num <= 34 && f->num != 22;
}

/* Re-encodes buf as `how`: 0 fields in reverse order, 1 each packed column in two parts
 * (a header field between them), 2 every column unpacked (a key per value), 3 a wrong addrs
 * first (the last one counts). */
static size_t reencode(const uint8_t *buf, size_t len, int how, uint8_t *out)
{
    struct field f[64];
    size_t nf = fields(buf, len, f, 64), o = 0;
    for (size_t k = 0; k < nf; k++) {
        const struct field *x = &f[how == 0 ? nf - 1 - k : k];
        if (how == 1 && packed_column(x) && x->end > x->val) {
            const uint8_t *mid = x->val;
            uint64_t v;
            for (size_t i = 0; i < (size_t)(x->end - x->val) / 2;)
                i += rd_varint(x->val + i, x->end, &v), mid = x->val + i;
            o += put_field(out + o, x->num, 2, x->val, (size_t)(mid - x->val));
            o += put_field(out + o, 5, 0, (const uint8_t *)"\x4d", 1); /* seq = 77 again */
            o += put_field(out + o, x->num, 2, mid, (size_t)(x->end - mid));
        } else if (how == 2 && packed_column(x)) {
            for (const uint8_t *p = x->val; p < x->end;) {
                uint64_t v;
                size_t w = rd_varint(p, x->end, &v);
                o += put_field(out + o, x->num, 0, p, w);
                p += w;
            }
        } else if (how == 3 && x->num == 22) {
            o += put_field(out + o, 22, 2, (const uint8_t *)"\1\2\3", 3);
            memcpy(out + o, x->at, (size_t)(x->end - x->at));
            o += (size_t)(x->end - x->at);
        } else {
            memcpy(out + o, x->at, (size_t)(x->end - x->at));
            o += (size_t)(x->end - x->at);
        }
    }
    return o;
}

static int ndiff;

/* Both decoders on buf: the same verdict, header and records. */
static void same_as_reference(const uint8_t *buf, size_t len, bool reasons_must_match)
{
    struct sm_wire_header h1, h2;
    struct sm_record *r1, *r2;
    size_t n1, n2;
    memset(&h1, 0, sizeof h1);
    memset(&h2, 0, sizeof h2);
    enum sm_wire_reject a = sm_wire_decode(buf, len, &h1, &r1, &n1);
    enum sm_wire_reject b = sm_wire_decode_reference(buf, len, &h2, &r2, &n2);
    bool ok = a == b || (!reasons_must_match && b == SM_WIRE_UNPACK && a != SM_WIRE_OK);
    if (ok && a == SM_WIRE_OK)
        ok = n1 == n2 && memcmp(&h1, &h2, sizeof h1) == 0 &&
             (n1 == 0 || memcmp(r1, r2, n1 * sizeof *r1) == 0);
    if (!ok && ndiff++ < 5)
        fprintf(stderr, "decoders differ on a %zu-byte message: %s against the reference's %s\n",
                len, sm_wire_reject_name(a), sm_wire_reject_name(b));
    CHECK(ok);
    free(r1);
    free(r2);
}

static void test_same_as_reference(void)
{
    enum { N = 40 };
    struct sm_record in[N];
    for (int i = 0; i < N; i++) {
        char a[64], b[64];
        bool v6 = i % 3 == 1;
        snprintf(a, sizeof a, v6 ? "2001:db8::%x" : "198.18.0.%d", i + 1);
        snprintf(b, sizeof b, v6 ? "2001:db8:2::%x" : "198.19.%d.2", i + 7);
        in[i] = rec(a, 1024 + (unsigned)i * 977, b, 1 + (unsigned)i * 1601,
                    i % 4 == 3 ? SM_TH_RST : SM_TH_SYN | (i % 2 ? SM_TH_ACK : 0), 1000 + i * 17);
        in[i].seq = (uint32_t)i * 2654435761u;
        in[i].ack = i % 5 ? (uint32_t)i * 40503u : 0;
        in[i].nvlan = (uint8_t)(i % 3);
        in[i].window = (uint16_t)(i * 1111);
        in[i].opts.tsval = (uint32_t)(i * 7919) << (i % 20);
        in[i].frame = (uint64_t)i * 100003;
        in[i].stream = i;
    }
    in[7].stream = -5; /* 10-byte varints */
    in[8].frame = UINT64_MAX - 3;
    in[9].ts_ns = INT64_C(1) << 62; /* 9 bytes */
    struct sm_wire_header h = header();
    h.watermark_ns = INT64_MAX;
    h.host.present = true;
    h.host.sampled_ns = 1500;
    h.host.listen_drops = 4;
    h.partition = 3;
    h.partition_count = 8;
    static uint8_t alt[1 << 16];
    for (int files = 0; files < 2; files++) {
        size_t len;
        uint8_t *buf = sm_wire_encode(&h, in, N, files, &len);
        same_as_reference(buf, len, true);
        for (int how = 0; how < 4; how++) {
            size_t alen = reencode(buf, len, how, alt);
            same_as_reference(alt, alen, true);
            struct sm_wire_header out;
            struct sm_record *recs;
            size_t n;
            CHECK(sm_wire_decode(alt, alen, &out, &recs, &n) == SM_WIRE_OK && n == N);
            free(recs);
        }
        /* Damaged copies: bytes changed, cut short, a byte inserted (a fixed sequence). */
        uint64_t x = 88172645463325252ull;
        for (int t = 0; t < 3000; t++) {
            size_t alen = len;
            memcpy(alt, buf, len);
            for (int k = 0; k < 1 + t % 3; k++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                size_t at = alen ? (size_t)(x % alen) : 0;
                switch ((x >> 40) % 4) {
                case 0:
                    alen = at;
                    break;
                case 1:
                    memmove(alt + at + 1, alt + at, alen - at);
                    alt[at] = (uint8_t)(x >> 48);
                    alen++;
                    break;
                default:
                    if (at < alen)
                        alt[at] ^= (uint8_t)(1u << ((x >> 50) % 8));
                    break;
                }
            }
            same_as_reference(alt, alen, false);
        }
        free(buf);
    }
    /* A column varint over 10 bytes: refused by both. Ten bytes with high bits past 64 in the
     * last one: taken as protobuf-c takes them (the low 64, the low 32 for a uint32). */
    size_t len;
    uint8_t *buf = sm_wire_encode(&h, in, 1, false, &len);
    size_t o = 0;
    memcpy(alt, buf, len);
    o = len;
    o += put_field(alt + o, 24, 0, (const uint8_t *)"\x81\x81\x81\x81\x81\x81\x81\x81\x81\x81\x01", 11);
    same_as_reference(alt, o, true);
    struct field f[64];
    size_t nf = fields(buf, len, f, 64);
    o = 0;
    for (size_t k = 0; k < nf; k++) {
        if (f[k].num == 24) /* tcp_seq */
            o += put_field(alt + o, 24, 2, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
        else if (f[k].num == 34) /* stream */
            o += put_field(alt + o, 34, 2, (const uint8_t *)"\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x7e", 10);
        else if (f[k].num == 20) /* ts_ns */
            o += put_field(alt + o, 20, 0, (const uint8_t *)"\x85\x80\x80\x80\x80\x80\x80\x80\x80\x00", 10);
        else
            memcpy(alt + o, f[k].at, (size_t)(f[k].end - f[k].at)), o += (size_t)(f[k].end - f[k].at);
    }
    same_as_reference(alt, o, true);
    /* A column's key or length in more than 5 bytes: protobuf-c refuses both, so must we. */
    for (int what = 0; what < 2; what++) {
        o = 0;
        for (size_t k = 0; k < nf; k++) {
            if (f[k].num != 24) {
                memcpy(alt + o, f[k].at, (size_t)(f[k].end - f[k].at));
                o += (size_t)(f[k].end - f[k].at);
                continue;
            }
            size_t vlen = (size_t)(f[k].end - f[k].val);
            if (what == 0) { /* key 24/2 as 6 bytes */
                memcpy(alt + o, "\xc2\x81\x80\x80\x80\x00", 6);
                o += 6;
                o += wr_varint(alt + o, vlen);
            } else { /* length as 7 bytes */
                memcpy(alt + o, "\xc2\x01", 2);
                o += 2;
                alt[o++] = (uint8_t)(vlen | 0x80);
                memcpy(alt + o, "\x80\x80\x80\x80\x80\x00", 6);
                o += 6;
            }
            memcpy(alt + o, f[k].val, vlen);
            o += vlen;
        }
        struct sm_wire_header hh;
        struct sm_record *rr;
        size_t nn;
        CHECK(sm_wire_decode(alt, o, &hh, &rr, &nn) == SM_WIRE_UNPACK);
        same_as_reference(alt, o, true);
    }
    o = 0;
    for (size_t k = 0; k < nf; k++) {
        if (f[k].num == 24) /* tcp_seq */
            o += put_field(alt + o, 24, 2, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
        else if (f[k].num == 20) /* ts_ns */
            o += put_field(alt + o, 20, 0, (const uint8_t *)"\x85\x80\x80\x80\x80\x80\x80\x80\x80\x00", 10);
        else
            memcpy(alt + o, f[k].at, (size_t)(f[k].end - f[k].at)), o += (size_t)(f[k].end - f[k].at);
    }
    {
        struct sm_wire_header hh;
        struct sm_record *rr;
        size_t nn;
        CHECK(sm_wire_decode(alt, o, &hh, &rr, &nn) == SM_WIRE_OK && nn == 1);
        if (nn == 1)
            CHECK(rr[0].seq == 0xffffffffu && rr[0].ts_ns == 5);
        free(rr);
    }
    free(buf);
}

int main(void)
{
    test_roundtrip();
    test_rejections();
    test_same_as_reference();
    return check_done();
}
