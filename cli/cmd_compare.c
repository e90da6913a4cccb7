/*
 * cmd_compare.c - `synmatch compare CLIENT SERVER`: the stream map and the missing SYNs.
 *
 * Output (stdout) is deterministic; everything addressed to the person running it (what
 * scope was used, summaries, warnings) goes to stderr. Exit statuses follow diff(1): 0 no
 * missing SYNs, 1 missing SYNs found, 2 and above errors (cli/cli.h, README.md).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "addr.h"
#include "fmt.h"
#include "json.h"
#include "compare.h"
#include "htmlreport.h"
#include "log.h"
#include "synmatch/report.h"
#include "synmatch/stream.h"

#define MAX_SERVER_IPS 256
#define SCOPE_SHOWN 8

static void usage(FILE *out)
{
    fprintf(out,
"usage: synmatch compare [options] CLIENT SERVER\n"
"\n"
"Reads a capture taken at the client and one taken at the server (pcap or pcapng; one of\n"
"them may be - for standard input), joins the client's SYNs to the server's by TCP initial\n"
"sequence number, follows each handshake in order, and prints four tables:\n"
"  the stream map     every client SYN the server saw: client_stream server_stream\n"
"                     client_seq server_seq, both tuples, delta, verdict\n"
"  the missing SYNs   no attempt reached the server: count seq, the client tuple,\n"
"                     client_stream, first and last time\n"
"  broken handshakes  the server saw the SYN but the handshake did not complete: refused,\n"
"                     reply_lost, unanswered, answered_by_middlebox\n"
"  not witnessed      what the captures cannot decide, with the reason\n"
"Stream numbers are Wireshark's tcp.stream: paste `tcp.stream eq N` into Wireshark.\n"
"\n"
"options:\n"
"  --map, --missing, --broken, --unwitnessed\n"
"                        print only these tables (any of them; default all four)\n"
"  --verdicts            print every final verdict as a JSON line instead (docs/VERDICTS.md)\n"
"  --format FMT          table (default), csv or jsonl\n"
"  --server-ip ADDR      judge only client SYNs sent to ADDR (IPv4 or IPv6; repeatable).\n"
"                        Default: every address that receives SYNs in the server capture\n"
"  --timeout SECONDS     allowance for a SYN to reach the server and for the next\n"
"                        retransmission (default 3)\n"
"  --max-skew SECONDS    error allowed in the clocks' agreement (default 1): the offset\n"
"                        between the captures is measured from connections both saw and\n"
"                        corrected; this allows for what the measure cannot see\n"
"  --no-clock-correction leave the server's times as captured (the offset is still\n"
"                        measured and printed)\n"
"  --max-conversations N endpoint pairs remembered per file (default %u); past it the\n"
"                        stream numbers are no longer exact and a warning says so\n"
"  --max-pending N       SYN entries held by the join at once (default 1000000)\n"
"  --report FILE.html    also write a self-contained HTML page of the comparison: the\n"
"                        summary, timelines by verdict, one-way delay and clock offset,\n"
"                        attempts per connection, the failures with Wireshark filters\n"
"  --community-id-seed N seed of the Community ID flow hashes (community_id, and\n"
"                        server_community_id when NAT changed the tuple; 0 to 65535,\n"
"                        default 0, as Zeek, Suricata and Wireshark default to)\n"
"  -q, --quiet           no summary on stderr (errors and warnings still appear)\n"
"  -h, --help            this text\n"
"\n"
"exit status: 0 nothing broken, 1 at least one missing, reply_lost, unanswered or\n"
"answered_by_middlebox, 2 usage error, 3 cannot open or read a file, 4 not a capture\n"
"file, 5 unsupported link type, 6 empty file, 7 a file is truncated or corrupt (the output\n"
"is partial), 8 no server address known (use --server-ip), 9 internal error.\n"
"\n"
"examples:\n"
"  synmatch compare client.pcapng server.pcapng\n"
"  synmatch compare --missing --server-ip 198.51.100.10 client.pcap server.pcap\n"
"  synmatch compare --map --format csv client.pcap server.pcap > map.csv\n"
"  ssh server 'cat /tmp/server.pcap' | synmatch compare client.pcap -\n",
            SM_STREAMS_DEFAULT_MAX);
}

static FILE *verdict_out;
static uint16_t community_id_seed;
static sm_htmlreport_t *report;

/* The jsonl status row of a file that could not be read to its end. */
static void print_status(const char *side, uint64_t frames)
{
    char line[256];
    struct sm_json w;
    sm_json_begin(&w, line, sizeof line);
    sm_json_str(&w, "table", "status");
    sm_json_bool(&w, "partial", true);
    sm_json_str(&w, "file", side);
    sm_json_u64(&w, "frames", frames);
    fwrite(line, 1, sm_json_end(&w), stdout);
}

