#ifndef IQ_FW_ALLOC_COUNT_H
#define IQ_FW_ALLOC_COUNT_H
/*
 * Heap-allocation counter for the firmware tests and the counted example build.
 * Linking alloc_count.c into an executable interposes malloc and friends for the whole
 * process (the executable's definitions win symbol lookup over libc's for every shared
 * library too), so libzmq's and protobuf-c's allocations on any thread are counted,
 * without LD_PRELOAD. Not for sanitizer builds, which bring their own allocator.
 */
#include <stdint.h>

uint64_t fw_alloc_count(void);
/* Allocations made by the calling thread only (libzmq's I/O thread excluded). */
uint64_t fw_alloc_count_this_thread(void);
/* Positive control: performs exactly one malloc that the compiler cannot elide. */
void fw_alloc_probe(void);

#endif
