/*
 * test_config.c - configuration files as arguments (common/config.c) with a made-up option
 * table: what the program's loop sees (file first, command line after, the command line's keys
 * taking the file's lines out), what --check-config prints, and each malformed file's one line.
 * tests/golden/test_config.sh does the same through the two programs.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

enum { O_NAME = 256, O_ADD, O_FLAG, O_OPT, O_CONFIG, O_CHECK };
static const struct option opts[] = {
    {"name", required_argument, NULL, O_NAME},
    {"add", required_argument, NULL, O_ADD},
    {"flag", no_argument, NULL, O_FLAG},
    {"opt", optional_argument, NULL, O_OPT},
    {"file", required_argument, NULL, 'f'},
    {"config", required_argument, NULL, O_CONFIG},
    {"check-config", no_argument, NULL, O_CHECK},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static char dir[] = "/tmp/test_config.XXXXXX";

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[4][256];
    static int slot;
    char *p = path[slot++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f == NULL)
        return p;
    fwrite(text, 1, len, f);
    fclose(f);
    return p;
}

/* Runs the loop over argv, appending "ch=optarg;" per option to got; returns the handle. */
static sm_config_t *parse(int argc, char **argv, char *got, size_t gotlen, enum sm_config_err *why,
                          char *err, size_t errlen)
{
    got[0] = '\0';
    sm_config_t *c = sm_config_new(argc, argv, "+f:h", opts, why, err, errlen);
    if (c == NULL)
        return NULL;
    int ch;
    while ((ch = sm_config_getopt(c)) != -1) {
        size_t n = strlen(got);
        snprintf(got + n, gotlen - n, "%d=%s;", ch, optarg && ch != O_FLAG ? optarg : "");
    }
    return c;
}

static char *printed(sm_config_t *c)
{
    static char buf[4096];
    memset(buf, 0, sizeof buf);
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    char err[256];
    if (f == NULL || sm_config_print(c, f, err, sizeof err) == -1)
        snprintf(buf, sizeof buf, "print failed");
    if (f)
        fclose(f);
    char *nl = strchr(buf, '\n'); /* past the comment line */
    return nl ? nl + 1 : buf;
}

static void test_merge(void)
{
    const char text[] = "# comment\n"
                        "  name  =  from file  \n"
                        "add = a1\n"
                        "\n"
                        "add = a2\n"
                        "flag = true\n"
                        "opt =\n"
                        "file = /x\r\n";
    const char *p = write_file("a.conf", text, sizeof text - 1);
    char *argv[] = {"prog", "--config", (char *)p, "--add", "cli", "-f", "/y", "operand", NULL};
    char got[512], err[256];
    enum sm_config_err why;
    sm_config_t *c = parse(8, argv, got, sizeof got, &why, err, sizeof err);
    CHECK(c != NULL);
    if (c == NULL)
        return;
    /* The file's name, flag and opt; its add and file lines replaced by the command line's. */
    CHECK_EQ_S(got, "256=from file;258=;259=;257=cli;102=/y;");
    CHECK_EQ_U(sm_config_argc(c) - optind, 1);
    CHECK_EQ_S(sm_config_argv(c)[optind], "operand");
    CHECK(!sm_config_checking(c));
    CHECK_EQ_S(printed(c), "name = from file\nflag = true\nopt = \nadd = cli\nfile = /y\n");
    CHECK(sm_config_set(c, "name", "again") == 0);
    CHECK_EQ_S(printed(c), "flag = true\nopt = \nadd = cli\nfile = /y\nname = again\n");
    sm_config_destroy(&c);
    CHECK(c == NULL);
    sm_config_destroy(&c); /* NULL-safe */
}

static void test_no_file(void)
{
    char *argv[] = {"prog", "--check-config", "--name", "n", "--flag", NULL};
    char got[512], err[256];
    enum sm_config_err why;
    sm_config_t *c = parse(5, argv, got, sizeof got, &why, err, sizeof err);
    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK(sm_config_checking(c));
    CHECK_EQ_S(got, "256=n;258=;");
    CHECK_EQ_S(printed(c), "name = n\nflag = true\n");
    sm_config_destroy(&c);
}

