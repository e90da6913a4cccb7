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

bool sm_wire_sensor_id_ok(const char *s)
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

/* The record columns: fields 20..34 in this order. */
enum col {
    COL_TS, COL_FAMILY, COL_ADDRS, COL_PORTS, COL_SEQ, COL_ACK, COL_FLAGS, COL_WINDOW,
    COL_IP_ID_TTL, COL_OPTS, COL_TSVAL, COL_TSECR, COL_VLAN, COL_FRAME, COL_STREAM, NCOL
};
#define FIELD_FIRST_COL 20

/* The header's checks and copy. cnt: the values each column holds (addrs: unused). */
static enum sm_wire_reject check_header(const Synmatch__Batch *b, const size_t cnt[NCOL],
                                        struct sm_wire_header *h)
{
    if (b->schema != SM_WIRE_SCHEMA)
        return SM_WIRE_SCHEMA_VERSION;
    if (b->base.n_unknown_fields > MAX_UNKNOWN_FIELDS)
        return SM_WIRE_UNKNOWN_FIELDS;
    if (!sm_wire_sensor_id_ok(b->sensor_id))
        return SM_WIRE_BAD_SENSOR_ID;
    if (b->role != SYNMATCH__ROLE__ROLE_CLIENT && b->role != SYNMATCH__ROLE__ROLE_SERVER)
        return SM_WIRE_BAD_ROLE;
    size_t n = cnt[COL_TS];
    if (n > SM_WIRE_MAX_RECORDS)
        return SM_WIRE_BAD_COLUMNS;
    for (int c = COL_FAMILY; c < NCOL; c++)
        if (c != COL_ADDRS && cnt[c] != n && !((c == COL_FRAME || c == COL_STREAM) && cnt[c] == 0))
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
    return copy_scope(b->scope, h);
}

/*
 * One column value into its record (zeroed before). A value outside what the field can
 * hold is stored so that the checks in finish_records() refuse it: family SM_AF_NONE, flags
 * 0 (neither SYN nor RST). Values are taken as protobuf-c takes them: the low 32 bits of a
 * uint32 varint, the low 64 of a 64-bit one.
 */
static inline __attribute__((always_inline)) void put(struct sm_record *r, enum col c,
                                                      uint64_t v)
{
    uint32_t u = (uint32_t)v;
    switch (c) {
    case COL_TS:
        r->ts_ns = (int64_t)v;
        break;
    case COL_FAMILY:
        r->tuple.src.family = r->tuple.dst.family =
            u == 4 ? SM_AF_INET : u == 6 ? SM_AF_INET6 : SM_AF_NONE;
        break;
    case COL_PORTS:
        r->tuple.sport = (uint16_t)(u >> 16);
        r->tuple.dport = (uint16_t)u;
        break;
    case COL_SEQ:
        r->seq = u;
        break;
    case COL_ACK:
        r->ack = u;
        break;
    case COL_FLAGS:
        r->flags = (u & ~0xfffu) != 0 ? 0 : (uint16_t)u;
        break;
    case COL_WINDOW:
        r->window = (uint16_t)u;
        break;
    case COL_IP_ID_TTL:
        r->ip_id = (uint16_t)(u >> 8);
        r->ttl = (uint8_t)u;
        break;
    case COL_OPTS:
        r->opts.present = (uint8_t)(u & 0x0f);
        r->opts.wscale = (uint8_t)(u >> 8);
        r->opts.mss = (uint16_t)(u >> 16);
        break;
    case COL_TSVAL:
        r->opts.tsval = u;
        break;
    case COL_TSECR:
        r->opts.tsecr = u;
        break;
    case COL_VLAN:
        if ((u & 0xffff) != 0) {
            r->vlan[r->nvlan++] = (uint16_t)((u & 0xffff) - 1) & 0x0fff;
            if ((u >> 16) != 0)
                r->vlan[r->nvlan++] = (uint16_t)((u >> 16) - 1) & 0x0fff;
        }
        break;
    case COL_FRAME:
        r->frame = v;
        break;
    case COL_STREAM:
        r->stream = (int64_t)v;
        break;
    case COL_ADDRS:
    case NCOL:
        break;
    }
}

