/*
 * json.c - the line-oriented JSON writer (see json.h).
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fmt.h"

void sm_json_begin(struct sm_json *w, char *buf, size_t cap)
{
    w->buf = w->p = buf;
    w->end = buf + cap;
    w->overflow = cap < 3;
    w->depth = 0;
    w->first[0] = true;
    if (!w->overflow)
        *w->p++ = '{';
}

/* True when n more bytes fit (keeping room for the closing braces and the newline). */
static bool room(struct sm_json *w, size_t n)
{
    if (w->overflow || (size_t)(w->end - w->p) < n + (size_t)w->depth + 2) {
        w->overflow = true;
        return false;
    }
    return true;
}

static void raw(struct sm_json *w, const char *s, size_t n)
{
    if (room(w, n)) {
        memcpy(w->p, s, n);
        w->p += n;
    }
}

static void escaped(struct sm_json *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    raw(w, "\"", 1);
    for (size_t i = 0; i < n && !w->overflow; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            raw(w, e, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            raw(w, e, 6);
        } else {
            raw(w, (const char *)&s[i], 1);
        }
    }
    raw(w, "\"", 1);
}

static void key(struct sm_json *w, const char *k)
{
    if (!w->first[w->depth])
        raw(w, ",", 1);
    w->first[w->depth] = false;
    escaped(w, k, strlen(k));
    raw(w, ":", 1);
}

size_t sm_json_end(struct sm_json *w)
{
    while (w->depth > 0)
        sm_json_close(w);
    if (w->overflow || w->end - w->p < 2)
        return 0;
    *w->p++ = '}';
    *w->p++ = '\n';
    return (size_t)(w->p - w->buf);
}

void sm_json_strn(struct sm_json *w, const char *k, const char *val, size_t len)
{
    key(w, k);
    escaped(w, val, len);
}

void sm_json_str(struct sm_json *w, const char *k, const char *val)
{
    if (val == NULL) {
        sm_json_null(w, k);
        return;
    }
    sm_json_strn(w, k, val, strlen(val));
}

void sm_json_u64(struct sm_json *w, const char *k, uint64_t v)
{
    key(w, k);
    if (room(w, SM_FMT_U64_MAX))
        w->p = sm_fmt_u64(w->p, v);
}

void sm_json_i64(struct sm_json *w, const char *k, int64_t v)
{
    key(w, k);
    if (room(w, SM_FMT_U64_MAX + 1))
        w->p = sm_fmt_i64(w->p, v);
}

void sm_json_bool(struct sm_json *w, const char *k, bool v)
{
    key(w, k);
    raw(w, v ? "true" : "false", v ? 4 : 5);
}

void sm_json_null(struct sm_json *w, const char *k)
{
    key(w, k);
    raw(w, "null", 4);
}

void sm_json_double(struct sm_json *w, const char *k, double v, int decimals)
{
    key(w, k);
    if (!isfinite(v)) {
        raw(w, "null", 4);
        return;
    }
    decimals = decimals < 0 ? 0 : decimals > 9 ? 9 : decimals;
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
    if (n > 0 && (size_t)n < sizeof tmp)
        raw(w, tmp, (size_t)n);
    else
        w->overflow = true;
}

void sm_json_time(struct sm_json *w, const char *k, int64_t ns)
{
    key(w, k);
    if (room(w, SM_FMT_RFC3339_LEN + 2)) {
        *w->p++ = '"';
        w->p = sm_fmt_rfc3339(w->p, ns);
        *w->p++ = '"';
    }
}

void sm_json_duration(struct sm_json *w, const char *k, int64_t ns)
{
    key(w, k);
    if (room(w, SM_FMT_U64_MAX + 3))
        w->p = sm_fmt_duration(w->p, ns);
}

void sm_json_open(struct sm_json *w, const char *k)
{
    key(w, k);
    if (w->depth + 1 >= SM_JSON_MAX_DEPTH) {
        w->overflow = true;
        return;
    }
    raw(w, "{", 1);
    if (!w->overflow) {
        w->depth++;
        w->first[w->depth] = true;
    }
}

void sm_json_close(struct sm_json *w)
{
    if (w->depth == 0)
        return;
    w->depth--;
    /* room() kept a byte for this brace */
    if (w->p < w->end)
        *w->p++ = '}';
    else
        w->overflow = true;
}
