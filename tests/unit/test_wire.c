/*
 * test_wire.c - batches through encode and decode, and every rejection reason.
 */
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

int main(void)
{
    test_roundtrip();
    test_rejections();
    return check_done();
}
