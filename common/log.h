/*
 * log.h - the one place error text is produced (err(3)-shaped).
 *
 * sm_log_warn() appends strerror(errno); sm_log_warnx() does not; sm_fatal*() exit with the
 * given status. Messages go to stderr prefixed with the program name set by sm_log_init().
 * Never call these per packet: hostile input is counted, not logged.
 *
 * Under systemd, when stderr is the journal (JOURNAL_STREAM names it), lines carry a syslog
 * priority prefix ("<4>") instead of the program name: the journal adds the name, the pid and
 * the time itself, and keeps the priority (warnings and errors stand out in journalctl -p).
 */
#ifndef SYNMATCH_LOG_H
#define SYNMATCH_LOG_H

#include <stdbool.h>

/* Sets the program name (its last path component) and looks whether stderr is the journal. */
void sm_log_init(const char *progname);
const char *sm_log_progname(void);

/* Whether lines are written for the journal (see above). */
bool sm_log_journal(void);

void sm_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sm_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sm_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like sm_log_info(), but printed even when quiet (a summary at the end). */
void sm_log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void sm_fatal(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void sm_fatalx(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Controls sm_log_info(); warnings are always printed. */
void sm_log_set_quiet(int quiet);

/*
 * Says what the program is looking at while it handles one option: a line of a configuration
 * file (where "FILE:LINE", key the option's long name; both copied), or the command line
 * (where NULL). While a line is set, sm_fatal*() name it first ("FILE:LINE: KEY: ...", with
 * a leading "--KEY: " of the message left out) and a usage error (SM_EXIT_USAGE) exits
 * SM_EXIT_CONFIG instead: option handlers reject a bad value with sm_fatalx(SM_EXIT_USAGE, ...)
 * whichever way it came, and only here is it known that it came from a file (config.h).
 */
void sm_log_set_context(const char *where, const char *key);

#endif
