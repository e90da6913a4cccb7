/*
 * addr.c - address equality, parsing and printing (inet_pton/inet_ntop underneath).
 */
#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

bool sm_addr_eq(const struct sm_addr *a, const struct sm_addr *b)
{
    if (a->family != b->family)
        return false;
    size_t n = a->family == SM_AF_INET ? 4 : a->family == SM_AF_INET6 ? 16 : 0;
    return memcmp(a->bytes, b->bytes, n) == 0;
}

int sm_addr_parse(const char *text, struct sm_addr *out)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, text, out->bytes) == 1) {
        out->family = SM_AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, out->bytes) == 1) {
        out->family = SM_AF_INET6;
        return 0;
    }
    memset(out, 0, sizeof *out);
    return -1;
}

char *sm_addr_format(const struct sm_addr *a, char *out, size_t outlen)
{
    int af = a->family == SM_AF_INET ? AF_INET : a->family == SM_AF_INET6 ? AF_INET6 : 0;
    if (af == 0 || inet_ntop(af, a->bytes, out, (socklen_t)outlen) == NULL)
        snprintf(out, outlen, "-");
    return out;
}

char *sm_endpoint_format(const struct sm_addr *a, unsigned port, char *out, size_t outlen)
{
    char buf[SM_ADDR_STRLEN];
    sm_addr_format(a, buf, sizeof buf);
    if (a->family == SM_AF_INET6)
        snprintf(out, outlen, "[%s]:%u", buf, port);
    else
        snprintf(out, outlen, "%s:%u", buf, port);
    return out;
}
