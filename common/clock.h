/*
 * clock.h - the two clocks, read in one place.
 *
 * Event time (capture timestamps) never comes from here: it is in the records. Processing
 * time is the monotonic clock, used only to stop waiting (a missing seq, a silent sensor, a
 * heartbeat due); the real-time clock only stamps lines written for people ("time" of an
 * event) and the agent's watermarks when it captures live. Both in ns.
 */
#ifndef SYNMATCH_CLOCK_H
#define SYNMATCH_CLOCK_H

#include <stdint.h>
#include <time.h>

#define SM_NS_PER_SEC INT64_C(1000000000)
#define SM_NS_PER_MS INT64_C(1000000)

static inline int64_t sm_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SM_NS_PER_SEC + ts.tv_nsec;
}

static inline int64_t sm_clock_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SM_NS_PER_SEC + ts.tv_nsec;
}

#endif
