/*
 * frame.h - one captured frame, as the readers (pcapfile.h, the agent's live capture) hand it
 * to the decoder (decode.h). Plain data; the bytes belong to whoever produced the frame.
 */
#ifndef SYNMATCH_FRAME_H
#define SYNMATCH_FRAME_H

#include <stdint.h>

/* One frame. data stays valid until the next sm_pcapfile_next() or close. */
struct sm_frame {
    const uint8_t *data;
    uint32_t caplen;   /* bytes in data */
    uint32_t wirelen;  /* bytes on the wire (never less than caplen) */
    int64_t ts_ns;     /* ns since the Unix epoch */
    uint32_t linktype; /* LINKTYPE_* of the frame's interface */
    uint32_t interface;
    uint64_t number;   /* 1-based, as Wireshark numbers frames */
};

#endif
