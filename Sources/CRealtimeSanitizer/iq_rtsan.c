#include "iq_rtsan.h"

/* Defined only when the RTSan runtime is linked (Scripts/rtsan.sh). */
extern void __rtsan_realtime_enter(void) __attribute__((weak));
extern void __rtsan_realtime_exit(void) __attribute__((weak));

void iq_rt_section_enter(void) {
    if (__rtsan_realtime_enter) __rtsan_realtime_enter();
}

void iq_rt_section_exit(void) {
    if (__rtsan_realtime_exit) __rtsan_realtime_exit();
}

int iq_rtsan_linked(void) { return __rtsan_realtime_enter != 0; }
