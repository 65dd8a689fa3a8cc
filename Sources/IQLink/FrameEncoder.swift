import IQProto

/// Packs envelopes into caller-owned buffers with protobuf-c.
///
/// The message structs live on the stack and point at the caller's values, so the hot
/// encoders (observation, action, heartbeat, error, reset, telemetry) make no heap
/// allocation. Size is computed before packing: a message over its bound is
/// `oversized`, a buffer too small is `bufferTooSmall`; nothing is ever truncated.
/// Closures return `Result` rather than throwing because the C-string and pointer
/// helpers they run in are untyped `rethrows`.
public enum FrameEncoder {
    public static func observation(seq: UInt64, timestampNs: UInt64, values: UnsafeBufferPointer<Float>,
                                   episodeStart: Bool = false, terminal: Bool = false,
                                   reward: Float? = nil, episode: UInt32 = 0,
                                   into out: UnsafeMutableRawBufferPointer) throws(LinkError) -> Int {
        if values.count > LinkBounds.maxObsDim {
            throw .dimensionOutOfBounds(field: .observationValues, count: values.count, limit: LinkBounds.maxObsDim)
        }
        var m = Iqmpc__V1__Observation()
        iqmpc__v1__observation__init(&m)
        m.seq = seq
        m.timestamp_ns = timestampNs
        m.n_values = values.count
        m.values = UnsafeMutablePointer(mutating: values.baseAddress)
        m.episode_start = episodeStart ? 1 : 0
        m.terminal = terminal ? 1 : 0
        m.reward_present = reward == nil ? 0 : 1
        m.reward = reward ?? 0
        m.episode = episode
        return try withUnsafeMutablePointer(to: &m) { p in
            var env = envelope(IQMPC__V1__ENVELOPE__BODY_OBSERVATION)
            env.observation = p
            return pack(&env, limit: LinkBounds.maxFrameBytes, into: out)
        }.get()
    }

    public static func action(seq: UInt64, observationSeq: UInt64, timestampNs: UInt64,
                              values: UnsafeBufferPointer<Float>, diagnostics: PlanDiagnostics,
                              into out: UnsafeMutableRawBufferPointer) throws(LinkError) -> Int {
        if values.count > LinkBounds.maxActDim {
            throw .dimensionOutOfBounds(field: .actionValues, count: values.count, limit: LinkBounds.maxActDim)
        }
        var d = Iqmpc__V1__PlanDiagnostics()
        iqmpc__v1__plan_diagnostics__init(&d)
        d.source = diagnostics.source.wire
        d.iterations = diagnostics.iterations
        d.plan_time_us = diagnostics.planTimeUs
        d.deadline_missed = diagnostics.deadlineMissed ? 1 : 0
        d.fault = diagnostics.fault.wire
        var m = Iqmpc__V1__Action()
        iqmpc__v1__action__init(&m)
        m.seq = seq
        m.observation_seq = observationSeq
        m.timestamp_ns = timestampNs
        m.n_values = values.count
        m.values = UnsafeMutablePointer(mutating: values.baseAddress)
        return try withUnsafeMutablePointer(to: &d) { dp in
            m.diagnostics = dp
            return withUnsafeMutablePointer(to: &m) { p in
                var env = envelope(IQMPC__V1__ENVELOPE__BODY_ACTION)
                env.action = p
                return pack(&env, limit: LinkBounds.maxFrameBytes, into: out)
            }
        }.get()
    }

    public static func heartbeat(timestampNs: UInt64, role: Role,
                                 into out: UnsafeMutableRawBufferPointer) throws(LinkError) -> Int {
        var m = Iqmpc__V1__Heartbeat()
        iqmpc__v1__heartbeat__init(&m)
        m.timestamp_ns = timestampNs
        m.role = role.wire
        return try withUnsafeMutablePointer(to: &m) { p in
            var env = envelope(IQMPC__V1__ENVELOPE__BODY_HEARTBEAT)
            env.heartbeat = p
            return pack(&env, limit: LinkBounds.maxFrameBytes, into: out)
        }.get()
    }

