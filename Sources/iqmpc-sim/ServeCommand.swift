import ArgumentParser
import Foundation
import IQCalibration
import IQLink
import IQPlants

/// `iqmpc-sim serve`: one simulated robot on the wire protocol, with optional faults.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a task over the iqmpc protocol (lockstep REQ, or real-time PUSH+PULL), binding its endpoints.")

    @Option(help: "Task.") var task: TaskID
    @Option(help: "lockstep (training/evaluation) or realtime (fixed period).") var mode: SimMode = .lockstep
    @Option(name: .customLong("period-ms"), help: "Real-time period in ms (default: the task's control period).") var periodMs: Double?
    @Option(help: "Seed of the first episode (episode i uses seed + i unless the controller sends Reset).") var seed: UInt64 = 1
    @Option(help: "Observation endpoint (lockstep: the only one), bound here.") var endpoint: String = "tcp://127.0.0.1:5701"
    @Option(name: .customLong("action-endpoint"), help: "Real-time action endpoint, bound here.") var actionEndpoint: String = "tcp://127.0.0.1:5702"
    @Option(help: "Stop after this many episodes (0 = until the controller sends Shutdown).") var episodes: Int = 0
    @Flag(name: .customLong("no-reward"), help: "Do not attach the evaluation reward to observations.") var noReward = false
    @Option(name: .customLong("reply-timeout-ms"), help: "Lockstep: re-send Hello after waiting this long for an answer (0 = wait for ever, e.g. for a trainer that updates between steps).") var replyTimeoutMs: Int32 = 5000
    @Flag(name: .customLong("queue-warm-up"), help: "Lockstep: after each accepted handshake send 128 Heartbeat requests before the first observation (the protocol's queue warm-up: the controller's steps then allocate nothing from the first).") var queueWarmUp = false

    // Fault injection.
    @Option(name: .customLong("obs-noise"), help: "Std of Gaussian noise on every observation value (physical units).") var obsNoise: Double = 0
    @Option(name: .customLong("action-delay"), help: "Apply each action this many control steps late.") var actionDelay: Int = 0
    @Option(help: "Probability per frame of not sending it.") var drop: Double = 0
    @Option(help: "Probability per frame of sending it twice (same seq).") var duplicate: Double = 0
    @Option(help: "Probability per frame of re-sending the previous frame after it (older seq arrives late).") var reorder: Double = 0
    @Option(name: .customLong("nan-burst"), help: "Probability per frame of starting a burst of NaN frames.") var nanBurst: Double = 0
    @Option(name: .customLong("nan-burst-length"), help: "Frames per NaN burst.") var nanBurstLength: Int = 5
    @Option(help: "Probability per frame of the sensor freezing (values repeat).") var frozen: Double = 0
    @Option(name: .customLong("frozen-length"), help: "Frames per frozen stretch.") var frozenLength: Int = 10
    @Option(help: "Probability per frame of the simulator stalling.") var stall: Double = 0
    @Option(name: .customLong("stall-ms"), help: "Length of a stall in ms.") var stallMs: Int = 200
    @Option(name: .customLong("fault-seed"), help: "Seed of the fault draws.") var faultSeed: UInt64 = 0

    @Option(help: "Real-time mode: record every frame sent and the action answering it to this .iqlog (evaluation).")
    var record: String?

    @Option(name: .customLong("curve-secret"), help: "CURVE: this simulator's secret key file (Z85, iqmpc-runtime keygen); needs --curve-authorised.")
    var curveSecret: String?
    @Option(name: .customLong("curve-authorised"), help: "CURVE: file of controller public keys (Z85, one per line) allowed to connect.")
    var curveAuthorised: String?
    @Flag(name: .customLong("allow-insecure"), help: "Bind a non-loopback endpoint without CURVE (anyone who reaches it drives the simulator).")
    var allowInsecure = false

    func run() throws {
        var c = SimServerConfig(task: task)
        let m = mode
        c.mode = m
        c.periodMs = periodMs
        c.seed = seed
        c.observationEndpoint = endpoint
        c.actionEndpoint = actionEndpoint
        c.episodes = episodes
        c.sendReward = !noReward
        c.replyTimeoutMs = replyTimeoutMs
        c.queueWarmUp = queueWarmUp
        if record != nil && m != .realtime { throw ValidationError("--record needs --mode realtime") }
        c.recordPath = record
        if (curveSecret == nil) != (curveAuthorised == nil) {
            throw ValidationError("--curve-secret and --curve-authorised go together")
        }
        if let sec = curveSecret, let auth = curveAuthorised {
            c.curve = CurveServerKeys(own: try CurveKeys.loadSecret(path: sec),
                                      authorisedKeys: try CurveKeys.loadAuthorised(path: auth))
        }
        for (name, e) in [("--endpoint", endpoint)] + (m == .realtime ? [("--action-endpoint", actionEndpoint)] : []) {
            let parsed: LinkEndpoint
            do { parsed = try LinkEndpoint(e, bound: true) } catch { throw ValidationError("\(name) \"\(e)\" \(error.message)") }
            if c.curve == nil && !parsed.isLocal {
                guard allowInsecure else {
                    throw ValidationError("\(name) \(e) is reachable from the network: give --curve-secret and --curve-authorised, or --allow-insecure")
                }
                FileHandle.standardError.write(Data("iqmpc-sim: warning: \(e) is reachable from the network without CURVE: anyone who reaches it can drive this simulator\n".utf8))
            }
            if parsed.isWildcardHost {
                FileHandle.standardError.write(Data("iqmpc-sim: warning: \(e) binds every network interface\n".utf8))
            }
        }
        var f = FaultConfig()
        f.observationNoise = obsNoise; f.actionDelaySteps = actionDelay
        f.dropProbability = drop; f.duplicateProbability = duplicate; f.reorderProbability = reorder
        f.nanBurstProbability = nanBurst; f.nanBurstLength = nanBurstLength
        f.frozenProbability = frozen; f.frozenLength = frozenLength
        f.stallProbability = stall; f.stallMs = stallMs; f.seed = faultSeed
        c.faults = f
        let server = try SimServer(config: c)
        let spec = server.plant.info.plantSpec
        FileHandle.standardError.write(Data("iqmpc-sim: serving \(spec) in \(m.rawValue) mode on \(server.observationEndpoint)\(server.actionEndpoint.map { " + " + $0 } ?? "")\n".utf8))
        let report = try server.run()
        if c.curve != nil { print("CURVE: refused client handshakes \(server.refusedClients)") }
        let returns = report.episodeReturns
        let mean = returns.isEmpty ? 0 : returns.reduce(0, +) / Double(returns.count)
        print("ended: \(report.endReason)")
        print(String(format: "episodes %d, mean return %.2f, frames sent %d, actions applied %d, refused %d, handshakes %d, overruns %d",
                     returns.count, mean, report.framesSent, report.actionsApplied, report.actionsRefused, report.handshakes, report.overruns))
        let fc = report.faults
        if f.isActive {
            print("faults: dropped \(fc.dropped), duplicated \(fc.duplicated), reordered \(fc.reordered), nan frames \(fc.nanFrames), frozen frames \(fc.frozenFrames), stalls \(fc.stalls)")
        }
        for (i, r) in returns.enumerated() { print(String(format: "episode %d return %.2f", i, r)) }
    }
}
