#include "iqmpc_arena.h"

static void *arena_alloc(void *data, size_t size) {
    IqmpcArena *a = (IqmpcArena *)data;
    size_t start = (a->used + 15u) & ~(size_t)15u;
    if (size > a->capacity || start > a->capacity - size) {
        a->exhausted++;
        return NULL;
    }
    a->used = start + size;
    if (a->used > a->high_water) a->high_water = a->used;
    return a->base + start;
}

static void arena_free(void *data, void *ptr) {
    (void)data;
    (void)ptr;
}

void iqmpc_arena_init(IqmpcArena *arena, void *buffer, size_t capacity) {
    arena->allocator.alloc = arena_alloc;
    arena->allocator.free = arena_free;
    arena->allocator.allocator_data = arena;
    arena->base = (uint8_t *)buffer;
    arena->capacity = capacity;
    arena->used = 0;
    arena->high_water = 0;
    arena->exhausted = 0;
}

void iqmpc_arena_reset(IqmpcArena *arena) { arena->used = 0; }