    /// Allocation-free for native Swift strings (literals included).
    public static func error(code: ErrorCode, fatal: Bool, fault: FaultCode = .none, message: String,
                             into out: UnsafeMutableRawBufferPointer) throws(LinkError) -> Int {
        let result: Result<Int, LinkError> = message.withCString { cmsg in
            var m = Iqmpc__V1__Error()
            iqmpc__v1__error__init(&m)
            m.code = code.wire
            m.fatal = fatal ? 1 : 0
            m.fault = fault.wire
            m.message = UnsafeMutablePointer(mutating: cmsg)
            return withUnsafeMutablePointer(to: &m) { p in
                var env = envelope(IQMPC__V1__ENVELOPE__BODY_ERROR)
                env.error = p
                return pack(&env, limit: LinkBounds.maxFrameBytes, into: out)
            }
        }
        return try result.get()
    }

    public static func reset(seed: UInt64, into out: UnsafeMutableRawBufferPointer) throws(LinkError) -> Int {
        var m = Iqmpc__V1__Reset()
        iqmpc__v1__reset__init(&m)
        m.seed = seed
        return try withUnsafeMutablePointer(to: &m) { p in
            var env = envelope(IQMPC__V1__ENVELOPE__BODY_RESET)
            env.reset = p
            return pack(&env, limit: LinkBounds.maxFrameBytes, into: out)
        }.get()
    }

    public static func shutdown(reason: String, into out: UnsafeMutableRawBufferPointer) throws(LinkError) -> Int {
        let result: Result<Int, LinkError> = reason.withCString { c in
            var m = Iqmpc__V1__Shutdown()
            iqmpc__v1__shutdown__init(&m)
            m.reason = UnsafeMutablePointer(mutating: c)
            return withUnsafeMutablePointer(to: &m) { p in
                var env = envelope(IQMPC__V1__ENVELOPE__BODY_SHUTDOWN)
                env.shutdown = p
                return pack(&env, limit: LinkBounds.maxControlBytes, into: out)
            }
        }
        return try result.get()
    }

    public static func telemetry(_ t: TelemetrySample, into out: UnsafeMutableRawBufferPointer) throws(LinkError) -> Int {
        var c = Iqmpc__V1__Counters()
        iqmpc__v1__counters__init(&c)
        t.counters.fill(&c)
        var m = Iqmpc__V1__Telemetry()
        iqmpc__v1__telemetry__init(&m)
        m.step = t.step
        m.observation_seq = t.observationSeq
        m.receive_ns = t.receiveNs
        m.decode_ns = t.decodeNs
        m.plan_ns = t.planNs
        m.encode_ns = t.encodeNs
        m.send_ns = t.sendNs
        m.iterations = t.iterations
        m.source = t.source.wire
        m.link_insecure = t.linkInsecure ? 1 : 0
        return try withUnsafeMutablePointer(to: &c) { cp in
            m.counters = cp
            return withUnsafeMutablePointer(to: &m) { p in
                var env = envelope(IQMPC__V1__ENVELOPE__BODY_TELEMETRY)
                env.telemetry = p
                return pack(&env, limit: LinkBounds.maxControlBytes, into: out)
            }
        }.get()
    }

    /// Handshake: allocates (builds the spec's channel list in C memory).
    public static func hello(_ h: HelloMessage, into out: UnsafeMutableRawBufferPointer) throws(LinkError) -> Int {
        let scope = CScope()
        let m = scope.make(Iqmpc__V1__Hello.self)
        iqmpc__v1__hello__init(m)
        m.pointee.protocol_version = h.protocolVersion
        m.pointee.role = h.role.wire
        m.pointee.software = scope.string(h.software)
        m.pointee.mode = h.mode.wire
        let result: Result<Int, LinkError> = h.spec.withC(scope) { spec in
            m.pointee.spec = spec
            var env = envelope(IQMPC__V1__ENVELOPE__BODY_HELLO)
            env.hello = m
            return pack(&env, limit: LinkBounds.maxControlBytes, into: out)
        }
        return try result.get()
    }

