/*
 * test_alerts.c - reading alert lines (cli/alerts.c): refusals by reason, kinds, typed reads
 * that refuse other types, tuples checked, and sm_alert_printable() letting through printable
 * ASCII and valid UTF-8 only (each control character, C1 included, and each bad byte one '?').
 */
#include <string.h>

#include "alerts.h"
#include "check.h"

static enum sm_alert_refusal refusal(const char *line, size_t len)
{
    struct sm_alert a;
    enum sm_alert_refusal why = SM_ALERT_REFUSAL_COUNT;
    if (sm_alert_parse(&a, line, len, &why) == 0) {
        sm_alert_free(&a);
        return SM_ALERT_REFUSAL_COUNT;
    }
    return why;
}

int main(void)
{
    CHECK(refusal("[1]", 3) == SM_ALERT_NOT_OBJECT);
    CHECK(refusal("", 0) == SM_ALERT_NOT_JSON);
    CHECK(refusal("{\"a\":1,\"a\":2}", 13) == SM_ALERT_NOT_JSON);
    CHECK(refusal("{\"a\":\"\xff\"}", 9) == SM_ALERT_NOT_JSON);
    CHECK(refusal("{\"a\":\"x\0y\"}", 11) == SM_ALERT_NOT_JSON);
    static char big[SM_ALERT_LINE_MAX + 2];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    CHECK(refusal(big, sizeof big) == SM_ALERT_TOO_LONG);
    CHECK(refusal(big, SM_ALERT_LINE_MAX) == SM_ALERT_NOT_JSON); /* cut: no closing brace */

    struct sm_alert a;
    enum sm_alert_refusal why;
    const char *v = "{\"verdict\":\"missing\",\"seq\":5,\"delay\":0.5,\"ok\":true,"
                    "\"client\":{\"src\":\"198.18.1.2\",\"sport\":1,\"dst\":\"2001:db8::1\","
                    "\"dport\":2},\"server\":{\"src\":\"198.18.1.2\",\"sport\":1,"
                    "\"dst\":\"198.18.2.2\",\"dport\":65536}}\n";
    CHECK(sm_alert_parse(&a, v, strlen(v), &why) == 0);
    CHECK(a.kind == SM_ALERT_VERDICT && a.name && strcmp(a.name, "missing") == 0);
    int64_t i;
    double d;
    struct sm_tuple t;
    CHECK(sm_alert_int(a.obj, "seq", &i) && i == 5);
    CHECK(!sm_alert_int(a.obj, "delay", &i) && sm_alert_num(a.obj, "delay", &d) && d == 0.5);
    CHECK(sm_alert_str(a.obj, "seq") == NULL && sm_alert_true(a.obj, "ok"));
    CHECK(!sm_alert_tuple(a.obj, "client", &t)); /* two families */
    CHECK(!sm_alert_tuple(a.obj, "server", &t)); /* port past 65535 */
    sm_alert_free(&a);
    const char *e = "{\"event\":\"health\",\"verdict\":7}";
    CHECK(sm_alert_parse(&a, e, strlen(e), &why) == 0);
    CHECK(a.kind == SM_ALERT_EVENT && strcmp(a.name, "health") == 0); /* a verdict is a string */
    sm_alert_free(&a);
    CHECK(sm_alert_parse(&a, "{\"x\":{}}", 8, &why) == 0 && a.kind == SM_ALERT_OTHER);
    sm_alert_free(&a);

    char out[64];
    const char *mixed = "a\x1b[1m\x07\xc2\x9b\xc3\xa9\xe2\x82\xac\xff\xed\xa0\x80\xc0\xafz";
    sm_alert_printable(out, sizeof out, mixed, strlen(mixed));
    /* ESC, BEL, U+009B one '?' each; é and € kept; 0xff, a surrogate (3 bytes), an
     * overlong '/' (2 bytes): one '?' per byte */
    CHECK_EQ_S(out, "a?[1m??\xc3\xa9\xe2\x82\xac??????z");
    char small[4];
    sm_alert_printable(small, sizeof small, "\xc3\xa9\xc3\xa9", 4); /* the second does not fit */
    CHECK_EQ_S(small, "\xc3\xa9?");
    return check_done();
}
