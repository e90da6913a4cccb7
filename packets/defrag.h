/*
 * defrag.h - IP fragment reassembly with a hard memory bound (private to the decoder).
 */
#ifndef SYNMATCH_DEFRAG_H
#define SYNMATCH_DEFRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synmatch/record.h"

typedef struct sm_defrag sm_defrag_t;

/* What identifies a datagram: addresses plus the family's fragment identifier. */
struct sm_frag_key {
    struct sm_addr src;
    struct sm_addr dst;
    uint32_t ident;
};

enum sm_defrag_result {
    SM_DEFRAG_HELD,     /* stored; the datagram is not complete yet */
    SM_DEFRAG_COMPLETE, /* this fragment completed the datagram: *out holds its payload */
    SM_DEFRAG_BAD,      /* cannot be part of a valid datagram (past 65535 bytes); dropped */
    SM_DEFRAG_TOO_MANY, /* the datagram had more fragments than kept (4,096): dropped, where
                         * Wireshark would go on reassembling */
};

sm_defrag_t *sm_defrag_new(size_t max_bytes, size_t max_datagrams);
void sm_defrag_destroy(sm_defrag_t **self_p);

/*
 * Adds the fragment [offset, offset + len) of the datagram key. more is the MF/M flag.
 * On SM_DEFRAG_COMPLETE, *out and *outlen describe the reassembled payload, owned by the
 * reassembler and valid until the next call. Incomplete datagrams beyond the bounds are
 * dropped oldest first; *evicted is increased by their number.
 */
enum sm_defrag_result sm_defrag_add(sm_defrag_t *df, const struct sm_frag_key *key,
                                    uint32_t offset, bool more, const uint8_t *data,
                                    uint32_t len, const uint8_t **out, uint32_t *outlen,
                                    uint64_t *evicted);

#endif
