/*
 * keys.h - CURVE key pairs and the collector's allow-list.
 *
 * A key pair is two files: PREFIX.key (mode 0600: "public-key Z85" and "secret-key Z85"
 * lines) and PREFIX.pub (the public key's 40 Z85 characters). The allow-list has one line
 * per agent, like authorized_keys: "SENSOR-ID PUBLIC-KEY"; blank lines and # comments are
 * ignored. Loading fails with a one-line reason naming the file and line.
 */
#ifndef SYNMATCH_KEYS_H
#define SYNMATCH_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "synmatch/wire.h"

#define SM_KEY_Z85_LEN 40

struct sm_keypair {
    char public_z85[SM_KEY_Z85_LEN + 1];
    char secret_z85[SM_KEY_Z85_LEN + 1];
};

bool sm_key_z85_valid(const char *s);

/* A fresh pair from libzmq's CSPRNG. Returns 0 or -1. */
int sm_keys_generate(struct sm_keypair *kp);

/* Writes PREFIX.key (0600, refusing to overwrite) and PREFIX.pub. Returns 0 or -1. */
int sm_keys_write(const char *prefix, const struct sm_keypair *kp, char *err, size_t errlen);

/* Reads a secret key file. Refuses one that others can read. Returns 0 or -1. */
int sm_keys_load_secret(const char *path, struct sm_keypair *kp, char *err, size_t errlen);

/* A public key: the 40 Z85 characters themselves, or a file holding them (a .pub file, or a
 * .key file's public-key line). Returns 0 or -1. */
int sm_keys_load_public(const char *spec, char out[SM_KEY_Z85_LEN + 1], char *err,
                        size_t errlen);

struct sm_allow_entry {
    char sensor_id[SM_SENSOR_ID_MAX + 1];
    char public_z85[SM_KEY_Z85_LEN + 1];
};

struct sm_allow {
    struct sm_allow_entry *e;
    size_t n;
};

/* Loads an allow-list file into *out (replaced only on success). Returns 0 or -1. */
int sm_allow_load(const char *path, struct sm_allow *out, char *err, size_t errlen);

/* The sensor id a public key may speak for, or NULL. */
const char *sm_allow_lookup(const struct sm_allow *a, const char *public_z85);

void sm_allow_free(struct sm_allow *a);

#endif
