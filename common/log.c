/*
 * log.c - stderr logging with one shape for every message: "prog: text[: strerror]", or for
 * the journal "<PRIORITY>text[: strerror]" (see log.h).
 *
 * The journal is recognised as systemd documents it: JOURNAL_STREAM holds the device and
 * inode of the stream it connected to stderr, so a program started from a unit but with its
 * stderr redirected elsewhere (a file, a pipe) keeps the plain shape.
 */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exit.h"

/* syslog(3) priorities, as sd-daemon(3) prefixes take them. */
enum { PRI_ERR = 3, PRI_WARNING = 4, PRI_NOTICE = 5, PRI_INFO = 6 };

static const char *progname = "synmatch";
static int quiet;
static bool journal;
static char ctx_where[512], ctx_key[128];

static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    uintmax_t dev, ino;
    char tail;
    if (js == NULL || sscanf(js, "%ju:%ju%c", &dev, &ino, &tail) != 2)
        return false;
    struct stat st;
    if (fstat(2, &st) == -1)
        return false;
    return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void sm_log_init(const char *name)
{
    const char *slash = strrchr(name, '/');
    progname = slash ? slash + 1 : name;
    journal = stderr_is_journal();
}

const char *sm_log_progname(void)
{
    return progname;
}

bool sm_log_journal(void)
{
    return journal;
}

void sm_log_set_quiet(int q)
{
    quiet = q;
}

void sm_log_set_context(const char *where, const char *key)
{
    if (where == NULL || key == NULL) {
        ctx_where[0] = ctx_key[0] = '\0';
        return;
    }
    snprintf(ctx_where, sizeof ctx_where, "%s", where);
    snprintf(ctx_key, sizeof ctx_key, "%s", key);
}

static void vlog(int pri, int with_errno, int saved_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void vlog(int pri, int with_errno, int saved_errno, const char *fmt, va_list ap)
{
    char buf[1024], head[64];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (journal)
        snprintf(head, sizeof head, "<%d>", pri);
    else
        snprintf(head, sizeof head, "%s: ", progname);
    const char *text = buf;
    char ctx[700] = "";
    if (pri == PRI_ERR && ctx_where[0] != '\0') {
        /* "--snaplen: not a number ..." from a handler reads "FILE:LINE: snaplen: not ..." */
        size_t klen = strlen(ctx_key);
        if (strncmp(text, "--", 2) == 0 && strncmp(text + 2, ctx_key, klen) == 0 &&
            strncmp(text + 2 + klen, ": ", 2) == 0)
            text += 2 + klen + 2;
        snprintf(ctx, sizeof ctx, "%s: %s: ", ctx_where, ctx_key);
    }
    if (with_errno)
        fprintf(stderr, "%s%s%s: %s\n", head, ctx, text, strerror(saved_errno));
    else
        fprintf(stderr, "%s%s%s\n", head, ctx, text);
}

/* A usage error in a line of a configuration file is the file's error (log.h). */
static int fatal_status(int status)
{
    return status == SM_EXIT_USAGE && ctx_where[0] != '\0' ? SM_EXIT_CONFIG : status;
}

void sm_log_warn(const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    vlog(PRI_WARNING, 1, e, fmt, ap);
    va_end(ap);
}

void sm_log_warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(PRI_WARNING, 0, 0, fmt, ap);
    va_end(ap);
}

void sm_log_info(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(PRI_INFO, 0, 0, fmt, ap);
    va_end(ap);
}

void sm_log_notice(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(PRI_NOTICE, 0, 0, fmt, ap);
    va_end(ap);
}

void sm_fatal(int status, const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    vlog(PRI_ERR, 1, e, fmt, ap);
    va_end(ap);
    exit(fatal_status(status));
}

void sm_fatalx(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(PRI_ERR, 0, 0, fmt, ap);
    va_end(ap);
    exit(fatal_status(status));
}
