import IQLink

/// Writes a served real-time session to a record file from the plant's side: every frame
/// sent and the action that answered it (or none), with the evaluation reward. This is
/// how an evaluation run is scored and plotted afterwards; both timestamps are the one
/// host's CLOCK_MONOTONIC, so `action.timestamp - observation.timestamp` is the control
/// latency. Recording allocates (it builds Swift records), so it is off unless asked for.
final class SessionRecorder {
    private let writer: RecordWriter
    private var pending: ObservationRecord?

    init(path: String, spec: PlantSpec, seed: UInt64, source: String) throws {
        writer = try RecordWriter(path: path, header: RecordHeaderInfo(spec: spec, source: source, seed: seed))
    }

    /// A frame went out; an earlier frame still pending was never answered.
    func sent(_ observation: ObservationRecord) throws {
        try flushPending()
        pending = observation
    }

    /// An action arrived that the plant accepted; it answers the pending frame if the seq matches.
    func answered(_ action: ActionView) throws {
        guard let p = pending, p.seq == action.observationSeq else { return }
        try writer.write(observation: p, action: ActionRecord(action))
        pending = nil
    }

    func close() throws {
        try flushPending()
        try writer.close()
    }

    private func flushPending() throws {
        if let p = pending { try writer.write(observation: p, action: nil) }
        pending = nil
    }
}
