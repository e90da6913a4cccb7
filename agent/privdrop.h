/*
 * privdrop.h - giving up privilege once the capture is open (Linux).
 */
#ifndef SYNMATCH_PRIVDROP_H
#define SYNMATCH_PRIVDROP_H

#include <stddef.h>

/*
 * When running as root: drops every capability from the bounding set, then becomes user (its
 * uid, primary gid, no supplementary groups) and checks root cannot be regained. In every
 * case: clears the ambient, inheritable, permitted and effective capability sets and sets
 * no_new_privs. Returns 0, or -1 with one line in err (the process must then stop).
 */
int sm_privdrop(const char *user, char *err, size_t errlen);

#endif
