#include "iqmpc_strings.h"
#include "iqmpc.pb-c.h"

#include <string.h>

static int read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= len) return -1;
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *out = v; return 0; }
    }
    return -1;
}

static int walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth) {
    if (depth > 16) return -1;
    size_t pos = 0;
    while (pos < len) {
        uint64_t key;
        if (read_varint(p, len, &pos, &key) != 0) return -1;
        uint32_t number = (uint32_t)(key >> 3);
        unsigned wire = (unsigned)(key & 7);
        uint64_t n;
        switch (wire) {
        case 0:
            if (read_varint(p, len, &pos, &n) != 0) return -1;
            break;
        case 1:
            if (len - pos < 8) return -1;
            pos += 8;
            break;
        case 5:
            if (len - pos < 4) return -1;
            pos += 4;
            break;
        case 2: {
            if (read_varint(p, len, &pos, &n) != 0 || n > len - pos) return -1;
            const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, number);
            if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p + pos, 0, (size_t)n)) return 1;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int r = walk((const ProtobufCMessageDescriptor *)f->descriptor, p + pos, (size_t)n, depth + 1);
                if (r != 0) return r;
            }
            pos += (size_t)n;
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}

int iqmpc_strings_have_nul(const ProtobufCMessageDescriptor *descriptor, const uint8_t *data, size_t len) {
    if (!descriptor || (!data && len)) return -1;
    return walk(descriptor, data, len, 0);
}

int iqmpc_envelope_strings_have_nul(const uint8_t *data, size_t len) {
    return iqmpc_strings_have_nul(&iqmpc__v1__envelope__descriptor, data, len);
}

int iqmpc_record_strings_have_nul(const uint8_t *data, size_t len) {
    return iqmpc_strings_have_nul(&iqmpc__v1__record__descriptor, data, len);
}
