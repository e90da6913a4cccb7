/*
 * capture.c - the live libpcap handle: configuration, the kernel BPF program, non-blocking
 * dispatch and 64-bit statistics.
 *
 * The kernel program passes only what can become a record (TCP headers with SYN or RST set),
 * so a busy link costs the agent little: data segments never leave the kernel. It is written
 * in tcpdump's language so that a user's expression can be ANDed into it, with two traps
 * handled here:
 *   - `tcp[tcpflags]` only reads IPv4; IPv6 is matched by hand (next header 6 right after the
 *     fixed header, flags at ip6[40 + 13]). IPv6 with extension headers is therefore not
 *     passed (docs/AGENT.md says what that means).
 *   - every `vlan` shifts the offsets of everything written after it in the expression, even
 *     across `or`. So the tagged cases are nested, not listed side by side:
 *         (G) or (vlan and ((G) or (vlan and (G))))
 *     reads G untagged, under one tag, and under two tags (QinQ), where G is the base test
 *     ANDed with the user's expression. A user expression that itself shifts offsets (vlan,
 *     mpls, pppoes, geneve) is refused: it would move the base test too.
 */
#include "capture.h"

#include <ctype.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synmatch/decode.h"
#include "errbuf.h"
#include "log.h"

struct sm_capture {
    pcap_t *pcap;
    int fd;
    int linktype;
    bool nano;
    char *filter;
    /* one call of sm_capture_dispatch() */
    sm_capture_fn fn;
    void *arg;
    /* pcap_stats() is 32-bit and wraps; the totals are folded in by difference */
    unsigned last_recv, last_drop, last_ifdrop;
    struct sm_capture_stats total;
    char err[PCAP_ERRBUF_SIZE + 64];
};

/* TCP SYN or RST set: IPv4 through libpcap's tcp[], IPv6 without extension headers by hand. */
#define BASE_PROGRAM                                                                          \
    "(ip and tcp[tcpflags] & (tcp-syn|tcp-rst) != 0) or "                                     \
    "(ip6 and ip6[6] == 6 and ip6[53] & 0x06 != 0)"

/* Primitives that move the offsets of the rest of the expression. */
static const char *const shifting_words[] = {"vlan", "mpls", "pppoes", "geneve"};

