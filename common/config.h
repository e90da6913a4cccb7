/*
 * config.h - `--config FILE` and `--check-config` for a program with a getopt_long table.
 *
 * A configuration file holds lines `key = value`, each key a long option of the program
 * (docs/DEPLOY.md, "Configuration files"). Nothing here knows any program's options: the keys
 * are whatever the program's `struct option` table holds, so an option added to the table is
 * a key at once. The file is turned into arguments placed before the command line's, and the
 * program parses both with its one getopt loop, through sm_config_getopt(): the same handler
 * checks a value however it came, and the command line wins because every option it names
 * removes that key's lines from the file (a repeatable option given on the command line
 * replaces the file's list instead of adding to it).
 *
 * The program's table must hold "config" (required_argument) and "check-config"
 * (no_argument); sm_config_getopt() consumes them and never returns them.
 */
#ifndef SYNMATCH_CONFIG_H
#define SYNMATCH_CONFIG_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct sm_config sm_config_t;

/* Why sm_config_new() failed; the program maps these to exit statuses. */
enum sm_config_err {
    SM_CONFIG_OK = 0,
    SM_CONFIG_ERR_FILE,  /* the file cannot be read, is not text, or a line is wrong */
    SM_CONFIG_ERR_USAGE, /* --config given twice */
    SM_CONFIG_ERR_NOMEM,
};

/* Longest line of a configuration file, in bytes (without its newline). */
#define SM_CONFIG_LINE_MAX 4096
/* Most settings one file may hold. */
#define SM_CONFIG_MAX_SETTINGS 4096

/*
 * Looks through argv (not modified) for --config FILE and --check-config using shortopts and
 * longopts as the program's own loop will (both must outlive the handle), reads FILE when
 * given, and builds the arguments the program then parses. Returns the handle, or NULL with
 * *why set and one line in err: a file error names the file, and the line and key when there
 * is one ("agent.conf:7: snaplen: needs a value").
 */
sm_config_t *sm_config_new(int argc, char **argv, const char *shortopts,
                           const struct option *longopts, enum sm_config_err *why, char *err,
                           size_t errlen);

/* Frees the handle and NULLs *self_p; NULL-safe. Pointers optarg gave stay valid until then. */
void sm_config_destroy(sm_config_t **self_p);

/*
 * getopt_long() over the built arguments, to be called in the program's option loop in place
 * of it; returns what getopt_long() returns, with optarg set. The arguments are the handle's:
 * after -1, optind indexes sm_config_argv(). Remembers each option given for
 * sm_config_print(). While the program handles an option that came from the file, a fatal
 * error names the file, line and key and a usage error exits SM_EXIT_CONFIG (log.h,
 * sm_log_set_context()).
 */
int sm_config_getopt(sm_config_t *self);

/* The built arguments: argv[0], the file's settings, then the command line's arguments. */
int sm_config_argc(const sm_config_t *self);
char **sm_config_argv(const sm_config_t *self);

/* Whether --check-config was given. */
bool sm_config_checking(const sm_config_t *self);

/*
 * Records a setting that does not come through getopt (an operand the program also takes as
 * an option, such as the agent's filter expression): replaces every earlier value of key.
 * key and value are copied. Returns 0, or -1 when out of memory.
 */
int sm_config_set(sm_config_t *self, const char *key, const char *value);

/*
 * Writes the effective settings to out in the file format, one `key = value` line each, in
 * the order they apply (flags as `key = true`), so that the output given back as --config
 * yields the same settings. Defaults are not written. Returns 0, or -1 with one line in err
 * when a value cannot be written as a line (a newline, or space at either end) or memory
 * ran out while sm_config_getopt() recorded the settings.
 */
int sm_config_print(const sm_config_t *self, FILE *out, char *err, size_t errlen);

#endif
