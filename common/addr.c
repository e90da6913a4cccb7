/*
 * addr.c - address equality, parsing (inet_pton underneath) and printing into a caller's
 * buffer (the text of fmt.c's writers, which the hot paths use directly).
 */
#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "fmt.h"

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
    char buf[SM_FMT_ENDPOINT_MAX + 1];
    *sm_fmt_addr(buf, a) = '\0'; /* "-" for no address */
    snprintf(out, outlen, "%s", buf);
    return out;
}

char *sm_endpoint_format(const struct sm_addr *a, unsigned port, char *out, size_t outlen)
{
    char buf[SM_FMT_ENDPOINT_MAX + 1];
    *sm_fmt_endpoint(buf, a, port) = '\0';
    snprintf(out, outlen, "%s", buf);
    return out;
}
