import CAllocCounter
import CRealtimeSanitizer
import IQCalibration
import IQLink
import IQModel
import IQPlanner
import Logging

/// IQRuntime API: `ControllerSetup` (weights + calibration + planner settings, checked
/// against each other), `ControlLoop` (this file: serve a plant, or `respond` to one frame),
/// `SafetySupervisor` (frame checks, clamp/rate-limit, safe action, fault counters),
/// `HandshakeCheck`, `RealTimeSetup`, `StepTelemetry`/`LatencyHistogram`, `StopSignal`,
/// `BudgetCheck` (check-budget), `Calibration.plantSpec`, `RuntimeVersion` (benchmarks: IQBench).
///
/// The control loop: one received frame in, at most one frame out, in this order:
///
///     receive → decode → validate → normalise → plan (deadline) → denormalise, clamp,
///     rate-limit → encode → send
///
/// `run(until:)` owns the sockets (lockstep REP, or free-running PULL+PUSH; Proto/README.md),
/// the watchdog and the shutdown; `respond(byteCount:receivedNs:timing:)` is the step itself,
/// also driven without sockets by `check-budget`, and returns a `StepResult`.
///
/// Steady state allocates nothing: frames land in a fixed receive buffer, decode into the
/// codec's arena, every vector is a buffer made at init, replies are packed into a fixed
/// send buffer and handed to libzmq by reference (`ZmqSocket.send`). Handshakes, log lines
/// and the exit summary allocate; they are not steps. `allocations` (an `AllocationWindow`
/// over the control thread and the planner's workers) counts every step from the first.
///
/// `@unchecked Sendable`: one thread runs the loop; `StopSignal` is the only thing other
/// threads touch while it runs.
public final class ControlLoop: @unchecked Sendable {
    public struct Options: Sendable {
        /// Stop after answering this many observations (tests, benchmarks); nil: until stopped.
        public var maxSteps: UInt64?
        /// Stop when the plant sends Shutdown; false: wait for the next session.
        public var exitOnPlantShutdown = true
        /// Fault injection (tests, `check-budget --hog-ms`): spin the control thread for this
        /// long before the plan call of every `cpuHogEvery`-th observation, as a CPU hog
        /// stealing the planning budget would.
        public var cpuHogNs: UInt64 = 0
        public var cpuHogEvery: UInt64 = 1
        /// Longest blocking receive: how often the stop request and the watchdog are checked.
        public var pollIntervalMs: Int32 = 5
        /// Warn once when no plant has handshaken this long after `run` started.
        public var noPeerWarningNs: UInt64 = 5_000_000_000
        /// Keep each step's plan time (by answered-step index) for the overhead benchmark.
        public var recordPlanTimes = 0
        /// Answer every frame with the policy prior's mean action and never plan: the
        /// evaluation baseline for IQ-MPC's prior, and how behaviour-cloning weights are flown.
        public var policyPriorOnly = false
        public var software = "iqmpc-runtime \(RuntimeVersion.version)"
        /// Planning falling back to the policy prior on more than `fallbackWarningShare` of
        /// the answered steps of a window of `fallbackWarningWindow` steps logs a warning
        /// (once per window). The share is check-budget's criterion 3 (1 %).
        public var fallbackWarningWindow: UInt64 = 1000
        public var fallbackWarningShare = BudgetCheck.maxFallbackShare
        public init() {}
    }

    public enum Reply {
        case none
        case bytes(UnsafeRawBufferPointer)
    }

    /// What handling one received frame produced: the reply to send, and for an answered
    /// observation (a control step) where its action came from. Control messages (Hello,
    /// Heartbeat, Shutdown, unexpected kinds) are not steps: `source == .unspecified`.
    public struct StepResult {
        public var reply: Reply
        public var source: ActionSource = .unspecified
        public var iterations = 0
        public var observationSeq: UInt64 = 0
        public var isStep: Bool { source != .unspecified }
        /// The reply to a control message.
        static func control(_ reply: Reply) -> StepResult { StepResult(reply: reply) }
    }