static void on_verdict(void *arg, const struct sm_verdict *v)
{
    if (verdict_out)
        sm_report_verdict_json(verdict_out, v, community_id_seed);
    if (report)
        sm_htmlreport_verdict(report, v);
}

/* --report FILE: the HTML page; exits (status 3) when it cannot be written. */
static void write_report(const char *path, const struct sm_compare_result *res,
                         const struct sm_compare_opts *o)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        sm_fatal(SM_EXIT_OPEN, "%s", path);
    static char buf[1 << 16];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    if (sm_htmlreport_write(report, f, res, o) == -1)
        sm_fatalx(SM_EXIT_INTERNAL, "%s: out of memory", path);
    if (ferror(f) || fclose(f) == EOF)
        sm_fatal(SM_EXIT_OPEN, "writing %s", path);
}

static int exit_for_side(const struct sm_filesrc_summary *s)
{
    if (s->unsupported_linktype)
        return SM_EXIT_LINKTYPE;
    return sm_cli_exit_for(s->err);
}

static void warn_side(const char *path, const struct sm_filesrc_summary *s)
{
    if (s->unaligned_blocks)
        sm_log_warnx("%s: %" PRIu64 " pcapng blocks have a length that is not a multiple of 4; "
                     "read as padded to the next one, as tshark does",
                     path, s->unaligned_blocks);
    if (s->bounded_frames)
        sm_log_warnx("%s: stream numbers may differ from Wireshark's from frame %" PRIu64
                     ": %" PRIu64 " frames nest deeper than synmatch follows (%s)",
                     path, s->first_bounded_frame, s->bounded_frames, SM_DECODE_BOUNDS);
    if (!s->numbering_exact && !(s->bounded_frames && !s->pairs_evicted &&
                                 !s->counters[SM_DC_FRAG_EVICTED])) {
        if (s->pairs_evicted)
            sm_log_warnx("%s: stream numbers are not exact from frame %" PRIu64 ": %" PRIu64
                         " endpoint pairs were forgotten (raise --max-conversations)",
                         path, s->first_inexact_frame, s->pairs_evicted);
        else
            sm_log_warnx("%s: stream numbers may not be exact: %" PRIu64
                         " incomplete IP datagrams were dropped to bound memory",
                         path, s->counters[SM_DC_FRAG_EVICTED]);
    }
    if (s->counters[SM_DC_LINKTYPE_UNSUPPORTED])
        sm_log_warnx("%s: %" PRIu64 " frames on interfaces with an unsupported link type "
                     "were skipped",
                     path, s->counters[SM_DC_LINKTYPE_UNSUPPORTED]);
    uint64_t bad = 0;
    char detail[512] = "";
    size_t len = 0;
    for (int i = 0; i < SM_DC_COUNT; i++) {
        enum sm_decode_counter c = (enum sm_decode_counter)i;
        if (!sm_decode_counter_is_error(c) || c == SM_DC_LINKTYPE_UNSUPPORTED ||
            s->counters[i] == 0)
            continue;
        bad += s->counters[i];
        if (len < sizeof detail - 64)
            len += (size_t)snprintf(detail + len, sizeof detail - len, "%s%s %" PRIu64,
                                    len ? ", " : "", sm_decode_counter_name(c), s->counters[i]);
    }
    if (bad)
        sm_log_info("%s: %" PRIu64 " malformed headers counted and skipped (%s)", path, bad,
                    detail);
}

