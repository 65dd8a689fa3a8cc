/// Every failure IQLink reports, as one typed error.
///
/// Hot-path cases (decode, encode, send, receive) carry only integers and enums so that
/// throwing them allocates nothing; the control loop maps them to a `FaultCode` with
/// `faultCode` and answers with the safe action. Cases for files and the handshake carry
/// strings because they are rare and must explain themselves to a person.
public enum LinkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes did not parse as the expected protobuf message (protobuf-c refused them).
    case malformed(byteCount: Int)
    /// A message was larger than the bound that applies to it (never truncated).
    case oversized(byteCount: Int, limit: Int)
    /// A repeated field exceeded its protocol bound (`MAX_OBS_DIM`, `MAX_ACT_DIM`).
    case dimensionOutOfBounds(field: Field, count: Int, limit: Int)
    /// The envelope's body was not the kind the caller asked for.
    case unexpectedBody(expected: BodyKind, got: BodyKind)
    /// An envelope with no body set.
    case emptyEnvelope
    /// The decoded message needed more arena memory than the codec owns (hostile input,
    /// e.g. thousands of tiny unknown fields); treated as an oversized frame.
    case arenaExhausted(byteCount: Int, arenaBytes: Int)
    /// The caller's output buffer cannot hold the encoded message.
    case bufferTooSmall(needed: Int, capacity: Int)
    /// A ZeroMQ call failed with `errno`.
    case zmq(operation: ZmqOperation, errno: Int32)
    /// A multipart ZeroMQ message arrived (the protocol uses single-part frames only).
    case multipart
    /// No reply arrived in time.
    case timeout
    /// A send could not be queued without blocking (the message was dropped).
    case wouldBlock
    /// The plant's spec is not well-formed (dimensions, channel counts, names, bounds).
    case invalidSpec(String)
    /// The peer refused the handshake.
    case handshakeRefused(code: ErrorCode, message: String)
    /// A record file problem, with the byte offset of the record at fault.
    case record(offset: Int64, problem: String)
    /// An I/O call on a file failed.
    case io(path: String, errno: Int32)
    /// CURVE keys or the ZAP handler (start-up only).
    case security(String)

    /// Names of bounded repeated fields, so errors can say which one overflowed.
    public enum Field: String, Sendable {
        case observationValues = "Observation.values"
        case actionValues = "Action.values"
        case observationChannels = "RobotSpec.observations"
        case actionChannels = "RobotSpec.actions"
    }

    /// The ZeroMQ call that failed, for error messages.
    public enum ZmqOperation: String, Sendable {
        case context, socket, bind, connect, setOption, getOption, send, receive, poll, close
    }

    /// The protocol fault a frame-level error stands for; `nil` for errors that are not
    /// about a received frame.
    public var faultCode: FaultCode? {
        switch self {
        case .malformed, .emptyEnvelope, .multipart, .unexpectedBody: return .malformed
        case .oversized, .dimensionOutOfBounds, .arenaExhausted: return .oversized
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case let .malformed(n): return "malformed message: \(n) bytes did not parse as an iqmpc.v1 message"
        case let .oversized(n, limit): return "oversized message: \(n) bytes exceeds the limit of \(limit)"
        case let .dimensionOutOfBounds(field, count, limit):
            return "\(field.rawValue) has \(count) entries, more than the protocol bound \(limit)"
        case let .unexpectedBody(expected, got): return "expected a \(expected) envelope, got \(got)"
        case let .arenaExhausted(n, arena):
            return "a \(n)-byte message unpacks to more than the decode arena's \(arena) bytes"
        case .emptyEnvelope: return "envelope has no body"
        case let .bufferTooSmall(needed, capacity):
            return "encoded message needs \(needed) bytes but the buffer holds \(capacity)"
        case let .zmq(op, err): return "zmq \(op.rawValue) failed: \(zmqErrorString(err)) (errno \(err))"
        case .multipart: return "multipart ZeroMQ message (the protocol uses single-part frames)"
        case .timeout: return "timed out waiting for the peer"
        case .wouldBlock: return "send would block (message dropped)"
        case let .invalidSpec(why): return "invalid RobotSpec: \(why)"
        case let .handshakeRefused(code, message): return "handshake refused (\(code)): \(message)"
        case let .record(offset, problem): return "record at byte offset \(offset): \(problem)"
        case let .security(why): return "link security: \(why)"
        case let .io(path, err): return "\(path): \(String(cString: strerror(err))) (errno \(err))"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZeroMQ

func zmqErrorString(_ err: Int32) -> String { String(cString: zmq_strerror(err)) }