/* Every record's checks, in record order, then the addresses (addrs, alen bytes). */
static enum sm_wire_reject finish_records(struct sm_record *recs, size_t n, int64_t watermark,
                                          const uint8_t *addrs, size_t alen, bool have_stream)
{
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sm_record *r = &recs[i];
        if (r->tuple.src.family == SM_AF_NONE)
            return SM_WIRE_BAD_FAMILY;
        need += r->tuple.src.family == SM_AF_INET ? 8 : 32;
        if (r->tuple.sport == 0 || r->tuple.dport == 0)
            return SM_WIRE_BAD_PORT;
        if ((r->flags & (SM_TH_SYN | SM_TH_RST)) == 0)
            return SM_WIRE_BAD_FLAGS;
        if (r->ts_ns < 0 || r->ts_ns > watermark)
            return SM_WIRE_BAD_TIME;
    }
    if (need != alen)
        return SM_WIRE_BAD_ADDRS;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct sm_record *r = &recs[i];
        size_t w = r->tuple.src.family == SM_AF_INET ? 4 : 16;
        memcpy(r->tuple.src.bytes, addrs + off, w);
        memcpy(r->tuple.dst.bytes, addrs + off + w, w);
        off += 2 * w;
        if (!have_stream)
            r->stream = SM_STREAM_NONE;
    }
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
    return (f >= 1 && f <= 15) || (f >= FIELD_FIRST_COL && f < FIELD_FIRST_COL + NCOL);
}

/*
 * Walks the top-level fields without allocating: a message with more unknown fields than
 * any newer agent would send is refused before protobuf-c builds a list of them. With a
 * split, also sorts them: the column fields counted (each packed one by its varints, which
 * end in the bytes whose top bit is clear) and the last addrs kept, every other field copied
 * as it is into split->hdr for protobuf-c.
 */
struct split {
    size_t cnt[NCOL];
    const uint8_t *addrs;
    size_t alen;
    uint8_t *hdr; /* hdr_stack, or malloc'd when the header fields do not fit it */
    size_t hlen, hcap;
    uint8_t hdr_stack[1024];
};

static bool hdr_append(struct split *sp, const uint8_t *from, size_t n, size_t msg_len)
{
    if (sp->hlen + n > sp->hcap) {
        uint8_t *big = malloc(msg_len); /* the header fields never exceed the message */
        if (big == NULL)
            return false;
        memcpy(big, sp->hdr, sp->hlen);
        sp->hdr = big;
        sp->hcap = msg_len;
    }
    memcpy(sp->hdr + sp->hlen, from, n);
    sp->hlen += n;
    return true;
}

/* Values in a packed run of varints; -1 when the last one does not end inside it. */
static int64_t count_varints(const uint8_t *p, size_t n)
{
    if (n > 0 && (p[n - 1] & 0x80))
        return -1;
    size_t ends = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        /* a 1 in each byte whose top bit is clear, summed into the top byte */
        ends += (size_t)((((~w & UINT64_C(0x8080808080808080)) >> 7) *
                          UINT64_C(0x0101010101010101)) >> 56);
    }
    for (; i < n; i++)
        ends += !(p[i] & 0x80);
    return (int64_t)ends;
}

static enum sm_wire_reject prescan(const uint8_t *p, size_t len, struct split *sp)
{
    const uint8_t *end = p + len;
    size_t unknown = 0;
    /* What protobuf-c would refuse in a column it no longer sees, said after the walk (as
     * protobuf-c said it after this walk): too many unknown fields comes first. */
    bool unpack_fails = false;
    while (p < end) {
        const uint8_t *field = p;
        uint64_t key, v;
        /* Field numbers past 2^20 are not ours, nor any later schema's; refusing them also
         * keeps protobuf-c away from its shift overflow on huge tags (upstream issue 506). */
        if (!varint(&p, end, &key) || (key >> 3) > (UINT64_C(1) << 20))
            return SM_WIRE_UNPACK;
        if (p - field > 5)
            unpack_fails = true; /* protobuf-c reads a key of at most 5 bytes */
        const uint8_t *value = p;
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
            if (p - value > 5)
                unpack_fails = true; /* and a length of at most 5 */
            value = p;
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
        uint64_t f = key >> 3;
        if (!known_field(f) && ++unknown > MAX_UNKNOWN_FIELDS)
            return SM_WIRE_UNKNOWN_FIELDS;
        if (sp == NULL)
            continue;
        if (f < FIELD_FIRST_COL || f >= FIELD_FIRST_COL + NCOL) {
            if (!hdr_append(sp, field, (size_t)(p - field), len))
                return SM_WIRE_UNPACK;
            continue;
        }
        /* A column: varints, one (wire type 0) or packed (2); addrs: bytes (2). Any other
         * wire type is refused, as protobuf-c refuses it. */
        enum col c = (enum col)(f - FIELD_FIRST_COL);
        if (c == COL_ADDRS) {
            if ((key & 7) != 2)
                unpack_fails = true;
            sp->addrs = value;
            sp->alen = (size_t)(p - value);
        } else if ((key & 7) == 0) {
            sp->cnt[c]++;
        } else if ((key & 7) == 2) {
            int64_t k = count_varints(value, (size_t)(p - value));
            if (k < 0)
                unpack_fails = true;
            else
                sp->cnt[c] += (size_t)k;
        } else {
            unpack_fails = true;
        }
    }
    return unpack_fails ? SM_WIRE_UNPACK : SM_WIRE_OK;
}