/* Which tables to print (bits of 1 << enum sm_table). */
#define ALL_TABLES ((1u << SM_TABLE_COUNT) - 1)

/* Table titles: what comes before and after the count. */
static const char *const table_titles[SM_TABLE_COUNT][2] = {
    [SM_TABLE_MAP] = {"Stream map", "seen at the server"},
    [SM_TABLE_MISSING] = {"Missing SYNs", "never seen at the server"},
    [SM_TABLE_BROKEN] = {"Broken handshakes", "whose handshake did not complete"},
    [SM_TABLE_UNWITNESSED] = {"Not witnessed", "the captures cannot decide"},
};

static void print_tables(const struct sm_compare_result *res, enum sm_format fmt,
                         unsigned shown)
{
    bool first = true, several = (shown & (shown - 1)) != 0;
    for (int t = 0; t < SM_TABLE_COUNT; t++) {
        if (!(shown & (1u << t)))
            continue;
        if (!first && fmt != SM_FORMAT_JSONL)
            printf("\n");
        first = false;
        size_t n = res->nrows[t];
        if (fmt == SM_FORMAT_TABLE && several) {
            printf("%s: %zu client SYN%s %s\n\n", table_titles[t][0], n, n == 1 ? "" : "s",
                   table_titles[t][1]);
        }
        sm_report_table(stdout, fmt, (enum sm_table)t, res->rows[t], n, community_id_seed);
    }
}

/* One line counting every final verdict, in handshake order. */
static void summary(const struct sm_join_stats *js)
{
    char line[1024];
    size_t len = 0;
    for (int k = 0; k < SM_V_COUNT; k++) {
        if (k == SM_V_SUSPECT || (js->verdicts[k] == 0 && k != SM_V_MATCHED &&
                                  k != SM_V_MISSING))
            continue;
        len += (size_t)snprintf(line + len, sizeof line - len, ", %s %" PRIu64,
                                sm_verdict_name((enum sm_verdict_kind)k), js->verdicts[k]);
        if (len >= sizeof line)
            break;
    }
    sm_log_info("client SYNs: %" PRIu64 " ISNs%s, not for the server %" PRIu64,
                js->client_groups, line, js->out_of_scope);
}

/* One line on the two clocks: how far apart, how sure, what was done about it. */
static void say_clock(const struct sm_clock_estimate *c, const struct sm_compare_opts *o)
{
    char off[48], spread[48], skew[48];
    sm_fmt_span(off, sizeof off, c->offset_ns);
    sm_fmt_span(spread, sizeof spread, c->spread_ns);
    sm_fmt_span(skew, sizeof skew, o->max_skew_ns > 0 ? o->max_skew_ns : INT64_C(1000000000));
    if (c->pairs == 0) {
        sm_log_info("clock offset not measured: no connection was seen in both captures; "
                    "--max-skew (%s) allows for it", skew);
        return;
    }
    if (!c->confident) {
        sm_log_info("clock offset not measured with confidence (%" PRIu64 " connections seen "
                    "in both, spread %s); --max-skew (%s) allows for it", c->pairs, spread, skew);
        return;
    }
    char more[256] = "";
    size_t len = 0;
    if (c->drift_ppm > 0.05 || c->drift_ppm < -0.05)
        len += (size_t)snprintf(more + len, sizeof more - len, ", drift %+.1f ppm", c->drift_ppm);
    if (c->steps)
        len += (size_t)snprintf(more + len, sizeof more - len, ", stepped %" PRIu32 " time%s: "
                                "the figure is the last segment's", c->steps,
                                c->steps == 1 ? "" : "s");
    if (!c->two_legs)
        snprintf(more + len, sizeof more - len, ", one-way delay included: too few SYN/ACKs "
                 "seen in both captures (none in one, or a proxy's answers)");
    if (!c->corrected && !o->no_clock_correction) {
        sm_log_info("the clocks agree: the server's is %s %s the client's (%" PRIu64
                    " connections seen in both, spread %s%s); no correction",
                    off, c->offset_ns < 0 ? "behind" : "ahead of", c->pairs, spread, more);
        return;
    }
    sm_log_info("the server's clock is %s %s the client's (median of %" PRIu64 " connections "
                "seen in both, spread %s%s); %s",
                off, c->offset_ns < 0 ? "behind" : "ahead of", c->pairs, spread, more,
                c->corrected ? "times corrected" : "not corrected (--no-clock-correction)");
}

