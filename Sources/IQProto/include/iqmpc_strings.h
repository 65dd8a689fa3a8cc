#ifndef IQMPC_STRINGS_H
#define IQMPC_STRINGS_H
/*
 * protobuf-c hands decoded `string` fields over as NUL-terminated C strings, so a name
 * with a NUL byte inside ("pendulum-swingup\0evil") would read as its prefix. This walks
 * the serialized bytes with the message's descriptor and reports whether any string field,
 * at any depth, contains a NUL byte, so such a message can be refused instead.
 */
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1: some string field holds a NUL byte; 0: none does; -1: the bytes are not a valid
   message of this descriptor (the decoder refuses those anyway). No allocation;
   recursion is bounded by the message nesting of iqmpc.proto (depth limit 16). */
int iqmpc_strings_have_nul(const ProtobufCMessageDescriptor *descriptor, const uint8_t *data, size_t len);
/* The same for a serialized iqmpc.v1.Envelope / iqmpc.v1.Record. */
int iqmpc_envelope_strings_have_nul(const uint8_t *data, size_t len);
int iqmpc_record_strings_have_nul(const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
