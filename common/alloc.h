/*
 * alloc.h - the allocator of the parts that must survive running out of memory (the join, the
 * collector's books, the decoder and reassembler), with a hook for tests to make the Nth
 * allocation fail (as SQLite's test_malloc.c does).
 *
 * In normal runs these are malloc/calloc/realloc behind one predictable branch. A test arms
 * the hook with sm_alloc_fail_at(n): the nth allocation counted from then fails, and with
 * persist every one after it too, until sm_alloc_fail_at(0).
 */
#ifndef SYNMATCH_ALLOC_H
#define SYNMATCH_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *sm_malloc(size_t n);
void *sm_calloc(size_t count, size_t size);
void *sm_realloc(void *p, size_t n);

/* For allocations made another way (mmap): true when the hook says this one fails. */
bool sm_alloc_should_fail(void);

/* Tests only: arm (n >= 1) or disarm (n == 0) the failure hook. */
void sm_alloc_fail_at(uint64_t n, bool persist);
/* Allocations counted since the hook was last armed or disarmed. */
uint64_t sm_alloc_count(void);
/* Allocations the hook failed since then. */
uint64_t sm_alloc_failed(void);

#endif
