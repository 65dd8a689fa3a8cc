#ifndef IQ_ALLOC_COUNTER_H
#define IQ_ALLOC_COUNTER_H
/*
 * Heap allocation counters: process-wide, per thread, and per group of threads.
 *
 * Linking this target into an executable interposes malloc, calloc, realloc,
 * posix_memalign, aligned_alloc, memalign, valloc and free for the whole process
 * (all threads, Swift runtime and C libraries alike) and forwards them to glibc.
 * The cost is one relaxed atomic increment and a thread-local add per call; the control
 * step makes no calls, so deployment pays nothing in steady state. It exists so that
 * "zero allocations per control step" is measured, in tests and in the runtime's own
 * bench/check-budget commands, rather than asserted.
 *
 * Why groups: the process-wide count also sees threads that have nothing to do with the
 * control step (a test framework's workers, libzmq's I/O thread, the log drain), so a window
 * over it can only be trusted statistically. A group is the set of threads that do one
 * real-time job (the control thread and the planner's workers): each joins it once, and a
 * window over the group's count is exact.
 */
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IQ_ALLOC_MAX_GROUPS 4096

/* Allocation calls (malloc, calloc, realloc, aligned variants) since process start. */
uint64_t iq_alloc_count(void);
/* free calls (non-NULL pointers) since process start. */
uint64_t iq_free_count(void);
/* Allocation calls made by the calling thread since it started. */
uint64_t iq_thread_alloc_count(void);
/* A new group id (> 0), or 0 once IQ_ALLOC_MAX_GROUPS-1 groups exist (0 counts nothing). */
int iq_alloc_group_create(void);
/* From now on the calling thread's allocations also count in `group` (0: in none). */
void iq_alloc_group_join(int group);
/* The group the calling thread counts in (0: none). Threads started by a group member
 * join the same group explicitly (see the planner's WorkerPool). */
int iq_alloc_group_current(void);
/* Allocation calls made by the group's threads while they were in it. */
uint64_t iq_alloc_group_count(int group);
/* Diagnosis: remember the call stacks of the first four allocations made in `group` from now
 * on (0: pause; tracing the same group again resumes and keeps what was caught, another group
 * starts over); `iq_alloc_trace_dump` prints them to stderr. For finding what allocates. */
void iq_alloc_group_trace(int group);
void iq_alloc_trace_dump(void);
/* Performs one real heap allocation and frees it: the counter's positive control. */
void iq_alloc_probe(void);

#ifdef __cplusplus
}
#endif
#endif