    public let calibration: Calibration
    public var options: Options
    public let planner: Planner
    public let supervisor: SafetySupervisor
    public let telemetry = StepTelemetry()
    /// Flagged in every telemetry sample (calibration `allow_insecure` on a network endpoint).
    let linkInsecure: Bool
    let logger: Logger
    let mode: Calibration.LinkMode
    let budgetNs: UInt64

    // Link (nil when driven without sockets).
    let lockstep: LockstepControllerEndpoint?
    let freeRunning: FreeRunningControllerEndpoint?
    let publisher: TelemetryPublisher?
    /// Where the step leaves its telemetry sample; a low-priority thread publishes it
    /// (`TelemetryQueue`). Set once start-up is done, from then on the only user of `publisher`.
    public private(set) var telemetryQueue: TelemetryQueue?
    let codec = FrameCodec()

    // Buffers made once.
    let receiveBuffer: UnsafeMutableRawBufferPointer
    let sendBuffer: UnsafeMutableRawBufferPointer
    let observation: UnsafeMutableBufferPointer<Float>
    let modelAction: UnsafeMutableBufferPointer<Float>
    let command: UnsafeMutableBufferPointer<Float>
    public let planTimes: UnsafeMutableBufferPointer<UInt64>

    // Session state.
    public private(set) var sessionActive = false
    var pendingEpisodeStart = true
    var actionSeq: UInt64 = 0
    public private(set) var answered: UInt64 = 0
    var lastFrameNs: UInt64 = 0
    var lastWatchdogNs: UInt64 = 0
    var watchdogFiring = false
    var plantShutDown = false
    var runStartNs: UInt64 = 0
    var noPeerWarned = false
    /// A session was accepted and its preparation (`prepareSession`) is still to be done.
    var sessionPreparationDue = false
    /// Heartbeats queued by the last queue warm-up (free-running; for tests and diagnosis).
    public private(set) var lastQueueWarmUp = 0
    /// Fallback-share window (see `Options.fallbackWarningWindow`).
    var windowSteps: UInt64 = 0
    var windowFallbacks: UInt64 = 0
    /// Set by the step that closes a window over the share; logged after the step.
    var fallbackWarningDue = false
    /// Windows in which planning fell back for more than the documented share.
    public private(set) var fallbackWarnings: UInt64 = 0
    /// Heap allocations of the control thread and the planner's workers, per step.
    public let allocations = AllocationWindow()

    /// Builds the planner (its worker threads inherit the scheduling set up before) and,
    /// with `connect`, the sockets named in the calibration.
    public init(setup: ControllerSetup, options: Options = Options(), connect: Bool = true,
                context: ZmqContext = .shared, logger: Logger) throws {
        calibration = setup.calibration
        self.options = options
        self.logger = logger
        mode = calibration.link.mode
        budgetNs = calibration.timing.planningBudgetNs
        // The planner's workers join the allocation group of the thread that starts them.
        let window = allocations
        planner = try window.within { () throws(PlannerError) in
            try Planner(model: setup.model, config: setup.plannerConfig, seed: setup.plannerSeed)
        }
        supervisor = SafetySupervisor(calibration: calibration)

        receiveBuffer = .allocate(byteCount: LinkBounds.maxControlBytes, alignment: 64)
        receiveBuffer.initializeMemory(as: UInt8.self, repeating: 0)
        sendBuffer = .allocate(byteCount: LinkBounds.maxControlBytes, alignment: 64)
        sendBuffer.initializeMemory(as: UInt8.self, repeating: 0)
        observation = .allocate(capacity: calibration.obsDim)
        observation.initialize(repeating: 0)
        modelAction = .allocate(capacity: calibration.actDim)
        modelAction.initialize(repeating: 0)
        command = .allocate(capacity: calibration.actDim)
        command.initialize(repeating: 0)
        planTimes = .allocate(capacity: max(1, options.recordPlanTimes))
        planTimes.initialize(repeating: 0)

        var lockstep: LockstepControllerEndpoint?
        var freeRunning: FreeRunningControllerEndpoint?
        var publisher: TelemetryPublisher?
        if connect {
            let link = calibration.link
            let keys = try LinkKeys.load(link.security)
            switch mode {
            case .lockstep:
                lockstep = try LockstepControllerEndpoint(connect: link.observationEndpoint, context: context,
                                                          curve: keys.plant)
            case .freeRunning:
                freeRunning = try FreeRunningControllerEndpoint(connectObservations: link.observationEndpoint,
                                                                connectActions: link.actionEndpoint, context: context,
                                                                curve: keys.plant)
            }
            if let t = link.telemetryEndpoint {
                // Logged from the ZAP handler's thread, never the control thread.
                publisher = try TelemetryPublisher(bind: t, context: context, curve: keys.telemetry) { [logger] r in
                    logger.warning("telemetry \(t): \(r)")
                }
            }
        }
        linkInsecure = calibration.linkIsInsecure
        self.lockstep = lockstep
        self.freeRunning = freeRunning
        self.publisher = publisher
        warmEncoders()
        telemetryQueue = publisher.map { TelemetryQueue(publisher: $0) }
    }

