/*
 * sm_hostile.c - sends a collector one message of each hostile kind: valid protobuf with
 * hostile values (built with protobuf-c directly, since our encoder never writes them),
 * garbage, and a batch drowning in unknown fields. Prints the rejection reason each should
 * be counted under, one per line, for the test to check against the collector's stats.
 *   sm_hostile ENDPOINT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "synmatch.pb-c.h"

static void *push;

static void send_batch(const Synmatch__Batch *b, const char *expect)
{
    size_t len = synmatch__batch__get_packed_size(b);
    uint8_t *buf = malloc(len + 1);
    synmatch__batch__pack(b, buf);
    zmq_send(push, buf, len, 0);
    free(buf);
    printf("%s\n", expect);
}

/* A valid one-record batch from sensor "h", to start from. */
static void base(Synmatch__Batch *b, Synmatch__Counters *c, int64_t *ts, uint32_t *cols,
                 uint8_t *addrs)
{
    synmatch__batch__init(b);
    synmatch__counters__init(c);
    b->schema = 1;
    b->sensor_id = "h";
    b->role = SYNMATCH__ROLE__ROLE_CLIENT;
    b->boot_epoch = 1;
    b->watermark_ns = 2000;
    b->counters = c;
    ts[0] = 1000;
    b->n_ts_ns = 1;
    b->ts_ns = ts;
    static const uint8_t a[8] = {198, 18, 0, 1, 198, 18, 0, 2};
    memcpy(addrs, a, 8);
    b->addrs.data = addrs;
    b->addrs.len = 8;
    for (int k = 0; k < 12; k++)
        cols[k] = 0;
    cols[0] = 4;
    cols[1] = (40000u << 16) | 80;
    cols[4] = 0x002;
    b->n_family = b->n_ports = b->n_tcp_seq = b->n_tcp_ack = b->n_flags = b->n_window =
        b->n_ip_id_ttl = b->n_opts = b->n_tsval = b->n_tsecr = b->n_vlan = 1;
    b->family = &cols[0];
    b->ports = &cols[1];
    b->tcp_seq = &cols[2];
    b->tcp_ack = &cols[3];
    b->flags = &cols[4];
    b->window = &cols[5];
    b->ip_id_ttl = &cols[6];
    b->opts = &cols[7];
    b->tsval = &cols[8];
    b->tsecr = &cols[9];
    b->vlan = &cols[10];
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    void *ctx = zmq_ctx_new();
    push = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 3000;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(push, argv[1]) == -1)
        return 3;
    Synmatch__Batch b;
    Synmatch__Counters c;
    int64_t ts[1];
    uint32_t cols[12];
    uint8_t addrs[8];

    base(&b, &c, ts, cols, addrs);
    b.role = 7; /* an enum value that does not exist */
    send_batch(&b, "bad_role");

    base(&b, &c, ts, cols, addrs);
    cols[1] = 40000u << 16; /* port 0 */
    send_batch(&b, "bad_port");

    base(&b, &c, ts, cols, addrs);
    b.addrs.len = 7; /* a 7-byte address */
    send_batch(&b, "bad_addrs");

    base(&b, &c, ts, cols, addrs);
    Synmatch__Scope sc = SYNMATCH__SCOPE__INIT;
    ProtobufCBinaryData sa = {7, addrs};
    uint32_t pl = 32, port = 0;
    sc.n_addr = sc.n_prefix_len = sc.n_port = 1;
    sc.addr = &sa;
    sc.prefix_len = &pl;
    sc.port = &port;
    b.scope = &sc; /* a 7-byte scope address */
    send_batch(&b, "bad_scope");

    base(&b, &c, ts, cols, addrs);
    char *big = malloc(1 << 20);
    memset(big, 'a', (1 << 20) - 1);
    big[(1 << 20) - 1] = '\0';
    b.sensor_id = big; /* a 1 MB string */
    send_batch(&b, "bad_sensor_id");
    free(big);

    base(&b, &c, ts, cols, addrs);
    ts[0] = 9000000000; /* after the batch's own watermark */
    send_batch(&b, "bad_time");

    base(&b, &c, ts, cols, addrs);
    b.n_tcp_ack = 0; /* columns of different lengths */
    send_batch(&b, "bad_columns");

    base(&b, &c, ts, cols, addrs);
    cols[4] = 0x10; /* neither SYN nor RST */
    send_batch(&b, "bad_flags");

    base(&b, &c, ts, cols, addrs);
    b.schema = 99;
    send_batch(&b, "schema_version");

    /* A valid batch followed by a million unknown fields (field 1000, varint 0). */
    base(&b, &c, ts, cols, addrs);
    size_t len = synmatch__batch__get_packed_size(&b);
    size_t extra = 1000000 * 3;
    uint8_t *buf = malloc(len + extra);
    synmatch__batch__pack(&b, buf);
    for (size_t i = 0; i < 1000000; i++) {
        buf[len + 3 * i] = 0xc0;
        buf[len + 3 * i + 1] = 0x3e;
        buf[len + 3 * i + 2] = 0x00;
    }
    zmq_send(push, buf, len + extra, 0);
    printf("unknown_fields\n");
    free(buf);

    /* Garbage. */
    uint8_t junk[512];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 131 + 7);
    zmq_send(push, junk, sizeof junk, 0);
    printf("unpack\n");

    fflush(stdout);
    zmq_close(push);
    zmq_ctx_term(ctx);
    return 0;
}
