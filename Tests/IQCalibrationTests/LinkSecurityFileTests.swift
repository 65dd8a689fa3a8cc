import Foundation
import Testing
@testable import IQCalibration

/// Untrusted calibration files and the link's exposure: size and nesting are bounded before
/// the YAML parser runs, endpoints are checked at load, and a network endpoint needs CURVE.
@Suite struct LinkSecurityFileTests {
    func replacing(_ find: String, _ replace: String) -> String {
        precondition(minimalYAML.contains(find))
        return minimalYAML.replacingOccurrences(of: find, with: replace)
    }

    func problem(_ yaml: String) -> CalibrationError? {
        do { _ = try Calibration.parse(yaml: yaml, source: "t.yaml"); return nil } catch { return error }
    }

    @Test func deeplyNestedFilesGetACleanErrorNotACrash() throws {
        // 5,000 levels crashed the YAML composer (stack overflow); now the text is refused first.
        let flow = minimalYAML + "\nextra: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"
        let e1 = try #require(problem(flow))
        #expect(e1.field == "(file)" && e1.message.contains("nests"), "\(e1)")
        // Block nesting needs one more column per level, so the size cap bounds it too;
        // 1,000 levels fit in the cap and are refused for their depth.
        var block = minimalYAML + "\nextra:\n"
        for i in 1...1000 { block += String(repeating: " ", count: i) + "k:\n" }
        let e2 = try #require(problem(block))
        #expect(e2.message.contains("nests"), "\(e2)")
        var dashes = minimalYAML + "\nextra:\n  " + String(repeating: "- ", count: 5000) + "x\n"
        let e3 = try #require(problem(dashes))
        #expect(e3.message.contains("nests"), "\(e3)")
        dashes = ""
        // And through the file loader, as iqmpc-runtime / check-budget / iqmpc-train read it.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("deep-\(getpid()).yaml").path
        try flow.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: CalibrationError.self) { _ = try Calibration.load(path: path) }
    }

    @Test func oversizedFilesAreRefusedBeforeParsing() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("big-\(getpid()).yaml").path
        try (minimalYAML + "\n#" + String(repeating: "x", count: Calibration.maxFileBytes) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do { _ = try Calibration.load(path: path); Issue.record("accepted a 1 MiB file") } catch {
            #expect(error.message.contains("bytes"), "\(error)")
        }
    }

    @Test(arguments: [
        ("tcp://999.1.1.1:5701", "IPv4"),
        ("tcp://127.0.0.1:99999", "port"),
        ("tcp://127.0.0.1:0", "port"),
        ("tcp://127.0.0.1", ":port"),
        ("tcp://127.0.0.1:*", "wildcard port"),
        ("tcp://*:5701", "wildcard host"),
        ("tcp://bad host:5701", "host"),
        ("udp://127.0.0.1:5701", "ZeroMQ endpoint"),
    ])
    func badEndpointsAreRefusedAtLoad(endpoint: String, says: String) throws {
        let e = try #require(problem(replacing("observation_endpoint: ipc:///tmp/x-obs", "observation_endpoint: \"\(endpoint)\"")))
        #expect(e.field == "link.observation_endpoint" && e.message.contains(says), "\(e)")
    }

    @Test func networkEndpointsNeedCurveOrAnExplicitInsecureFlag() throws {
        let remote = replacing("observation_endpoint: ipc:///tmp/x-obs", "observation_endpoint: tcp://10.1.2.3:5701")
        let e = try #require(problem(remote))
        #expect(e.field == "link.observation_endpoint" && e.message.contains("link.security.curve"), "\(e)")
        let wildcard = replacing("telemetry_endpoint: ~", "telemetry_endpoint: tcp://0.0.0.0:5703")
        #expect(problem(wildcard)?.field == "link.telemetry_endpoint")

        let allowed = try Calibration.parse(yaml: wildcard.replacingOccurrences(of: "  telemetry_endpoint: tcp://0.0.0.0:5703",
            with: "  telemetry_endpoint: tcp://0.0.0.0:5703\n  security:\n    allow_insecure: true"))
        #expect(allowed.linkIsInsecure)
        #expect(allowed.securityWarnings.count == 2, "\(allowed.securityWarnings)")   // insecure + every interface
        #expect(allowed.securityWarnings.contains { $0.contains("every network interface") })
        // Loopback, ipc and inproc stay quiet.
        let local = try Calibration.parse(yaml: minimalYAML)
        #expect(!local.linkIsInsecure && local.securityWarnings.isEmpty)
    }

    /// Two roles on one address: the runtime's telemetry bind would take the plant's port, or
    /// observations and actions would share one socket. Refused at load and for overrides.
    @Test func endpointsThatCollideAreRefused() throws {
        let plantPort = minimalYAML.replacingOccurrences(of: "ipc:///tmp/x-obs", with: "tcp://127.0.0.1:6711")
        #expect(try Calibration.parse(yaml: plantPort).link.observationEndpoint == "tcp://127.0.0.1:6711")
        for (field, line) in [("link.telemetry_endpoint", "  telemetry_endpoint: tcp://127.0.0.1:6711"),
                              ("link.telemetry_endpoint", "  telemetry_endpoint: tcp://localhost:6711"),
                              ("link.telemetry_endpoint", "  telemetry_endpoint: tcp://*:6711")] {
            let yaml = plantPort.replacingOccurrences(of: "  telemetry_endpoint: ~", with: line)
            let e = problem(yaml)
            #expect(e?.field == field && e?.message.contains("same address as link.observation_endpoint") == true,
                    "\(line): \(String(describing: e))")
        }
        let sameSocket = minimalYAML.replacingOccurrences(of: "ipc:///tmp/x-act", with: "ipc:///tmp/x-obs")
        #expect(problem(sameSocket)?.field == "link.action_endpoint")
        // Another port is fine, and so is the same port on another transport.
        let apart = plantPort.replacingOccurrences(of: "  telemetry_endpoint: ~", with: "  telemetry_endpoint: tcp://127.0.0.1:6713")
        #expect(problem(apart) == nil)
        let c = try Calibration.parse(yaml: plantPort)
        #expect(throws: CalibrationError.self) { _ = try c.overriding { $0.link.telemetryEndpoint = "tcp://127.0.0.1:6711" } }
    }

    @Test func curveSectionIsReadWithPathsRelativeToTheFile() throws {
        let yaml = replacing("  telemetry_endpoint: ~", """
          telemetry_endpoint: tcp://0.0.0.0:5703
          security:
            curve:
              secret_key: keys/runtime.secret
              plant_public_key: /etc/iqmpc/robot.public
              authorised_keys: keys/telemetry.authorised
        """).replacingOccurrences(of: "ipc:///tmp/x-obs", with: "tcp://10.0.0.7:5701")
        let c = try Calibration.parse(yaml: yaml, source: "/opt/robot/cal.yaml")
        let curve = try #require(c.link.security.curve)
        #expect(curve.secretKeyFile == "/opt/robot/keys/runtime.secret")
        #expect(curve.plantPublicKeyFile == "/etc/iqmpc/robot.public")
        #expect(curve.authorisedKeysFile == "/opt/robot/keys/telemetry.authorised")
        #expect(!c.linkIsInsecure)
        #expect(c.securityWarnings == ["link.telemetry_endpoint tcp://0.0.0.0:5703 binds every network interface"])
        // With telemetry, the subscribers' keys are required.
        let noList = yaml.replacingOccurrences(of: "\n      authorised_keys: keys/telemetry.authorised", with: "")
        #expect(problem(noList)?.field == "link.security.curve.authorised_keys")
        // Typos are refused like everywhere else.
        #expect(problem(yaml.replacingOccurrences(of: "authorised_keys", with: "authorized_keys"))?.field == "link.security.curve.authorized_keys")
    }

    @Test func overridesProduceAValidatedCopy() throws {
        let c = try Calibration.parse(yaml: minimalYAML)
        let faster = try c.overriding { $0.timing.planningBudgetNs = 2_000_000 }
        #expect(faster.timing.planningBudgetNs == 2_000_000 && c.timing.planningBudgetNs == 5_000_000)
        #expect(throws: CalibrationError.self) { _ = try c.overriding { $0.timing.planningBudgetNs = 50_000_000 } }
        #expect(throws: CalibrationError.self) { _ = try c.overriding { $0.link.observationEndpoint = "tcp://999.1.1.1:1" } }
        #expect(throws: CalibrationError.self) { _ = try c.overriding { $0.link.observationEndpoint = "tcp://192.168.1.9:5701" } }
    }
}
