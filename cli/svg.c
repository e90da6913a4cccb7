/*
 * svg.c - the report's SVG writer (see svg.h).
 */
#include "svg.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

static void put_replacement(FILE *out)
{
    fputs("\xef\xbf\xbd", out); /* U+FFFD */
}

/* Length of the valid UTF-8 sequence at s (n bytes left) that is not a C1 control, or 0. */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    size_t k = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    if (n < k)
        return 0;
    unsigned long c = s[0] & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if ((k == 3 && c < 0x800) || (k == 4 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff) ||
        c > 0x10ffff || (c >= 0x80 && c <= 0x9f))
        return 0;
    return k;
}

void sm_svg_text_escaped(FILE *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned char ch = p[i];
        if (ch >= 0x80) {
            size_t k = utf8_ok(p + i, len - i);
            if (k == 0) {
                put_replacement(out);
                i++;
            } else {
                fwrite(p + i, 1, k, out);
                i += k;
            }
            continue;
        }
        switch (ch) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                put_replacement(out);
            else
                fputc(ch, out);
        }
        i++;
    }
}

static void esc(FILE *out, const char *s)
{
    sm_svg_text_escaped(out, s, strlen(s));
}

void sm_svg_begin(FILE *out, int w, int h, const char *label)
{
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
            w, h, w, h);
    esc(out, label);
    fputs("\">\n", out);
}

void sm_svg_end(FILE *out)
{
    fputs("</svg>\n", out);
}

double sm_svg_px(const struct sm_svg_chart *c, double x)
{
    return c->left + (x - c->xmin) / (c->xmax - c->xmin) * c->width;
}

double sm_svg_py(const struct sm_svg_chart *c, double y)
{
    return c->top + c->height - (y - c->ymin) / (c->ymax - c->ymin) * c->height;
}

int sm_svg_ticks(double lo, double hi, int max, double *ticks)
{
    double span = hi - lo, base = pow(10, floor(log10(span / (max - 1)))), step = base;
    static const double mult[] = {1, 2, 5, 10, 20, 50};
    for (size_t i = 0; i < sizeof mult / sizeof mult[0]; i++) {
        step = base * mult[i];
        if (span / step <= max - 1)
            break;
    }
    int n = 0;
    for (double t = ceil(lo / step) * step; t <= hi + step * 1e-9 && n < max; t += step)
        ticks[n++] = fabs(t) < step * 1e-9 ? 0 : t;
    return n;
}

void sm_svg_yaxis(const struct sm_svg_chart *c, const double *ticks, int n, int decimals,
                  const char *unit)
{
    FILE *out = c->out;
    for (int i = 0; i < n; i++) {
        double y = sm_svg_py(c, ticks[i]);
        char text[64];
        snprintf(text, sizeof text, "%.*f%s", decimals, ticks[i], unit);
        fprintf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                c->left, y, c->left + c->width, y);
        sm_svg_label(out, c->left - 6, y + 4, "tick", "end", text);
    }
    fprintf(out, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
            c->left, c->top, c->width, c->height);
}

void sm_svg_xlabel(const struct sm_svg_chart *c, double x, const char *text)
{
    double px = sm_svg_px(c, x), y = c->top + c->height;
    fprintf(c->out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            px, y, px, y + 5);
    sm_svg_label(c->out, px, y + 18, "tick", "middle", text);
}

void sm_svg_rect(FILE *out, double x, double y, double w, double h, const char *cls,
                 long long data_n, const char *title)
{
    fprintf(out, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", cls, x,
            y, w, h);
    if (data_n >= 0)
        fprintf(out, " data-n=\"%lld\"", data_n);
    if (title) {
        fputs("><title>", out);
        esc(out, title);
        fputs("</title></rect>\n", out);
    } else {
        fputs("/>\n", out);
    }
}

void sm_svg_polyline(const struct sm_svg_chart *c, const double *x, const double *y, size_t n,
                     const char *cls)
{
    FILE *out = c->out;
    bool open = false;
    for (size_t i = 0; i < n; i++) {
        if (isnan(y[i])) {
            if (open)
                fputs("\"/>\n", out);
            open = false;
            continue;
        }
        if (!open)
            fprintf(out, "<polyline class=\"%s\" points=\"", cls);
        fprintf(out, "%s%.1f,%.1f", open ? " " : "", sm_svg_px(c, x[i]), sm_svg_py(c, y[i]));
        open = true;
    }
    if (open)
        fputs("\"/>\n", out);
}

void sm_svg_label(FILE *out, double x, double y, const char *cls, const char *anchor,
                  const char *text)
{
    fprintf(out, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", cls, x, y,
            anchor);
    esc(out, text);
    fputs("</text>\n", out);
}
