/*
 * select.c - the k-th smallest of an array (see select.h).
 */
#include "select.h"

int64_t sm_select_kth(int64_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t pivot = v[lo + (hi - lo) / 2];
        size_t a = lo, b = hi;
        while (a <= b) {
            while (v[a] < pivot)
                a++;
            while (v[b] > pivot)
                b--;
            if (a <= b) {
                int64_t t = v[a];
                v[a] = v[b];
                v[b] = t;
                a++;
                if (b == 0)
                    break;
                b--;
            }
        }
        if (k <= b)
            hi = b;
        else if (k >= a)
            lo = a;
        else
            return v[k];
    }
    return v[k];
}
