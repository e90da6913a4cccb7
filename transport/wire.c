/*
 * wire.c - batches to and from protobuf-c (proto/synmatch.proto), with validation.
 *
 * Unpacking goes through an allocator with a budget proportional to the message size: packed
 * varints expand at most 8 times, so a valid message never comes near it, while a message
 * built to make protobuf-c allocate without end (millions of unknown fields, say) fails
 * cleanly as SM_WIRE_UNPACK.
 */
#include "synmatch/wire.h"

#include <stdlib.h>
#include <string.h>

#include "synmatch.pb-c.h"

#define UNPACK_BUDGET(len) (16 * (size_t)(len) + 65536)
#define MAX_UNKNOWN_FIELDS 64

static const char *const reject_names[SM_WIRE_REJECT_COUNT] = {
    [SM_WIRE_OK] = "ok",
    [SM_WIRE_TOO_BIG] = "too_big",
    [SM_WIRE_UNPACK] = "unpack",
    [SM_WIRE_UNKNOWN_FIELDS] = "unknown_fields",
    [SM_WIRE_SCHEMA_VERSION] = "schema_version",
    [SM_WIRE_BAD_SENSOR_ID] = "bad_sensor_id",
    [SM_WIRE_BAD_ROLE] = "bad_role",
    [SM_WIRE_BAD_COLUMNS] = "bad_columns",
    [SM_WIRE_BAD_FAMILY] = "bad_family",
    [SM_WIRE_BAD_ADDRS] = "bad_addrs",
    [SM_WIRE_BAD_PORT] = "bad_port",
    [SM_WIRE_BAD_FLAGS] = "bad_flags",
    [SM_WIRE_BAD_TIME] = "bad_time",
    [SM_WIRE_BAD_SCOPE] = "bad_scope",
    [SM_WIRE_BAD_PARTITION] = "bad_partition",
};

const char *sm_wire_reject_name(enum sm_wire_reject r)
{
    return (unsigned)r < SM_WIRE_REJECT_COUNT ? reject_names[r] : "?";
}

/* ---- encoding ------------------------------------------------------------------------------ */