/*
 * compare SERVER CLIENT by mistake looks healthy: every SYN of the "client" file (the
 * server's capture) is in the "server" file, and the SYNs that were dropped sit, unanswered,
 * in the "server" file only. Say so, with the counts.
 */
static void warn_swapped(const struct sm_compare_result *res, const struct sm_compare_opts *o)
{
    const struct sm_join_stats *js = &res->join;
    uint64_t judged = js->client_groups - js->out_of_scope;
    if (judged == 0 || res->nrows[SM_TABLE_MAP] != judged || js->server_only_unanswered == 0)
        return;
    sm_log_warnx("the files look swapped: all %" PRIu64 " client SYNs of %s appear in %s, "
                 "and %s has %" PRIu64 " SYNs to the judged addresses that %s never sent and "
                 "that nobody answered: %s looks like the server's capture (swap the "
                 "arguments if it is)",
                 judged, o->client_path, o->server_path, o->server_path,
                 js->server_only_unanswered, o->client_path, o->client_path);
}

int sm_cmd_compare(int argc, char **argv)
{
    bool verdicts = false, quiet = false;
    const char *report_path = NULL;
    unsigned shown = 0;
    enum sm_format fmt = SM_FORMAT_TABLE;
    struct sm_addr ips[MAX_SERVER_IPS];
    struct sm_compare_opts o = {0};
    static const struct option opts[] = {
        {"map", no_argument, NULL, 'M'},
        {"missing", no_argument, NULL, 'X'},
        {"broken", no_argument, NULL, 'B'},
        {"unwitnessed", no_argument, NULL, 'U'},
        {"verdicts", no_argument, NULL, 'V'},
        {"format", required_argument, NULL, 'f'},
        {"server-ip", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"max-skew", required_argument, NULL, 'k'},
        {"max-conversations", required_argument, NULL, 'c'},
        {"max-pending", required_argument, NULL, 'p'},
        {"no-clock-correction", no_argument, NULL, 'C'},
        {"community-id-seed", required_argument, NULL, 'I'},
        {"report", required_argument, NULL, 'R'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (ch) {
        case 'M':
            shown |= 1u << SM_TABLE_MAP;
            break;
        case 'C':
            o.no_clock_correction = true;
            break;
        case 'X':
            shown |= 1u << SM_TABLE_MISSING;
            break;
        case 'B':
            shown |= 1u << SM_TABLE_BROKEN;
            break;
        case 'U':
            shown |= 1u << SM_TABLE_UNWITNESSED;
            break;
        case 'V':
            verdicts = true;
            break;
        case 'f':
            if (sm_format_parse(optarg, &fmt) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--format: expected table, csv or jsonl, not '%s'",
                          optarg);
            break;
        case 's':
            if (o.n_server_ips == MAX_SERVER_IPS)
                sm_fatalx(SM_EXIT_USAGE, "--server-ip: at most %d addresses", MAX_SERVER_IPS);
            if (sm_addr_parse(optarg, &ips[o.n_server_ips]) == -1)
                sm_fatalx(SM_EXIT_USAGE, "--server-ip: not an IPv4 or IPv6 address: '%s'",
                          optarg);
            o.n_server_ips++;
            break;
        case 't':
            o.timeout_ns = sm_cli_seconds("--timeout", optarg, true);
            break;
        case 'k':
            o.max_skew_ns = sm_cli_seconds("--max-skew", optarg, false);
            if (o.max_skew_ns == 0)
                o.max_skew_ns = -1; /* the engine's spelling of exactly zero */
            break;
        case 'c':
            o.max_conversations = sm_cli_size("--max-conversations", optarg, 1, SIZE_MAX / 64);
            break;
        case 'p':
            o.max_pending = sm_cli_size("--max-pending", optarg, 1, UINT32_MAX - 2);
            break;
        case 'R':
            report_path = optarg;
            break;
        case 'I':
            community_id_seed = (uint16_t)sm_cli_size("--community-id-seed", optarg, 0, UINT16_MAX);
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return SM_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        sm_log_warnx("compare needs two capture files: CLIENT SERVER");
        usage(stderr);
        return SM_EXIT_USAGE;
    }
    if (shown == 0)
        shown = ALL_TABLES;
    o.client_path = argv[optind];
    o.server_path = argv[optind + 1];
    if (strcmp(o.client_path, "-") == 0 && strcmp(o.server_path, "-") == 0)
        sm_fatalx(SM_EXIT_USAGE, "only one of CLIENT and SERVER can be standard input");
    o.server_ips = ips;
    sm_log_set_quiet(quiet);

    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    if (verdicts)
        verdict_out = stdout;
    if (report_path && (report = sm_htmlreport_new()) == NULL)
        sm_fatalx(SM_EXIT_INTERNAL, "out of memory");
    if (verdicts || report)
        o.on_verdict = on_verdict;

    struct sm_compare_result res;
    int rc = sm_compare_run(&o, &res);
    const char *paths[2] = {o.client_path, o.server_path};
    int status = SM_EXIT_OK;

    for (int s = 0; s < 2; s++) {
        if (!res.side[s].opened) {
            sm_log_warnx("%s", res.side[s].errmsg[0] ? res.side[s].errmsg : "cannot read");
            int st = exit_for_side(&res.side[s]);
            status = st > status ? st : status;
        }
    }
    if (status != SM_EXIT_OK) {
        sm_compare_result_free(&res);
        return status;
    }
    if (rc == -1 && res.side[0].err == SM_PCAP_ERR_NONE && res.side[1].err == SM_PCAP_ERR_NONE) {
        sm_log_warnx("out of memory");
        sm_compare_result_free(&res);
        return SM_EXIT_INTERNAL;
    }
    for (int s = 0; s < 2; s++) {
        if (res.side[s].unsupported_linktype) {
            sm_log_warnx("%s: no frame has a supported link type", paths[s]);
            status = SM_EXIT_LINKTYPE;
        }
    }
    if (status != SM_EXIT_OK) {
        sm_compare_result_free(&res);
        return status;
    }

    if (res.nscope == 0) {
        if (res.scope_inferred)
            sm_log_warnx("%s: the server capture has no SYNs, so no server address can be "
                         "inferred; name the server with --server-ip ADDR",
                         o.server_path);
        else
            sm_log_warnx("no usable --server-ip");
        sm_compare_result_free(&res);
        return SM_EXIT_NO_SCOPE;
    }
    {
        char list[SCOPE_SHOWN * SM_ADDR_STRLEN + 64] = "";
        size_t len = 0;
        for (size_t k = 0; k < res.nscope && k < SCOPE_SHOWN; k++) {
            char a[SM_ADDR_STRLEN];
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "",
                                    sm_addr_format(&res.scope[k], a, sizeof a));
        }
        if (res.nscope > SCOPE_SHOWN)
            snprintf(list + len, sizeof list - len, " and %zu more", res.nscope - SCOPE_SHOWN);
        if (res.scope_inferred)
            sm_log_info("judging client SYNs sent to the %zu address%s that receive SYNs in "
                        "the server capture: %s (choose with --server-ip)",
                        res.nscope, res.nscope == 1 ? "" : "es", list);
        else
            sm_log_info("judging client SYNs sent to: %s", list);
    }

    if (!verdicts)
        print_tables(&res, fmt, shown);

    for (int s = 0; s < 2; s++) {
        warn_side(paths[s], &res.side[s]);
        if (res.side[s].err != SM_PCAP_ERR_NONE) {
            sm_log_warnx("%s; results are partial: they cover only the frames before it",
                         res.side[s].errmsg);
            int st = sm_cli_exit_for(res.side[s].err);
            status = st > status ? st : status;
            if (!verdicts && fmt == SM_FORMAT_TABLE)
                printf("\nPARTIAL: %s\n", res.side[s].errmsg);
            else if (fmt == SM_FORMAT_JSONL || verdicts)
                print_status(s == 0 ? "client" : "server", res.side[s].frames);
        }
    }
    if (res.drops[SM_ROLE_SERVER])
        sm_log_warnx("%s: the capture declares %" PRIu64 " dropped packets; SYNs around them "
                     "are reported as sensor_capture_loss, never missing or unanswered",
                     o.server_path, res.drops[SM_ROLE_SERVER]);
    if (res.drops[SM_ROLE_CLIENT])
        sm_log_warnx("%s: the capture declares %" PRIu64 " dropped packets; answers lost "
                     "around them are reported as sensor_capture_loss, never reply_lost",
                     o.client_path, res.drops[SM_ROLE_CLIENT]);

    const struct sm_join_stats *js = &res.join;
    summary(js);
    if (js->isn_rewritten)
        sm_log_warnx("a device between the captures rewrites TCP sequence numbers (for example "
                     "Cisco ASA sequence number randomization): %" PRIu64 " connections were "
                     "matched by TCP timestamp, IP ID or ports instead (\"match\": "
                     "\"fingerprint\"; server_seq differs from client_seq)",
                     js->isn_rewritten);
    if (js->fp_skipped)
        sm_log_warnx("%" PRIu64 " fingerprint lookups could not see every candidate (more "
                     "than 16 fit one SYN, one TCP timestamp or IP ID shared by too many SYNs, "
                     "or server SYNs the matcher could not keep: %" PRIu64 "); such a SYN was "
                     "matched only where its source port settled it, else it is ambiguous",
                     js->fp_skipped, js->fp_archive_lost);
    say_clock(&res.clock, &o);
    warn_swapped(&res, &o);
    if (js->verdicts[SM_V_COLLECTOR_OVERLOAD])
        sm_log_warnx("%" PRIu64 " client SYNs could not be judged: more than --max-pending "
                     "were open at once",
                     js->verdicts[SM_V_COLLECTOR_OVERLOAD]);
    if (js->isn_flood)
        sm_log_warnx("%" PRIu64 " SYNs were not matched: their ISN already had 64 SYNs open "
                     "(a flood tool's constant ISN); the client's among them count as "
                     "unknown (isn_flood), none as missing",
                     js->isn_flood);

    if (report_path)
        write_report(report_path, &res, &o);
    sm_htmlreport_destroy(&report);
    if (fflush(stdout) == EOF)
        sm_fatal(SM_EXIT_OPEN, "writing the output");
    uint64_t failures = 0;
    for (int k = 0; k < SM_V_COUNT; k++)
        if (sm_verdict_is_failure((enum sm_verdict_kind)k))
            failures += js->verdicts[k];
    if (status == SM_EXIT_OK && failures > 0)
        status = SM_EXIT_FOUND;
    sm_compare_result_free(&res);
    return status;
}
