/*
 * capture.h - the agent's live libpcap handle (private to the agent).
 *
 * Everything that needs privilege happens in sm_capture_open(): pcap_activate() and the
 * kernel BPF program. After it returns, reading packets and statistics needs nothing more, so
 * dropping privileges later is one call.
 *
 * The handle is non-blocking: sm_capture_fd() is polled and sm_capture_dispatch() delivers
 * what is ready without waiting. The read timeout only bounds how long a packet can wait in a
 * kernel ring block before poll() reports it (immediate mode is off on purpose: it costs a
 * wake-up per packet under a SYN flood).
 */
#ifndef SYNMATCH_AGENT_CAPTURE_H
#define SYNMATCH_AGENT_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/frame.h"

typedef struct sm_capture sm_capture_t;

#define SM_CAPTURE_DEFAULT_SNAPLEN 262 /* two VLAN tags + IPv6 + 60-byte TCP header, spare */
#define SM_CAPTURE_DEFAULT_BUFFER_MIB 32
#define SM_CAPTURE_TIMEOUT_MS 20

/* Why sm_capture_open() failed; the agent maps these to exit statuses. */
enum sm_capture_err {
    SM_CAPTURE_OK = 0,
    SM_CAPTURE_ERR_OPEN,   /* no such interface, no permission, interface down, bad option */
    SM_CAPTURE_ERR_FILTER, /* the user's expression (or the combined program) does not compile */
    SM_CAPTURE_ERR_NOMEM,
};

struct sm_capture_opts {
    const char *iface;      /* interface name, "any" included */
    unsigned snaplen;       /* 0 = SM_CAPTURE_DEFAULT_SNAPLEN */
    unsigned buffer_mib;    /* kernel buffer; 0 = SM_CAPTURE_DEFAULT_BUFFER_MIB */
    bool no_promisc;        /* promiscuous mode is on unless this is set (as in tcpdump) */
    const char *expression; /* tcpdump-style expression narrowing the base program, or NULL */
};

/* Kernel statistics, widened to 64 bits: libpcap's 32-bit counters wrap, these do not. */
struct sm_capture_stats {
    uint64_t received;  /* ps_recv: packets that passed the kernel filter */
    uint64_t dropped;   /* ps_drop: dropped for lack of buffer space */
    uint64_t ifdropped; /* ps_ifdrop: dropped by the interface or its driver */
};

/*
 * Called once per captured frame. frame->data points into libpcap's buffer and is valid only
 * during the call; frame->ts_ns is the capture time in ns, frame->linktype the handle's
 * link-layer type (DLT and LINKTYPE values agree for every type the decoder reads).
 */
typedef void (*sm_capture_fn)(void *arg, const struct sm_frame *frame);

/*
 * Writes the kernel program's expression for linktype (a DLT_* value) into out: TCP SYN,
 * SYN/ACK and RST over IPv4 and IPv6, untagged and, on Ethernet, under one or two VLAN tags.
 * user_expr (NULL or empty for none) must hold in every branch. Returns 0, or -1 if out is too
 * small or user_expr uses a primitive that moves header offsets (vlan, mpls, pppoes, geneve):
 * it would shift the base program's own offsets.
 */
int sm_capture_filter_build(int linktype, const char *user_expr, char *out, size_t outlen);

/*
 * Opens, configures and activates the interface, compiles and installs the kernel filter, and
 * switches to non-blocking mode. Returns the handle, or NULL with *why set and one line in
 * errbuf naming the interface or expression. Warnings (no nanosecond timestamps, no
 * promiscuous mode) are logged once here.
 */
sm_capture_t *sm_capture_open(const struct sm_capture_opts *opts, enum sm_capture_err *why,
                              char *errbuf, size_t errlen);
void sm_capture_destroy(sm_capture_t **self_p);

/* The descriptor to poll() for readability. */
int sm_capture_fd(const sm_capture_t *c);

/* The read timeout in ms: the longest a captured packet waits before poll() reports it. */
unsigned sm_capture_timeout_ms(const sm_capture_t *c);

const char *sm_capture_filter(const sm_capture_t *c);

/*
 * Delivers the packets ready now (at most one kernel ring block) without waiting. Returns the
 * number of frames delivered (0: nothing was ready) or -1 on a capture error (the interface
 * went away); sm_capture_error() then says why.
 */
int sm_capture_dispatch(sm_capture_t *c, sm_capture_fn fn, void *arg);

/* Reads pcap_stats() and folds it into the 64-bit totals. Returns 0, or -1 if unavailable. */
int sm_capture_stats(sm_capture_t *c, struct sm_capture_stats *out);

const char *sm_capture_error(const sm_capture_t *c);

#endif
