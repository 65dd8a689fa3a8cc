#ifndef IQMPC_ARENA_H
#define IQMPC_ARENA_H
/*
 * A bump allocator for protobuf-c unpacking over caller-owned memory.
 *
 * protobuf-c's default allocator mallocs twice per unpack; the control step must not
 * allocate, so decoding goes through this arena instead: reset it, unpack, read the
 * message, repeat. free() is a no-op; running out of space makes the unpack fail
 * cleanly (protobuf-c returns NULL), which callers treat as an oversized frame.
 */
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct IqmpcArena {
    ProtobufCAllocator allocator; /* pass &arena->allocator to *__unpack */
    uint8_t *base;
    size_t capacity;
    size_t used;
    size_t high_water;    /* largest `used` seen since init */
    uint32_t exhausted;   /* allocations refused since init */
} IqmpcArena;

/* Binds the arena to `buffer` (capacity bytes, caller-owned, 16-byte aligned preferred). */
void iqmpc_arena_init(IqmpcArena *arena, void *buffer, size_t capacity);
/* Forgets every allocation; the previous unpacked message must no longer be used. */
void iqmpc_arena_reset(IqmpcArena *arena);

#ifdef __cplusplus
}
#endif
#endif
