/// A socket's receive half: a fixed buffer of `MAX_CONTROL_BYTES` and a codec, so that a
/// frame is received and decoded with no heap allocation. The returned `Frame`'s views
/// point into `codec` and are valid until the next `receive`.
final class FrameReceiver {
    let codec: FrameCodec
    private let buffer: UnsafeMutableRawBufferPointer

    init(codec: FrameCodec) {
        self.codec = codec
        buffer = .allocate(byteCount: LinkBounds.maxControlBytes, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { buffer.deallocate() }

    /// nil on timeout. Errors with a `faultCode` mean a frame arrived but was refused.
    func receive(_ socket: ZmqSocket, timeoutMs: Int32) throws(LinkError) -> Frame? {
        guard let n = try socket.receive(into: buffer, timeoutMs: timeoutMs) else { return nil }
        return try codec.decode(UnsafeRawBufferPointer(buffer).baseAddress, count: n)
    }
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC), the protocol's timestamp base.
@inline(__always)
public func linkMonotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

#if canImport(Glibc)
import Glibc
#endif