    /// Decodes an observation and encodes one of each reply a step can send. Swift
    /// instantiates the metadata of the imported protobuf-c structs (e.g. the action's
    /// diagnostics) on first use, which allocates: that must happen here, not in the first
    /// answered step.
    private func warmEncoders() {
        // …and of the decoded observation.
        let zeros = [Float](repeating: 0, count: calibration.obsDim)
        if let n = try? zeros.withUnsafeBufferPointer({ v throws(LinkError) in
            try FrameEncoder.observation(seq: 1, timestampNs: 0, values: v, episodeStart: true, terminal: false,
                                         reward: 0, episode: 0, into: receiveBuffer)
        }), case .observation(let obs)? = try? codec.decode(UnsafeRawPointer(receiveBuffer.baseAddress), count: n) {
            _ = (obs.seq, obs.values.count, obs.episodeStart, obs.timestampNs)
        }
        _ = encodeAction(observationSeq: 0, diagnostics: PlanDiagnostics(source: .planner, iterations: 1, planTimeUs: 1,
                                                                         deadlineMissed: false))
        _ = encodeAction(observationSeq: 0, diagnostics: PlanDiagnostics(source: .safe, fault: .stale))
        _ = try? FrameEncoder.heartbeat(timestampNs: 0, role: .controller, into: sendBuffer)
        actionSeq = 0
        // A start-up sample (step 0, zero counters): subscribers already connected see the
        // loop come up, and libzmq's first-send allocations on the PUB happen here. Later
        // samples leave the step through `TelemetryQueue`, so no publish runs in a step.
        if let p = publisher {
            var sample = TelemetrySample()
            sample.linkInsecure = linkInsecure
            _ = try? p.publish(sample)
        }
    }

    deinit {
        planner.shutdown()
        lockstep?.close()
        freeRunning?.close()
        telemetryQueue?.stop()
        publisher?.close()
        receiveBuffer.deallocate()
        sendBuffer.deallocate()
        observation.deallocate()
        modelAction.deallocate()
        command.deallocate()
        planTimes.deallocate()
    }

    /// Plans a few times on a mid-range observation before serving, so that the first real
    /// frame finds every page touched and every cache warm (and `mlockall` locks it all).
    public func warmUp(iterations: Int = 20) {
        for i in 0..<calibration.obsDim { observation[i] = 0 }
        for _ in 0..<iterations {
            _ = planner.plan(observation: UnsafeBufferPointer(observation), episodeStart: true,
                             deadline: linkMonotonicNs() + budgetNs, trainingNoise: false, action: modelAction)
        }
        planner.reset()
        pendingEpisodeStart = true
    }

    /// The telemetry endpoint actually bound (wildcard ports resolved).
    public var telemetryEndpoint: String? { publisher?.endpoint }

    // MARK: - The loop

