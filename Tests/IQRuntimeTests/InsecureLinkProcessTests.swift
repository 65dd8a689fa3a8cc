import Foundation
import IQCalibration
import IQLink
import Testing

/// `allow_insecure` end to end, through the deployed executable and real sockets: a link that
/// leaves the computer without CURVE stops `iqmpc-runtime run` at start-up, and with
/// `allow_insecure: true` it runs, says so on stderr at start-up and flags every telemetry
/// sample. The network side is the machine's own non-loopback address (the plant binds it)
/// plus a telemetry bind on every interface (0.0.0.0, which must warn as well).
@Suite(.serialized) struct InsecureLinkProcessTests {
    /// First IPv4 address of an interface that is up and not loopback, if the machine has one.
    static func nonLoopbackAddress() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        for p in sequence(first: first, next: { $0.pointee.ifa_next }) {
            let i = p.pointee
            guard let a = i.ifa_addr, a.pointee.sa_family == sa_family_t(AF_INET),
                  i.ifa_flags & UInt32(IFF_UP) != 0, i.ifa_flags & UInt32(IFF_LOOPBACK) == 0 else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(a, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                return String(cString: host)
            }
        }
        return nil
    }

    /// A TCP port nobody is listening on right now (the kernel's pick for a throwaway socket).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: a.sin_port))
    }

    @Test func networkLinkWithoutCurveIsRefusedUnlessAllowedThenWarnedAndFlagged() throws {
        let bin = try runtimeExecutable()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let address = Self.nonLoopbackAddress()
        let frames = 1000
        // The plant binds the network address when there is one (loopback otherwise: the
        // telemetry bind below still leaves the computer).
        let peer = try PythonPeer(scenario: "lockstep-normal", config: peerConfig(try testCalibration(), [
            "frames": frames, "bind": "tcp://\(address ?? "127.0.0.1"):*", "timeout_ms": 20_000]))
        let plantEndpoint = try peer.readLine()
        let port = try Self.freePort()
        let base = testCalibrationYAML(observationEndpoint: plantEndpoint)
            .replacingOccurrences(of: "  telemetry_endpoint: ~", with: "  telemetry_endpoint: tcp://0.0.0.0:\(port)")
        let files = try writeDeployment(try testCalibration(), yaml: base, in: dir)
        let args = ["run", "--weights", files.weights, "--calibration", files.calibration, "--steps", "\(frames)"]

        // 1. Without CURVE and without the flag: refused before any socket exists.
        let refused = try run(bin, args)
        #expect(refused.status != 0, "\(refused)")
        #expect(refused.err.contains("is not a loopback address") && refused.err.contains("allow_insecure"), "\(refused.err)")
        if address != nil {
            #expect(refused.err.contains("link.observation_endpoint"), "the plant's address is named first: \(refused.err)")
        }
        // The same for a network endpoint given as an override of a loopback calibration.
        let loopbackYAML = dir.appendingPathComponent("loopback.yaml").path
        try testCalibrationYAML(observationEndpoint: "tcp://127.0.0.1:1").write(toFile: loopbackYAML, atomically: true, encoding: .utf8)
        let overridden = try run(bin, ["run", "--weights", files.weights, "--calibration", loopbackYAML,
                                       "--telemetry-endpoint", "tcp://0.0.0.0:\(port)", "--steps", "1"])
        #expect(overridden.status != 0 && overridden.err.contains("link.telemetry_endpoint"), "\(overridden)")

        // 2. With allow_insecure: true it serves, warns at start-up, and flags telemetry.
        try base.replacingOccurrences(of: "  telemetry_endpoint: tcp://0.0.0.0:\(port)",
                                      with: "  telemetry_endpoint: tcp://0.0.0.0:\(port)\n  security:\n    allow_insecure: true")
            .write(toFile: files.calibration, atomically: true, encoding: .utf8)
        let subscriber = try TelemetrySubscriber(connect: "tcp://127.0.0.1:\(port)")
        defer { subscriber.close() }
        let (p, _, err) = try start(bin, args)
        defer { if p.isRunning { p.terminate() } }
        var samples: [TelemetrySample] = []
        while let s = try subscriber.receive(timeoutMs: 10_000) {
            samples.append(s)
            if s.step >= UInt64(frames) { break }
        }
        let summary = try peer.summary()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 0, "stderr: \(e)")
        #expect(e.contains("link.telemetry_endpoint tcp://0.0.0.0:\(port) is reachable from the network without CURVE"), "\(e)")
        #expect(e.contains("link.telemetry_endpoint tcp://0.0.0.0:\(port) binds every network interface"), "\(e)")
        if address != nil {
            #expect(e.contains("link.observation_endpoint \(plantEndpoint) is reachable from the network without CURVE"), "\(e)")
        }
        // The warnings come before serving starts.
        if let warned = e.range(of: "without CURVE"), let serving = e.range(of: "serving ") {
            #expect(warned.lowerBound < serving.lowerBound, "\(e)")
        }
        #expect(summary["unanswered"] as? Int == 0 && summary["mismatched"] as? Int == 0, "\(summary)")
        // How many samples arrive depends on load (the nice-19 publisher drops when its ring is
        // full, and a late subscriber misses the first); the flag on each one is the point.
        #expect(samples.count >= 10, "too few telemetry samples to check the flag: \(samples.count)")
        #expect(!samples.isEmpty && samples.allSatisfy { $0.linkInsecure }, "every sample flags the insecure link")
    }
}
