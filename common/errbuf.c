/*
 * errbuf.c - error text for a caller's buffer (see errbuf.h).
 */
#include "errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vput(char *errbuf, size_t errlen, int saved, int with_errno, const char *fmt,
                 va_list ap) __attribute__((format(printf, 5, 0)));

static void vput(char *errbuf, size_t errlen, int saved, int with_errno, const char *fmt,
                 va_list ap)
{
    if (errbuf == NULL || errlen == 0)
        return;
    int n = vsnprintf(errbuf, errlen, fmt, ap);
    if (with_errno && n >= 0 && (size_t)n < errlen)
        snprintf(errbuf + n, errlen - (size_t)n, ": %s", strerror(saved));
}

int sm_errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vput(errbuf, errlen, 0, 0, fmt, ap);
    va_end(ap);
    return -1;
}

int sm_errbuf_errno(char *errbuf, size_t errlen, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vput(errbuf, errlen, saved, 1, fmt, ap);
    va_end(ap);
    errno = saved;
    return -1;
}
