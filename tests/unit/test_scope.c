/*
 * test_scope.c - the set of judged destinations and the announced scope entries: membership,
 * sorted listing, prefixes and ports, growth, and running out of memory.
 */
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "alloc.h"
#include "check.h"
#include "synmatch/scope.h"

static struct sm_addr A(const char *s)
{
    struct sm_addr a;
    CHECK(sm_addr_parse(s, &a) == 0);
    return a;
}

static void test_set(void)
{
    sm_scope_t *s = sm_scope_new();
    CHECK(s != NULL);
    CHECK_EQ_U(sm_scope_count(s), 0);
    struct sm_addr b = A("198.18.2.2"), a = A("198.18.1.1"), six = A("2001:db8::1");
    CHECK(sm_scope_add(s, &b) == 0);
    CHECK(sm_scope_add(s, &six) == 0);
    CHECK(sm_scope_add(s, &a) == 0);
    CHECK(sm_scope_add(s, &a) == 0); /* twice: one member */
    CHECK_EQ_U(sm_scope_count(s), 3);
    CHECK(sm_scope_contains(s, &a));
    struct sm_addr other = A("198.18.1.2"), v4mapped = A("::ffff:198.18.1.1");
    CHECK(!sm_scope_contains(s, &other));
    CHECK(!sm_scope_contains(s, &v4mapped)); /* another family is another address */
    struct sm_addr out[8];
    CHECK_EQ_U(sm_scope_list(s, out, 8), 3);
    CHECK(sm_addr_eq(&out[0], &a) && sm_addr_eq(&out[1], &b) && sm_addr_eq(&out[2], &six));
    CHECK_EQ_U(sm_scope_list(s, out, 2), 2); /* the max is honoured */
    /* Growth keeps every member. */
    for (unsigned i = 0; i < 5000; i++) {
        struct sm_addr x = {.family = SM_AF_INET6};
        x.bytes[0] = 0x20, x.bytes[1] = 0x01, x.bytes[2] = 0x0d, x.bytes[3] = 0xb8;
        memcpy(x.bytes + 12, &i, sizeof i);
        CHECK(sm_scope_add(s, &x) == 0);
    }
    CHECK_EQ_U(sm_scope_count(s), 5003);
    CHECK(sm_scope_contains(s, &a) && sm_scope_contains(s, &six));
    sm_scope_destroy(&s);
    CHECK(s == NULL);
    sm_scope_destroy(&s); /* NULL-safe */
}

static void test_out_of_memory(void)
{
    /* Every allocation failing in turn: -1 or NULL, never a crash, never a false member. */
    for (uint64_t k = 1; k < 64; k++) {
        sm_alloc_fail_at(k, true);
        sm_scope_t *s = sm_scope_new();
        int failures = 0;
        for (unsigned i = 0; s && i < 3000; i++) {
            struct sm_addr x = {.family = SM_AF_INET};
            memcpy(x.bytes, &i, sizeof i);
            if (sm_scope_add(s, &x) == -1)
                failures++;
            else
                CHECK(sm_scope_contains(s, &x));
        }
        sm_alloc_fail_at(0, false);
        if (s) {
            struct sm_addr never = A("203.0.113.9");
            CHECK(!sm_scope_contains(s, &never));
            CHECK_EQ_U(sm_scope_count(s), 3000 - (unsigned)failures);
        }
        sm_scope_destroy(&s);
    }
}

static void test_entry_covers(void)
{
    struct sm_scope_entry e;
    memset(&e, 0, sizeof e);
    e.addr = A("198.18.2.0");
    e.prefix_len = 23;
    struct sm_addr a = A("198.18.3.200");
    CHECK(sm_scope_entry_covers(&e, &a, 80));
    a = A("198.18.4.1");
    CHECK(!sm_scope_entry_covers(&e, &a, 80));
    e.port = 443;
    a = A("198.18.2.1");
    CHECK(!sm_scope_entry_covers(&e, &a, 80));
    CHECK(sm_scope_entry_covers(&e, &a, 443));
    a = A("2001:db8::1");
    CHECK(!sm_scope_entry_covers(&e, &a, 443));
    /* /0 covers its whole family, /128 one address. */
    struct sm_scope_entry any6 = {.addr = A("::"), .prefix_len = 0};
    CHECK(sm_scope_entry_covers(&any6, &a, 1));
    struct sm_scope_entry one6 = {.addr = A("2001:db8::1"), .prefix_len = 128};
    CHECK(sm_scope_entry_covers(&one6, &a, 9));
    struct sm_addr b = A("2001:db8::2");
    CHECK(!sm_scope_entry_covers(&one6, &b, 9));
}

int main(void)
{
    test_set();
    test_out_of_memory();
    test_entry_covers();
    return check_done();
}
