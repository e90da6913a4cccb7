/*
 * test_keys.c - CURVE key files and the allow-list: a generated pair written and read back,
 * a secret key others can read refused, keygen refusing to overwrite, public keys given
 * inline or as a file, and every malformed allow-list refused with file and line, the
 * previous list kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "synmatch/keys.h"

static char dir[] = "/tmp/sm-test-keys-XXXXXX";
static char path[512];

static const char *at(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void put(const char *name, const char *text)
{
    FILE *f = fopen(at(name), "w");
    fputs(text, f);
    fclose(f);
}

static void test_pair(void)
{
    struct sm_keypair kp, back;
    char err[512];
    CHECK(sm_keys_generate(&kp) == 0);
    CHECK(sm_key_z85_valid(kp.public_z85) && sm_key_z85_valid(kp.secret_z85));
    CHECK(strcmp(kp.public_z85, kp.secret_z85) != 0);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/agent", dir);
    CHECK(sm_keys_write(prefix, &kp, err, sizeof err) == 0);
    CHECK(sm_keys_write(prefix, &kp, err, sizeof err) == -1); /* never overwrites */
    CHECK(strstr(err, "agent.key") != NULL);
    struct stat st;
    CHECK(stat(at("agent.key"), &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(sm_keys_load_secret(at("agent.key"), &back, err, sizeof err) == 0);
    CHECK_EQ_S(back.public_z85, kp.public_z85);
    CHECK_EQ_S(back.secret_z85, kp.secret_z85);
    char pub[SM_KEY_Z85_LEN + 1];
    CHECK(sm_keys_load_public(at("agent.pub"), pub, err, sizeof err) == 0);
    CHECK_EQ_S(pub, kp.public_z85);
    CHECK(sm_keys_load_public(at("agent.key"), pub, err, sizeof err) == 0); /* its public line */
    CHECK_EQ_S(pub, kp.public_z85);
    CHECK(sm_keys_load_public(kp.public_z85, pub, err, sizeof err) == 0); /* inline */
    CHECK(sm_keys_load_public("not-a-key", pub, err, sizeof err) == -1);
    /* readable by others: refused, with what to do */
    chmod(at("agent.key"), 0644);
    CHECK(sm_keys_load_secret(at("agent.key"), &back, err, sizeof err) == -1);
    CHECK(strstr(err, "chmod 600") != NULL);
    put("garbage.key", "hello\n");
    chmod(at("garbage.key"), 0600);
    CHECK(sm_keys_load_secret(at("garbage.key"), &back, err, sizeof err) == -1);
    CHECK(strstr(err, "not a synmatch key file") != NULL);
    CHECK(sm_keys_load_secret(at("missing.key"), &back, err, sizeof err) == -1);
    CHECK(strstr(err, "No such file") != NULL);
    /* a key one character short or with a character outside Z85 */
    char bad[SM_KEY_Z85_LEN + 1];
    memcpy(bad, kp.public_z85, sizeof bad);
    bad[SM_KEY_Z85_LEN - 1] = '\0';
    CHECK(!sm_key_z85_valid(bad));
    memcpy(bad, kp.public_z85, sizeof bad);
    bad[3] = ' ';
    CHECK(!sm_key_z85_valid(bad));
}

static void test_allow(void)
{
    struct sm_keypair a, b;
    sm_keys_generate(&a);
    sm_keys_generate(&b);
    char text[1024], err[512];
    snprintf(text, sizeof text, "# agents\n\n  web1 %s\ndb-1 %s\r\n", a.public_z85, b.public_z85);
    put("ok.allow", text);
    struct sm_allow al = {0};
    CHECK(sm_allow_load(at("ok.allow"), &al, err, sizeof err) == 0);
    CHECK_EQ_U(al.n, 2);
    CHECK_EQ_S(sm_allow_lookup(&al, a.public_z85), "web1");
    CHECK_EQ_S(sm_allow_lookup(&al, b.public_z85), "db-1");
    struct sm_keypair c;
    sm_keys_generate(&c);
    CHECK(sm_allow_lookup(&al, c.public_z85) == NULL);
    /* each malformed list is refused naming the line; the loaded list stays */
    for (int i = 0; i < 4; i++) {
        if (i == 0)
            snprintf(text, sizeof text, "web1\n");
        else if (i == 1)
            snprintf(text, sizeof text, "web1 %s extra\n", a.public_z85);
        else if (i == 2)
            snprintf(text, sizeof text, "web1 short\n");
        else /* one key for two sensors */
            snprintf(text, sizeof text, "x %s\ny %s\n", a.public_z85, a.public_z85);
        put("bad.allow", text);
        CHECK(sm_allow_load(at("bad.allow"), &al, err, sizeof err) == -1);
        CHECK(strstr(err, "bad.allow:") != NULL);
        CHECK_EQ_U(al.n, 2);
    }
    char longid[100];
    memset(longid, 'x', 80);
    longid[80] = '\0';
    snprintf(text, sizeof text, "%s %s\n", longid, a.public_z85);
    put("long.allow", text);
    CHECK(sm_allow_load(at("long.allow"), &al, err, sizeof err) == -1);
    CHECK(sm_allow_load(at("nothere.allow"), &al, err, sizeof err) == -1);
    CHECK_EQ_U(al.n, 2);
    put("empty.allow", "# nobody\n");
    CHECK(sm_allow_load(at("empty.allow"), &al, err, sizeof err) == 0);
    CHECK_EQ_U(al.n, 0); /* an empty list admits nobody */
    CHECK(sm_allow_lookup(&al, a.public_z85) == NULL);
    sm_allow_free(&al);
    sm_allow_free(&al); /* twice is harmless */
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_pair();
    test_allow();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return check_done();
}