static bool uses_shifting_word(const char *expr)
{
    const char *p = expr;
    while (*p != '\0') {
        while (*p != '\0' && !(isalnum((unsigned char)*p) || *p == '_' || *p == '-' ||
                               *p == '.' || *p == ':'))
            p++;
        const char *start = p;
        while (isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.' || *p == ':')
            p++;
        size_t n = (size_t)(p - start);
        for (size_t i = 0; i < sizeof shifting_words / sizeof shifting_words[0]; i++)
            if (n == strlen(shifting_words[i]) && strncmp(start, shifting_words[i], n) == 0)
                return true;
    }
    return false;
}

static bool has_vlan_support(int linktype)
{
    return linktype == DLT_EN10MB;
}

int sm_capture_filter_build(int linktype, const char *user_expr, char *out, size_t outlen)
{
    bool have_user = user_expr != NULL && user_expr[strspn(user_expr, " \t\n")] != '\0';
    if (have_user && uses_shifting_word(user_expr))
        return -1;
    char g[4096];
    int n;
    if (have_user)
        n = snprintf(g, sizeof g, "(%s) and (%s)", BASE_PROGRAM, user_expr);
    else
        n = snprintf(g, sizeof g, "%s", BASE_PROGRAM);
    if (n < 0 || (size_t)n >= sizeof g)
        return -1;
    if (has_vlan_support(linktype))
        n = snprintf(out, outlen, "(%s) or (vlan and ((%s) or (vlan and (%s))))", g, g, g);
    else
        n = snprintf(out, outlen, "%s", g);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* One line for a pcap_activate() failure, naming the interface. */
static void activate_error(pcap_t *p, const char *iface, int rc, char *errbuf, size_t errlen)
{
    const char *detail = pcap_geterr(p);
    switch (rc) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
        sm_errbuf(errbuf, errlen, "interface %s: no such interface", iface);
        break;
    case PCAP_ERROR_PERM_DENIED:
        sm_errbuf(errbuf, errlen, "interface %s: permission denied (needs root or CAP_NET_RAW): %s",
             iface, detail);
        break;
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        sm_errbuf(errbuf, errlen, "interface %s: no permission for promiscuous mode: %s", iface,
             detail);
        break;
    case PCAP_ERROR_IFACE_NOT_UP:
        sm_errbuf(errbuf, errlen, "interface %s: interface is down", iface);
        break;
    default:
        sm_errbuf(errbuf, errlen, "interface %s: %s", iface,
             detail[0] != '\0' ? detail : pcap_statustostr(rc));
        break;
    }
}

/* Compiles text on the live handle and installs it. */
static int install_filter(sm_capture_t *c, const char *text, char *errbuf, size_t errlen)
{
    struct bpf_program prog;
    if (pcap_compile(c->pcap, &prog, text, 1, PCAP_NETMASK_UNKNOWN) == PCAP_ERROR) {
        sm_errbuf(errbuf, errlen, "kernel filter: %s", pcap_geterr(c->pcap));
        return -1;
    }
    int rc = pcap_setfilter(c->pcap, &prog);
    pcap_freecode(&prog);
    if (rc == PCAP_ERROR) {
        sm_errbuf(errbuf, errlen, "kernel filter: cannot install: %s", pcap_geterr(c->pcap));
        return -1;
    }
    return 0;
}

/* The user's expression alone first, so its error message is about it and nothing else. */
static int check_user_expression(sm_capture_t *c, const char *expr, char *errbuf, size_t errlen)
{
    if (uses_shifting_word(expr)) {
        sm_errbuf(errbuf, errlen,
             "expression '%s': vlan, mpls, pppoes and geneve are not allowed (they shift the "
             "offsets of the agent's own filter; VLAN tags are already handled)",
             expr);
        return -1;
    }
    struct bpf_program prog;
    if (pcap_compile(c->pcap, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) == PCAP_ERROR) {
        sm_errbuf(errbuf, errlen, "expression '%s': %s", expr, pcap_geterr(c->pcap));
        return -1;
    }
    pcap_freecode(&prog);
    return 0;
}

sm_capture_t *sm_capture_open(const struct sm_capture_opts *o, enum sm_capture_err *why,
                              char *errbuf, size_t errlen)
{
    *why = SM_CAPTURE_ERR_OPEN;
    sm_capture_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        *why = SM_CAPTURE_ERR_NOMEM;
        sm_errbuf(errbuf, errlen, "interface %s: out of memory", o->iface);
        return NULL;
    }
    char perr[PCAP_ERRBUF_SIZE];
    perr[0] = '\0';
    c->pcap = pcap_create(o->iface, perr);
    if (c->pcap == NULL) {
        sm_errbuf(errbuf, errlen, "interface %s: %s", o->iface, perr);
        goto out;
    }
    unsigned snaplen = o->snaplen ? o->snaplen : SM_CAPTURE_DEFAULT_SNAPLEN;
    unsigned mib = o->buffer_mib ? o->buffer_mib : SM_CAPTURE_DEFAULT_BUFFER_MIB;
    if (pcap_set_snaplen(c->pcap, (int)snaplen) != 0 ||
        pcap_set_promisc(c->pcap, o->no_promisc ? 0 : 1) != 0 ||
        pcap_set_timeout(c->pcap, SM_CAPTURE_TIMEOUT_MS) != 0 ||
        pcap_set_buffer_size(c->pcap, (int)(mib * 1024u * 1024u)) != 0) {
        sm_errbuf(errbuf, errlen, "interface %s: cannot configure: %s", o->iface,
             pcap_geterr(c->pcap));
        goto out;
    }
    bool want_nano = pcap_set_tstamp_precision(c->pcap, PCAP_TSTAMP_PRECISION_NANO) == 0;

    int rc = pcap_activate(c->pcap);
    if (rc < 0) {
        activate_error(c->pcap, o->iface, rc, errbuf, errlen);
        goto out;
    }
    if (rc == PCAP_WARNING_PROMISC_NOTSUP)
        sm_log_warnx("interface %s: promiscuous mode not supported: %s", o->iface,
                     pcap_geterr(c->pcap));
    else if (rc > 0)
        sm_log_warnx("interface %s: %s", o->iface, pcap_geterr(c->pcap));
    c->nano = want_nano && pcap_get_tstamp_precision(c->pcap) == PCAP_TSTAMP_PRECISION_NANO;
    if (!c->nano)
        sm_log_warnx("interface %s: nanosecond timestamps not supported; using microseconds",
                     o->iface);

    c->linktype = pcap_datalink(c->pcap);
    if (!sm_decode_linktype_supported((uint32_t)c->linktype)) {
        const char *name = pcap_datalink_val_to_name(c->linktype);
        sm_errbuf(errbuf, errlen, "interface %s: link type %s (%d) is not supported", o->iface,
             name ? name : "?", c->linktype);
        goto out;
    }

    const char *user = o->expression;
    if (user != NULL && user[strspn(user, " \t\n")] == '\0')
        user = NULL;
    if (user != NULL && check_user_expression(c, user, errbuf, errlen) == -1) {
        *why = SM_CAPTURE_ERR_FILTER;
        goto out;
    }
    size_t flen = 3 * (strlen(BASE_PROGRAM) + (user ? strlen(user) : 0)) + 256;
    c->filter = malloc(flen);
    if (c->filter == NULL) {
        *why = SM_CAPTURE_ERR_NOMEM;
        sm_errbuf(errbuf, errlen, "interface %s: out of memory", o->iface);
        goto out;
    }
    if (sm_capture_filter_build(c->linktype, user, c->filter, flen) == -1) {
        *why = SM_CAPTURE_ERR_FILTER;
        sm_errbuf(errbuf, errlen, "expression '%s': too long", user ? user : "");
        goto out;
    }
    if (install_filter(c, c->filter, errbuf, errlen) == -1) {
        *why = SM_CAPTURE_ERR_FILTER;
        goto out;
    }

    if (pcap_setnonblock(c->pcap, 1, perr) == PCAP_ERROR) {
        sm_errbuf(errbuf, errlen, "interface %s: cannot set non-blocking mode: %s", o->iface, perr);
        goto out;
    }
    c->fd = pcap_get_selectable_fd(c->pcap);
    if (c->fd == -1) {
        sm_errbuf(errbuf, errlen, "interface %s: no selectable descriptor", o->iface);
        goto out;
    }
    struct pcap_stat ps;
    if (pcap_stats(c->pcap, &ps) == 0) {
        c->last_recv = ps.ps_recv;
        c->last_drop = ps.ps_drop;
        c->last_ifdrop = ps.ps_ifdrop;
    }
    *why = SM_CAPTURE_OK;
    return c;
out:
    sm_capture_destroy(&c);
    return NULL;
}