/*
 * A varint from p, which prescan() found to end before the end of its field (the field's
 * last byte has its top bit clear), so only the 10-byte limit is checked. NULL when over it.
 */
static inline const uint8_t *varint_in_field(const uint8_t *p, uint64_t *v)
{
    /* Each byte is added whole and its continuation bit taken back once the next is seen:
     * one add and one compare a byte, unrolled. */
    uint64_t x = p[0];
    if (x < 0x80) {
        *v = x;
        return p + 1;
    }
#define STEP(k)                                                                                    \
    {                                                                                              \
        uint64_t b = p[k];                                                                         \
        x += (b << (7 * (k))) - (UINT64_C(0x80) << (7 * ((k) - 1)));                              \
        if (b < 0x80) {                                                                            \
            *v = x;                                                                                \
            return p + (k) + 1;                                                                    \
        }                                                                                          \
    }
    STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7) STEP(8)
#undef STEP
    {
        uint64_t b = p[9]; /* bits 63.. : only its lowest counts, as protobuf-c takes it */
        x += (b << 63) - (UINT64_C(0x80) << 56);
        if (b < 0x80) {
            *v = x;
            return p + 10;
        }
    }
    return NULL;
}

/* The varints of one column field (value: the packed bytes, or the one varint) into
 * recs[*at...]; false on a varint over 10 bytes, or more values than n. */
static inline __attribute__((always_inline)) bool put_run(struct sm_record *recs, size_t n,
                                                          size_t *at, enum col c,
                                                          const uint8_t *p, const uint8_t *end)
{
    size_t i = *at;
    while (p < end) {
        uint64_t v;
        if (i == n || (p = varint_in_field(p, &v)) == NULL)
            return false;
        put(&recs[i++], c, v);
    }
    *at = i;
    return true;
}

/* Walks the fields again and decodes every column into recs (n records). */
static bool decode_columns(const uint8_t *p, size_t len, struct sm_record *recs, size_t n)
{
    const uint8_t *end = p + len;
    size_t at[NCOL] = {0};
    while (p < end) {
        uint64_t key, v;
        varint(&p, end, &key); /* framing checked by prescan() */
        const uint8_t *value = p, *next;
        switch (key & 7) {
        case 0:
            varint(&p, end, &v);
            next = p;
            break;
        case 1:
            next = p + 8;
            break;
        case 2:
            varint(&p, end, &v);
            value = p;
            next = p + v;
            break;
        default:
            next = p + 4;
            break;
        }
        p = next;
        uint64_t f = key >> 3;
        if (f < FIELD_FIRST_COL || f >= FIELD_FIRST_COL + NCOL || f == FIELD_FIRST_COL + COL_ADDRS)
            continue;
        enum col c = (enum col)(f - FIELD_FIRST_COL);
        bool ok;
        switch (c) { /* one loop per column, each with its store inlined */
#define RUN(C)                                                                                     \
    case C:                                                                                        \
        ok = put_run(recs, n, &at[C], C, value, next);                                             \
        break;
            RUN(COL_TS)
            RUN(COL_FAMILY)
            RUN(COL_PORTS)
            RUN(COL_SEQ)
            RUN(COL_ACK)
            RUN(COL_FLAGS)
            RUN(COL_WINDOW)
            RUN(COL_IP_ID_TTL)
            RUN(COL_OPTS)
            RUN(COL_TSVAL)
            RUN(COL_TSECR)
            RUN(COL_VLAN)
            RUN(COL_FRAME)
            RUN(COL_STREAM)
#undef RUN
        default:
            ok = true;
            break;
        }
        if (!ok)
            return false;
    }
    return true;
}

/*
 * protobuf-c unpacks the header fields (copied apart by prescan()); the columns are decoded
 * here straight into the records: protobuf-c's generic unpack of them and the copy out of its
 * arrays were 1,100 instructions a record, the collector's largest single cost.
 */
