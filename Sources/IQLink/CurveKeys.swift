import CZeroMQ
import Foundation

/// CURVE keys (libzmq's CurveZMQ: Curve25519 key agreement, authenticated encryption of
/// every frame) as Z85 text, the 40-character form libzmq's tools print.
///
/// Files (`iqmpc-runtime keygen --out DIR`):
/// - `NAME.secret`: the secret key, one line, mode 0600; the public key is derived from it.
/// - `NAME.public`: the public key, one line; hand it to peers.
/// - an authorised-keys file: one public key per line, optionally followed by a label;
///   a line whose first word is not a key and starts with `#` is a comment (Z85 itself uses `#`).
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    public init(secretKey: String) throws(LinkError) {
        guard CurveKeys.isZ85Key(secretKey) else { throw .security("the secret key is not 40 Z85 characters") }
        var pub = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&pub, secretKey) == 0 else {
            throw .security("cannot derive a public key: libzmq \(CurveKeys.available ? "refused the secret key" : "was built without CURVE")")
        }
        publicKey = String(cString: pub)
        self.secretKey = secretKey
    }

    init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}

public enum CurveKeys {
    /// True when this libzmq supports CURVE (Debian's does: it links libsodium).
    public static var available: Bool { zmq_has("curve") != 0 }

    /// A fresh key pair (`zmq_curve_keypair`).
    public static func generate() throws(LinkError) -> CurveKeyPair {
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else {
            throw .security("zmq_curve_keypair failed: \(available ? zmqErrorString(zmq_errno()) : "libzmq was built without CURVE")")
        }
        return CurveKeyPair(publicKey: String(cString: pub), secretKey: String(cString: sec))
    }

    /// 40 characters of the Z85 alphabet that decode to 32 bytes.
    public static func isZ85Key(_ s: String) -> Bool {
        guard s.utf8.count == 40 else { return false }
        var out = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&out, s) != nil
    }

    /// Z85 text of a 32-byte binary key (the form ZAP hands to the authenticator).
    static func z85(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard bytes.count == 32, let base = bytes.baseAddress else { return nil }
        var out = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&out, base.assumingMemoryBound(to: UInt8.self), 32) != nil else { return nil }
        return String(cString: out)
    }

    /// The key lines of a key file: comments and blank lines skipped, the first word of
    /// each other line, each checked.
    static func keys(in path: String, what: String) throws(LinkError) -> [String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .security("cannot read the \(what) \(path): \(error.localizedDescription)")
        }
        var out: [String] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            // Z85 uses '#', so a line is a comment only when its first word is not a key.
            guard let word = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first else { continue }
            let key = String(word)
            if isZ85Key(key) { out.append(key); continue }
            if key.hasPrefix("#") { continue }
            throw .security("\(path):\(n + 1): not a Z85 CURVE key (40 characters)")
        }
        return out
    }

    /// One key from a file holding exactly one.
    static func single(_ path: String, what: String) throws(LinkError) -> String {
        let k = try keys(in: path, what: what)
        guard k.count == 1 else { throw .security("\(path): the \(what) file must hold exactly one key, it holds \(k.count)") }
        return k[0]
    }

    /// This side's key pair from its `.secret` file.
    public static func loadSecret(path: String) throws(LinkError) -> CurveKeyPair {
        try CurveKeyPair(secretKey: single(path, what: "secret key"))
    }

    /// A peer's public key from its `.public` file.
    public static func loadPublic(path: String) throws(LinkError) -> String {
        try single(path, what: "public key")
    }

    /// Every public key of an authorised-keys file (may be empty: nobody is admitted).
    public static func loadAuthorised(path: String) throws(LinkError) -> [String] {
        try keys(in: path, what: "authorised keys")
    }

    /// Writes `NAME.secret` (0600) and `NAME.public` into `directory`; refuses to overwrite.
    @discardableResult
    public static func write(_ pair: CurveKeyPair, directory: String, name: String) throws(LinkError) -> (publicPath: String, secretPath: String) {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw .security("cannot create \(directory): \(error.localizedDescription)")
        }
        let secretPath = (directory as NSString).appendingPathComponent(name + ".secret")
        let publicPath = (directory as NSString).appendingPathComponent(name + ".public")
        for p in [secretPath, publicPath] where fm.fileExists(atPath: p) {
            throw .security("\(p) exists: remove it first (keys are never overwritten)")
        }
        let header = "# iqmpc CURVE key (Z85), made by iqmpc-runtime keygen\n"
        guard fm.createFile(atPath: secretPath, contents: Data((header + pair.secretKey + "\n").utf8),
                            attributes: [.posixPermissions: 0o600]),
              fm.createFile(atPath: publicPath, contents: Data((header + pair.publicKey + "\n").utf8),
                            attributes: [.posixPermissions: 0o644]) else {
            throw .security("cannot write the key files into \(directory)")
        }
        return (publicPath, secretPath)
    }
}

/// A socket that connects (runtime to plant, trainer to simulator, telemetry tool to
/// runtime): its own key pair and the public key of the server it will accept.
public struct CurveClientKeys: Sendable, Equatable {
    public var own: CurveKeyPair
    public var serverPublicKey: String
    public init(own: CurveKeyPair, serverPublicKey: String) {
        self.own = own
        self.serverPublicKey = serverPublicKey
    }
}

/// A socket that binds (plant, simulator, telemetry publisher): its key pair and the
/// client public keys its ZAP handler admits.
public struct CurveServerKeys: Sendable, Equatable {
    public var own: CurveKeyPair
    public var authorisedKeys: [String]
    public init(own: CurveKeyPair, authorisedKeys: [String]) {
        self.own = own
        self.authorisedKeys = authorisedKeys
    }
}
