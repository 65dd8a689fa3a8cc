import Foundation
import IQCalibration
import IQLink
@testable import IQRuntime
import Testing

/// CURVE against an independent implementation: a Python plant (pyzmq) that is the CURVE
/// server and authenticates with pyzmq's own ZAP handler (`zmq.auth.thread.ThreadAuthenticator`),
/// the runtime configured through the calibration's `link.security` exactly as deployed.
@Suite(.serialized) struct CurveInteropTests {
    func run(authoriseTheRuntime: Bool) throws -> (summary: [String: Any], loop: ControlLoop) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("iqmpc-curve-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runtimeKeys = try CurveKeys.generate()
        let (_, secretPath) = try CurveKeys.write(runtimeKeys, directory: dir, name: "runtime")
        let authorised = authoriseTheRuntime ? runtimeKeys.publicKey : try CurveKeys.generate().publicKey
        var cal = try testCalibration()
        let peer = try PythonPeer(scenario: "curve-lockstep",
                                  config: peerConfig(cal, ["runtime_public": authorised, "keydir": dir, "frames": 50,
                                                           "wait_ms": authoriseTheRuntime ? 10_000 : 2_000]))
        let endpoint = try peer.readLine()
        cal = try cal.overriding {
            $0.link.observationEndpoint = endpoint
            $0.link.security = .init(curve: .init(secretKeyFile: secretPath, plantPublicKeyFile: dir + "/plant.public"))
        }
        let loop = try ControlLoop(setup: try testSetup(cal), logger: quietLogger())
        let runner = LoopRunner(loop)
        let summary = try peer.summary()
        runner.stopAndWait()
        return (summary, loop)
    }

    @Test func theAuthorisedRuntimeIsServed() throws {
        let (s, loop) = try run(authoriseTheRuntime: true)
        #expect(s["handshake"] as? Bool == true, "\(s)")
        #expect(s["answered"] as? Int == 50 && s["denied"] as? Int == 0, "\(s)")
        #expect(loop.supervisor.counters.handshakes == 1)
    }

    @Test func anUnknownRuntimeKeyGetsNoSessionAndThePlantSeesTheRefusal() throws {
        let (s, loop) = try run(authoriseTheRuntime: false)
        #expect(s["handshake"] as? Bool == false, "\(s)")
        #expect((s["denied"] as? Int ?? 0) >= 1, "the plant's ZAP handler must have refused the key: \(s)")
        #expect(loop.supervisor.counters.handshakes == 0 && loop.answered == 0)
    }
}
