#ifndef IQ_FW_HARNESS_H
#define IQ_FW_HARNESS_H
/*
 * A minimal test harness: each test is a function; CHECK records a failure and keeps
 * going; the run ends with the line "N passed, N failed" that CI greps.
 */
#include <stdio.h>

extern int harness_failures; /* failures inside the current test */

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            harness_failures++;                                                           \
            fprintf(stderr, "    check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                                 \
    } while (0)

#define CHECK_MSG(cond, ...)                                                  \
    do {                                                                      \
        if (!(cond)) {                                                        \
            harness_failures++;                                               \
            fprintf(stderr, "    check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

/* Stops the current test (use when later checks would only cascade). */
#define REQUIRE(cond)           \
    do {                        \
        if (!(cond)) {          \
            CHECK(cond);        \
            return;             \
        }                       \
    } while (0)

typedef struct {
    const char *name;
    void (*fn)(void);
} harness_test;

#endif
