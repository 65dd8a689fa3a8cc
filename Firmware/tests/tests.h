#ifndef IQ_FW_TESTS_H
#define IQ_FW_TESTS_H
#include <stddef.h>

#include "harness.h"

/* The allocation tests (empty in sanitizer builds, which replace malloc themselves). */
const harness_test *alloc_test_list(size_t *count);

#endif