uint8_t *sm_wire_encode(const struct sm_wire_header *h, const struct sm_record *recs, size_t n,
                        bool with_files, size_t *len)
{
    Synmatch__Batch b = SYNMATCH__BATCH__INIT;
    Synmatch__Counters c = SYNMATCH__COUNTERS__INIT;
    Synmatch__Scope sc = SYNMATCH__SCOPE__INIT;
    b.schema = SM_WIRE_SCHEMA;
    b.sensor_id = (char *)h->sensor_id;
    b.role = h->role == SM_ROLE_SERVER ? SYNMATCH__ROLE__ROLE_SERVER : SYNMATCH__ROLE__ROLE_CLIENT;
    b.boot_epoch = h->boot_epoch;
    b.seq = h->seq;
    b.watermark_ns = h->watermark_ns;
    c.pcap_received = h->counters.pcap_received;
    c.pcap_dropped = h->counters.pcap_dropped;
    c.pcap_ifdropped = h->counters.pcap_ifdropped;
    c.records_emitted = h->counters.records_emitted;
    c.records_unsent = h->counters.records_unsent;
    c.batches_unsent = h->counters.batches_unsent;
    c.decode_errors = h->counters.decode_errors;
    b.counters = &c;
    b.end_of_stream = h->end_of_stream;
    b.unsent_from_ns = h->unsent_from_ns;
    b.unsent_to_ns = h->unsent_to_ns;
    b.capture_start_ns = h->capture_start_ns;
    b.partition = h->partition;
    b.partition_count = h->partition_count;
    Synmatch__HostCounters hc = SYNMATCH__HOST_COUNTERS__INIT;
    if (h->host.present) {
        hc.sampled_ns = h->host.sampled_ns;
        hc.listen_overflows = h->host.listen_overflows;
        hc.listen_drops = h->host.listen_drops;
        hc.reqq_full_drop = h->host.reqq_full_drop;
        hc.reqq_full_do_cookies = h->host.reqq_full_do_cookies;
        hc.syncookies_sent = h->host.syncookies_sent;
        hc.syn_retrans = h->host.syn_retrans;
        b.host = &hc;
    }

    uint8_t *mem = NULL, *out = NULL;
    ProtobufCBinaryData scope_addr[SM_WIRE_MAX_SCOPE];
    uint32_t scope_prefix[SM_WIRE_MAX_SCOPE], scope_port[SM_WIRE_MAX_SCOPE];
    size_t nscope = h->nscope < SM_WIRE_MAX_SCOPE ? h->nscope : SM_WIRE_MAX_SCOPE;
    if (nscope > 0) {
        for (size_t i = 0; i < nscope; i++) {
            scope_addr[i].data = (uint8_t *)h->scope[i].addr.bytes;
            scope_addr[i].len = h->scope[i].addr.family == SM_AF_INET6 ? 16 : 4;
            scope_prefix[i] = h->scope[i].prefix_len;
            scope_port[i] = h->scope[i].port;
        }
        sc.n_addr = sc.n_prefix_len = sc.n_port = nscope;
        sc.addr = scope_addr;
        sc.prefix_len = scope_prefix;
        sc.port = scope_port;
        b.scope = &sc;
    }

    if (n > 0) {
        /* One allocation for every column: 12 uint32 columns, 3 x 64-bit, the address blob. */
        size_t col32 = n * sizeof(uint32_t), col64 = n * sizeof(uint64_t);
        mem = malloc(12 * col32 + 3 * col64 + n * 32);
        if (mem == NULL)
            return NULL;
        uint8_t *p = mem;
        int64_t *ts = (int64_t *)p;
        p += col64;
        uint64_t *frame = (uint64_t *)p;
        p += col64;
        int64_t *stream = (int64_t *)p;
        p += col64;
        uint32_t *cols[12];
        for (int k = 0; k < 12; k++, p += col32)
            cols[k] = (uint32_t *)p;
        uint8_t *addrs = p;
        size_t alen = 0;
        for (size_t i = 0; i < n; i++) {
            const struct sm_record *r = &recs[i];
            bool v6 = r->tuple.src.family == SM_AF_INET6;
            size_t w = v6 ? 16 : 4;
            ts[i] = r->ts_ns;
            frame[i] = r->frame;
            stream[i] = r->stream;
            cols[0][i] = v6 ? 6 : 4;
            memcpy(addrs + alen, r->tuple.src.bytes, w);
            memcpy(addrs + alen + w, r->tuple.dst.bytes, w);
            alen += 2 * w;
            cols[1][i] = (uint32_t)r->tuple.sport << 16 | r->tuple.dport;
            cols[2][i] = r->seq;
            cols[3][i] = r->ack;
            cols[4][i] = r->flags;
            cols[5][i] = r->window;
            cols[6][i] = (uint32_t)r->ip_id << 8 | r->ttl;
            cols[7][i] = (uint32_t)r->opts.present | (uint32_t)r->opts.wscale << 8 |
                         (uint32_t)r->opts.mss << 16;
            cols[8][i] = r->opts.tsval;
            cols[9][i] = r->opts.tsecr;
            cols[10][i] = (r->nvlan > 0 ? (uint32_t)r->vlan[0] + 1 : 0) |
                          (r->nvlan > 1 ? ((uint32_t)r->vlan[1] + 1) << 16 : 0);
        }
        b.n_ts_ns = n;
        b.ts_ns = ts;
        b.n_family = n;
        b.family = cols[0];
        b.addrs.data = addrs;
        b.addrs.len = alen;
        b.n_ports = n;
        b.ports = cols[1];
        b.n_tcp_seq = n;
        b.tcp_seq = cols[2];
        b.n_tcp_ack = n;
        b.tcp_ack = cols[3];
        b.n_flags = n;
        b.flags = cols[4];
        b.n_window = n;
        b.window = cols[5];
        b.n_ip_id_ttl = n;
        b.ip_id_ttl = cols[6];
        b.n_opts = n;
        b.opts = cols[7];
        b.n_tsval = n;
        b.tsval = cols[8];
        b.n_tsecr = n;
        b.tsecr = cols[9];
        b.n_vlan = n;
        b.vlan = cols[10];
        if (with_files) {
            b.n_frame = n;
            b.frame = frame;
            b.n_stream = n;
            b.stream = stream;
        }
    }
    *len = synmatch__batch__get_packed_size(&b);
    out = malloc(*len ? *len : 1);
    if (out != NULL)
        synmatch__batch__pack(&b, out);
    free(mem);
    return out;
}

/* ---- decoding ------------------------------------------------------------------------------ */

struct budget {
    size_t left;
};

static void *budget_alloc(void *data, size_t size)
{
    struct budget *b = data;
    if (size > b->left)
        return NULL;
    void *p = malloc(size);
    if (p != NULL)
        b->left -= size;
    return p;
}

static void budget_free(void *data, void *p)
{
    (void)data;
    free(p);
}

static bool sensor_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SM_SENSOR_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == ':' ||
                  ch == '@';
        if (!ok)
            return false;
    }
    return true;
}