    /// Serves frames until `stop` is requested, the plant shuts down, or `maxSteps` frames
    /// were answered; then sends the safe action (flagged FAULT_SHUTDOWN) and returns.
    public func run(until stop: StopSignal) {
        guard let input = lockstep?.socket ?? freeRunning?.observationSocket else {
            preconditionFailure("run(until:) needs a ControlLoop created with connect: true")
        }
        let previousGroup = allocations.join()
        defer { allocations.leave(restoring: previousGroup) }
        lastFrameNs = linkMonotonicNs()
        runStartNs = lastFrameNs
        logger.info("serving \(calibration.robotId) in \(mode.rawValue) mode on \(calibration.link.observationEndpoint)")
        while !stop.isRequested && !plantShutDown && answered < (options.maxSteps ?? .max) {
            // 1. Receive into the fixed buffer (bounded wait: stop and watchdog are polled).
            var timing = StepTiming()
            let waitStart = linkMonotonicNs()
            var byteCount = 0
            var receiveFault = FaultCode.none
            allocations.traceStep(sessionActive)   // the receive belongs to the step
            do throws(LinkError) {
                guard let n = try input.receive(into: receiveBuffer, timeoutMs: options.pollIntervalMs) else {
                    watchdog(now: linkMonotonicNs())
                    allocations.skip()
                    continue
                }
                byteCount = n
            } catch {
                guard let fault = error.faultCode else {
                    // EINTR (a signal): re-check stop at once. Anything else (a socket failing
                    // for good) must not spin: wait one poll interval before trying again.
                    allocations.skip()
                    if case .zmq(_, let e) = error, e == EINTR { continue }
                    sleepMs(Int(options.pollIntervalMs))
                    continue
                }
                receiveFault = fault                                   // oversized or multipart
            }
            let receivedNs = linkMonotonicNs()
            timing.receiveNs = receivedNs - waitStart
            // The step proper, from the frame's arrival to its answer sent: a real-time section
            // for RealtimeSanitizer (Scripts/rtsan.sh; a no-op otherwise).
            let realTimeSection = sessionActive
            if realTimeSection { iq_rt_section_enter() }

            // 2-6. Decode … encode (or the safe answer to a frame refused by the socket).
            let result: StepResult
            if receiveFault != .none {
                supervisor.counters.link.framesReceived &+= 1
                supervisor.count(receiveFault)
                result = refuse(receiveFault, observationSeq: 0, timing: &timing)
            } else {
                result = respond(byteCount: byteCount, receivedNs: receivedNs, timing: &timing)
            }
            // Any answered frame, refused or not, shows the plant is alive: the watchdog restarts.
            if result.isStep {
                lastFrameNs = receivedNs
                watchdogFiring = false
            }

            // 7. Send.
            if case .bytes(let bytes) = result.reply {
                let sendStart = linkMonotonicNs()
                if send(bytes) && result.isStep { supervisor.counters.link.actionsSent &+= 1 }
                timing.sendNs = linkMonotonicNs() - sendStart
            }
            // After a HelloAck, before the session's first observation is answered.
            if sessionPreparationDue && !result.isStep { prepareSession() }
            finishStep(timing, result)
            if realTimeSection { iq_rt_section_exit() }
            allocations.traceStep(false)
            // Control messages (handshakes, the plant's shutdown) are not steps: what handling
            // them allocates (log lines, the HelloAck) stays out of the step count.
            if result.isStep { allocations.closeStep(answered) } else { allocations.skip() }
            if fallbackWarningDue {
                warnFallbackShare()
                allocations.skip()
            }
        }
        sendShutdownAction(stop: stop, input: input)
        // Replies leave by reference (zmq_send_const) and sockets close with linger 0: give
        // the I/O thread time to put the last one on the wire before anything is torn down.
        sleepMs(50)
        logger.info("stopped: \(stopReason(stop))")
    }

    // MARK: - The step

