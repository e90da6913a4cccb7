/*
 * alerts.h - a collector's alerts (its --alerts-pub socket) as tail and top read them: the
 * subscription (CURVE keys when given), and each line parsed as JSON (jansson) into what the
 * printers need, defensively.
 *
 * The lines come from a collector, but whoever can publish on that endpoint (or a collector
 * of another version) can send anything: every line is bounded, parsed by a JSON library
 * rather than searched for keys, and every value is checked for its type before use. A line
 * that is too long or not JSON is refused and counted by reason, never guessed at; a JSON
 * object that is neither a verdict nor an event is shown as it came. Text from a line that
 * reaches a terminal goes through sm_alert_printable() (no control characters).
 */
#ifndef SYNMATCH_ALERTS_H
#define SYNMATCH_ALERTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/record.h"

/* Longest line read: collector lines are below 1.5 KB. Longer ones are refused (counted). */
#define SM_ALERT_LINE_MAX 65536

/* Largest message taken off the socket: a longer one makes ZeroMQ drop the connection
 * (ZMQ_MAXMSGSIZE), so up to this size it is received, then refused and counted. */
#define SM_ALERT_MSG_MAX (4 * 1024 * 1024)

enum sm_alert_kind {
    SM_ALERT_VERDICT, /* "verdict": a string */
    SM_ALERT_EVENT,   /* "event": a string (sensor events, health lines, ...) */
    SM_ALERT_OTHER,   /* a JSON object that is neither: shown as it came */
};

/* Why a line was refused. */
enum sm_alert_refusal {
    SM_ALERT_TOO_LONG,   /* longer than SM_ALERT_LINE_MAX */
    SM_ALERT_NOT_JSON,   /* not JSON: a syntax error, invalid UTF-8, nesting past jansson's
                          * bound, duplicate keys, a NUL byte */
    SM_ALERT_NOT_OBJECT, /* JSON, but not an object */
    SM_ALERT_REFUSAL_COUNT
};

const char *sm_alert_refusal_name(enum sm_alert_refusal r);

struct sm_alert {
    enum sm_alert_kind kind;
    json_t *obj;      /* owned (sm_alert_free) */
    const char *name; /* the verdict's or the event's name (inside obj), else NULL */
};

/*
 * Parses one line (len bytes, a trailing newline allowed). Returns 0 with a filled, or -1
 * with *why set (a holds nothing to free then).
 */
int sm_alert_parse(struct sm_alert *a, const char *line, size_t len,
                   enum sm_alert_refusal *why);

void sm_alert_free(struct sm_alert *a);

/* Typed reads of the object's top-level keys (or of a nested object's: obj != NULL). Each
 * gives NULL / false when the key is absent or holds another type. */
const char *sm_alert_str(const json_t *obj, const char *key);
bool sm_alert_int(const json_t *obj, const char *key, int64_t *out);
bool sm_alert_num(const json_t *obj, const char *key, double *out);
bool sm_alert_true(const json_t *obj, const char *key);

/* The tuple object under key ({"src","sport","dst","dport"}), checked: addresses parse,
 * one family, ports 0..65535. */
bool sm_alert_tuple(const json_t *obj, const char *key, struct sm_tuple *t);

/* The words a person scans for: every failure (and its early warning) in capitals
 * (MISSING, REPLY_LOST, UNANSWERED, MIDDLEBOX, SUSPECT), the rest as the collector names
 * them. Returns verdict or a static string. */
const char *sm_alert_display_name(const char *verdict);

/* s copied for a terminal into out (outlen > 0): control characters and bytes that are not
 * printable ASCII or valid UTF-8 become "?", cut at outlen - 1 bytes. Returns out. */
char *sm_alert_printable(char *out, size_t outlen, const char *s, size_t len);

/*
 * Connects a SUB socket to endpoint, with CURVE when key_file (this subscriber's secret key
 * file) and server_key (the collector's public key) are given (both or neither). On failure
 * exits with the usage, config or internal status, naming what failed.
 */
void *sm_alerts_subscribe(void *zctx, const char *endpoint, const char *key_file,
                          const char *server_key);

#endif
