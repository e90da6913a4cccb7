/*
 * pcapfile.h - reading pcap and pcapng capture files, including from standard input.
 *
 * synmatch reads files itself rather than through pcap_open_offline() for two reasons: pcapng
 * Interface Statistics Blocks (capture drops) are invisible through libpcap, and a truncated or
 * corrupt file must be reported with the frame and byte offset where reading stopped.
 * Every length read from the file is checked before use; a block or record longer than
 * SM_PCAP_MAX_RECORD is refused as corrupt instead of being allocated.
 */
#ifndef SYNMATCH_PCAPFILE_H
#define SYNMATCH_PCAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/frame.h"

typedef struct sm_pcapfile sm_pcapfile_t;

/* Largest record or block accepted (pcapng allows more; no real capture needs it). */
#define SM_PCAP_MAX_RECORD (16u * 1024u * 1024u)

/* Why opening or reading stopped. Values are stable: the CLI maps them to exit statuses. */
enum sm_pcap_err {
    SM_PCAP_ERR_NONE = 0,
    SM_PCAP_ERR_OPEN,        /* cannot open or read: missing file, permission, I/O error */
    SM_PCAP_ERR_EMPTY,       /* zero bytes */
    SM_PCAP_ERR_NOT_CAPTURE, /* no pcap or pcapng magic, or a corrupt file header */
    SM_PCAP_ERR_TRUNCATED,   /* the file ends inside a header, record or block */
    SM_PCAP_ERR_CORRUPT,     /* a record or block header that cannot be right */
};

/* A pcapng Interface Statistics Block, as read. Absent fields have has_* false. */
struct sm_ifstats {
    uint32_t section; /* pcapng section, counted from 0: interface ids restart per section */
    uint32_t interface;
    int64_t ts_ns; /* when the statistics were taken */
    int64_t start_ns, end_ns;
    bool has_start, has_end, has_ifdrop, has_osdrop;
    uint64_t ifdrop, osdrop;
};

/*
 * Opens path ("-" reads standard input) and reads the file header.
 * Returns a handle, or NULL with *err_kind set and a one-line reason in errbuf.
 */
sm_pcapfile_t *sm_pcapfile_open(const char *path, enum sm_pcap_err *err_kind, char *errbuf,
                                size_t errlen);

/*
 * Reads the next frame. Returns 1 with *out filled, 0 at a clean end of file, -1 when reading
 * stopped early: sm_pcapfile_error() says why and where. Never returns a frame after -1.
 */
int sm_pcapfile_next(sm_pcapfile_t *f, struct sm_frame *out);

enum sm_pcap_err sm_pcapfile_errkind(const sm_pcapfile_t *f);
const char *sm_pcapfile_error(const sm_pcapfile_t *f);

bool sm_pcapfile_is_pcapng(const sm_pcapfile_t *f);

/* The file's (first) link type: the pcap header's, or the first pcapng interface's. */
uint32_t sm_pcapfile_linktype(const sm_pcapfile_t *f);

/* Interface Statistics Blocks seen so far, in file order. */
size_t sm_pcapfile_ifstats(const sm_pcapfile_t *f, const struct sm_ifstats **out);

/* Bytes consumed so far. */
uint64_t sm_pcapfile_offset(const sm_pcapfile_t *f);

/* pcapng blocks whose length was not a multiple of 4, read as padded (as tshark does). */
uint64_t sm_pcapfile_unaligned_blocks(const sm_pcapfile_t *f);

void sm_pcapfile_close(sm_pcapfile_t **self_p);

#endif
