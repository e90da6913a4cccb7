/*
 * log.c - stderr logging with one shape for every message: "prog: text[: strerror]".
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *progname = "synmatch";
static int quiet;

void sm_log_init(const char *name)
{
    const char *slash = strrchr(name, '/');
    progname = slash ? slash + 1 : name;
}

const char *sm_log_progname(void)
{
    return progname;
}

void sm_log_set_quiet(int q)
{
    quiet = q;
}

static void vlog(int with_errno, int saved_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vlog(int with_errno, int saved_errno, const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (with_errno)
        fprintf(stderr, "%s: %s: %s\n", progname, buf, strerror(saved_errno));
    else
        fprintf(stderr, "%s: %s\n", progname, buf);
}

void sm_log_warn(const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    vlog(1, e, fmt, ap);
    va_end(ap);
}

void sm_log_warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(0, 0, fmt, ap);
    va_end(ap);
}

void sm_log_info(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(0, 0, fmt, ap);
    va_end(ap);
}

void sm_fatal(int status, const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    vlog(1, e, fmt, ap);
    va_end(ap);
    exit(status);
}

void sm_fatalx(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(0, 0, fmt, ap);
    va_end(ap);
    exit(status);
}