enum sm_wire_reject sm_wire_decode(const uint8_t *buf, size_t len, struct sm_wire_header *h,
                                   struct sm_record **recs, size_t *n)
{
    *recs = NULL;
    *n = 0;
    if (len > SM_WIRE_MAX_MESSAGE)
        return SM_WIRE_TOO_BIG;
    struct split sp;
    memset(sp.cnt, 0, sizeof sp.cnt);
    sp.addrs = NULL;
    sp.alen = 0;
    sp.hdr = sp.hdr_stack;
    sp.hlen = 0;
    sp.hcap = sizeof sp.hdr_stack;
    enum sm_wire_reject why = prescan(buf, len, &sp);
    Synmatch__Batch *b = NULL;
    struct budget bud = {UNPACK_BUDGET(len)};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &bud};
    if (why == SM_WIRE_OK && (b = synmatch__batch__unpack(&alloc, sp.hlen, sp.hdr)) == NULL)
        why = SM_WIRE_UNPACK;
    if (why == SM_WIRE_OK)
        why = check_header(b, sp.cnt, h);
    struct sm_record *r = NULL;
    size_t count = sp.cnt[COL_TS];
    if (why == SM_WIRE_OK && count > 0 && (r = calloc(count, sizeof *r)) == NULL)
        why = SM_WIRE_UNPACK;
    if (why == SM_WIRE_OK && !decode_columns(buf, len, r, count))
        why = SM_WIRE_UNPACK; /* a varint over 10 bytes */
    if (why == SM_WIRE_OK)
        why = finish_records(r, count, h->watermark_ns, sp.addrs, sp.alen,
                             sp.cnt[COL_STREAM] > 0);
    if (b != NULL)
        synmatch__batch__free_unpacked(b, &alloc);
    if (sp.hdr != sp.hdr_stack)
        free(sp.hdr);
    if (why != SM_WIRE_OK) {
        free(r);
        return why;
    }
    *recs = r;
    *n = count;
    return SM_WIRE_OK;
}

/* The whole message through protobuf-c, then the same checks: the oracle of the tests. */
enum sm_wire_reject sm_wire_decode_reference(const uint8_t *buf, size_t len,
                                             struct sm_wire_header *h, struct sm_record **recs,
                                             size_t *n)
{
    *recs = NULL;
    *n = 0;
    if (len > SM_WIRE_MAX_MESSAGE)
        return SM_WIRE_TOO_BIG;
    enum sm_wire_reject why = prescan(buf, len, NULL);
    if (why != SM_WIRE_OK)
        return why;
    /* more room than the collector's budget: protobuf-c's bookkeeping of every field (its
     * scanned members, 32 bytes each) is not what this oracle is to judge */
    struct budget bud = {4 * UNPACK_BUDGET(len)};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &bud};
    Synmatch__Batch *b = synmatch__batch__unpack(&alloc, len, buf);
    if (b == NULL)
        return SM_WIRE_UNPACK;
    const size_t cnt[NCOL] = {b->n_ts_ns, b->n_family, 0, b->n_ports, b->n_tcp_seq,
                              b->n_tcp_ack, b->n_flags, b->n_window, b->n_ip_id_ttl,
                              b->n_opts, b->n_tsval, b->n_tsecr, b->n_vlan, b->n_frame,
                              b->n_stream};
    why = check_header(b, cnt, h);
    size_t count = cnt[COL_TS];
    struct sm_record *r = NULL;
    if (why == SM_WIRE_OK && count > 0 && (r = calloc(count, sizeof *r)) == NULL)
        why = SM_WIRE_UNPACK;
    for (size_t i = 0; why == SM_WIRE_OK && i < count; i++) {
        put(&r[i], COL_TS, (uint64_t)b->ts_ns[i]);
        put(&r[i], COL_FAMILY, b->family[i]);
        put(&r[i], COL_PORTS, b->ports[i]);
        put(&r[i], COL_SEQ, b->tcp_seq[i]);
        put(&r[i], COL_ACK, b->tcp_ack[i]);
        put(&r[i], COL_FLAGS, b->flags[i]);
        put(&r[i], COL_WINDOW, b->window[i]);
        put(&r[i], COL_IP_ID_TTL, b->ip_id_ttl[i]);
        put(&r[i], COL_OPTS, b->opts[i]);
        put(&r[i], COL_TSVAL, b->tsval[i]);
        put(&r[i], COL_TSECR, b->tsecr[i]);
        put(&r[i], COL_VLAN, b->vlan[i]);
        if (b->n_frame)
            put(&r[i], COL_FRAME, b->frame[i]);
        if (b->n_stream)
            put(&r[i], COL_STREAM, (uint64_t)b->stream[i]);
    }
    if (why == SM_WIRE_OK)
        why = finish_records(r, count, h->watermark_ns, b->addrs.data, b->addrs.len,
                             b->n_stream > 0);
    synmatch__batch__free_unpacked(b, &alloc);
    if (why != SM_WIRE_OK) {
        free(r);
        return why;
    }
    *recs = r;
    *n = count;
    return SM_WIRE_OK;
}
