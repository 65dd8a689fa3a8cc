import Foundation
import IQCalibration
import IQLink
import Logging
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

/// Collects log messages (a test's view of what an operator would read).
final class CollectedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }

    struct Handler: LogHandler {
        let sink: CollectedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            sink.append("\(level): \(message)")
        }
    }

    var logger: Logger { Logger(label: "collected") { _ in Handler(sink: self) } }
}

@Suite struct NoPeerWarningTests {
    /// A runtime pointed at an endpoint nobody binds says so, once, instead of waiting silently.
    @Test func noPlantConnectedIsLoggedOnce() throws {
        let cal = try testCalibration().overriding { $0.link.observationEndpoint = "tcp://127.0.0.1:9" }
        var options = ControlLoop.Options()
        options.noPeerWarningNs = 200_000_000
        let log = CollectedLog()
        let loop = try ControlLoop(setup: try testSetup(cal), options: options, logger: log.logger)
        let runner = LoopRunner(loop)
        usleep(700_000)
        runner.stopAndWait()
        let warnings = log.all.filter { $0.contains("no plant has connected to tcp://127.0.0.1:9") }
        #expect(warnings.count == 1, "\(log.all)")
    }
}
