/*
 * pcapfile.c - a bounds-checked reader for pcap (all four classic magics, both byte orders) and
 * pcapng (sections of either byte order, EPB, SPB, OPB, IDB timestamp options, ISB statistics).
 *
 * The reader pulls the file through one growable buffer with read(2), so standard input and
 * pipes work, and a frame is handed out as a pointer into that buffer (no copy). Every length
 * field is checked against SM_PCAP_MAX_RECORD and against what the block can hold before it is
 * used; anything impossible stops reading with SM_PCAP_ERR_CORRUPT and the byte offset, and a
 * file that ends early stops with SM_PCAP_ERR_TRUNCATED and the frame it was reading.
 */
#include "synmatch/pcapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "hugemem.h"

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_MAGIC_KUZ 0xa1b2cd34u /* Alexey Kuznetzov's patched format: 8 more header bytes */
#define PCAPNG_SHB 0x0a0d0d0au
#define PCAPNG_BOM 0x1a2b3c4du

enum {
    PCAPNG_IDB = 1,
    PCAPNG_OPB = 2,
    PCAPNG_SPB = 3,
    PCAPNG_ISB = 5,
    PCAPNG_EPB = 6,
};

/* Read 256 KiB at a time (grown for larger blocks), into a huge page (hugemem.h): its 64 first
 * touches in 4 KiB pages were a tenth of compare's page faults on a 100 MB pair. */
#define BUF_INITIAL (256u * 1024u)
#define MAX_INTERFACES 4096u /* per section; more is a corrupt or hostile file */
#define MAX_IFSTATS 65536u

struct iface {
    uint32_t linktype;
    uint32_t snaplen;
    uint64_t units_per_sec; /* timestamp resolution */
    bool pow2;              /* units are 2^-n seconds */
    uint8_t pow;            /* n of 10^-n or 2^-n */
    int64_t offset_s;       /* if_tsoffset */
};

struct sm_pcapfile {
    int fd;
    bool own_fd;
    bool eof;

    uint8_t *buf;
    size_t cap, len, pos;
    uint64_t consumed; /* file offset of buf[pos] */
    uint64_t unaligned_blocks;

    bool ng;
    bool swapped; /* the file's byte order is not ours */
    /* classic pcap */
    bool nsec;
    uint32_t rec_hdr_len;
    uint32_t linktype;
    /* pcapng section state */
    struct iface *ifaces;
    uint32_t n_ifaces, cap_ifaces;
    uint32_t sections; /* section headers read */
    int64_t last_ts;

    struct sm_ifstats *ifstats;
    size_t n_ifstats, cap_ifstats;

    uint64_t frames;
    enum sm_pcap_err err_kind;
    char err[256];
};

