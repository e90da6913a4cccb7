/*
 * netstat.h - the TCP counters of the agent's network namespace (private to the agent).
 *
 * /proc/net/netstat belongs to the reading process's network namespace: an agent started in
 * the listener's namespace reads that host's (or container's) counters, which say whether the
 * server host itself dropped SYNs after the capture point (a full accept or SYN queue) or
 * answered with SYN cookies (docs/DEPLOY.md).
 */
#ifndef SYNMATCH_AGENT_NETSTAT_H
#define SYNMATCH_AGENT_NETSTAT_H

#include "synmatch/wire.h"

/*
 * Reads the TcpExt counters from path (NULL = /proc/self/net/netstat, the same file as
 * /proc/net/netstat) into out, stamping them
 * with sampled_ns. Returns 0, or -1 when the file cannot be read or has no TcpExt lines
 * (out->present is then false). Counters the kernel does not have read as 0.
 */
int sm_netstat_read(const char *path, int64_t sampled_ns, struct sm_host_counters *out);

#endif
