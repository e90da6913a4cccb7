/*
 * test_common.c - the small things done one way: strict number parsing (no sign, space, hex,
 * overflow), seconds to ns, the JSON line writer (escaping, nesting, overflow refused whole),
 * the errbuf helper.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "errbuf.h"
#include "json.h"
#include "parse.h"

static void test_u64(void)
{
    uint64_t v = 7;
    CHECK(sm_parse_u64("0", 0, 10, &v) == 0 && v == 0);
    CHECK(sm_parse_u64("18446744073709551615", 0, UINT64_MAX, &v) == 0 && v == UINT64_MAX);
    const char *bad[] = {"", " 1", "1 ", "-1", " -1", "+1", "0x10", "1e3", "18446744073709551616",
                         "99999999999999999999999", "1.0", "١"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        CHECK(sm_parse_u64(bad[i], 0, UINT64_MAX, &v) == -1);
        CHECK_EQ_U(v, 7); /* untouched */
    }
    CHECK(sm_parse_u64(NULL, 0, 1, &v) == -1);
    CHECK(sm_parse_u64("11", 1, 10, &v) == -1);
    CHECK(sm_parse_u64("0", 1, 10, &v) == -1);
}

static void test_seconds(void)
{
    int64_t ns = 0;
    CHECK(sm_parse_seconds("3", 100, 0, &ns) == 0 && ns == INT64_C(3000000000));
    CHECK(sm_parse_seconds("0.5", 100, 0, &ns) == 0 && ns == 500000000);
    CHECK(sm_parse_seconds("17.300", 100, 0, &ns) == 0 && ns == INT64_C(17300000000));
    CHECK(sm_parse_seconds("0.000000001", 100, 0, &ns) == 0 && ns == 1);
    CHECK(sm_parse_seconds("0.0000000015", 100, 0, &ns) == 0 && ns == 2); /* rounded */
    CHECK(sm_parse_seconds("-2.5", 100, 1, &ns) == 0 && ns == -2500000000);
    CHECK(sm_parse_seconds("100", 100, 0, &ns) == 0);
    const char *bad[] = {"", ".5", "5.", "-1", " 1", "1 ", "1e3", "nan", "inf", "0x1", "101",
                         "100.000000001", "1,5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ns = 42;
        CHECK(sm_parse_seconds(bad[i], 100, 0, &ns) == -1);
        CHECK_EQ_U(ns, 42);
    }
    CHECK(sm_parse_seconds("--1", 100, 1, &ns) == -1);
}

static void test_json(void)
{
    char buf[256];
    struct sm_json w;
    sm_json_begin(&w, buf, sizeof buf);
    sm_json_str(&w, "event", "sensor_up");
    sm_json_str(&w, "evil", "a\"b\\c\nd\x01\xff");
    sm_json_u64(&w, "n", 18446744073709551615u);
    sm_json_i64(&w, "neg", -5);
    sm_json_bool(&w, "ok", true);
    sm_json_null(&w, "none");
    sm_json_open(&w, "books");
    sm_json_u64(&w, "a", 1);
    sm_json_open(&w, "inner");
    sm_json_close(&w);
    sm_json_close(&w);
    sm_json_double(&w, "x", 1.5, 3);
    sm_json_duration(&w, "d", -1500000000);
    sm_json_time(&w, "t", 0);
    size_t len = sm_json_end(&w);
    const char *want = "{\"event\":\"sensor_up\",\"evil\":\"a\\\"b\\\\c\\u000ad\\u0001\\u00ff\","
                       "\"n\":18446744073709551615,\"neg\":-5,\"ok\":true,\"none\":null,"
                       "\"books\":{\"a\":1,\"inner\":{}},\"x\":1.500,\"d\":-1.500000000,"
                       "\"t\":\"1970-01-01T00:00:00.000000000Z\"}\n";
    CHECK_EQ_U(len, strlen(want));
    buf[len < sizeof buf ? len : sizeof buf - 1] = '\0';
    CHECK_EQ_S(buf, want);
    /* open objects are closed by end */
    sm_json_begin(&w, buf, sizeof buf);
    sm_json_open(&w, "a");
    sm_json_u64(&w, "b", 2);
    len = sm_json_end(&w);
    buf[len] = '\0';
    CHECK_EQ_S(buf, "{\"a\":{\"b\":2}}\n");
    /* a line that does not fit is refused whole, never cut */
    char small[24];
    sm_json_begin(&w, small, sizeof small);
    sm_json_str(&w, "key", "a value that is far too long for this buffer");
    CHECK_EQ_U(sm_json_end(&w), 0);
    for (size_t cap = 0; cap < 40; cap++) { /* every size: fits exactly or refused */
        char b2[40];
        sm_json_begin(&w, b2, cap);
        sm_json_str(&w, "k", "vvvv");
        sm_json_u64(&w, "n", 12345);
        size_t l = sm_json_end(&w);
        CHECK(l == 0 || (l <= cap && memcmp(b2, "{\"k\":\"vvvv\",\"n\":12345}\n", l) == 0));
    }
}

static void test_errbuf(void)
{
    char e[64];
    CHECK(sm_errbuf(e, sizeof e, "x %d", 3) == -1);
    CHECK_EQ_S(e, "x 3");
    errno = ENOENT;
    CHECK(sm_errbuf_errno(e, sizeof e, "%s", "/nope") == -1);
    CHECK_EQ_S(e, "/nope: No such file or directory");
    CHECK(errno == ENOENT);
    char tiny[4];
    sm_errbuf(tiny, sizeof tiny, "abcdef");
    CHECK_EQ_S(tiny, "abc");
    CHECK(sm_errbuf(NULL, 0, "ignored") == -1);
}

int main(void)
{
    test_u64();
    test_seconds();
    test_json();
    test_errbuf();
    return check_done();
}
