/*
 * svg.h - a small SVG writer for compare's HTML report: charts drawn as plain SVG elements
 * into the page (no script, no fonts, nothing fetched), text escaped on the way out.
 *
 * A chart maps data coordinates to a plot box in pixels; the helpers write one element each
 * with the numbers rounded to 0.1 px, so the same data always gives the same bytes.
 */
#ifndef SYNMATCH_SVG_H
#define SYNMATCH_SVG_H

#include <stddef.h>
#include <stdio.h>

/* Text for HTML or SVG: &, <, >, " and ' escaped; control characters and bytes that are not
 * UTF-8 written as U+FFFD. len bytes of s. */
void sm_svg_text_escaped(FILE *out, const char *s, size_t len);

struct sm_svg_chart {
    FILE *out;
    double left, top, width, height;   /* the plot box in pixels, inside the svg */
    double xmin, xmax, ymin, ymax;     /* the data it shows (xmax > xmin, ymax > ymin) */
};

/* <svg> of w x h pixels with an accessible name (escaped); sm_svg_end() closes it. */
void sm_svg_begin(FILE *out, int w, int h, const char *label);
void sm_svg_end(FILE *out);

/* Pixel coordinates of a data point. */
double sm_svg_px(const struct sm_svg_chart *c, double x);
double sm_svg_py(const struct sm_svg_chart *c, double y);

/*
 * Up to max "nice" tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]:
 * writes them to ticks and returns how many. Used for the y axes; lo < hi.
 */
int sm_svg_ticks(double lo, double hi, int max, double *ticks);

/* The y axis with grid lines at ticks, labelled with that many decimals and unit (text
 * after the number, "" for none), and the plot box's frame. */
void sm_svg_yaxis(const struct sm_svg_chart *c, const double *ticks, int n, int decimals,
                  const char *unit);

/* An x axis label at data x (a tick mark and the text, escaped). */
void sm_svg_xlabel(const struct sm_svg_chart *c, double x, const char *text);

/*
 * A rectangle in pixels with CSS class cls; with data_n >= 0 it carries data-n="N" (what the
 * report's tests read back); title (escaped) is its tooltip, or NULL.
 */
void sm_svg_rect(FILE *out, double x, double y, double w, double h, const char *cls,
                 long long data_n, const char *title);

/* A polyline through n data points (x[i], y[i]) with class cls; a NaN y breaks the line. */
void sm_svg_polyline(const struct sm_svg_chart *c, const double *x, const double *y, size_t n,
                     const char *cls);

/* Text at pixel (x, y) with class cls and anchor ("start", "middle", "end"), escaped. */
void sm_svg_label(FILE *out, double x, double y, const char *cls, const char *anchor,
                  const char *text);

#endif
