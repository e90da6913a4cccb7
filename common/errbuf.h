/*
 * errbuf.h - one line of error text into a caller's buffer, the way library functions report
 * why they failed (sm_agent_new(), sm_keys_load_secret(), ...). The caller decides whether to
 * log it and which exit status it means; the library never logs or exits for it.
 */
#ifndef SYNMATCH_ERRBUF_H
#define SYNMATCH_ERRBUF_H

#include <stddef.h>

/* Formats into errbuf (errlen bytes; truncated, always terminated; NULL or 0 ignored).
 * Returns -1, so that `return sm_errbuf(...)` is a failure return. */
int sm_errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same, followed by ": " and strerror(errno) as errno was at the call. */
int sm_errbuf_errno(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