static enum sm_wire_reject copy_scope(const Synmatch__Scope *sc, struct sm_wire_header *h)
{
    h->nscope = 0;
    if (sc == NULL)
        return SM_WIRE_OK;
    if (sc->n_addr > SM_WIRE_MAX_SCOPE || sc->n_prefix_len != sc->n_addr ||
        sc->n_port != sc->n_addr)
        return SM_WIRE_BAD_SCOPE;
    for (size_t i = 0; i < sc->n_addr; i++) {
        struct sm_scope_entry *e = &h->scope[i];
        memset(e, 0, sizeof *e);
        size_t alen = sc->addr[i].len;
        if ((alen != 4 && alen != 16) || sc->prefix_len[i] > alen * 8 || sc->port[i] > 65535)
            return SM_WIRE_BAD_SCOPE;
        e->addr.family = alen == 4 ? SM_AF_INET : SM_AF_INET6;
        memcpy(e->addr.bytes, sc->addr[i].data, alen);
        e->prefix_len = (uint8_t)sc->prefix_len[i];
        e->port = (uint16_t)sc->port[i];
    }
    h->nscope = sc->n_addr;
    return SM_WIRE_OK;
}

static enum sm_wire_reject check_and_copy(const Synmatch__Batch *b, struct sm_wire_header *h,
                                          struct sm_record **recs_out, size_t *n_out)
{
    if (b->schema != SM_WIRE_SCHEMA)
        return SM_WIRE_SCHEMA_VERSION;
    if (b->base.n_unknown_fields > MAX_UNKNOWN_FIELDS)
        return SM_WIRE_UNKNOWN_FIELDS;
    if (!sensor_id_ok(b->sensor_id))
        return SM_WIRE_BAD_SENSOR_ID;
    if (b->role != SYNMATCH__ROLE__ROLE_CLIENT && b->role != SYNMATCH__ROLE__ROLE_SERVER)
        return SM_WIRE_BAD_ROLE;
    size_t n = b->n_ts_ns;
    if (n > SM_WIRE_MAX_RECORDS || b->n_family != n || b->n_ports != n || b->n_tcp_seq != n ||
        b->n_tcp_ack != n || b->n_flags != n || b->n_window != n || b->n_ip_id_ttl != n ||
        b->n_opts != n || b->n_tsval != n || b->n_tsecr != n || b->n_vlan != n ||
        (b->n_frame != 0 && b->n_frame != n) || (b->n_stream != 0 && b->n_stream != n))
        return SM_WIRE_BAD_COLUMNS;
    if (b->watermark_ns < 0 || b->capture_start_ns < 0 ||
        (b->host && b->host->sampled_ns <= 0))
        return SM_WIRE_BAD_TIME;
    if (b->partition_count > SM_WIRE_MAX_PARTITIONS ||
        (b->partition_count ? b->partition >= b->partition_count : b->partition != 0))
        return SM_WIRE_BAD_PARTITION;

    memset(h, 0, sizeof *h);
    memcpy(h->sensor_id, b->sensor_id, strlen(b->sensor_id) + 1);
    h->role = b->role == SYNMATCH__ROLE__ROLE_SERVER ? SM_ROLE_SERVER : SM_ROLE_CLIENT;
    h->boot_epoch = b->boot_epoch;
    h->seq = b->seq;
    h->watermark_ns = b->watermark_ns;
    if (b->counters) {
        h->counters.pcap_received = b->counters->pcap_received;
        h->counters.pcap_dropped = b->counters->pcap_dropped;
        h->counters.pcap_ifdropped = b->counters->pcap_ifdropped;
        h->counters.records_emitted = b->counters->records_emitted;
        h->counters.records_unsent = b->counters->records_unsent;
        h->counters.batches_unsent = b->counters->batches_unsent;
        h->counters.decode_errors = b->counters->decode_errors;
    }
    h->end_of_stream = b->end_of_stream;
    h->unsent_from_ns = b->unsent_from_ns;
    h->unsent_to_ns = b->unsent_to_ns;
    h->capture_start_ns = b->capture_start_ns;
    h->partition = b->partition;
    h->partition_count = b->partition_count;
    if (b->host) {
        h->host.present = true;
        h->host.sampled_ns = b->host->sampled_ns;
        h->host.listen_overflows = b->host->listen_overflows;
        h->host.listen_drops = b->host->listen_drops;
        h->host.reqq_full_drop = b->host->reqq_full_drop;
        h->host.reqq_full_do_cookies = b->host->reqq_full_do_cookies;
        h->host.syncookies_sent = b->host->syncookies_sent;
        h->host.syn_retrans = b->host->syn_retrans;
    }
    enum sm_wire_reject why = copy_scope(b->scope, h);
    if (why != SM_WIRE_OK)
        return why;

