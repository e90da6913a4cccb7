/*
 * check.h - the unit-test harness: CHECK() records a failure with file and line and goes on;
 * check_done() prints "N passed, M failed" and returns the exit status for ctest.
 */
#ifndef SYNMATCH_CHECK_H
#define SYNMATCH_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (cond) {                                                                           \
            check_passed++;                                                                   \
        } else {                                                                              \
            check_failed++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);         \
        }                                                                                     \
    } while (0)

#define CHECK_EQ_U(a, b)                                                                      \
    do {                                                                                      \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);      \
        if (va_ == vb_) {                                                                     \
            check_passed++;                                                                   \
        } else {                                                                              \
            check_failed++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%llu != %llu)\n", __FILE__,      \
                    __LINE__, #a, #b, va_, vb_);                                              \
        }                                                                                     \
    } while (0)

#define CHECK_EQ_S(a, b)                                                                      \
    do {                                                                                      \
        const char *sa_ = (a), *sb_ = (b);                                                    \
        if (sa_ && sb_ && strcmp(sa_, sb_) == 0) {                                            \
            check_passed++;                                                                   \
        } else {                                                                              \
            check_failed++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__,  \
                    __LINE__, #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");            \
        }                                                                                     \
    } while (0)

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

#endif