    /// Answers the frame of `byteCount` bytes in `receiveBuffer`, received at `receivedNs`.
    /// The returned bytes (in `sendBuffer`) are valid until the next call.
    public func respond(byteCount: Int, receivedNs: UInt64, timing: inout StepTiming) -> StepResult {
        // 2. Decode into the arena.
        let frame: Frame
        do throws(LinkError) {
            frame = try codec.decode(UnsafeRawPointer(receiveBuffer.baseAddress), count: byteCount)
        } catch {
            let fault = error.faultCode ?? .malformed
            supervisor.counters.link.framesReceived &+= 1
            supervisor.count(fault)
            timing.decodeNs = linkMonotonicNs() - receivedNs
            return refuse(fault, observationSeq: 0, timing: &timing)
        }
        guard case .observation(let obs) = frame else {
            timing.decodeNs = linkMonotonicNs() - receivedNs
            return .control(control(frame))
        }
        guard sessionActive else {
            supervisor.counters.link.framesReceived &+= 1
            supervisor.count(.noHandshake)
            return .control(encodeError(.unexpectedMessage, fault: .noHandshake, message: "observation before handshake: send Hello first"))
        }

        // 3. Validate: order, length, NaN/Inf, range, age.
        let fault = supervisor.admit(seq: obs.seq, timestampNs: obs.timestampNs, values: obs.values.baseAddress,
                                     count: obs.values.count, receivedNs: receivedNs, nowNs: linkMonotonicNs())
        let decodedNs = linkMonotonicNs()
        timing.decodeNs = decodedNs - receivedNs
        if fault != .none {
            // Free-running drops out-of-order and duplicate frames (the robot would discard
            // the answer); lockstep must answer every request.
            if fault == .outOfOrder || fault == .duplicate, mode == .freeRunning { return .control(.none) }
            return refuse(fault, observationSeq: obs.seq, timing: &timing)
        }
        if obs.episodeStart { supervisor.startEpisode() }

        // 4. Normalise.
        calibration.normalise(observation: obs.values, into: observation)

        // 5. Plan within the budget counted from the frame's arrival.
        if options.cpuHogNs > 0 && (answered % options.cpuHogEvery) == 0 { burnCPU(options.cpuHogNs) }
        let outcome: PlanOutcome
        if options.policyPriorOnly {
            let start = linkMonotonicNs()
            planner.policyPrior(observation: UnsafeBufferPointer(observation), action: modelAction)
            outcome = PlanOutcome(source: .policyPrior, iterations: 0, elapsedNs: linkMonotonicNs() - start,
                                  deadlineMissed: false)
        } else {
            outcome = planner.plan(observation: UnsafeBufferPointer(observation),
                                   episodeStart: obs.episodeStart || pendingEpisodeStart,
                                   deadline: receivedNs + budgetNs, trainingNoise: false, action: modelAction)
        }
        pendingEpisodeStart = false

        // 6. Denormalise to physical units, clamp to the hard limits, rate-limit.
        calibration.denormalise(action: UnsafeBufferPointer(modelAction), into: command)
        var diagnostics = PlanDiagnostics(source: outcome.source == .planner ? .planner : .policyPrior,
                                          iterations: UInt32(outcome.iterations),
                                          planTimeUs: UInt32(min(outcome.elapsedNs / 1000, UInt64(UInt32.max))),
                                          deadlineMissed: outcome.deadlineMissed)
        if !supervisor.limit(command.baseAddress!) {
            supervisor.writeSafeAction(into: command.baseAddress!)
            diagnostics.source = .safe
            diagnostics.fault = .nonFinite
        }
        if outcome.deadlineMissed { supervisor.counters.link.deadlineMisses &+= 1 }
        if !options.policyPriorOnly { countPlanSource(fellBack: outcome.source == .policyPrior) }
        let plannedNs = linkMonotonicNs()
        timing.planNs = plannedNs - decodedNs
        if options.recordPlanTimes > answered { planTimes[Int(answered)] = outcome.elapsedNs }

        // 7. Encode.
        let reply = encodeAction(observationSeq: obs.seq, diagnostics: diagnostics)
        timing.encodeNs = linkMonotonicNs() - plannedNs
        return StepResult(reply: reply, source: diagnostics.source, iterations: outcome.iterations,
                          observationSeq: obs.seq)
    }

    /// Counts the step in the fallback-share window; a window over the share flags a warning,
    /// logged after the step (formatting a line allocates; the step must not).
    @inline(__always)
    func countPlanSource(fellBack: Bool) {
        if fellBack { supervisor.counters.link.policyPriorFallbacks &+= 1; windowFallbacks &+= 1 }
        windowSteps &+= 1
        guard windowSteps >= options.fallbackWarningWindow else { return }
        if Double(windowFallbacks) > options.fallbackWarningShare * Double(windowSteps) {
            fallbackWarningDue = true
            fallbackWarnings &+= 1
        }
        lastWindowFallbacks = windowFallbacks
        windowSteps = 0
        windowFallbacks = 0
    }
    var lastWindowFallbacks: UInt64 = 0

