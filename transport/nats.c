/*
 * nats.c - endpoints, subjects and connections of the JetStream transport (synmatch/nats.h).
 *
 * Connections reconnect for ever, every 100 ms: an agent or a shard outlives a server's
 * restart, and libnats buffers what is published meanwhile (its reconnect buffer; what does
 * not fit is refused, and the agent's sender keeps it, accounted for).
 */
#include "synmatch/nats.h"

#include <lz4.h>
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "log.h"
#include "synmatch/wire.h"

#define RECONNECT_WAIT_MS 100
#define ASYNC_ERRORS_TOLD 5
#define RECONNECT_BUF (32 << 20) /* bytes published while disconnected, held by libnats */
#define MAX_SERVERS 16

bool sm_nats_is_url(const char *endpoint)
{
    return strncmp(endpoint, "nats://", 7) == 0 || strncmp(endpoint, "tls://", 6) == 0;
}

void sm_nats_free_servers(char **servers, int n)
{
    for (int i = 0; i < n; i++)
        free(servers[i]);
    free(servers);
}

/* HOST:PORT, HOST a name, an IPv4 address or [IPv6]; PORT 1-65535. */
static bool host_port_ok(const char *s, size_t len)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL || colon != close + 1)
            return false;
    }
    if (colon == NULL || colon == s || (size_t)(colon - s) + 1 >= len)
        return false;
    unsigned long port = 0;
    for (const char *p = colon + 1; p < s + len; p++) {
        if (*p < '0' || *p > '9' || port > 65535)
            return false;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port == 0 || port > 65535)
        return false;
    for (const char *p = s; p < colon; p++)
        if (*p == '/' || *p == '@' || *p == ' ' || *p == ',')
            return false;
    return true;
}

int sm_nats_servers(const char *endpoint, char ***servers, int *n, char *errbuf, size_t errlen)
{
    *servers = NULL;
    *n = 0;
    const char *scheme = strncmp(endpoint, "tls://", 6) == 0 ? "tls://" : "nats://";
    if (!sm_nats_is_url(endpoint)) {
        sm_errbuf(errbuf, errlen, "%s: not a nats:// endpoint", endpoint);
        return -1;
    }
    const char *p = endpoint + strlen(scheme);
    char **v = calloc(MAX_SERVERS, sizeof *v);
    if (v == NULL) {
        sm_errbuf(errbuf, errlen, "out of memory");
        return -1;
    }
    int k = 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        /* each part may repeat the scheme: nats://a:1,nats://b:2 */
        if (len > strlen(scheme) && strncmp(p, scheme, strlen(scheme)) == 0) {
            p += strlen(scheme);
            len -= strlen(scheme);
        }
        if (len == 0 || !host_port_ok(p, len) || k == MAX_SERVERS) {
            if (k == MAX_SERVERS)
                sm_errbuf(errbuf, errlen, "%s: more than %d servers", endpoint, MAX_SERVERS);
            else
                sm_errbuf(errbuf, errlen, "%s: expected %sHOST:PORT[,HOST:PORT...]", endpoint,
                          scheme);
            sm_nats_free_servers(v, k);
            return -1;
        }
        v[k] = malloc(strlen(scheme) + len + 1);
        if (v[k] == NULL) {
            sm_errbuf(errbuf, errlen, "out of memory");
            sm_nats_free_servers(v, k);
            return -1;
        }
        memcpy(v[k], scheme, strlen(scheme));
        memcpy(v[k] + strlen(scheme), p, len);
        v[k][strlen(scheme) + len] = '\0';
        k++;
        if (end == NULL)
            break;
        p = end + 1;
    }
    *servers = v;
    *n = k;
    return 0;
}

bool sm_nats_sensor_ok(const char *sensor_id)
{
    return strpbrk(sensor_id, ".*> ") == NULL && sensor_id[0] != '\0';
}

