#define _GNU_SOURCE
#include "iq_alloc_counter.h"

#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>

/* glibc's real entry points; they stay reachable when malloc is interposed. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *ptr);

static _Atomic uint64_t allocs;
static _Atomic uint64_t frees;

/* Per-group counters; slot 0 is "no group" and is never read. */
static _Atomic uint64_t group_allocs[IQ_ALLOC_MAX_GROUPS];
static _Atomic int next_group = 1;

/* initial-exec: reaching these must not itself call malloc (the general-dynamic model's
 * __tls_get_addr may allocate the first time a thread touches a module's TLS block). */
#define IQ_TLS __thread __attribute__((tls_model("initial-exec")))
static IQ_TLS uint64_t thread_allocs;
static IQ_TLS int thread_group;

static _Atomic int traced_group;
static _Atomic int last_traced_group;   /* the group the stacks below belong to */
#define IQ_TRACE_STACKS 4
#define IQ_TRACE_DEPTH 32
static void *traced_frames[IQ_TRACE_STACKS][IQ_TRACE_DEPTH];
static int traced_depth[IQ_TRACE_STACKS];
static _Atomic int traced_stacks;   /* stacks claimed so far (may exceed IQ_TRACE_STACKS) */
static IQ_TLS int in_trace;

/* Diagnosis: remember the call stacks of the first few allocations in the traced group.
 * glibc's backtrace() unwinds with the .eh_frame tables, so it walks through libraries built
 * without frame pointers (libzmq) to the Swift caller. It may allocate on its first use
 * (loading libgcc_s): `iq_alloc_group_trace` calls it once before tracing starts, and the
 * reentrancy guard keeps its own allocations out of the trace. Printing happens later. */
static void trace_alloc(void) {
    if (in_trace) return;
    int slot = atomic_fetch_add_explicit(&traced_stacks, 1, memory_order_relaxed);
    if (slot >= IQ_TRACE_STACKS) return;
    in_trace = 1;
    traced_depth[slot] = backtrace(traced_frames[slot], IQ_TRACE_DEPTH);
    in_trace = 0;
}

static inline void count_alloc(void) {
    if (__builtin_expect(in_trace, 0)) return;   /* the tracer's own (diagnosis only) */
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    thread_allocs++;
    int g = thread_group;
    if (g > 0) {
        atomic_fetch_add_explicit(&group_allocs[g], 1, memory_order_relaxed);
        if (__builtin_expect(atomic_load_explicit(&traced_group, memory_order_relaxed) == g, 0)) trace_alloc();
    }
}

/* RealtimeSanitizer (Scripts/rtsan.sh links its runtime; otherwise this stays null): these
 * definitions take the place of RTSan's own malloc interceptors, so they report to it. */
extern void __rtsan_notify_intercepted_call(const char *name) __attribute__((weak));
#define RTSAN_NOTIFY(name) do { if (__rtsan_notify_intercepted_call) __rtsan_notify_intercepted_call(name); } while (0)

void *malloc(size_t size) { RTSAN_NOTIFY("malloc"); count_alloc(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { RTSAN_NOTIFY("calloc"); count_alloc(); return __libc_calloc(n, size); }
void *realloc(void *ptr, size_t size) { RTSAN_NOTIFY("realloc"); count_alloc(); return __libc_realloc(ptr, size); }

void free(void *ptr) {
    if (ptr) {
        RTSAN_NOTIFY("free");
        atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
    }
    __libc_free(ptr);
}

static int valid_alignment(size_t a) { return a >= sizeof(void *) && (a & (a - 1)) == 0; }

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (!valid_alignment(alignment)) return EINVAL;
    RTSAN_NOTIFY("posix_memalign");
    count_alloc();
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) { RTSAN_NOTIFY("aligned_alloc"); count_alloc(); return __libc_memalign(alignment, size); }
void *memalign(size_t alignment, size_t size) { RTSAN_NOTIFY("memalign"); count_alloc(); return __libc_memalign(alignment, size); }
void *valloc(size_t size) { RTSAN_NOTIFY("valloc"); count_alloc(); return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size); }

uint64_t iq_alloc_count(void) { return atomic_load_explicit(&allocs, memory_order_relaxed); }
uint64_t iq_free_count(void) { return atomic_load_explicit(&frees, memory_order_relaxed); }
uint64_t iq_thread_alloc_count(void) { return thread_allocs; }

int iq_alloc_group_create(void) {
    int g = atomic_fetch_add_explicit(&next_group, 1, memory_order_relaxed);
    return g < IQ_ALLOC_MAX_GROUPS ? g : 0;
}

void iq_alloc_group_join(int group) {
    thread_group = (group > 0 && group < IQ_ALLOC_MAX_GROUPS) ? group : 0;
}

int iq_alloc_group_current(void) { return thread_group; }

uint64_t iq_alloc_group_count(int group) {
    if (group <= 0 || group >= IQ_ALLOC_MAX_GROUPS) return 0;
    return atomic_load_explicit(&group_allocs[group], memory_order_acquire);
}

void iq_alloc_group_trace(int group) {
    static IQ_TLS int primed;
    if (group > 0 && !primed) {
        void *frames[2];
        in_trace = 1;                 /* loads the unwinder now; what that allocates is not counted */
        (void)backtrace(frames, 2);
        in_trace = 0;
        primed = 1;
    }
    /* A new group starts a new trace; toggling the same one (per step) keeps what it caught. */
    int was = atomic_exchange_explicit(&traced_group, group, memory_order_relaxed);
    if (group > 0 && was != group && atomic_load_explicit(&last_traced_group, memory_order_relaxed) != group) {
        atomic_store_explicit(&traced_stacks, 0, memory_order_relaxed);
        atomic_store_explicit(&last_traced_group, group, memory_order_relaxed);
    }
}

void iq_alloc_trace_dump(void) {
    int n = atomic_load_explicit(&traced_stacks, memory_order_acquire);
    if (n > IQ_TRACE_STACKS) n = IQ_TRACE_STACKS;
    for (int i = 0; i < n; i++) {
        static const char head[] = "iq_alloc_counter: an allocation in the traced group:\n";
        (void)!write(2, head, sizeof head - 1);
        if (traced_depth[i] > 0) backtrace_symbols_fd(traced_frames[i], traced_depth[i], 2);
    }
}

void iq_alloc_probe(void) {
    /* volatile keeps the compiler from eliding the malloc/free pair. */
    void *volatile p = malloc(64);
    free(p);
}
