/*
 * keys.c - key files and the allow-list (see keys.h). Keys are Z85 text as libzmq expects
 * them; nothing here implements cryptography.
 */
#include "synmatch/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "errbuf.h"

#define MAX_ALLOW 4096

bool sm_key_z85_valid(const char *s)
{
    static const char alphabet[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (s == NULL || strlen(s) != SM_KEY_Z85_LEN)
        return false;
    for (size_t i = 0; i < SM_KEY_Z85_LEN; i++)
        if (strchr(alphabet, s[i]) == NULL)
            return false;
    uint8_t raw[32];
    return zmq_z85_decode(raw, s) != NULL;
}

int sm_keys_generate(struct sm_keypair *kp)
{
    return zmq_curve_keypair(kp->public_z85, kp->secret_z85) == 0 ? 0 : -1;
}

int sm_keys_write(const char *prefix, const struct sm_keypair *kp, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.key", prefix);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1)
        return sm_errbuf_errno(err, errlen, "%s", path);
    char text[256];
    int n = snprintf(text, sizeof text,
                     "# synmatch CURVE key pair: keep this file secret\n"
                     "public-key %s\nsecret-key %s\n",
                     kp->public_z85, kp->secret_z85);
    if (write(fd, text, (size_t)n) != n || close(fd) == -1)
        return sm_errbuf_errno(err, errlen, "%s", path);
    snprintf(path, sizeof path, "%s.pub", prefix);
    FILE *f = fopen(path, "wx");
    if (f == NULL)
        return sm_errbuf_errno(err, errlen, "%s", path);
    fprintf(f, "%s\n", kp->public_z85);
    if (fclose(f) == EOF)
        return sm_errbuf_errno(err, errlen, "%s", path);
    return 0;
}

/* Reads a small text file; NULL with a reason if it cannot. */
static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        sm_errbuf_errno(err, errlen, "%s", path);
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    bool big = buf && !feof(f);
    fclose(f);
    if (buf == NULL || big) {
        free(buf);
        sm_errbuf(err, errlen, "%s: too large for a key file", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Finds "NAME Z85" in text; copies the key to out. */
static bool find_key(const char *text, const char *name, char out[SM_KEY_Z85_LEN + 1])
{
    size_t nl = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ') {
            char k[SM_KEY_Z85_LEN + 1];
            const char *v = p + nl + 1;
            size_t i = 0;
            while (v[i] && v[i] != '\n' && v[i] != '\r' && i < SM_KEY_Z85_LEN) {
                k[i] = v[i];
                i++;
            }
            k[i] = '\0';
            if (sm_key_z85_valid(k) && (v[i] == '\0' || v[i] == '\n' || v[i] == '\r')) {
                memcpy(out, k, sizeof k);
                return true;
            }
            return false;
        }
    }
    return false;
}

int sm_keys_load_secret(const char *path, struct sm_keypair *kp, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == -1)
        return sm_errbuf_errno(err, errlen, "%s", path);
    if (st.st_mode & 077)
        return sm_errbuf(err, errlen,
                         "%s: secret key readable by others (mode %03o): chmod 600 it", path,
                         (unsigned)(st.st_mode & 0777));
    char *text = slurp(path, err, errlen);
    if (text == NULL)
        return -1;
    bool ok = find_key(text, "public-key", kp->public_z85) &&
              find_key(text, "secret-key", kp->secret_z85);
    free(text);
    if (!ok)
        return sm_errbuf(err, errlen,
                         "%s: not a synmatch key file (need public-key and secret-key lines; "
                         "make one with synmatch keygen)",
                         path);
    return 0;
}

int sm_keys_load_public(const char *spec, char out[SM_KEY_Z85_LEN + 1], char *err,
                        size_t errlen)
{
    if (sm_key_z85_valid(spec)) {
        memcpy(out, spec, SM_KEY_Z85_LEN + 1);
        return 0;
    }
    char *text = slurp(spec, err, errlen);
    if (text == NULL)
        return -1;
    bool ok = find_key(text, "public-key", out);
    if (!ok) {
        char k[SM_KEY_Z85_LEN + 1];
        size_t n = strcspn(text, " \t\r\n");
        if (n == SM_KEY_Z85_LEN) {
            memcpy(k, text, n);
            k[n] = '\0';
            ok = sm_key_z85_valid(k);
            if (ok)
                memcpy(out, k, sizeof k);
        }
    }
    free(text);
    return ok ? 0 : sm_errbuf(err, errlen, "%s: not a public key (40 Z85 characters)", spec);
}

int sm_allow_load(const char *path, struct sm_allow *out, char *err, size_t errlen)
{
    char *text = slurp(path, err, errlen);
    if (text == NULL)
        return -1;
    struct sm_allow a = {calloc(MAX_ALLOW, sizeof *a.e), 0};
    if (a.e == NULL) {
        free(text);
        return sm_errbuf(err, errlen, "%s: out of memory", path);
    }
    unsigned lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        line[strcspn(line, "\r")] = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        char id[256], key[256], extra[2];
        if (sscanf(line, "%255s %255s %1s", id, key, extra) != 2 || !sm_key_z85_valid(key) ||
            strlen(id) > SM_SENSOR_ID_MAX) {
            free(text);
            sm_allow_free(&a);
            return sm_errbuf(err, errlen, "%s:%u: expected 'SENSOR-ID PUBLIC-KEY'", path,
                             lineno);
        }
        if (a.n == MAX_ALLOW) {
            free(text);
            sm_allow_free(&a);
            return sm_errbuf(err, errlen, "%s: more than %d entries", path, MAX_ALLOW);
        }
        if (sm_allow_lookup(&a, key)) {
            free(text);
            sm_allow_free(&a);
            return sm_errbuf(err, errlen,
                             "%s:%u: this key is already allowed for another sensor", path,
                             lineno);
        }
        snprintf(a.e[a.n].sensor_id, sizeof a.e[a.n].sensor_id, "%s", id);
        memcpy(a.e[a.n].public_z85, key, SM_KEY_Z85_LEN + 1);
        a.n++;
    }
    free(text);
    sm_allow_free(out);
    *out = a;
    return 0;
}

const char *sm_allow_lookup(const struct sm_allow *a, const char *public_z85)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->e[i].public_z85, public_z85) == 0)
            return a->e[i].sensor_id;
    return NULL;
}

void sm_allow_free(struct sm_allow *a)
{
    free(a->e);
    a->e = NULL;
    a->n = 0;
}
