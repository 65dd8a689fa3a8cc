import CAllocCounter
import CZeroMQ
import Foundation
import Testing
@testable import IQLink

@Suite(.serialized) struct SocketTests {
    @Test func pushPullOverInprocDeliversFramesAndTimesOut() throws {
        let ctx = try ZmqContext()
        let pull = try ZmqSocket(.pull, context: ctx)
        try pull.bind("inproc://sock-basic")
        let push = try ZmqSocket(.push, context: ctx)
        try push.connect("inproc://sock-basic")
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
        defer { buf.deallocate() }
        let msg: [UInt8] = Array("hello frame".utf8)
        #expect(try msg.withUnsafeBytes { try push.send($0) })
        let n = try pull.receive(into: buf, timeoutMs: 1000)
        #expect(n == msg.count && Array(buf[0..<msg.count]) == msg)
        #expect(try pull.receive(into: buf, timeoutMs: 20) == nil)
        #expect(try pull.receive(into: buf, timeoutMs: 0) == nil)
        #expect(try pull.pollReadable(timeoutMs: 10) == false)
        push.close(); pull.close()
    }

    @Test func oversizedAndMultipartFramesAreRefused() throws {
        let ctx = try ZmqContext()
        let pull = try ZmqSocket(.pull, context: ctx)
        try pull.bind("inproc://sock-bad")
        let push = try ZmqSocket(.push, context: ctx)
        try push.connect("inproc://sock-bad")
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 16)
        defer { buf.deallocate() }
        let big = [UInt8](repeating: 1, count: 100)
        try big.withUnsafeBytes { _ = try push.send($0) }
        #expect(throws: LinkError.oversized(byteCount: 100, limit: 16)) { _ = try pull.receive(into: buf, timeoutMs: 1000) }
        // A raw multipart message from a foreign peer.
        let raw = zmq_socket(ctx.handle, ZMQ_PUSH)!
        defer { var z: Int32 = 0; zmq_setsockopt(raw, ZMQ_LINGER, &z, 4); zmq_close(raw) }
        #expect(zmq_connect(raw, "inproc://sock-bad") == 0)
        zmq_send(raw, "a", 1, ZMQ_SNDMORE)
        zmq_send(raw, "b", 1, ZMQ_SNDMORE)
        zmq_send(raw, "c", 1, 0)
        #expect(throws: LinkError.multipart) { _ = try pull.receive(into: buf, timeoutMs: 1000) }
        // Every part was drained: the next frame is clean.
        try [UInt8(9)].withUnsafeBytes { _ = try push.send($0) }
        #expect(try pull.receive(into: buf, timeoutMs: 1000) == 1 && buf[0] == 9)
        push.close(); pull.close()
    }

    @Test func bindResolvesTheEphemeralPortAndBadEndpointsThrow() throws {
        let s = try ZmqSocket(.pub)
        let ep = try s.bind("tcp://127.0.0.1:*")
        #expect(ep.hasPrefix("tcp://127.0.0.1:") && !ep.hasSuffix(":*"))
        #expect(throws: LinkError.self) { try s.bind("bogus://nowhere") }
        s.close()
        #expect(throws: LinkError.zmq(operation: .send, errno: ENOTSOCK)) { try [UInt8(1)].withUnsafeBytes { _ = try s.send($0) } }
    }

    /// One thread plays both REQ and REP (sends are asynchronous), so the process-wide
    /// counter sees only these two sockets and libzmq's I/O thread.
    func requestReplyAllocations(_ transport: String, rounds: Int, warmup: Int = 1000) throws -> UInt64 {
        let ctx = try ZmqContext()
        let rep = try ZmqSocket(.rep, context: ctx, sendSlots: 4)
        let ep = try rep.bind(transport)
        let req = try ZmqSocket(.req, context: ctx, sendSlots: 4)
        try req.set(.requestRelaxed, 1)
        try req.set(.requestCorrelate, 1)
        try req.connect(ep)
        let rx = UnsafeMutableRawBufferPointer.allocate(byteCount: LinkBounds.maxControlBytes, alignment: 64)
        defer { rx.deallocate(); req.close(); rep.close() }
        let request = [UInt8](repeating: 3, count: 1200)   // an observation-sized frame
        let reply = [UInt8](repeating: 4, count: 300)
        func round() throws {
            try request.withUnsafeBytes { _ = try req.send($0) }
            guard try rep.receive(into: rx, timeoutMs: 2000) == request.count else { throw LinkError.timeout }
            try reply.withUnsafeBytes { _ = try rep.send($0) }
            guard try req.receive(into: rx, timeoutMs: 2000) == reply.count else { throw LinkError.timeout }
        }
        for _ in 0..<warmup { try round() }
        return try allocations(repeating: 3) { for _ in 0..<rounds { try round() } }
    }

    @Test func sendAndReceiveDoNotAllocateOverTcpAndInproc() throws {
        #expect(try requestReplyAllocations("tcp://127.0.0.1:*", rounds: 2000) == 0)
        let ipc = "ipc://" + tempDir().appendingPathComponent("rr.sock").path
        #expect(try requestReplyAllocations(ipc, rounds: 2000) == 0)
        // inproc: measured 0-1 allocation per 20 000 round trips, sporadically: inproc peers
        // exchange pipe-activation commands through mailboxes that libzmq drains on a ~1 ms
        // timer, and a backlog now and then grows a command-queue chunk. A per-message
        // allocation would show as >= 2000. Deployments use tcp:// or ipc://.
        #expect(try requestReplyAllocations("inproc://alloc-rr", rounds: 2000) <= 1)
    }

    @Test func plainZmqSendAllocatesPositiveControl() throws {
        // Slots of 16 bytes force the zmq_send path for a 200-byte frame: libzmq mallocs.
        let ctx = try ZmqContext()
        let pull = try ZmqSocket(.pull, context: ctx)
        try pull.bind("inproc://alloc-control")
        let push = try ZmqSocket(.push, context: ctx, sendSlots: 2, slotBytes: 16)
        try push.connect("inproc://alloc-control")
        let rx = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 64)
        defer { rx.deallocate(); push.close(); pull.close() }
        let frame = [UInt8](repeating: 1, count: 200)
        for _ in 0..<10 { try frame.withUnsafeBytes { _ = try push.send($0) }; _ = try pull.receive(into: rx, timeoutMs: 1000) }
        let n = try allocations {
            for _ in 0..<100 { try frame.withUnsafeBytes { _ = try push.send($0) }; _ = try pull.receive(into: rx, timeoutMs: 1000) }
        }
        #expect(n >= 100)
    }
}