    /// The warning for a window in which planning mostly did not happen: the deployment is
    /// flying the policy prior, which must never go unnoticed.
    func warnFallbackShare() {
        fallbackWarningDue = false
        let n = options.fallbackWarningWindow
        let pct = Double(lastWindowFallbacks) * 100 / Double(n)
        logger.warning("planning fell back to the policy prior on \(lastWindowFallbacks) of the last \(n) steps (\(format(pct, decimals: 1)) %, above \(format(options.fallbackWarningShare * 100, decimals: 0)) %): expected set-up \(format(Double(planner.estimatedSetupNs) / 1e6, decimals: 3)) ms + iteration \(format(Double(planner.estimatedIterationNs) / 1e6, decimals: 3)) ms against a planning budget of \(format(Double(budgetNs) / 1e6, decimals: 3)) ms (see docs/planner-performance.md)")
    }

    /// A refused frame: the safe action, flagged with the fault (already counted).
    func refuse(_ fault: FaultCode, observationSeq: UInt64, timing: inout StepTiming) -> StepResult {
        supervisor.writeSafeAction(into: command.baseAddress!)
        let start = linkMonotonicNs()
        let reply = encodeAction(observationSeq: observationSeq, diagnostics: PlanDiagnostics(source: .safe, fault: fault))
        timing.encodeNs = linkMonotonicNs() - start
        return StepResult(reply: reply, source: .safe, observationSeq: observationSeq)
    }