void sm_capture_destroy(sm_capture_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_capture_t *c = *self_p;
    if (c->pcap != NULL)
        pcap_close(c->pcap);
    free(c->filter);
    free(c);
    *self_p = NULL;
}

int sm_capture_fd(const sm_capture_t *c)
{
    return c->fd;
}

unsigned sm_capture_timeout_ms(const sm_capture_t *c)
{
    (void)c;
    return SM_CAPTURE_TIMEOUT_MS;
}

const char *sm_capture_filter(const sm_capture_t *c)
{
    return c->filter;
}

const char *sm_capture_error(const sm_capture_t *c)
{
    return c->err;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    sm_capture_t *c = (sm_capture_t *)user;
    int64_t frac = (int64_t)h->ts.tv_usec;
    struct sm_frame fr = {
        .data = bytes,
        .caplen = h->caplen,
        .wirelen = h->len < h->caplen ? h->caplen : h->len,
        .ts_ns = (int64_t)h->ts.tv_sec * 1000000000 + (c->nano ? frac : frac * 1000),
        .linktype = (uint32_t)c->linktype,
        .interface = 0,
        .number = 0,
    };
    c->fn(c->arg, &fr);
}

int sm_capture_dispatch(sm_capture_t *c, sm_capture_fn fn, void *arg)
{
    c->fn = fn;
    c->arg = arg;
    int n = pcap_dispatch(c->pcap, -1, on_packet, (u_char *)c);
    if (n >= 0)
        return n;
    if (n == PCAP_ERROR_BREAK)
        return 0;
    snprintf(c->err, sizeof c->err, "%s", pcap_geterr(c->pcap));
    return -1;
}

int sm_capture_stats(sm_capture_t *c, struct sm_capture_stats *out)
{
    struct pcap_stat ps;
    if (pcap_stats(c->pcap, &ps) == PCAP_ERROR) {
        *out = c->total;
        return -1;
    }
    /* Unsigned differences: correct across one wrap of the 32-bit counters. */
    c->total.received += (unsigned)(ps.ps_recv - c->last_recv);
    c->total.dropped += (unsigned)(ps.ps_drop - c->last_drop);
    c->total.ifdropped += (unsigned)(ps.ps_ifdrop - c->last_ifdrop);
    c->last_recv = ps.ps_recv;
    c->last_drop = ps.ps_drop;
    c->last_ifdrop = ps.ps_ifdrop;
    *out = c->total;
    return 0;
}
