/*
 * htmlreport.h - `synmatch compare --report FILE.html`: one self-contained HTML page of a
 * comparison, for people who would rather look than read.
 *
 * The page holds the summary (every verdict's count, as compare's stderr line and tables
 * give them), a timeline of the client's connection attempts by verdict, the one-way delay
 * and the clock correction over time, the histogram of attempts per connection, and the
 * failures with Wireshark display filters for each side. Charts are inline SVG written by
 * cli/svg.c; the one script (a filter box over the failures table) and the style are inline;
 * a Content-Security-Policy forbids every fetch, so the page opens without a network. Large
 * pairs are drawn per time bucket (at most 600 buckets) and the failures table lists at most
 * SM_REPORT_ROWS_MAX rows, saying how many more there are. The same comparison gives the
 * same bytes.
 */
#ifndef SYNMATCH_HTMLREPORT_H
#define SYNMATCH_HTMLREPORT_H

#include <stdint.h>
#include <stdio.h>

#include "compare.h"
#include "synmatch/verdict.h"

#define SM_REPORT_ROWS_MAX 500

typedef struct sm_htmlreport sm_htmlreport_t;

/* NULL without memory. */
sm_htmlreport_t *sm_htmlreport_new(void);

/* Every final verdict as compare decides it (its on_verdict): keeps what the result's rows
 * do not carry (the clock correction in force). Cheap: a change of correction is kept, not
 * each verdict. */
void sm_htmlreport_verdict(sm_htmlreport_t *r, const struct sm_verdict *v);

/* Writes the page for res (compare's result, sorted) of the comparison o. Returns 0, or -1
 * when out of memory (nothing useful written then). Write errors are the stream's to tell. */
int sm_htmlreport_write(sm_htmlreport_t *r, FILE *out, const struct sm_compare_result *res,
                        const struct sm_compare_opts *o);

void sm_htmlreport_destroy(sm_htmlreport_t **r_p);

#endif
