/*
 * config.c - configuration files as arguments (see config.h).
 *
 * The file is not a second parser with its own idea of each option: every line becomes one
 * argument, "--key=value" (or "--key" for a flag set to true), and the program's getopt loop
 * takes it like any other. That keeps one definition of each option (its handler), lets an
 * option added to a program's table be a key without touching this file, and gives "the
 * command line wins" for free once the file's lines for the keys the command line names are
 * left out. What this file checks is what only it can: that the bytes are text, that a line
 * is `key = value`, that the key is an option, and that a flag's value is true or false.
 *
 * The arguments built from the file are allocated here; sm_config_getopt() recognises them by
 * address (getopt_long permutes argv, positions move) to tell the log which line a handler is
 * looking at, so its errors name the file, the line and the key.
 *
 * The file is read a byte at a time through stdio, so the first NUL or control byte stops it
 * at the line where it is, whatever follows (a binary file, /dev/zero), and a line is never
 * held beyond SM_CONFIG_LINE_MAX bytes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errbuf.h"
#include "log.h"

/* Where an argument built from the file came from. */
struct fileline {
    char *arg;     /* "--key=value" or "--key", owned */
    unsigned line; /* 1-based */
    int opt;       /* index into longopts */
};

/* An option in effect, in the order given, for sm_config_print(). */
struct given {
    char *key;
    char *value; /* NULL for a flag */
};

struct sm_config {
    const char *shortopts;
    const struct option *longopts;
    char *path; /* --config FILE, or NULL */
    bool check;
    struct fileline *lines;
    size_t nlines;
    int argc;
    char **argv; /* argc + 1 pointers, NULL-terminated; the strings are argv's or lines' */
    struct given *given;
    size_t ngiven, capgiven;
    bool given_lost; /* out of memory recording one: sm_config_print() fails */
    char where[512]; /* "FILE:LINE" of the option being handled */
};

static size_t count_options(const struct option *o)
{
    size_t n = 0;
    while (o[n].name != NULL)
        n++;
    return n;
}

/* The table's entry for what getopt_long returned: by longindex, or a short option's entry. */
static int option_index(const struct option *o, int ch, int longindex)
{
    if (longindex >= 0)
        return longindex;
    for (int i = 0; o[i].name != NULL; i++)
        if (o[i].flag == NULL && o[i].val == ch)
            return i;
    return -1;
}

static bool is_name(const struct option *o, int i, const char *name)
{
    return i >= 0 && strcmp(o[i].name, name) == 0;
}

/* Options that mean nothing in a file: they choose the file, or end the program at once. */
static bool file_forbidden(const char *name)
{
    return strcmp(name, "config") == 0 || strcmp(name, "check-config") == 0 ||
           strcmp(name, "help") == 0 || strcmp(name, "version") == 0;
}

static bool blank(int c)
{
    return c == ' ' || c == '\t';
}

/* Shown in messages: a key as written, cut short, so that a long line does not make one. */
#define KEY_SHOWN 64

/*
 * One line (NUL-terminated, no newline) of the file: nothing, a comment, or a setting
 * appended to self->lines. Returns 0, or -1 with err set.
 */
