/*
 * alerts.c - reading a collector's alerts (see alerts.h).
 */
#include "alerts.h"

#include <string.h>
#include <zmq.h>

#include "addr.h"
#include "exit.h"
#include "log.h"
#include "synmatch/keys.h"

const char *sm_alert_refusal_name(enum sm_alert_refusal r)
{
    static const char *const names[SM_ALERT_REFUSAL_COUNT] = {
        [SM_ALERT_TOO_LONG] = "too_long",
        [SM_ALERT_NOT_JSON] = "not_json",
        [SM_ALERT_NOT_OBJECT] = "not_object",
    };
    return (unsigned)r < SM_ALERT_REFUSAL_COUNT ? names[r] : "?";
}

int sm_alert_parse(struct sm_alert *a, const char *line, size_t len, enum sm_alert_refusal *why)
{
    memset(a, 0, sizeof *a);
    if (len > SM_ALERT_LINE_MAX) {
        *why = SM_ALERT_TOO_LONG;
        return -1;
    }
    json_error_t err;
    /* Duplicate keys are refused: which of two "verdict"s counts would be a guess. */
    json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    if (obj == NULL) {
        *why = SM_ALERT_NOT_JSON;
        return -1;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        *why = SM_ALERT_NOT_OBJECT;
        return -1;
    }
    a->obj = obj;
    if ((a->name = sm_alert_str(obj, "verdict")) != NULL)
        a->kind = SM_ALERT_VERDICT;
    else if ((a->name = sm_alert_str(obj, "event")) != NULL)
        a->kind = SM_ALERT_EVENT;
    else
        a->kind = SM_ALERT_OTHER;
    return 0;
}

void sm_alert_free(struct sm_alert *a)
{
    json_decref(a->obj);
    a->obj = NULL;
}

const char *sm_alert_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key)); /* NULL unless a string */
}

bool sm_alert_int(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

bool sm_alert_num(const json_t *obj, const char *key, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

bool sm_alert_true(const json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

bool sm_alert_tuple(const json_t *obj, const char *key, struct sm_tuple *t)
{
    const json_t *o = json_object_get(obj, key);
    if (!json_is_object(o))
        return false;
    const char *src = sm_alert_str(o, "src"), *dst = sm_alert_str(o, "dst");
    int64_t sport, dport;
    if (src == NULL || dst == NULL || !sm_alert_int(o, "sport", &sport) ||
        !sm_alert_int(o, "dport", &dport) || sport < 0 || sport > 65535 || dport < 0 ||
        dport > 65535)
        return false;
    memset(t, 0, sizeof *t);
    if (sm_addr_parse(src, &t->src) == -1 || sm_addr_parse(dst, &t->dst) == -1 ||
        t->src.family != t->dst.family)
        return false;
    t->sport = (uint16_t)sport;
    t->dport = (uint16_t)dport;
    return true;
}

const char *sm_alert_display_name(const char *verdict)
{
    static const char *const loud[][2] = {
        {"suspect", "SUSPECT"},       {"missing", "MISSING"},
        {"unanswered", "UNANSWERED"}, {"reply_lost", "REPLY_LOST"},
        {"answered_by_middlebox", "MIDDLEBOX"},
    };
    for (size_t i = 0; i < sizeof loud / sizeof loud[0]; i++)
        if (strcmp(verdict, loud[i][0]) == 0)
            return loud[i][1];
    return verdict;
}

/* Length of the UTF-8 sequence at s (n bytes left) with its code point in *cp, or 0 when
 * it is not valid UTF-8 (overlong, a surrogate, past U+10FFFF, cut short). */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    size_t k = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    if (n < k)
        return 0;
    uint32_t c = s[0] & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if ((k == 3 && c < 0x800) || (k == 4 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff) ||
        c > 0x10ffff)
        return 0;
    *cp = c;
    return k;
}

char *sm_alert_printable(char *out, size_t outlen, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < outlen;) {
        if (p[i] >= 0x20 && p[i] < 0x7f) {
            out[o++] = (char)p[i++];
            continue;
        }
        uint32_t cp = 0;
        size_t k = p[i] >= 0x80 ? utf8_len(p + i, len - i, &cp) : 0;
        /* one '?' for a control character (C0, DEL, C1: a terminal acts on them), a byte
         * that is not UTF-8, or a character that does not fit */
        if (k == 0 || (cp >= 0x80 && cp <= 0x9f) || o + k + 1 > outlen) {
            out[o++] = '?';
            i += k ? k : 1;
            continue;
        }
        memcpy(out + o, p + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
    return out;
}

void *sm_alerts_subscribe(void *zctx, const char *endpoint, const char *key_file,
                          const char *server_key)
{
    if ((key_file == NULL) != (server_key == NULL))
        sm_fatalx(SM_EXIT_USAGE, "--key and --server-key go together");
    struct sm_keypair kp;
    char server_z85[SM_KEY_Z85_LEN + 1], err[512];
    if (key_file && (sm_keys_load_secret(key_file, &kp, err, sizeof err) == -1 ||
                     sm_keys_load_public(server_key, server_z85, err, sizeof err) == -1))
        sm_fatalx(SM_EXIT_CONFIG, "%s", err);
    void *sub = zctx ? zmq_socket(zctx, ZMQ_SUB) : NULL;
    if (sub == NULL)
        sm_fatalx(SM_EXIT_INTERNAL, "cannot create a ZeroMQ socket");
    int64_t maxmsg = SM_ALERT_MSG_MAX;
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    if (key_file && (zmq_setsockopt(sub, ZMQ_CURVE_SERVERKEY, server_z85, 41) == -1 ||
                     zmq_setsockopt(sub, ZMQ_CURVE_PUBLICKEY, kp.public_z85, 41) == -1 ||
                     zmq_setsockopt(sub, ZMQ_CURVE_SECRETKEY, kp.secret_z85, 41) == -1))
        sm_fatalx(SM_EXIT_INTERNAL, "cannot set the CURVE keys: %s", zmq_strerror(zmq_errno()));
    if (zmq_connect(sub, endpoint) == -1)
        sm_fatalx(SM_EXIT_USAGE, "cannot connect to %s: %s", endpoint, zmq_strerror(zmq_errno()));
    return sub;
}
