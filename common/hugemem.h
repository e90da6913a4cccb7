/*
 * hugemem.h - asking for transparent huge pages on a large table.
 *
 * The big tables (the tcp.stream tables, the join's pool and index, compare's rows) are
 * touched at random, and their first touch costs a page fault per 4 KiB: on the virtual
 * machines this runs on, faults were an eighth of compare's CPU time. Where the system offers
 * huge pages on request (transparent_hugepage = madvise, Debian's default), the 2 MiB-aligned
 * interior of the block is marked for them: one fault per 2 MiB, fewer TLB misses. A hint;
 * failure changes nothing. Small blocks are left alone.
 */
#ifndef SYNMATCH_HUGEMEM_H
#define SYNMATCH_HUGEMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

static inline void sm_advise_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t from = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t to = ((uintptr_t)p + len) & ~(huge - 1);
    if (to > from)
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
#else
    (void)p;
    (void)len;
#endif
}

#endif