static int parse_line(sm_config_t *self, char *s, unsigned lineno, char *err, size_t errlen)
{
    const char *path = self->path;
    size_t len = strlen(s);
    if (len > 0 && s[len - 1] == '\r') /* a file written on Windows */
        s[--len] = '\0';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return sm_errbuf(err, errlen, "%s:%u: control character 0x%02x: not a text file", path,
                             lineno, c);
    }
    while (blank(*s))
        s++;
    if (*s == '\0' || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    if (eq == NULL)
        return sm_errbuf(err, errlen, "%s:%u: '%.*s': not 'key = value'", path, lineno, KEY_SHOWN,
                         s);
    char *kend = eq;
    while (kend > s && blank(kend[-1]))
        kend--;
    *kend = '\0';
    char *value = eq + 1;
    while (blank(*value))
        value++;
    char *vend = value + strlen(value);
    while (vend > value && blank(vend[-1]))
        vend--;
    *vend = '\0';
    if (*s == '\0')
        return sm_errbuf(err, errlen, "%s:%u: no key before '='", path, lineno);

    const struct option *o = self->longopts;
    int idx = -1;
    for (int i = 0; o[i].name != NULL; i++)
        if (strcmp(o[i].name, s) == 0)
            idx = i;
    if (idx < 0)
        return sm_errbuf(err, errlen,
                         "%s:%u: %.*s: unknown key (the keys are the long options, see --help)",
                         path, lineno, KEY_SHOWN, s);
    if (file_forbidden(s))
        return sm_errbuf(err, errlen, "%s:%u: %s: not allowed in a configuration file", path,
                         lineno, s);
    if (self->nlines == SM_CONFIG_MAX_SETTINGS)
        return sm_errbuf(err, errlen, "%s:%u: %s: more than %d settings", path, lineno, s,
                         SM_CONFIG_MAX_SETTINGS);

    size_t need = strlen(s) + strlen(value) + 4;
    char *arg = malloc(need);
    if (arg == NULL)
        return sm_errbuf(err, errlen, "out of memory");
    switch (o[idx].has_arg) {
    case no_argument:
        if (strcmp(value, "false") == 0) {
            free(arg);
            return 0;
        }
        if (strcmp(value, "true") != 0) {
            free(arg);
            return sm_errbuf(err, errlen, "%s:%u: %s: true or false, not '%.*s'", path, lineno, s,
                             KEY_SHOWN, value);
        }
        snprintf(arg, need, "--%s", s);
        break;
    case required_argument:
        if (*value == '\0') {
            free(arg);
            return sm_errbuf(err, errlen, "%s:%u: %s: needs a value", path, lineno, s);
        }
        snprintf(arg, need, "--%s=%s", s, value);
        break;
    default: /* optional_argument: an empty value is the option alone */
        if (*value == '\0')
            snprintf(arg, need, "--%s", s);
        else
            snprintf(arg, need, "--%s=%s", s, value);
        break;
    }
    self->lines[self->nlines++] = (struct fileline){arg, lineno, idx};
    return 0;
}

/* Reads self->path into self->lines. Returns 0, or -1 with err set. */
static int read_file(sm_config_t *self, char *err, size_t errlen)
{
    const char *path = self->path;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd == -1)
        return sm_errbuf_errno(err, errlen, "configuration file %s", path);
    struct stat st;
    if (fstat(fd, &st) == -1) {
        sm_errbuf_errno(err, errlen, "%s", path);
        close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return sm_errbuf(err, errlen, "%s: is a directory, not a configuration file", path);
    }
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        sm_errbuf_errno(err, errlen, "%s", path);
        close(fd);
        return -1;
    }
    self->lines = calloc(SM_CONFIG_MAX_SETTINGS, sizeof *self->lines);
    char *line = malloc(SM_CONFIG_LINE_MAX + 1);
    int rc = 0;
    if (self->lines == NULL || line == NULL) {
        rc = sm_errbuf(err, errlen, "out of memory");
        goto out;
    }
    size_t len = 0;
    unsigned lineno = 1;
    for (;;) {
        int c = getc(f);
        if (c == EOF) {
            if (ferror(f)) {
                rc = sm_errbuf_errno(err, errlen, "%s", path);
                break;
            }
            line[len] = '\0';
            if (len > 0)
                rc = parse_line(self, line, lineno, err, errlen);
            break;
        }
        if (c == '\n') {
            line[len] = '\0';
            if ((rc = parse_line(self, line, lineno, err, errlen)) == -1)
                break;
            len = 0;
            lineno++;
            continue;
        }
        if (c == '\0') {
            rc = sm_errbuf(err, errlen, "%s:%u: a NUL byte: not a text file", path, lineno);
            break;
        }
        if (len == SM_CONFIG_LINE_MAX) {
            rc = sm_errbuf(err, errlen, "%s:%u: line longer than %d bytes", path, lineno,
                           SM_CONFIG_LINE_MAX);
            break;
        }
        line[len++] = (char)c;
    }
