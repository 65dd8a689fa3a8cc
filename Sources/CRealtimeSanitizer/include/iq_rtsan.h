#ifndef IQ_RTSAN_H
#define IQ_RTSAN_H
/*
 * Marks the real-time sections of the runtime (the control step on the control thread, a
 * planner job on a worker) for clang's RealtimeSanitizer (RTSan, -fsanitize=realtime).
 *
 * A normal build links no RTSan runtime: the __rtsan_* entry points stay undefined weak
 * references (null) and a section mark costs one predictable branch. Scripts/rtsan.sh links
 * the toolchain's RTSan runtime into iqmpc-runtime instead; then every call made inside a
 * section that may block or allocate (malloc/free, mutexes, sleeping or I/O system calls) is
 * reported with its stack. Swift code is not instrumented by RTSan, so the sections are
 * entered explicitly here; libc calls are caught by RTSan's interceptors, and heap calls by
 * the allocation counter (which interposes malloc itself and notifies RTSan).
 */
#ifdef __cplusplus
extern "C" {
#endif

/* Enters / leaves a real-time section on the calling thread (nestable). */
void iq_rt_section_enter(void);
void iq_rt_section_exit(void);
/* True when the RTSan runtime is linked in (a section mark then reports violations). */
int iq_rtsan_linked(void);

#ifdef __cplusplus
}
#endif
#endif
