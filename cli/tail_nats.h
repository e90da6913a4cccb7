/*
 * tail_nats.h - the lines of the shards' SYNMATCH_OUT stream, for `synmatch tail` (private
 * to the synmatch command).
 */
#ifndef SYNMATCH_CLI_TAIL_NATS_H
#define SYNMATCH_CLI_TAIL_NATS_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "synmatch/nats.h"

/* Called with each line, without its newline (a NUL-terminated string it may not keep). */
typedef void (*sm_tail_line_fn)(void *arg, const char *line);

/*
 * Follows the stream until *stop is set, or, with idle_ms > 0, until that long passes with
 * no new line. from_start: every line the stream holds first; else only new ones. 0, or -1
 * with one line on stderr (no server, no stream).
 */
int sm_tail_nats(const struct sm_nats_conn_opts *conn, bool from_start, int64_t idle_ms,
                 sm_tail_line_fn fn, void *arg, volatile sig_atomic_t *stop);

#endif
