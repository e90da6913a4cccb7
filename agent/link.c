/*
 * link.c - the endpoint's scheme picks the transport; the rest is dispatch (link.h).
 */
#include "link.h"

#include <stdio.h>
#include <string.h>

static bool is_zmq(const char *ep)
{
    return strncmp(ep, "tcp://", 6) == 0 || strncmp(ep, "ipc://", 6) == 0;
}

bool sm_link_endpoint_ok(const char *endpoint)
{
    return is_zmq(endpoint) || sm_nats_is_url(endpoint);
}

sm_link_t *sm_link_open(const struct sm_link_opts *o, char *errbuf, size_t errlen)
{
    if (sm_nats_is_url(o->endpoint))
        return sm_link_nats_open(o, errbuf, errlen);
    if (is_zmq(o->endpoint))
        return sm_link_zmq_open(o, errbuf, errlen);
    snprintf(errbuf, errlen, "collector %s: not a tcp://, ipc:// or nats:// endpoint",
             o->endpoint);
    return NULL;
}

int sm_link_send(sm_link_t *l, const uint8_t *buf, size_t len, uint32_t partition, uint64_t seq)
{
    return l->ops->send(l, buf, len, partition, seq);
}

void sm_link_wait(sm_link_t *l, int timeout_ms)
{
    l->ops->wait(l, timeout_ms);
}

int sm_link_close(sm_link_t **self_p, int linger_ms)
{
    if (self_p == NULL || *self_p == NULL)
        return 0;
    sm_link_t *l = *self_p;
    *self_p = NULL;
    return l->ops->close(l, linger_ms);
}

uint32_t sm_link_partitions(const sm_link_t *l)
{
    return l->partitions;
}

uint64_t sm_link_failed(const sm_link_t *l)
{
    return l->ops->failed(l);
}