    /// Handshake: allocates.
    public static func helloAck(_ a: HelloAckMessage, into out: UnsafeMutableRawBufferPointer) throws(LinkError) -> Int {
        let scope = CScope()
        let m = scope.make(Iqmpc__V1__HelloAck.self)
        iqmpc__v1__hello_ack__init(m)
        m.pointee.protocol_version = a.protocolVersion
        m.pointee.accepted = a.accepted ? 1 : 0
        m.pointee.role = a.role.wire
        m.pointee.software = scope.string(a.software)
        if let e = a.error {
            let ce = scope.make(Iqmpc__V1__Error.self)
            iqmpc__v1__error__init(ce)
            ce.pointee.code = e.code.wire
            ce.pointee.fatal = e.fatal ? 1 : 0
            ce.pointee.fault = e.fault.wire
            ce.pointee.message = scope.string(e.message)
            m.pointee.error = ce
        }
        var env = envelope(IQMPC__V1__ENVELOPE__BODY_HELLO_ACK)
        env.hello_ack = m
        return try pack(&env, limit: LinkBounds.maxControlBytes, into: out).get()
    }

    // MARK: helpers

    @inline(__always)
    static func envelope(_ body: Iqmpc__V1__Envelope__BodyCase) -> Iqmpc__V1__Envelope {
        var env = Iqmpc__V1__Envelope()
        iqmpc__v1__envelope__init(&env)
        env.body_case = body
        return env
    }

    @inline(__always)
    static func pack(_ env: UnsafeMutablePointer<Iqmpc__V1__Envelope>, limit: Int,
                     into out: UnsafeMutableRawBufferPointer) -> Result<Int, LinkError> {
        let size = iqmpc__v1__envelope__get_packed_size(env)
        if size > limit { return .failure(.oversized(byteCount: size, limit: limit)) }
        guard let base = out.baseAddress, size <= out.count else {
            return .failure(.bufferTooSmall(needed: size, capacity: out.count))
        }
        return .success(iqmpc__v1__envelope__pack(env, base.assumingMemoryBound(to: UInt8.self)))
    }
}

extension LinkCounters {
    func fill(_ c: inout Iqmpc__V1__Counters) {
        c.frames_received = framesReceived
        c.actions_sent = actionsSent
        c.deadline_misses = deadlineMisses
        c.policy_prior_fallbacks = policyPriorFallbacks
        c.safe_actions = safeActions
        c.malformed = malformed
        c.oversized = oversized
        c.wrong_dimension = wrongDimension
        c.non_finite = nonFinite
        c.stale = stale
        c.out_of_order = outOfOrder
        c.duplicate = duplicate
        c.watchdog = watchdog
        c.skipped_frames = skippedFrames
        c.out_of_range = outOfRange
        c.from_future = fromFuture
        c.resyncs = resyncs
        c.auth_refusals = authRefusals
    }

    init(c: Iqmpc__V1__Counters) {
        self.init()
        framesReceived = c.frames_received
        actionsSent = c.actions_sent
        deadlineMisses = c.deadline_misses
        policyPriorFallbacks = c.policy_prior_fallbacks
        safeActions = c.safe_actions
        malformed = c.malformed
        oversized = c.oversized
        wrongDimension = c.wrong_dimension
        nonFinite = c.non_finite
        stale = c.stale
        outOfOrder = c.out_of_order
        duplicate = c.duplicate
        watchdog = c.watchdog
        skippedFrames = c.skipped_frames
        outOfRange = c.out_of_range
        fromFuture = c.from_future
        resyncs = c.resyncs
        authRefusals = c.auth_refusals
    }
}

extension TelemetrySample {
    init(c t: UnsafePointer<Iqmpc__V1__Telemetry>) {
        self.init()
        let m = t.pointee
        step = m.step
        observationSeq = m.observation_seq
        receiveNs = m.receive_ns
        decodeNs = m.decode_ns
        planNs = m.plan_ns
        encodeNs = m.encode_ns
        sendNs = m.send_ns
        iterations = m.iterations
        source = ActionSource(wire: m.source)
        if let c = m.counters { counters = LinkCounters(c: c.pointee) }
        linkInsecure = m.link_insecure != 0
    }
}