    func encodeAction(observationSeq: UInt64, diagnostics: PlanDiagnostics) -> Reply {
        actionSeq &+= 1
        do throws(LinkError) {
            let n = try FrameEncoder.action(seq: actionSeq, observationSeq: observationSeq, timestampNs: linkMonotonicNs(),
                                            values: UnsafeBufferPointer(command), diagnostics: diagnostics,
                                            into: sendBuffer)
            return .bytes(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<n]))
        } catch {
            // act_dim <= MAX_ACT_DIM was checked at start-up, so this cannot happen.
            preconditionFailure("encoding an action failed: \(error)")
        }
    }

    func encodeError(_ code: ErrorCode, fault: FaultCode, message: String) -> Reply {
        do throws(LinkError) {
            let n = try FrameEncoder.error(code: code, fatal: false, fault: fault, message: message, into: sendBuffer)
            return .bytes(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<n]))
        } catch {
            preconditionFailure("encoding an error failed: \(error)")
        }
    }

    // MARK: - Control messages (not steps; may allocate)

    func control(_ frame: Frame) -> Reply {
        switch frame {
        case .hello:
            return handshake()
        case .heartbeat:
            // Lockstep must answer every request; free-running heartbeats need no answer.
            guard mode == .lockstep else { return .none }
            do throws(LinkError) {
                let n = try FrameEncoder.heartbeat(timestampNs: linkMonotonicNs(), role: .controller, into: sendBuffer)
                return .bytes(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<n]))
            } catch { preconditionFailure("encoding a heartbeat failed: \(error)") }
        case .shutdown:
            let reason = (try? codec.shutdownReason()) ?? ""
            logger.info("plant ended the session: \(reason.isEmpty ? "(no reason)" : reason)")
            sessionActive = false
            if options.exitOnPlantShutdown { plantShutDown = true }
            guard mode == .lockstep else { return .none }
            do throws(LinkError) {
                let n = try FrameEncoder.heartbeat(timestampNs: linkMonotonicNs(), role: .controller, into: sendBuffer)
                return .bytes(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<n]))
            } catch { preconditionFailure("encoding a heartbeat failed: \(error)") }
        default:
            supervisor.counters.unexpectedMessages &+= 1
            logger.warning("unexpected \(frame.kind) from the plant (answered with ERROR_UNEXPECTED_MESSAGE)")
            return encodeError(.unexpectedMessage, fault: .none, message: "a controller does not accept this message")
        }
    }

    /// Accepts or refuses a plant's Hello; a new session starts from scratch either way.
    func handshake() -> Reply {
        let ack: HelloAckMessage
        let wasActive = sessionActive
        do {
            let hello = try codec.hello()
            if let refusal = HandshakeCheck.refusal(for: hello, calibration: calibration) {
                ack = HelloAckMessage(accepted: false, error: refusal, role: .controller, software: options.software)
                endSessionOnRefusal(wasActive: wasActive)
                logger.error("refused \(hello.software) (\(hello.spec.robotId)): \(refusal.message)")
            } else {
                ack = .accept(role: .controller, software: options.software)
                startSession()
                sessionPreparationDue = true
                logger.info("session with \(hello.software) (\(hello.spec)) accepted")
            }
        } catch {
            ack = HelloAckMessage(accepted: false,
                                  error: ErrorInfo(code: .specMismatch, fatal: true, message: "unreadable Hello: \(error)"),
                                  role: .controller, software: options.software)
            endSessionOnRefusal(wasActive: wasActive)
            logger.error("refused an unreadable Hello: \(error)")
        }
        do throws(LinkError) {
            let n = try FrameEncoder.helloAck(ack, into: sendBuffer)
            return .bytes(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<n]))
        } catch { preconditionFailure("encoding HelloAck failed: \(error)") }
    }

    /// A refused Hello ends any running session. Free-running, the runtime pushes the safe
    /// action (FAULT_NO_HANDSHAKE) before the refusing HelloAck: the watchdog only runs inside
    /// a session, so otherwise the plant would be left holding the planner's last command.
    func endSessionOnRefusal(wasActive: Bool) {
        if wasActive && freeRunning != nil { pushSafeAction(fault: .noHandshake) }
        sessionActive = false
        supervisor.counters.refusedHandshakes &+= 1
    }

    /// A new session: sequence numbers start over, the planner's warm start is dropped and
    /// the rate limiter starts from the safe action.
    public func startSession() {
        sessionActive = true
        pendingEpisodeStart = true
        watchdogFiring = false
        lastFrameNs = linkMonotonicNs()
        supervisor.startSession()
        supervisor.counters.handshakes &+= 1
    }

    // MARK: - Sending, watchdog, telemetry, shutdown

    /// Between the HelloAck and the session's first observation, provokes libzmq's one-time
    /// allocations so that steady state (no heap allocation) starts with the first answered
    /// step. Free-running: the action queue's growth (IQLink `warmUpActionQueue`,
    /// Proto/README.md "Queue warm-up"). Both modes: commands queued for the sockets since
    /// start-up (`ZmqSocket.processCommands`). Not a step: what it allocates is counted
    /// outside steps.
    func prepareSession() {
        sessionPreparationDue = false
        lockstep?.socket.processCommands()
        guard let f = freeRunning else { return }
        defer {
            f.observationSocket.processCommands()
            f.actionSocket.processCommands()
        }
        let wanted = FreeRunningControllerEndpoint.queueWarmUpFrames
        lastQueueWarmUp = (try? f.warmUpActionQueue(frames: wanted, timeoutMs: 1000)) ?? 0
        if lastQueueWarmUp < wanted {
            logger.warning("queue warm-up: \(lastQueueWarmUp) of \(wanted) heartbeats queued within 1 s (is the plant reading its action socket?); libzmq may allocate once near action \(wanted - lastQueueWarmUp)")
        }
    }

    /// Sends one reply; false when it could not be queued (free-running: counted as a drop).
    @discardableResult
    func send(_ bytes: UnsafeRawBufferPointer) -> Bool {
        do throws(LinkError) {
            if let l = lockstep {
                try l.socket.send(bytes)
            } else if let f = freeRunning, !(try f.actionSocket.send(bytes, dontWait: true)) {
                supervisor.counters.sendDrops &+= 1
                return false
            }
            return true
        } catch {
            supervisor.counters.sendDrops &+= 1
            return false
        }
    }

    func finishStep(_ timing: StepTiming, _ result: StepResult) {
        guard result.isStep else { return }   // a control message, not a step
        telemetry.record(timing, source: result.source, iterations: result.iterations)
        answered &+= 1
        if let q = telemetryQueue {
            var s = TelemetrySample()
            s.step = answered
            s.observationSeq = result.observationSeq
            s.receiveNs = timing.receiveNs
            s.decodeNs = timing.decodeNs
            s.planNs = timing.planNs
            s.encodeNs = timing.encodeNs
            s.sendNs = timing.sendNs
            s.iterations = UInt32(result.iterations)
            s.source = result.source
            s.counters = linkCounters
            s.counters.authRefusals = q.publisher.socket.refusedClients
            s.linkInsecure = linkInsecure
            q.push(s)   // published off the control thread: see TelemetryQueue
        }
    }

    /// When frames stop: free-running pushes the safe action every watchdog timeout; lockstep
    /// (where the controller cannot speak first) counts and logs.
    func watchdog(now: UInt64) {
        if !sessionActive && !noPeerWarned && handshakesSeen == 0 && now - runStartNs >= options.noPeerWarningNs {
            noPeerWarned = true
            logger.warning("no plant has connected to \(calibration.link.observationEndpoint) after \(options.noPeerWarningNs / 1_000_000_000) s: is the plant running and bound there\(calibration.link.security.curve != nil ? ", and do both sides hold the right CURVE keys (the plant logs refused keys)" : "")?")
        }
        let timeout = calibration.timing.watchdogTimeoutNs
        guard sessionActive, now - lastFrameNs >= timeout, now - lastWatchdogNs >= timeout else { return }
        lastWatchdogNs = now
        supervisor.count(.watchdog)
        if !watchdogFiring {
            watchdogFiring = true
            logger.warning("watchdog: no frame for \(Double(now - lastFrameNs) / 1e6) ms\(mode == .freeRunning ? ", pushing the safe action" : "")")
        }
        guard freeRunning != nil else { return }
        pushSafeAction(fault: .watchdog)
    }

    /// Sends the safe action flagged with `fault` outside any step (free-running's watchdog,
    /// shutdown and refused Hello; lockstep's shutdown answer to a pending request).
    func pushSafeAction(fault: FaultCode, observationSeq: UInt64 = 0) {
        supervisor.writeSafeAction(into: command.baseAddress!)
        if case .bytes(let b) = encodeAction(observationSeq: observationSeq, diagnostics: PlanDiagnostics(source: .safe, fault: fault)),
           send(b) {
            supervisor.counters.link.actionsSent &+= 1
        }
    }

    /// Free-running: pushes the safe action flagged FAULT_SHUTDOWN. Lockstep: answers the
    /// plant's pending request with it (waiting up to one watchdog timeout for one), since a
    /// REP socket cannot speak first.
    func sendShutdownAction(stop: StopSignal, input: ZmqSocket) {
        guard stop.isRequested, sessionActive else { return }
        if freeRunning != nil {
            pushSafeAction(fault: .shutdown)
            return
        }
        let timeoutMs = Int32(min(calibration.timing.watchdogTimeoutNs / 1_000_000, 1000))
        guard let n = try? input.receive(into: receiveBuffer, timeoutMs: timeoutMs) else { return }
        var seq: UInt64 = 0
        if let frame = try? codec.decode(UnsafeRawPointer(receiveBuffer.baseAddress), count: n),
           case .observation(let obs) = frame { seq = obs.seq }
        pushSafeAction(fault: .shutdown, observationSeq: seq)
    }

    func stopReason(_ stop: StopSignal) -> String {
        if stop.isRequested { return stop.reason > 0 ? "signal \(stop.reason)" : "stop requested" }
        if plantShutDown { return "the plant shut the session down" }
        return "\(answered) steps answered (--steps)"
    }

    var handshakesSeen: UInt64 { supervisor.counters.handshakes + supervisor.counters.refusedHandshakes }

    /// The wire's cumulative counters.
    public var linkCounters: LinkCounters { supervisor.counters.link }

    public func summary() -> String {
        if AllocationWindow.traceSteps { iq_alloc_trace_dump() }
        var s = telemetry.summary(counters: supervisor.counters, mode: mode.rawValue)
        if allocations.steps > 0 { s += "\n" + allocations.summary }
        if let q = telemetryQueue, q.dropped > 0 { s += "\ntelemetry: \(q.dropped) samples dropped (queue full)" }
        return s
    }
}

/// Spins (does not sleep) for `ns`: a CPU hog on the control thread.
func burnCPU(_ ns: UInt64) {
    let end = linkMonotonicNs() + ns
    while linkMonotonicNs() < end {}
}

func sleepMs(_ ms: Int) {
    var ts = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    nanosleep(&ts, nil)
}

#if canImport(Glibc)
import Glibc
#endif
