/*
 * cli.c - what the `synmatch` commands share: exit statuses, option numbers, counters.
 */
#include "cli.h"

#include "synmatch/decode.h"
#include "log.h"
#include "parse.h"

int sm_cli_exit_for(enum sm_pcap_err kind)
{
    switch (kind) {
    case SM_PCAP_ERR_NONE:
        return SM_EXIT_OK;
    case SM_PCAP_ERR_OPEN:
        return SM_EXIT_OPEN;
    case SM_PCAP_ERR_EMPTY:
        return SM_EXIT_EMPTY;
    case SM_PCAP_ERR_NOT_CAPTURE:
        return SM_EXIT_NOT_CAPTURE;
    case SM_PCAP_ERR_TRUNCATED:
    case SM_PCAP_ERR_CORRUPT:
        return SM_EXIT_TRUNCATED;
    }
    return SM_EXIT_INTERNAL;
}

size_t sm_cli_size(const char *opt, const char *s, size_t min, size_t max)
{
    uint64_t v;
    if (sm_parse_u64(s, min, max, &v) == -1)
        sm_fatalx(SM_EXIT_USAGE, "%s: not a number from %zu to %zu: '%s'", opt, min, max, s);
    return (size_t)v;
}

int64_t sm_cli_seconds(const char *opt, const char *s, bool positive)
{
    int64_t ns;
    if (sm_parse_seconds(s, 1000000, 0, &ns) == -1 || (positive && ns == 0))
        sm_fatalx(SM_EXIT_USAGE, "%s: not a %snumber of seconds: '%s'", opt,
                  positive ? "positive " : "", s);
    return ns;
}

void sm_cli_print_counters(FILE *out, const uint64_t *c)
{
    for (int i = 0; i < SM_DC_COUNT; i++)
        if (c[i] != 0)
            fprintf(out, "%s: %-22s %llu\n", sm_log_progname(),
                    sm_decode_counter_name((enum sm_decode_counter)i), (unsigned long long)c[i]);
}
