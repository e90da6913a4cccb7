/*
 * log.h - the one place error text is produced (err(3)-shaped).
 *
 * sm_log_warn() appends strerror(errno); sm_log_warnx() does not; sm_fatal*() exit with the
 * given status. Messages go to stderr prefixed with the program name set by sm_log_init().
 * Never call these per packet: hostile input is counted, not logged.
 */
#ifndef SYNMATCH_LOG_H
#define SYNMATCH_LOG_H

void sm_log_init(const char *progname);
const char *sm_log_progname(void);

void sm_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sm_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sm_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void sm_fatal(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void sm_fatalx(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Controls sm_log_info(); warnings are always printed. */
void sm_log_set_quiet(int quiet);

#endif