static inline uint16_t rd16(const sm_pcapfile_t *f, const uint8_t *p)
{
    return f->swapped ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static inline uint32_t rd32(const sm_pcapfile_t *f, const uint8_t *p)
{
    if (f->swapped)
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline uint64_t rd64(const sm_pcapfile_t *f, const uint8_t *p)
{
    uint64_t a = rd32(f, p), b = rd32(f, p + 4);
    return f->swapped ? (a << 32 | b) : (b << 32 | a);
}

static int fail(sm_pcapfile_t *f, enum sm_pcap_err kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(sm_pcapfile_t *f, enum sm_pcap_err kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof f->err, fmt, ap);
    va_end(ap);
    f->err_kind = kind;
    return -1;
}

/*
 * Makes at least n bytes available at buf[pos]. Returns the number available, which is less
 * than n only at end of file; -1 on a read error (already reported).
 */
static ssize_t fill(sm_pcapfile_t *f, size_t n)
{
    if (f->len - f->pos >= n)
        return (ssize_t)n;
    if (f->pos > 0) {
        memmove(f->buf, f->buf + f->pos, f->len - f->pos);
        f->len -= f->pos;
        f->pos = 0;
    }
    if (n > f->cap) {
        size_t ncap = f->cap;
        while (ncap < n)
            ncap *= 2;
        uint8_t *nb = sm_block_grow(f->buf, f->cap, ncap);
        if (nb == NULL)
            return fail(f, SM_PCAP_ERR_OPEN, "out of memory for a %zu-byte record", n);
        f->buf = nb;
        f->cap = ncap;
    }
    while (f->len < n && !f->eof) {
        ssize_t r = read(f->fd, f->buf + f->len, f->cap - f->len);
        if (r == -1) {
            if (errno == EINTR)
                continue;
            return fail(f, SM_PCAP_ERR_OPEN, "read error at byte %" PRIu64 ": %s",
                        f->consumed + f->len, strerror(errno));
        }
        if (r == 0)
            f->eof = true;
        f->len += (size_t)r;
    }
    return (ssize_t)(f->len < n ? f->len : n);
}

static void consume(sm_pcapfile_t *f, size_t n)
{
    f->pos += n;
    f->consumed += n;
}

static int open_classic(sm_pcapfile_t *f, uint32_t magic_le)
{
    /* magic_le is the first four bytes read little-endian. */
    switch (magic_le) {
    case PCAP_MAGIC_US:
    case PCAP_MAGIC_NS:
    case PCAP_MAGIC_KUZ:
        f->swapped = false;
        break;
    default:
        f->swapped = true;
        magic_le = __builtin_bswap32(magic_le);
    }
    f->nsec = magic_le == PCAP_MAGIC_NS;
    f->rec_hdr_len = magic_le == PCAP_MAGIC_KUZ ? 24 : 16;
    ssize_t got = fill(f, 24);
    if (got < 0)
        return -1;
    if (got < 24)
        return fail(f, SM_PCAP_ERR_TRUNCATED,
                    "truncated pcap file header: %zd of 24 bytes", got);
    const uint8_t *h = f->buf + f->pos;
    uint16_t major = rd16(f, h + 4);
    if (major != 2)
        return fail(f, SM_PCAP_ERR_NOT_CAPTURE, "pcap header with unsupported version %u.%u",
                    major, rd16(f, h + 6));
    /* The top bits of the link-type field carry FCS information; the type is the low 16. */
    f->linktype = rd32(f, h + 20) & 0xffffu;
    consume(f, 24);
    return 0;
}

static int64_t ts_to_ns(const struct iface *ifc, uint64_t ts)
{
    __int128 ns;
    if (ifc->pow2) {
        uint64_t whole = ifc->pow >= 64 ? 0 : ts >> ifc->pow;
        uint64_t frac = ifc->pow >= 64 ? ts : ts & ((UINT64_C(1) << ifc->pow) - 1);
        ns = (__int128)whole * 1000000000 +
             (ifc->pow >= 64 ? 0 : ((__int128)frac * 1000000000) >> ifc->pow);
    } else if (ifc->pow <= 9) {
        __int128 mul = 1;
        for (unsigned i = ifc->pow; i < 9; i++)
            mul *= 10;
        ns = (__int128)ts * mul;
    } else {
        __int128 div = 1;
        for (unsigned i = 9; i < ifc->pow && i < 38; i++)
            div *= 10;
        ns = (__int128)ts / div;
    }
    ns += (__int128)ifc->offset_s * 1000000000;
    if (ns > INT64_MAX)
        return INT64_MAX;
    if (ns < INT64_MIN)
        return INT64_MIN;
    return (int64_t)ns;
}

/*
 * Walks the options of a pcapng block body [p, end). Calls fn for each option; stops at
 * opt_endofopt or at the first option that would run past the end (options are advisory,
 * so a bad option list ends the list instead of the file).
 */
typedef void (*opt_fn)(sm_pcapfile_t *f, void *ctx, uint16_t code, const uint8_t *val,
                       uint16_t len);

static void walk_options(sm_pcapfile_t *f, const uint8_t *p, const uint8_t *end, opt_fn fn,
                         void *ctx)
{
    while (end - p >= 4) {
        uint16_t code = rd16(f, p), len = rd16(f, p + 2);
        if (code == 0)
            return;
        size_t padded = ((size_t)len + 3) & ~(size_t)3;
        if ((size_t)(end - p - 4) < padded)
            return;
        fn(f, ctx, code, p + 4, len);
        p += 4 + padded;
    }
}

static void idb_option(sm_pcapfile_t *f, void *ctx, uint16_t code, const uint8_t *val,
                       uint16_t len)
{
    struct iface *ifc = ctx;
    if (code == 9 && len >= 1) { /* if_tsresol */
        ifc->pow2 = (val[0] & 0x80) != 0;
        ifc->pow = val[0] & 0x7f;
    } else if (code == 14 && len >= 8) { /* if_tsoffset */
        ifc->offset_s = (int64_t)rd64(f, val);
    }
}

static void isb_option(sm_pcapfile_t *f, void *ctx, uint16_t code, const uint8_t *val,
                       uint16_t len)
{
    struct sm_ifstats *st = ctx;
    if (len < 8)
        return;
    uint64_t v = rd64(f, val);
    const struct iface *ifc = st->interface < f->n_ifaces ? &f->ifaces[st->interface] : NULL;
    switch (code) {
    case 2: /* isb_starttime: high word first, like EPB timestamps */
        if (ifc) {
            st->start_ns = ts_to_ns(ifc, (uint64_t)rd32(f, val) << 32 | rd32(f, val + 4));
            st->has_start = true;
        }
        break;
    case 3: /* isb_endtime */
        if (ifc) {
            st->end_ns = ts_to_ns(ifc, (uint64_t)rd32(f, val) << 32 | rd32(f, val + 4));
            st->has_end = true;
        }
        break;
    case 5: /* isb_ifdrop */
        st->ifdrop = v;
        st->has_ifdrop = true;
        break;
    case 7: /* isb_osdrop */
        st->osdrop = v;
        st->has_osdrop = true;
        break;
    default:
        break;
    }
}

/* Reads a Section Header Block whose first 12 bytes are at buf[pos]. */
static int read_shb(sm_pcapfile_t *f)
{
    const uint8_t *h = f->buf + f->pos;
    uint32_t bom = (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 |
                   (uint32_t)h[11] << 24;
    if (bom == PCAPNG_BOM)
        f->swapped = false;
    else if (bom == __builtin_bswap32(PCAPNG_BOM))
        f->swapped = true;
    else
        return fail(f, SM_PCAP_ERR_CORRUPT, "pcapng section header at byte %" PRIu64
                    " has an invalid byte-order magic", f->consumed);
    uint32_t blen = rd32(f, h + 4);
    if (blen < 28 || blen % 4 != 0 || blen > SM_PCAP_MAX_RECORD)
        return fail(f, SM_PCAP_ERR_CORRUPT,
                    "pcapng section header at byte %" PRIu64 " has an invalid length %" PRIu32,
                    f->consumed, blen);
    ssize_t got = fill(f, blen);
    if (got < 0)
        return -1;
    if ((size_t)got < blen)
        return fail(f, SM_PCAP_ERR_TRUNCATED,
                    "file ends inside a pcapng section header at byte %" PRIu64, f->consumed);
    h = f->buf + f->pos;
    if (rd16(f, h + 12) != 1)
        return fail(f, SM_PCAP_ERR_NOT_CAPTURE, "pcapng section with unsupported version %u.%u",
                    rd16(f, h + 12), rd16(f, h + 14));
    if (rd32(f, h + blen - 4) != blen)
        return fail(f, SM_PCAP_ERR_CORRUPT,
                    "pcapng section header at byte %" PRIu64 " has mismatched lengths",
                    f->consumed);
    f->n_ifaces = 0; /* interface ids are per section */
    f->sections++;
    consume(f, blen);
    return 0;
}

static int add_iface(sm_pcapfile_t *f, const uint8_t *body, uint32_t body_len)
{
    if (body_len < 8)
        return fail(f, SM_PCAP_ERR_CORRUPT, "pcapng interface block at byte %" PRIu64
                    " is too short", f->consumed);
    if (f->n_ifaces >= MAX_INTERFACES)
        return fail(f, SM_PCAP_ERR_CORRUPT, "more than %u interfaces in one pcapng section",
                    MAX_INTERFACES);
    if (f->n_ifaces == f->cap_ifaces) {
        uint32_t ncap = f->cap_ifaces ? f->cap_ifaces * 2 : 4;
        struct iface *ni = sm_realloc(f->ifaces, ncap * sizeof *ni);
        if (ni == NULL)
            return fail(f, SM_PCAP_ERR_OPEN, "out of memory for interface table");
        f->ifaces = ni;
        f->cap_ifaces = ncap;
    }
    struct iface *ifc = &f->ifaces[f->n_ifaces];
    memset(ifc, 0, sizeof *ifc);
    ifc->linktype = rd16(f, body);
    ifc->snaplen = rd32(f, body + 4);
    ifc->pow = 6;
    walk_options(f, body + 8, body + body_len, idb_option, ifc);
    if (f->n_ifaces == 0 && f->frames == 0 && f->linktype == 0xffffffffu)
        f->linktype = ifc->linktype;
    f->n_ifaces++;
    return 0;
}

static int add_ifstats(sm_pcapfile_t *f, const uint8_t *body, uint32_t body_len)
{
    if (body_len < 12 || f->n_ifstats >= MAX_IFSTATS)
        return 0; /* advisory: a malformed statistics block is ignored */
    uint32_t ifid = rd32(f, body);
    if (ifid >= f->n_ifaces)
        return 0;
    if (f->n_ifstats == f->cap_ifstats) {
        size_t ncap = f->cap_ifstats ? f->cap_ifstats * 2 : 4;
        struct sm_ifstats *ns = sm_realloc(f->ifstats, ncap * sizeof *ns);
        if (ns == NULL)
            return fail(f, SM_PCAP_ERR_OPEN, "out of memory for interface statistics");
        f->ifstats = ns;
        f->cap_ifstats = ncap;
    }
    struct sm_ifstats *st = &f->ifstats[f->n_ifstats++];
    memset(st, 0, sizeof *st);
    st->section = f->sections - 1;
    st->interface = ifid;
    st->ts_ns = ts_to_ns(&f->ifaces[ifid], (uint64_t)rd32(f, body + 4) << 32 | rd32(f, body + 8));
    walk_options(f, body + 12, body + body_len, isb_option, st);
    return 0;
}

/*
 * Nearly every record lies whole in the buffer already (256 KiB reads): fill() is called
 * only when it does not, so the common case costs two comparisons instead of two calls.
 */
/* Hands out the record at buf[pos] (header h, caplen bytes of data, all in the buffer). */
static inline void emit_classic(sm_pcapfile_t *f, struct sm_frame *out, const uint8_t *h,
                                uint32_t caplen)
{
    uint32_t sec = rd32(f, h), frac = rd32(f, h + 4), wirelen = rd32(f, h + 12);
    uint64_t frame_no = f->frames + 1;
    out->data = h + f->rec_hdr_len;
    out->caplen = caplen;
    out->wirelen = wirelen < caplen ? caplen : wirelen;
    out->ts_ns = (int64_t)sec * 1000000000 + (int64_t)frac * (f->nsec ? 1 : 1000);
    out->linktype = f->linktype;
    out->interface = 0;
    out->number = frame_no;
    f->frames = frame_no;
    consume(f, f->rec_hdr_len + caplen);
}

static int next_classic(sm_pcapfile_t *f, struct sm_frame *out)
{
    uint64_t frame_no = f->frames + 1;
    size_t hdr_len = f->rec_hdr_len;
    if (f->len - f->pos < hdr_len) {
        ssize_t got = fill(f, hdr_len);
        if (got < 0)
            return -1;
        if (got == 0)
            return 0;
        if ((size_t)got < hdr_len)
            return fail(f, SM_PCAP_ERR_TRUNCATED,
                        "truncated at frame %" PRIu64 " (byte %" PRIu64
                        "): record header has %zd of %" PRIu32 " bytes",
                        frame_no, f->consumed, got, f->rec_hdr_len);
    }
    const uint8_t *h = f->buf + f->pos;
    uint32_t caplen = rd32(f, h + 8);
    if (caplen > SM_PCAP_MAX_RECORD)
        return fail(f, SM_PCAP_ERR_CORRUPT,
                    "corrupt at frame %" PRIu64 " (byte %" PRIu64 "): captured length %" PRIu32
                    " is absurd",
                    frame_no, f->consumed, caplen);
    if (f->len - f->pos < hdr_len + caplen) {
        ssize_t got = fill(f, hdr_len + caplen);
        if (got < 0)
            return -1;
        if ((size_t)got < hdr_len + caplen)
            return fail(f, SM_PCAP_ERR_TRUNCATED,
                        "truncated at frame %" PRIu64 " (byte %" PRIu64
                        "): packet data has %zd of %" PRIu32 " bytes",
                        frame_no, f->consumed, got - (ssize_t)f->rec_hdr_len, caplen);
        h = f->buf + f->pos; /* fill() moved the bytes */
    }
    emit_classic(f, out, h, caplen);
    return 1;
}

static int next_ng(sm_pcapfile_t *f, struct sm_frame *out)
{
    for (;;) {
        uint64_t frame_no = f->frames + 1;
        ssize_t got = fill(f, 12);
        if (got < 0)
            return -1;
        if (got == 0)
            return 0;
        if (got < 12)
            return fail(f, SM_PCAP_ERR_TRUNCATED,
                        "truncated at frame %" PRIu64 " (byte %" PRIu64
                        "): block header has %zd of 12 bytes",
                        frame_no, f->consumed, got);
        const uint8_t *h = f->buf + f->pos;
        uint32_t raw_type = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                            (uint32_t)h[3] << 24;
        if (raw_type == PCAPNG_SHB) {
            if (read_shb(f) == -1)
                return -1;
            continue;
        }
        uint32_t type = rd32(f, h), blen = rd32(f, h + 4), declared = blen;
        /* The spec says a multiple of 4; some writers (and damage) say otherwise. tshark
         * reads such a block as padded to the next multiple, its trailer either length:
         * so do we, and count it. */
        if (blen % 4 != 0 && blen >= 12 && blen <= SM_PCAP_MAX_RECORD) {
            blen = (blen + 3) & ~3u;
            f->unaligned_blocks++;
        }
        if (blen < 12 || blen > SM_PCAP_MAX_RECORD)
            return fail(f, SM_PCAP_ERR_CORRUPT,
                        "corrupt at frame %" PRIu64 " (byte %" PRIu64
                        "): block length %" PRIu32 " is invalid",
                        frame_no, f->consumed, blen);
        got = fill(f, blen);
        if (got < 0)
            return -1;
        if ((size_t)got < blen)
            return fail(f, SM_PCAP_ERR_TRUNCATED,
                        "truncated at frame %" PRIu64 " (byte %" PRIu64
                        "): block has %zd of %" PRIu32 " bytes",
                        frame_no, f->consumed, got, blen);
        h = f->buf + f->pos;
        uint32_t trailer = rd32(f, h + blen - 4);
        if (trailer != blen && trailer != declared)
            return fail(f, SM_PCAP_ERR_CORRUPT,
                        "corrupt at frame %" PRIu64 " (byte %" PRIu64
                        "): block lengths do not match",
                        frame_no, f->consumed);
        const uint8_t *body = h + 8;
        uint32_t body_len = blen - 12;
        uint32_t ifid = 0, caplen = 0, wirelen = 0;
        uint64_t ts = 0;
        const uint8_t *data = NULL;
        bool has_ts = true;

        switch (type) {
        case PCAPNG_IDB:
            if (add_iface(f, body, body_len) == -1)
                return -1;
            consume(f, blen);
            continue;
        case PCAPNG_ISB:
            if (add_ifstats(f, body, body_len) == -1)
                return -1;
            consume(f, blen);
            continue;
        case PCAPNG_EPB:
        case PCAPNG_OPB:
            /* The same layout but for the interface id: 32 bits in an EPB, 16 (then a
             * drop count) in the obsolete Packet Block. */
            if (body_len < 20)
                goto short_block;
            ifid = type == PCAPNG_EPB ? rd32(f, body) : rd16(f, body);
            ts = (uint64_t)rd32(f, body + 4) << 32 | rd32(f, body + 8);
            caplen = rd32(f, body + 12);
            wirelen = rd32(f, body + 16);
            data = body + 20;
            if (caplen > body_len - 20)
                goto bad_caplen;
            break;
        case PCAPNG_SPB:
            if (body_len < 4)
                goto short_block;
            ifid = 0;
            wirelen = rd32(f, body);
            data = body + 4;
            caplen = body_len - 4 < wirelen ? body_len - 4 : wirelen;
            has_ts = false; /* a Simple Packet Block has no timestamp */
            break;
        default:
            consume(f, blen); /* name resolution, decryption secrets, custom blocks */
            continue;
        }
        if (ifid >= f->n_ifaces)
            return fail(f, SM_PCAP_ERR_CORRUPT,
                        "corrupt at frame %" PRIu64 " (byte %" PRIu64
                        "): packet names interface %" PRIu32 " but the section defines %" PRIu32,
                        frame_no, f->consumed, ifid, f->n_ifaces);
        const struct iface *ifc = &f->ifaces[ifid];
        if (type == PCAPNG_SPB && ifc->snaplen != 0 && caplen > ifc->snaplen)
            caplen = ifc->snaplen;
        out->data = data;
        out->caplen = caplen;
        out->wirelen = wirelen < caplen ? caplen : wirelen;
        out->ts_ns = has_ts ? ts_to_ns(ifc, ts) : f->last_ts;
        out->linktype = ifc->linktype;
        out->interface = ifid;
        out->number = frame_no;
        f->last_ts = out->ts_ns;
        f->frames = frame_no;
        consume(f, blen);
        return 1;

    short_block:
        return fail(f, SM_PCAP_ERR_CORRUPT,
                    "corrupt at frame %" PRIu64 " (byte %" PRIu64 "): packet block too short",
                    frame_no, f->consumed);
    bad_caplen:
        return fail(f, SM_PCAP_ERR_CORRUPT,
                    "corrupt at frame %" PRIu64 " (byte %" PRIu64 "): captured length %" PRIu32
                    " exceeds its block",
                    frame_no, f->consumed, caplen);
    }
}

sm_pcapfile_t *sm_pcapfile_open(const char *path, enum sm_pcap_err *err_kind, char *errbuf,
                                size_t errlen)
{
    sm_pcapfile_t *f = sm_calloc(1, sizeof *f);
    if (f == NULL) {
        *err_kind = SM_PCAP_ERR_OPEN;
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return NULL;
    }
    f->linktype = 0xffffffffu;
    if (strcmp(path, "-") == 0) {
        f->fd = STDIN_FILENO;
    } else {
        f->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (f->fd == -1) {
            *err_kind = SM_PCAP_ERR_OPEN;
            snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
            free(f);
            return NULL;
        }
        f->own_fd = true;
        posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    f->cap = BUF_INITIAL;
    f->buf = sm_block_alloc(f->cap);
    if (f->buf == NULL) {
        fail(f, SM_PCAP_ERR_OPEN, "out of memory");
        goto out_fail;
    }
    ssize_t got = fill(f, 4);
    if (got < 0)
        goto out_fail;
    if (got == 0) {
        fail(f, SM_PCAP_ERR_EMPTY, "empty file (0 bytes), not a capture");
        goto out_fail;
    }
    if (got < 4) {
        fail(f, SM_PCAP_ERR_NOT_CAPTURE, "not a pcap or pcapng file (%zd bytes)", got);
        goto out_fail;
    }
    const uint8_t *h = f->buf;
    uint32_t magic = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                     (uint32_t)h[3] << 24;
    if (magic == PCAPNG_SHB) {
        f->ng = true;
        got = fill(f, 12);
        if (got < 0)
            goto out_fail;
        if (got < 12) {
            fail(f, SM_PCAP_ERR_TRUNCATED, "truncated pcapng section header: %zd of 28 bytes",
                 got);
            goto out_fail;
        }
        if (read_shb(f) == -1) {
            if (f->err_kind == SM_PCAP_ERR_CORRUPT)
                f->err_kind = SM_PCAP_ERR_NOT_CAPTURE;
            goto out_fail;
        }
    } else if (magic == PCAP_MAGIC_US || magic == PCAP_MAGIC_NS || magic == PCAP_MAGIC_KUZ ||
               __builtin_bswap32(magic) == PCAP_MAGIC_US ||
               __builtin_bswap32(magic) == PCAP_MAGIC_NS ||
               __builtin_bswap32(magic) == PCAP_MAGIC_KUZ) {
        if (open_classic(f, magic) == -1)
            goto out_fail;
    } else {
        fail(f, SM_PCAP_ERR_NOT_CAPTURE, "not a pcap or pcapng file (magic 0x%08" PRIx32 ")",
             magic);
        goto out_fail;
    }
    return f;

out_fail:
    *err_kind = f->err_kind;
    snprintf(errbuf, errlen, "%s: %s", path, f->err);
    sm_pcapfile_close(&f);
    return NULL;
}

static __attribute__((noinline)) int next_slow(sm_pcapfile_t *f, struct sm_frame *out)
{
    if (f->err_kind != SM_PCAP_ERR_NONE)
        return -1;
    return f->ng ? next_ng(f, out) : next_classic(f, out);
}

/*
 * The common case first, without a call: a classic file whose next record lies whole in the
 * buffer. Everything else (pcapng, reading more, errors) is next_slow()'s, a tail call, so
 * that the fast path saves no registers (its prologue and epilogue were a fifth of the
 * reader's instructions).
 */
int sm_pcapfile_next(sm_pcapfile_t *f, struct sm_frame *out)
{
    if (!f->ng && f->err_kind == SM_PCAP_ERR_NONE) {
        size_t avail = f->len - f->pos;
        if (avail >= f->rec_hdr_len) {
            const uint8_t *h = f->buf + f->pos;
            uint32_t caplen = rd32(f, h + 8);
            if (caplen <= SM_PCAP_MAX_RECORD && avail - f->rec_hdr_len >= caplen) {
                emit_classic(f, out, h, caplen);
                return 1;
            }
        }
    }
    return next_slow(f, out);
}

enum sm_pcap_err sm_pcapfile_errkind(const sm_pcapfile_t *f)
{
    return f->err_kind;
}

const char *sm_pcapfile_error(const sm_pcapfile_t *f)
{
    return f->err;
}

bool sm_pcapfile_is_pcapng(const sm_pcapfile_t *f)
{
    return f->ng;
}

uint32_t sm_pcapfile_linktype(const sm_pcapfile_t *f)
{
    return f->linktype;
}

size_t sm_pcapfile_ifstats(const sm_pcapfile_t *f, const struct sm_ifstats **out)
{
    *out = f->ifstats;
    return f->n_ifstats;
}

uint64_t sm_pcapfile_unaligned_blocks(const sm_pcapfile_t *f)
{
    return f->unaligned_blocks;
}

uint64_t sm_pcapfile_offset(const sm_pcapfile_t *f)
{
    return f->consumed;
}

void sm_pcapfile_close(sm_pcapfile_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_pcapfile_t *f = *self_p;
    if (f->own_fd)
        close(f->fd);
    sm_block_free(f->buf, f->cap);
    free(f->ifaces);
    free(f->ifstats);
    free(f);
    *self_p = NULL;
}