static void test_unwritable_value(void)
{
    char *argv[] = {"prog", "--name", " padded", NULL};
    char got[512], err[256];
    enum sm_config_err why;
    sm_config_t *c = parse(3, argv, got, sizeof got, &why, err, sizeof err);
    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK(sm_config_print(c, stdout, err, sizeof err) == -1);
    CHECK(strstr(err, "--name") != NULL);
    sm_config_destroy(&c);
}

/* A file that must be refused with why and a message containing want. */
static void refused(const char *name, const char *text, size_t len, enum sm_config_err want_why,
                    const char *want)
{
    const char *p = name[0] == '/' ? name : write_file(name, text, len);
    char *argv[] = {"prog", "--config", (char *)p, NULL};
    char got[512], err[512] = "";
    enum sm_config_err why = SM_CONFIG_OK;
    sm_config_t *c = parse(3, argv, got, sizeof got, &why, err, sizeof err);
    CHECK(c == NULL);
    CHECK_EQ_U(why, want_why);
    if (strstr(err, want) == NULL || strstr(err, p) == NULL) {
        fprintf(stderr, "%s: got '%s', want '%s'\n", name, err, want);
        CHECK(0);
    } else {
        CHECK(1);
    }
    sm_config_destroy(&c);
}

static void test_refused(void)
{
    refused("unknown.conf", "name = x\nnmae = y\n", 18, SM_CONFIG_ERR_FILE,
            ":2: nmae: unknown key");
    refused("flag.conf", "flag = on\n", 10, SM_CONFIG_ERR_FILE,
            ":1: flag: true or false, not 'on'");
    refused("empty.conf", "name=\n", 6, SM_CONFIG_ERR_FILE, ":1: name: needs a value");
    refused("help.conf", "help = true\n", 12, SM_CONFIG_ERR_FILE, ":1: help: not allowed");
    refused("noeq.conf", "name x\n", 7, SM_CONFIG_ERR_FILE, ":1: 'name x': not 'key = value'");
    refused("nul.conf", "name = a\0b\n", 11, SM_CONFIG_ERR_FILE, ":1: a NUL byte");
    refused("ctl.conf", "\n\nname = \x01\n", 11, SM_CONFIG_ERR_FILE, ":3: control character 0x01");
    static char longline[SM_CONFIG_LINE_MAX + 10];
    memset(longline, 'n', sizeof longline);
    refused("long.conf", longline, sizeof longline, SM_CONFIG_ERR_FILE,
            ":1: line longer than 4096");
    /* exactly at the bound is a line (a wrong one here), not too long */
    refused("bound.conf", longline, SM_CONFIG_LINE_MAX, SM_CONFIG_ERR_FILE, "not 'key = value'");
    refused("/nonexistent/x.conf", NULL, 0, SM_CONFIG_ERR_FILE, "No such file or directory");
    refused(dir, NULL, 0, SM_CONFIG_ERR_FILE, "is a directory");

    /* more settings than the bound */
    size_t n = (SM_CONFIG_MAX_SETTINGS + 1) * 9;
    char *many = malloc(n + 1);
    if (many != NULL) {
        for (size_t i = 0; i <= SM_CONFIG_MAX_SETTINGS; i++)
            memcpy(many + i * 9, "add = xy\n", 9);
        refused("many.conf", many, n, SM_CONFIG_ERR_FILE, ": add: more than 4096 settings");
        free(many);
    }

    char *argv[] = {"prog", "--config", "a", "--config", "b", NULL};
    char got[512], err[256];
    enum sm_config_err why;
    CHECK(parse(5, argv, got, sizeof got, &why, err, sizeof err) == NULL);
    CHECK_EQ_U(why, SM_CONFIG_ERR_USAGE);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    test_merge();
    test_no_file();
    test_unwritable_value();
    test_refused();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
