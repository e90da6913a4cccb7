/*
 * exit.h - the exit statuses of all three programs (synmatch, synmatch-agent,
 * synmatch-collector): one number, one meaning. README.md and each --help list them.
 *
 * Libraries never choose a status: they return an error kind, and each program's main maps
 * it here. 0 and 1 answer the question the program asks (compare: were connection attempts
 * broken?), like diff(1); 2 and above are failures to answer it.
 */
#ifndef SYNMATCH_EXIT_H
#define SYNMATCH_EXIT_H

enum sm_exit {
    SM_EXIT_OK = 0,          /* done; compare: no broken connection attempt found */
    SM_EXIT_FOUND = 1,       /* compare: broken connection attempts found */
    SM_EXIT_USAGE = 2,       /* bad command line (an option, an expression, a sensor id) */
    SM_EXIT_OPEN = 3,        /* a file cannot be opened, read or written */
    SM_EXIT_NOT_CAPTURE = 4, /* not a pcap/pcapng file, or a corrupt file header */
    SM_EXIT_LINKTYPE = 5,    /* no interface with a supported link type */
    SM_EXIT_EMPTY = 6,       /* a capture file is empty (0 bytes) */
    SM_EXIT_TRUNCATED = 7,   /* a capture file ends early or is corrupt inside: output partial */
    SM_EXIT_NO_SCOPE = 8,    /* compare: no server address known (use --server-ip) */
    SM_EXIT_INTERNAL = 9,    /* out of memory or another internal failure */
    SM_EXIT_CONFIG = 10,     /* a configuration file (key, allow-list, --config) is unreadable or wrong */
    SM_EXIT_TRANSPORT = 11,  /* the transport cannot be set up: endpoint, bind, connect, CURVE */
    SM_EXIT_CAPTURE = 12,    /* live capture: the interface cannot be opened, or it failed */
};

/* The one-line list for --help texts. */
#define SM_EXIT_HELP                                                                           \
    "exit status: 0 done (compare: nothing broken), 1 compare found broken connection\n"       \
    "attempts, 2 usage error, 3 a file cannot be opened, read or written, 4 not a capture\n"   \
    "file, 5 unsupported link type, 6 empty file, 7 file truncated or corrupt (output\n"       \
    "partial), 8 no server address known, 9 internal error, 10 configuration file error,\n"    \
    "11 transport error, 12 live capture error.\n"

#endif
