import CAllocCounter
import Foundation
@testable import IQLink

/// The repository root, found from this file's path (Tests/IQLinkTests/TestSupport.swift),
/// so tests work from any working directory.
func repoRoot(_ file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// Heap allocations made by `body` (run `times` times, all counted) on the calling thread: the
/// thread counts in an allocation group of its own for the window, so threads other tests leave
/// behind (or libzmq's I/O threads) cannot land in it and one window is exact. The link's claim is about the thread that sends and
/// receives (the control thread); the positive control shows the group sees this thread.
func allocations(repeating times: Int = 1, _ body: () throws -> Void) rethrows -> UInt64 {
    let group = linkTestAllocationGroup
    precondition(group > 0, "allocation groups exhausted")
    let previous = iq_alloc_group_current()
    iq_alloc_group_join(group)
    defer { iq_alloc_group_join(previous) }
    let probe = iq_alloc_group_count(group)
    iq_alloc_probe()
    precondition(iq_alloc_group_count(group) > probe, "positive control: the group must count this thread")
    let before = iq_alloc_group_count(group)
    for _ in 0..<times { try body() }   // every run counts: the total must be what the test says
    return iq_alloc_group_count(group) - before
}

/// Makes the calling thread (a peer played by a test thread) count in the same group as the
/// windows above, for tests whose claim covers both ends of the link.
func countPeerAllocations() { iq_alloc_group_join(linkTestAllocationGroup) }

/// One group for every window above (tests run serially; groups are a finite resource).
nonisolated(unsafe) let linkTestAllocationGroup = iq_alloc_group_create()

func sampleSpec(obs: Int = 4, act: Int = 2, id: String = "pendulum-swingup") -> PlantSpec {
    var observations: [PlantSpec.Channel] = []
    for i in 0..<obs {
        let bound = Float(i + 1)
        observations.append(.init(name: "obs.\(i)", unit: i % 2 == 0 ? "rad" : "rad/s", low: -bound, high: bound))
    }
    var actions: [PlantSpec.Channel] = []
    for i in 0..<act { actions.append(.init(name: "motor.\(i)", unit: "N*m", low: -2, high: 2)) }
    return PlantSpec(robotId: id, observations: observations, actions: actions,
                     controlPeriodNs: 20_000_000, episodeLength: 500)
}

func tempDir() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("iqlink-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Appends a protobuf varint.
func varint(_ v: UInt64, _ out: inout [UInt8]) {
    var x = v
    repeat {
        let b = UInt8(x & 0x7f)
        x >>= 7
        out.append(x == 0 ? b : b | 0x80)
    } while x != 0
}

/// A length-delimited field (wire type 2) — for hand-crafted hostile frames.
func lengthDelimited(field: UInt64, _ payload: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    varint(field << 3 | 2, &out)
    varint(UInt64(payload.count), &out)
    return out + payload
}

/// An Envelope{observation{seq, values (packed, `count` floats), extra unknown bytes}} built by hand,
/// independent of protobuf-c, so that bounds can be exceeded on purpose.
func craftedObservationFrame(seq: UInt64, count: Int, unknownPadding: Int = 0) -> [UInt8] {
    var obs: [UInt8] = []
    varint(1 << 3 | 0, &obs); varint(seq, &obs)
    var packed: [UInt8] = []
    for i in 0..<count { withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { packed += $0 } }
    obs += lengthDelimited(field: 3, packed)
    if unknownPadding > 0 { obs += lengthDelimited(field: 100, [UInt8](repeating: 7, count: unknownPadding)) }
    return lengthDelimited(field: 3, obs)
}

/// Runs `body` on a new POSIX thread; `join()` waits until the thread has fully exited.
/// Sockets are single-owner, so each peer of a test lives on its own thread. Not Foundation's
/// `Thread`: a thread that touched Foundation frees its run loop when it exits, after
/// `join` returned, and those allocations would land in whatever allocation test runs next.
final class TestThread: @unchecked Sendable {
    private var tid = pthread_t()
    private var error: (any Error)?
    private let body: @Sendable () throws -> Void
    private var joined = false

    init(_ body: @escaping @Sendable () throws -> Void) {
        self.body = body
        let me = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&tid, nil, { raw in
            let me = Unmanaged<TestThread>.fromOpaque(raw!).takeRetainedValue()
            do { try me.body() } catch { me.error = error }
            return nil
        }, me)
        precondition(rc == 0, "pthread_create failed (\(rc))")
    }

    func join() throws {
        if !joined { pthread_join(tid, nil); joined = true }
        if let error { throw error }
    }
}
