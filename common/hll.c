/*
 * hll.c - HyperLogLog registers and Ertl's improved raw estimator (see hll.h).
 *
 * The estimator needs only the histogram of register values: with C[k] registers at value k
 * (0 <= k <= q + 1, q = 64 - P), z = m tau(1 - C[q+1]/m), halved and added to C[k] for k from
 * q down to 1, then z += m sigma(C[0]/m), and the estimate is m^2 / (2 ln 2 z). sigma and tau
 * are the series of the paper, summed until a term no longer changes the double.
 */
#include "hll.h"

#include <math.h>
#include <string.h>

#define Q (64 - SM_HLL_P)

void sm_hll_clear(struct sm_hll *h)
{
    memset(h->reg, 0, sizeof h->reg);
}

void sm_hll_merge(struct sm_hll *dst, const struct sm_hll *src)
{
    for (unsigned i = 0; i < SM_HLL_M; i++)
        if (src->reg[i] > dst->reg[i])
            dst->reg[i] = src->reg[i];
}

/* sigma(x) = x + sum over k >= 1 of x^(2^k) 2^(k-1); infinite at x = 1 (all registers 0). */
static double sigma(double x)
{
    if (x == 1.0)
        return INFINITY;
    double y = 1.0, z = x, prev;
    do {
        x *= x;
        prev = z;
        z += x * y;
        y += y;
    } while (z != prev);
    return z;
}

/* tau(x) = (1 - x - sum over k >= 1 of (1 - x^(2^-k))^2 2^-k) / 3. */
static double tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1.0, z = 1.0 - x, prev;
    do {
        x = sqrt(x);
        prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != prev);
    return z / 3.0;
}

double sm_hll_estimate(const struct sm_hll *h)
{
    uint32_t c[Q + 2] = {0};
    for (unsigned i = 0; i < SM_HLL_M; i++)
        c[h->reg[i] <= Q + 1 ? h->reg[i] : Q + 1]++;
    const double m = SM_HLL_M;
    if (c[0] == SM_HLL_M)
        return 0.0;
    double z = m * tau(1.0 - c[Q + 1] / m);
    for (int k = Q; k >= 1; k--)
        z = 0.5 * (z + c[k]);
    z += m * sigma(c[0] / m);
    return m * m / (2.0 * log(2.0) * z);
}