out:
    free(line);
    fclose(f);
    return rc;
}

/*
 * The command line's --config and --check-config, and which options it names (named[i] for
 * longopts[i]). getopt_long runs silently here; the program's own loop reports what is wrong.
 */
static int scan_command_line(sm_config_t *self, int argc, char **argv, bool *named,
                             enum sm_config_err *why, char *err, size_t errlen)
{
    char **copy = malloc(((size_t)argc + 1) * sizeof *copy);
    if (copy == NULL) {
        *why = SM_CONFIG_ERR_NOMEM;
        return sm_errbuf(err, errlen, "out of memory");
    }
    memcpy(copy, argv, (size_t)argc * sizeof *copy); /* getopt_long may permute it */
    copy[argc] = NULL;
    const struct option *o = self->longopts;
    int saved_opterr = opterr, ch, longindex, rc = 0;
    opterr = 0;
    optind = 0;
    for (;;) {
        longindex = -1;
        if ((ch = getopt_long(argc, copy, self->shortopts, o, &longindex)) == -1)
            break;
        int i = ch == '?' || ch == ':' ? -1 : option_index(o, ch, longindex);
        if (i < 0)
            continue;
        named[i] = true;
        if (is_name(o, i, "check-config"))
            self->check = true;
        if (is_name(o, i, "config")) {
            if (self->path != NULL) {
                *why = SM_CONFIG_ERR_USAGE;
                rc = sm_errbuf(err, errlen, "--config: one file only (%s, then %s)", self->path,
                               optarg);
                break;
            }
            if ((self->path = strdup(optarg)) == NULL) {
                *why = SM_CONFIG_ERR_NOMEM;
                rc = sm_errbuf(err, errlen, "out of memory");
                break;
            }
        }
    }
    optind = 0; /* the program's loop starts afresh */
    opterr = saved_opterr;
    free(copy);
    return rc;
}

sm_config_t *sm_config_new(int argc, char **argv, const char *shortopts,
                           const struct option *longopts, enum sm_config_err *why, char *err,
                           size_t errlen)
{
    if (argc < 1 || argv == NULL || shortopts == NULL || longopts == NULL) {
        *why = SM_CONFIG_ERR_USAGE;
        sm_errbuf(err, errlen, "no arguments");
        return NULL;
    }
    *why = SM_CONFIG_OK;
    sm_config_t *self = calloc(1, sizeof *self);
    bool *named = calloc(count_options(longopts) + 1, sizeof *named);
    if (self == NULL || named == NULL) {
        free(self);
        free(named);
        *why = SM_CONFIG_ERR_NOMEM;
        sm_errbuf(err, errlen, "out of memory");
        return NULL;
    }
    self->shortopts = shortopts;
    self->longopts = longopts;
    if (scan_command_line(self, argc, argv, named, why, err, errlen) == -1)
        goto fail;
    if (self->path != NULL && read_file(self, err, errlen) == -1) {
        *why = SM_CONFIG_ERR_FILE;
        goto fail;
    }
    self->argv = calloc((size_t)argc + self->nlines + 1, sizeof *self->argv);
    if (self->argv == NULL) {
        *why = SM_CONFIG_ERR_NOMEM;
        sm_errbuf(err, errlen, "out of memory");
        goto fail;
    }
    self->argv[self->argc++] = argv[0];
    for (size_t i = 0; i < self->nlines; i++)
        if (!named[self->lines[i].opt])
            self->argv[self->argc++] = self->lines[i].arg;
    for (int i = 1; i < argc; i++)
        self->argv[self->argc++] = argv[i];
    free(named);
    return self;
fail:
    free(named);
    sm_config_destroy(&self);
    return NULL;
}

