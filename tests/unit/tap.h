/* tap.h: a tiny TAP producer for C unit tests (run by prove). */
#ifndef MF_TAP_H
#define MF_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                        \
    do {                                                                     \
        int tap_c_ = (cond) ? 1 : 0;                                         \
        tap_n++;                                                             \
        printf("%sok %d - ", tap_c_ ? "" : "not ", tap_n);                   \
        printf(__VA_ARGS__);                                                 \
        printf("\n");                                                        \
        if (!tap_c_) {                                                       \
            tap_failed++;                                                    \
            printf("#   failed at %s:%d\n", __FILE__, __LINE__);             \
        }                                                                    \
    } while (0)

#define diag(...)           \
    do {                    \
        printf("# ");       \
        printf(__VA_ARGS__);\
        printf("\n");       \
    } while (0)

static inline int done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed == 0 ? 0 : 1;
}

#endif
