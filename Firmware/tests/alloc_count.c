/* Process-wide malloc counter by interposition; see alloc_count.h. */
#define _GNU_SOURCE
#include "alloc_count.h"

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/* glibc's own entry points, still reachable once malloc is overridden here. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *ptr);

static uint64_t count;
static __thread uint64_t thread_count;

#ifdef FW_ALLOC_TRACE
#include <execinfo.h>
int fw_alloc_trace_armed;
static __thread int in_trace;
static void trace(void) {
    void *frames[24];
    int n;
    if (!fw_alloc_trace_armed || in_trace) return;
    in_trace = 1;
    n = backtrace(frames, 24);
    backtrace_symbols_fd(frames, n, 2);
    write(2, "----\n", 5);
    in_trace = 0;
}
#else
static void trace(void) {}
#endif

static void bump(void) {
    __atomic_fetch_add(&count, 1u, __ATOMIC_RELAXED);
    thread_count++;
    trace();
}

void *malloc(size_t size) {
    bump();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    bump();
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size) {
    bump();
    return __libc_realloc(ptr, size);
}

void free(void *ptr) { __libc_free(ptr); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    void *p;
    if (alignment < sizeof(void *) || (alignment & (alignment - 1u)) != 0) return EINVAL;
    bump();
    p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    bump();
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    bump();
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size) {
    bump();
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

uint64_t fw_alloc_count(void) { return __atomic_load_n(&count, __ATOMIC_RELAXED); }

uint64_t fw_alloc_count_this_thread(void) { return thread_count; }

void fw_alloc_probe(void) {
    void *volatile p = malloc(48);
    free(p);
}
