import Foundation
import Synchronization
import Testing
@testable import IQLink

/// CURVE on every socket of the link, with real sockets on loopback TCP: the binding side
/// (plant, telemetry publisher) is the server and its ZAP handler admits only authorised
/// client keys; a client with another key gets no session, and the refusal is counted and
/// reported on the server.
@Suite(.serialized) struct CurveTests {
    final class Refusals: Sendable {
        let seen = Mutex<[ZapRefusal]>([])
        func record(_ r: ZapRefusal) { seen.withLock { $0.append(r) } }
        var all: [ZapRefusal] { seen.withLock { $0 } }
    }

    @Test func libzmqHasCurve() { #expect(CurveKeys.available) }

    @Test func keyFilesRoundTripAndBadOnesAreRefused() throws {
        let dir = tempDir().path
        let pair = try CurveKeys.generate()
        let (pub, sec) = try CurveKeys.write(pair, directory: dir, name: "robot")
        #expect(try CurveKeys.loadSecret(path: sec) == pair)
        #expect(try CurveKeys.loadPublic(path: pub) == pair.publicKey)
        // Never overwritten.
        #expect(throws: LinkError.self) { try CurveKeys.write(pair, directory: dir, name: "robot") }
        // An authorised-keys file: comments, labels, blank lines.
        let other = try CurveKeys.generate()
        let auth = (dir as NSString).appendingPathComponent("authorised")
        try "# controllers\n\(pair.publicKey) runtime-1\n\n\(other.publicKey)   spare\n".write(toFile: auth, atomically: true, encoding: .utf8)
        #expect(try CurveKeys.loadAuthorised(path: auth) == [pair.publicKey, other.publicKey])
        let bad = (dir as NSString).appendingPathComponent("bad")
        try "not-a-key\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(throws: LinkError.self) { _ = try CurveKeys.loadAuthorised(path: bad) }
        #expect(throws: LinkError.self) { _ = try CurveKeys.loadPublic(path: auth) }    // two keys
    }

    @Test func lockstepWithTheRightKeyWorksAndAnUnknownKeyGetsNoSession() throws {
        let ctx = try ZmqContext()
        let plantKeys = try CurveKeys.generate(), controllerKeys = try CurveKeys.generate(), intruder = try CurveKeys.generate()
        let refusals = Refusals()
        let spec = sampleSpec()
        let plant = try LockstepPlantEndpoint(bind: "tcp://127.0.0.1:*", spec: spec, software: "sim", context: ctx,
                                              curve: CurveServerKeys(own: plantKeys, authorisedKeys: [controllerKeys.publicKey]),
                                              onRefusal: { refusals.record($0) })
        // First an intruder: right server key, its own (unlisted) key pair.
        let rogue = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx,
                                                   curve: CurveClientKeys(own: intruder, serverPublicKey: plantKeys.publicKey))
        #expect(throws: LinkError.timeout) { try plant.handshake(attemptTimeoutMs: 300, attempts: 2) }
        #expect(try rogue.receive(timeoutMs: 100) == nil, "the intruder must not see the Hello")
        #expect(plant.socket.refusedClients >= 1)
        let seen = refusals.all
        #expect(seen.first?.publicKey == intruder.publicKey && seen.first?.mechanism == "CURVE", "\(seen)")
        #expect(seen.first?.address == "127.0.0.1")
        rogue.close()

        // Then the authorised controller: a normal session.
        let ctl = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx,
                                                 curve: CurveClientKeys(own: controllerKeys, serverPublicKey: plantKeys.publicKey))
        let peer = TestThread { try EndpointTests.runLockstepController(ctl, expected: spec, steps: 5) }
        #expect(try plant.handshake(attemptTimeoutMs: 1000, attempts: 10).accepted)
        let values: [Float] = [0.5, -0.25, 1, 2]
        for seq in UInt64(1)...5 {
            let f = try values.withUnsafeBufferPointer { try plant.exchange(seq: seq, timestampNs: 0, values: $0, timeoutMs: 5000) }
            if seq < 5 {
                guard case .action(let a) = f else { Issue.record("expected an action, got \(f.kind)"); break }
                #expect(Array(a.values) == [-0.5, 0.25])
            }
        }
        try plant.acknowledgeShutdown()
        try peer.join()
        // A client that does not speak CURVE at all never reaches the handler: libzmq ends
        // the handshake on the mechanism mismatch. It gets no session either.
        let plain = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx)
        #expect(try plain.receive(timeoutMs: 200) == nil)
        plain.close()
        ctl.close()
        plant.close()
    }

    @Test func forgedActionsFromARoguePushAreNeverDelivered() throws {
        let ctx = try ZmqContext()
        let robotKeys = try CurveKeys.generate(), controllerKeys = try CurveKeys.generate()
        let refusals = Refusals()
        let robot = try FreeRunningPlantEndpoint(bindObservations: "tcp://127.0.0.1:*", bindActions: "tcp://127.0.0.1:*",
                                                 spec: sampleSpec(), software: "robot", context: ctx,
                                                 curve: CurveServerKeys(own: robotKeys, authorisedKeys: [controllerKeys.publicKey]),
                                                 onRefusal: { refusals.record($0) })
        let forged = try FrameEncoderTestBytes.action(values: [2, 2])
        // Rogue 1: a plain PUSH. Rogue 2: a CURVE PUSH with the robot's public key but its own pair.
        let plainPush = try ZmqSocket(.push, context: ctx)
        try plainPush.connect(robot.actionEndpoint)
        let curvePush = try ZmqSocket(.push, context: ctx)
        try curvePush.makeCurveClient(CurveClientKeys(own: try CurveKeys.generate(), serverPublicKey: robotKeys.publicKey))
        try curvePush.connect(robot.actionEndpoint)
        for _ in 0..<20 {
            _ = try forged.withUnsafeBytes { try plainPush.send($0, dontWait: true) }
            _ = try forged.withUnsafeBytes { try curvePush.send($0, dontWait: true) }
            usleep(10_000)
        }
        #expect(try robot.receive(timeoutMs: 300) == nil, "a forged action reached the robot")
        #expect(robot.actionSocket.refusedClients >= 1 && refusals.all.contains { $0.mechanism == "CURVE" })

        // The authorised controller's action does arrive.
        let ctl = try FreeRunningControllerEndpoint(connectObservations: robot.observationEndpoint,
                                                    connectActions: robot.actionEndpoint, context: ctx,
                                                    curve: CurveClientKeys(own: controllerKeys, serverPublicKey: robotKeys.publicKey))
        var got: Frame?
        for _ in 0..<100 where got == nil {
            _ = try [Float(0.5), -0.5].withUnsafeBufferPointer {
                try ctl.sendAction(seq: 1, observationSeq: 0, timestampNs: 1, values: $0, diagnostics: PlanDiagnostics(source: .safe))
            }
            got = try robot.receive(timeoutMs: 50)
        }
        guard case .action(let a)? = got else { Issue.record("the authorised controller's action never arrived"); return }
        #expect(Array(a.values) == [0.5, -0.5])
        plainPush.close(); curvePush.close(); ctl.close(); robot.close()
    }

    @Test func telemetryReachesOnlyAuthorisedSubscribers() throws {
        let ctx = try ZmqContext()
        let runtimeKeys = try CurveKeys.generate(), toolKeys = try CurveKeys.generate()
        let pub = try TelemetryPublisher(bind: "tcp://127.0.0.1:*", context: ctx,
                                         curve: CurveServerKeys(own: runtimeKeys, authorisedKeys: [toolKeys.publicKey]))
        let good = try TelemetrySubscriber(connect: pub.endpoint, context: ctx,
                                           curve: CurveClientKeys(own: toolKeys, serverPublicKey: runtimeKeys.publicKey))
        let bad = try TelemetrySubscriber(connect: pub.endpoint, context: ctx,
                                          curve: CurveClientKeys(own: try CurveKeys.generate(), serverPublicKey: runtimeKeys.publicKey))
        var sample = TelemetrySample()
        var goodCount = 0, badCount = 0
        for i in 0..<200 {
            sample.step = UInt64(i)
            _ = try pub.publish(sample)
            if try good.receive(timeoutMs: 5) != nil { goodCount += 1 }
            if try bad.receive(timeoutMs: 0) != nil { badCount += 1 }
        }
        #expect(goodCount > 0 && badCount == 0, "good \(goodCount), bad \(badCount)")
        #expect(pub.socket.refusedClients >= 1)
        good.close(); bad.close(); pub.close()
    }

    /// A Hello whose bytes hold `marker` with its first byte replaced by NUL (the encoder
    /// cuts strings at a NUL, so a hostile peer's bytes are made by hand).
    static func helloBytes(_ spec: PlantSpec, nulAt marker: String) throws -> [UInt8] {
        let codec = FrameCodec()
        var b = Array(try codec.encodeHello(HelloMessage(role: .simulator, spec: spec, software: "x", mode: .lockstep)))
        withExtendedLifetime(codec) {}
        let m = Array(marker.utf8)
        guard let i = (0...(b.count - m.count)).first(where: { Array(b[$0..<$0 + m.count]) == m }) else { throw LinkError.timeout }
        b[i] = 0
        return b
    }

    @Test func helloWithANulByteInAStringIsRefused() throws {
        let reader = FrameCodec()
        var spec = sampleSpec()
        spec.robotId = "pendulum-swingup@evil"
        for bytes in [try Self.helloBytes(spec, nulAt: "@evil"), try Self.helloBytes(sampleSpec(), nulAt: "s.1")] {
            let frame = try bytes.withUnsafeBytes { try reader.decode($0) }
            guard case .hello = frame else { Issue.record("not a Hello"); return }
            #expect(throws: LinkError.self) { _ = try reader.hello() }
        }
        // The clean spec still reads.
        let writer = FrameCodec()
        let clean = Array(try writer.encodeHello(HelloMessage(role: .simulator, spec: sampleSpec(), software: "x", mode: .lockstep)))
        withExtendedLifetime(writer) {}
        _ = try clean.withUnsafeBytes { try reader.decode($0) }
        #expect(try reader.hello().spec == sampleSpec())
    }
}

enum FrameEncoderTestBytes {
    static func action(values: [Float]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 4096)
        let n = try out.withUnsafeMutableBytes { buf in
            try values.withUnsafeBufferPointer { v in
                try FrameEncoder.action(seq: 99, observationSeq: 0, timestampNs: 1, values: v,
                                        diagnostics: PlanDiagnostics(source: .planner), into: buf)
            }
        }
        return Array(out[0..<n])
    }
}