    /* Columns are consistent in length; now every value. */
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        if (b->family[i] != 4 && b->family[i] != 6)
            return SM_WIRE_BAD_FAMILY;
        need += b->family[i] == 4 ? 8 : 32;
        if ((b->ports[i] >> 16) == 0 || (b->ports[i] & 0xffff) == 0)
            return SM_WIRE_BAD_PORT;
        if ((b->flags[i] & ~0xfffu) != 0 || (b->flags[i] & (SM_TH_SYN | SM_TH_RST)) == 0)
            return SM_WIRE_BAD_FLAGS;
        if (b->ts_ns[i] < 0 || b->ts_ns[i] > b->watermark_ns)
            return SM_WIRE_BAD_TIME;
    }
    if (need != b->addrs.len)
        return SM_WIRE_BAD_ADDRS;

    struct sm_record *recs = NULL;
    if (n > 0) {
        recs = calloc(n, sizeof *recs);
        if (recs == NULL)
            return SM_WIRE_UNPACK;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct sm_record *r = &recs[i];
        size_t w = b->family[i] == 4 ? 4 : 16;
        r->ts_ns = b->ts_ns[i];
        r->tuple.src.family = r->tuple.dst.family = w == 4 ? SM_AF_INET : SM_AF_INET6;
        memcpy(r->tuple.src.bytes, b->addrs.data + off, w);
        memcpy(r->tuple.dst.bytes, b->addrs.data + off + w, w);
        off += 2 * w;
        r->tuple.sport = (uint16_t)(b->ports[i] >> 16);
        r->tuple.dport = (uint16_t)b->ports[i];
        r->seq = b->tcp_seq[i];
        r->ack = b->tcp_ack[i];
        r->flags = (uint16_t)b->flags[i];
        r->window = (uint16_t)b->window[i];
        r->ip_id = (uint16_t)(b->ip_id_ttl[i] >> 8);
        r->ttl = (uint8_t)b->ip_id_ttl[i];
        r->opts.present = (uint8_t)(b->opts[i] & 0x0f);
        r->opts.wscale = (uint8_t)(b->opts[i] >> 8);
        r->opts.mss = (uint16_t)(b->opts[i] >> 16);
        r->opts.tsval = b->tsval[i];
        r->opts.tsecr = b->tsecr[i];
        uint32_t vl = b->vlan[i];
        if ((vl & 0xffff) != 0) {
            r->vlan[r->nvlan++] = (uint16_t)((vl & 0xffff) - 1) & 0x0fff;
            if ((vl >> 16) != 0)
                r->vlan[r->nvlan++] = (uint16_t)((vl >> 16) - 1) & 0x0fff;
        }
        r->frame = b->n_frame ? b->frame[i] : 0;
        r->stream = b->n_stream ? b->stream[i] : SM_STREAM_NONE;
    }
    *recs_out = recs;
    *n_out = n;
    return SM_WIRE_OK;
}

/* Reads a varint at *p (bounded by end). Returns false if it runs past end or 10 bytes. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

static bool known_field(uint64_t f)
{
    return (f >= 1 && f <= 12) || (f >= 20 && f <= 34);
}

/*
 * Walks the top-level fields without allocating: a message with more unknown fields than
 * any newer agent would send is refused before protobuf-c builds a list of them.
 */
static enum sm_wire_reject prescan(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    size_t unknown = 0;
    while (p < end) {
        uint64_t key, v;
        /* Field numbers past 2^20 are not ours, nor any later schema's; refusing them also
         * keeps protobuf-c away from its shift overflow on huge tags (upstream issue 506). */
        if (!varint(&p, end, &key) || (key >> 3) > (UINT64_C(1) << 20))
            return SM_WIRE_UNPACK;
        switch (key & 7) {
        case 0:
            if (!varint(&p, end, &v))
                return SM_WIRE_UNPACK;
            break;
        case 1:
            if (end - p < 8)
                return SM_WIRE_UNPACK;
            p += 8;
            break;
        case 2:
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
                return SM_WIRE_UNPACK;
            p += v;
            break;
        case 5:
            if (end - p < 4)
                return SM_WIRE_UNPACK;
            p += 4;
            break;
        default:
            return SM_WIRE_UNPACK; /* groups and reserved wire types */
        }
        if (!known_field(key >> 3) && ++unknown > MAX_UNKNOWN_FIELDS)
            return SM_WIRE_UNKNOWN_FIELDS;
    }
    return SM_WIRE_OK;
}

enum sm_wire_reject sm_wire_decode(const uint8_t *buf, size_t len, struct sm_wire_header *h,
                                   struct sm_record **recs, size_t *n)
{
    *recs = NULL;
    *n = 0;
    if (len > SM_WIRE_MAX_MESSAGE)
        return SM_WIRE_TOO_BIG;
    enum sm_wire_reject pre = prescan(buf, len);
    if (pre != SM_WIRE_OK)
        return pre;
    struct budget bud = {UNPACK_BUDGET(len)};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &bud};
    Synmatch__Batch *b = synmatch__batch__unpack(&alloc, len, buf);
    if (b == NULL)
        return SM_WIRE_UNPACK;
    enum sm_wire_reject why = check_and_copy(b, h, recs, n);
    synmatch__batch__free_unpacked(b, &alloc);
    return why;
}
