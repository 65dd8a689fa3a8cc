#ifndef IQ_ALLOC_COUNTER_H
#define IQ_ALLOC_COUNTER_H
/*
 * Process-wide heap allocation counter.
 *
 * Linking this target into an executable interposes malloc, calloc, realloc,
 * posix_memalign, aligned_alloc, memalign, valloc and free for the whole process
 * (all threads, Swift runtime and C libraries alike) and forwards them to glibc.
 * The cost is one relaxed atomic increment per call; the control step makes no
 * calls, so deployment pays nothing in steady state. It exists so that
 * "zero allocations per control step" is measured, in tests and in the
 * runtime's own bench/check-budget commands, rather than asserted.
 */
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Allocation calls (malloc, calloc, realloc, aligned variants) since process start. */
uint64_t iq_alloc_count(void);
/* free calls (non-NULL pointers) since process start. */
uint64_t iq_free_count(void);
/* Performs one real heap allocation and frees it: the counter's positive control. */
void iq_alloc_probe(void);

#ifdef __cplusplus
}
#endif
#endif
