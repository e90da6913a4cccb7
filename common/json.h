/*
 * json.h - one JSON object per line, written into a caller's buffer: the collector's event,
 * stats and status lines, compare's status line. Strings are escaped (quote, backslash, every
 * byte outside printable ASCII as \u00XX), so no text that came from a sensor or a file can
 * break a line or inject keys. Verdict lines, a million a second, have their own writer in
 * engine/report.c: every value in them is a number, an address or a fixed name.
 *
 *   struct sm_json w;
 *   sm_json_begin(&w, buf, sizeof buf);
 *   sm_json_str(&w, "event", "sensor_up");
 *   sm_json_u64(&w, "epoch", epoch);
 *   size_t len = sm_json_end(&w);      // "{...}\n"; 0 if buf was too small
 */
#ifndef SYNMATCH_JSON_H
#define SYNMATCH_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_JSON_MAX_DEPTH 8

struct sm_json {
    char *buf, *p, *end;
    bool overflow;
    int depth;
    bool first[SM_JSON_MAX_DEPTH]; /* no member written yet at this depth */
};

void sm_json_begin(struct sm_json *w, char *buf, size_t cap);
/* Closes every open object, appends the newline. Returns the length, or 0 on overflow. */
size_t sm_json_end(struct sm_json *w);

void sm_json_str(struct sm_json *w, const char *key, const char *val); /* NULL = null */
/* len bytes of val, which need not be terminated. */
void sm_json_strn(struct sm_json *w, const char *key, const char *val, size_t len);
void sm_json_u64(struct sm_json *w, const char *key, uint64_t v);
void sm_json_i64(struct sm_json *w, const char *key, int64_t v);
void sm_json_bool(struct sm_json *w, const char *key, bool v);
void sm_json_null(struct sm_json *w, const char *key);
/* A finite double with up to `decimals` decimals (clamped to 0..9). */
void sm_json_double(struct sm_json *w, const char *key, double v, int decimals);
/* An event time as an RFC 3339 string, a duration in seconds with 9 decimals. */
void sm_json_time(struct sm_json *w, const char *key, int64_t ns);
void sm_json_duration(struct sm_json *w, const char *key, int64_t ns);
/* A member whose value is an object; close it with sm_json_close(). */
void sm_json_open(struct sm_json *w, const char *key);
void sm_json_close(struct sm_json *w);

#endif