int sm_nats_subject(char *buf, size_t len, uint32_t partition, enum sm_role role,
                    const char *sensor_id)
{
    int n = snprintf(buf, len, "synmatch.rec.%u.%s.%s", (unsigned)partition,
                     role == SM_ROLE_SERVER ? "server" : "client", sensor_id);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int sm_nats_filter(char *buf, size_t len, uint32_t partition)
{
    int n = snprintf(buf, len, "synmatch.rec.%u.>", (unsigned)partition);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

#define DESCRIPTION_KEY "partitions="

int sm_nats_describe(char *buf, size_t len, uint32_t partitions)
{
    int n = snprintf(buf, len, "synmatch records, " DESCRIPTION_KEY "%u", (unsigned)partitions);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

uint32_t sm_nats_described_partitions(const char *description)
{
    const char *p = description ? strstr(description, DESCRIPTION_KEY) : NULL;
    if (p == NULL)
        return 0;
    unsigned long v = strtoul(p + strlen(DESCRIPTION_KEY), NULL, 10);
    return v > 0 && v <= SM_WIRE_MAX_PARTITIONS ? (uint32_t)v : 0;
}

#define STREAM_INFO_TRIES 3

uint32_t sm_nats_stream_partitions(void *nc, char *errbuf, size_t errlen)
{
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    uint32_t p = 0;
    natsStatus s = natsConnection_JetStream(&js, nc, NULL);
    /* A cluster busy (storing, electing a leader) may not answer within the API's wait of
     * 5 s: asked again, STREAM_INFO_TRIES times in all, before the caller gives up. */
    for (int t = 0; s == NATS_OK && t < STREAM_INFO_TRIES; t++) {
        je = 0;
        s = js_GetStreamInfo(&si, js, SM_NATS_STREAM, NULL, &je);
        if (s == NATS_TIMEOUT && t + 1 < STREAM_INFO_TRIES)
            s = NATS_OK;
        else
            break;
    }
    if (s == NATS_NOT_FOUND || je == JSStreamNotFoundErr)
        sm_errbuf(errbuf, errlen, "stream %s does not exist: make it with "
                  "synmatch-collector --listen URL --nats-setup", SM_NATS_STREAM);
    else if (s != NATS_OK)
        sm_errbuf(errbuf, errlen, "stream %s: %s", SM_NATS_STREAM, natsStatus_GetText(s));
    else if ((p = sm_nats_described_partitions(si->Config->Description)) == 0)
        sm_errbuf(errbuf, errlen, "stream %s was not made by synmatch-collector --nats-setup "
                  "(its description names no partition count)", SM_NATS_STREAM);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    return p;
}

/* On a libnats thread: what the server said asynchronously (a permissions violation, a slow
 * consumer). Said, a few times at most: each is a configuration the user must see. */
static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
                           void *closure)
{
    (void)nc;
    (void)sub;
    static atomic_int told;
    const char *endpoint = closure;
    if (atomic_fetch_add(&told, 1) < ASYNC_ERRORS_TOLD) {
        const char *last = nats_GetLastError(NULL);
        sm_log_warnx("%s: %s%s%s", endpoint, natsStatus_GetText(err), last ? ": " : "",
                     last ? last : "");
    }
}

void *sm_nats_connect(const struct sm_nats_conn_opts *o, bool retry, char *errbuf,
                      size_t errlen)
{
    char **servers;
    int n;
    if (sm_nats_servers(o->endpoint, &servers, &n, errbuf, errlen) == -1)
        return NULL;
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetServers(opts, (const char **)servers, n);
    if (s == NATS_OK && o->name)
        s = natsOptions_SetName(opts, o->name);
    if (s == NATS_OK && o->inbox_prefix)
        s = natsOptions_SetCustomInboxPrefix(opts, o->inbox_prefix);
    if (s == NATS_OK) /* the endpoint outlives the connection: it is the caller's option */
        s = natsOptions_SetErrorHandler(opts, on_async_error, (void *)o->endpoint);
    if (s == NATS_OK) /* reconnect for ever, quickly: an agent outlives a server's restart */
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, RECONNECT_WAIT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(opts, RECONNECT_BUF);

    if (s == NATS_OK && o->creds_file)
        s = natsOptions_SetUserCredentialsFromFiles(opts, o->creds_file, NULL);
    if (s == NATS_OK && (o->ca_file || o->cert_file))
        s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && o->ca_file)
        s = natsOptions_LoadCATrustedCertificates(opts, o->ca_file);
    if (s == NATS_OK && o->cert_file)
        s = natsOptions_LoadCertificatesChain(opts, o->cert_file, o->key_file);
    if (s != NATS_OK) {
        sm_errbuf(errbuf, errlen, "%s: %s", o->endpoint, nats_GetLastError(&s));
        goto out;
    }
    s = natsConnection_Connect(&nc, opts);
    /* No server answers yet: with retry, keep trying in the background (what is published
     * meanwhile waits). Any other refusal (TLS, credentials, permissions) is said now. */
    if (s == NATS_NO_SERVER && retry) {
        s = natsOptions_SetRetryOnFailedConnect(opts, true, NULL, NULL);
        if (s == NATS_OK)
            s = natsConnection_Connect(&nc, opts);
        if (s == NATS_NOT_YET_CONNECTED)
            s = NATS_OK;
    }
    if (s != NATS_OK) {
        const char *last = nats_GetLastError(NULL);
        sm_errbuf(errbuf, errlen, "%s: %s%s%s", o->endpoint, natsStatus_GetText(s),
                  last && strcmp(last, natsStatus_GetText(s)) != 0 ? ": " : "",
                  last && strcmp(last, natsStatus_GetText(s)) != 0 ? last : "");
        natsConnection_Destroy(nc);
        nc = NULL;
    }
out:
    natsOptions_Destroy(opts);
    sm_nats_free_servers(servers, n);
    return nc;
}

size_t sm_nats_out_pack_bound(size_t len)
{
    return (size_t)LZ4_compressBound((int)len);
}

/*
 * LZ4's acceleration: it looks for matches at fewer places. On the verdict lines a shard
 * publishes, a line (~700 bytes) costs about 445 ns to pack at 8 against 569 at 1 (the
 * default), for a block 3-6% larger. In the JetStream benchmark the shard shares the
 * machine's cores with nats-server and the feeder, and its CPU was lower at 8 in each of
 * eight interleaved pairs (docs/PERFORMANCE.md). The block format is the same: any LZ4 block
 * decoder reads it.
 */
#define PACK_ACCELERATION 8

size_t sm_nats_out_pack(const char *lines, size_t len, char *out, size_t cap)
{
    if (len == 0 || len > SM_NATS_OUT_MAX_LINES)
        return 0;
    int n = LZ4_compress_fast(lines, out, (int)len, (int)(cap < INT32_MAX ? cap : INT32_MAX),
                              PACK_ACCELERATION);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

size_t sm_nats_out_unpack_block(const char *block, size_t len, char *out, size_t want)
{
    if (len > (size_t)INT32_MAX || want > (size_t)INT32_MAX)
        return 0;
    return LZ4_decompress_safe(block, out, (int)len, (int)want) == (int)want ? want : 0;
}

int sm_nats_out_unpack(const char *data, size_t len, const char *encoding, const char *size,
                       char **lines, size_t *nlines, char *errbuf, size_t errlen)
{
    *lines = NULL;
    *nlines = 0;
    size_t want = len;
    if (encoding != NULL) {
        if (strcmp(encoding, SM_NATS_ENCODING_LZ4) != 0)
            return sm_errbuf(errbuf, errlen, "unknown encoding \"%.32s\"", encoding);
        char *end = NULL;
        unsigned long long v = size ? strtoull(size, &end, 10) : 0;
        if (size == NULL)
            return sm_errbuf(errbuf, errlen, "lz4 without a %s header", SM_NATS_SIZE_HEADER);
        if (end == size || *end != '\0' || v == 0 || v > SM_NATS_OUT_MAX_LINES)
            return sm_errbuf(errbuf, errlen, "%s \"%.24s\": not a size from 1 to %u",
                             SM_NATS_SIZE_HEADER, size, SM_NATS_OUT_MAX_LINES);
        want = (size_t)v;
    }
    if (want > SM_NATS_OUT_MAX_LINES || len > (size_t)INT32_MAX)
        return sm_errbuf(errbuf, errlen, "%zu bytes: more than a shard sends", want);
    char *buf = malloc(want + 1);
    if (buf == NULL)
        return sm_errbuf(errbuf, errlen, "out of memory");
    if (encoding == NULL) {
        memcpy(buf, data, want);
    } else if (sm_nats_out_unpack_block(data, len, buf, want) != want) {
        free(buf);
        return sm_errbuf(errbuf, errlen, "a broken lz4 block (or not %zu bytes)", want);
    }
    buf[want] = '\0';
    *lines = buf;
    *nlines = want;
    return 0;
}
