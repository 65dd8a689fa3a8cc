/*
 * libFuzzer harness: the control frame decoder exactly as the runtime runs it — protobuf-c's
 * Envelope unpack through the fixed arena (Sources/IQProto/iqmpc_arena.c) — then a re-pack
 * of whatever was decoded, which walks every field and pointer of the message, so a decoded
 * message with an inconsistent length or dangling pointer shows up under AddressSanitizer.
 * Built and run by Scripts/fuzz.sh (clang -fsanitize=fuzzer,address).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iqmpc.pb-c.h"
#include "iqmpc_arena.h"

/* The runtime's arena size (FrameCodec.defaultArenaBytes order of magnitude). */
#define ARENA_BYTES (256 * 1024)
#define MAX_CONTROL_BYTES 65536

static _Alignas(64) uint8_t arena_memory[ARENA_BYTES];
static uint8_t repacked[4 * MAX_CONTROL_BYTES + 1024];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_CONTROL_BYTES) return 0;   /* refused before decoding (oversized) */
    IqmpcArena arena;
    iqmpc_arena_init(&arena, arena_memory, sizeof arena_memory);
    Iqmpc__V1__Envelope *env = iqmpc__v1__envelope__unpack(&arena.allocator, size, data);
    if (!env) return 0;
    size_t need = protobuf_c_message_get_packed_size(&env->base);
    if (need <= sizeof repacked) {
        size_t n = protobuf_c_message_pack(&env->base, repacked);
        if (n != need) abort();
    }
    /* Observation values are read by the runtime as a float array of n_values. */
    if (env->body_case == IQMPC__V1__ENVELOPE__BODY_OBSERVATION && env->observation) {
        volatile float sum = 0;
        for (size_t i = 0; i < env->observation->n_values; i++) sum += env->observation->values[i];
        (void)sum;
    }
    iqmpc_arena_reset(&arena);
    return 0;
}