void sm_config_destroy(sm_config_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sm_config_t *self = *self_p;
    for (size_t i = 0; i < self->nlines; i++)
        free(self->lines[i].arg);
    free(self->lines);
    for (size_t i = 0; i < self->ngiven; i++) {
        free(self->given[i].key);
        free(self->given[i].value);
    }
    free(self->given);
    free(self->argv);
    free(self->path);
    free(self);
    *self_p = NULL;
}

int sm_config_argc(const sm_config_t *self)
{
    return self->argc;
}

char **sm_config_argv(const sm_config_t *self)
{
    return self->argv;
}

bool sm_config_checking(const sm_config_t *self)
{
    return self->check;
}

static int append_given(sm_config_t *self, const char *key, const char *value)
{
    if (self->ngiven == self->capgiven) {
        size_t cap = self->capgiven ? 2 * self->capgiven : 32;
        struct given *g = realloc(self->given, cap * sizeof *g);
        if (g == NULL)
            return -1;
        self->given = g;
        self->capgiven = cap;
    }
    struct given *g = &self->given[self->ngiven];
    g->key = strdup(key);
    g->value = value ? strdup(value) : NULL;
    if (g->key == NULL || (value && g->value == NULL)) {
        free(g->key);
        free(g->value);
        return -1;
    }
    self->ngiven++;
    return 0;
}

int sm_config_set(sm_config_t *self, const char *key, const char *value)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->ngiven; i++) {
        if (strcmp(self->given[i].key, key) == 0) {
            free(self->given[i].key);
            free(self->given[i].value);
        } else {
            self->given[kept++] = self->given[i];
        }
    }
    self->ngiven = kept;
    return append_given(self, key, value);
}

/* The line an argument came from, or NULL for the command line's. */
static const struct fileline *from_file(const sm_config_t *self, const char *arg)
{
    for (size_t i = 0; i < self->nlines; i++)
        if (self->lines[i].arg == arg)
            return &self->lines[i];
    return NULL;
}

int sm_config_getopt(sm_config_t *self)
{
    const struct option *o = self->longopts;
    for (;;) {
        int longindex = -1;
        int ch = getopt_long(self->argc, self->argv, self->shortopts, o, &longindex);
        sm_log_set_context(NULL, NULL);
        if (ch == -1 || ch == '?' || ch == ':')
            return ch;
        int i = option_index(o, ch, longindex);
        if (i < 0)
            return ch;
        if (is_name(o, i, "config") || is_name(o, i, "check-config"))
            continue;
        /* A flag is recorded without a value; an optional argument left out, as empty. */
        const char *value = optarg ? optarg : "";
        if (o[i].has_arg == no_argument)
            value = NULL;
        if (!is_name(o, i, "help") && !is_name(o, i, "version") &&
            append_given(self, o[i].name, value) == -1)
            self->given_lost = true;
        const struct fileline *fl = optind > 0 ? from_file(self, self->argv[optind - 1]) : NULL;
        if (fl != NULL) {
            snprintf(self->where, sizeof self->where, "%s:%u", self->path, fl->line);
            sm_log_set_context(self->where, o[fl->opt].name);
        }
        return ch;
    }
}

/* Whether value reads back the same from a `key = value` line. */
static bool writable(const char *value)
{
    size_t n = strlen(value);
    if (n == 0)
        return true;
    if (blank(value[0]) || blank(value[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

int sm_config_print(const sm_config_t *self, FILE *out, char *err, size_t errlen)
{
    if (self->given_lost)
        return sm_errbuf(err, errlen, "out of memory recording the settings");
    for (size_t i = 0; i < self->ngiven; i++) {
        const struct given *g = &self->given[i];
        if (g->value != NULL && !writable(g->value))
            return sm_errbuf(err, errlen,
                             "--%s: a value with a control character or space at either end "
                             "cannot be written in a configuration file",
                             g->key);
    }
    fprintf(out, "# settings in effect; options not listed have their defaults\n");
    for (size_t i = 0; i < self->ngiven; i++) {
        const struct given *g = &self->given[i];
        fprintf(out, "%s = %s\n", g->key, g->value ? g->value : "true");
    }
    return 0;
}
