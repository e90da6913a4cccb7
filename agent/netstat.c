/*
 * netstat.c - TcpExt counters of /proc/net/netstat (see netstat.h).
 *
 * The file holds pairs of lines per protocol, names then values:
 *   TcpExt: SyncookiesSent SyncookiesRecv ... ListenOverflows ListenDrops ...
 *   TcpExt: 0 0 ... 3 3 ...
 * The names are matched, not the positions: kernels add counters over time.
 */
#include "netstat.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 16384

static uint64_t *slot_of(struct sm_host_counters *c, const char *name)
{
    static const struct {
        const char *name;
        size_t off;
    } map[] = {
        {"ListenOverflows", offsetof(struct sm_host_counters, listen_overflows)},
        {"ListenDrops", offsetof(struct sm_host_counters, listen_drops)},
        {"TCPReqQFullDrop", offsetof(struct sm_host_counters, reqq_full_drop)},
        {"TCPReqQFullDoCookies", offsetof(struct sm_host_counters, reqq_full_do_cookies)},
        {"SyncookiesSent", offsetof(struct sm_host_counters, syncookies_sent)},
        {"TCPSynRetrans", offsetof(struct sm_host_counters, syn_retrans)},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, name) == 0)
            return (uint64_t *)((char *)c + map[i].off);
    return NULL;
}

int sm_netstat_read(const char *path, int64_t sampled_ns, struct sm_host_counters *out)
{
    memset(out, 0, sizeof *out);
    /* /proc/net is a link to self/net; the link itself is hidden where /proc is mounted with
     * subset=pid (systemd's ProcSubset=pid, which the agent's unit sets), the target is not. */
    FILE *f = fopen(path ? path : "/proc/self/net/netstat", "r");
    if (f == NULL)
        return -1;
    static char names[LINE_MAX_BYTES], values[LINE_MAX_BYTES];
    bool found = false;
    while (!found && fgets(names, sizeof names, f) != NULL) {
        if (strncmp(names, "TcpExt:", 7) != 0)
            continue;
        if (fgets(values, sizeof values, f) == NULL || strncmp(values, "TcpExt:", 7) != 0)
            break;
        char *sn = NULL, *sv = NULL;
        char *n = strtok_r(names + 7, " \n", &sn), *v = strtok_r(values + 7, " \n", &sv);
        while (n != NULL && v != NULL) {
            uint64_t *slot = slot_of(out, n);
            if (slot != NULL)
                *slot = strtoull(v, NULL, 10);
            n = strtok_r(NULL, " \n", &sn);
            v = strtok_r(NULL, " \n", &sv);
        }
        found = true;
    }
    fclose(f);
    if (!found)
        return -1;
    out->present = true;
    out->sampled_ns = sampled_ns;
    return 0;
}
