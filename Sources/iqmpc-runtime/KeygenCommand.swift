import ArgumentParser
import IQLink

/// `iqmpc-runtime keygen`: a CURVE key pair for one end of the link (Calibration/README.md,
/// "link.security").
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a CURVE key pair (Z85): NAME.secret (mode 0600, stays on this computer) and NAME.public (give it to the peer).",
        discussion: """
        The runtime's calibration names its own .secret file (link.security.curve.secret_key)
        and the plant's .public file (plant_public_key); the plant lists the runtime's public
        key in its authorised-keys file. Existing files are never overwritten.
        """)

    @Option(help: "Directory to write the key files into (created if missing).") var out: String
    @Option(help: "File name stem.") var name: String = "iqmpc"

    func run() throws {
        guard CurveKeys.available else { throw ValidationError("this libzmq was built without CURVE (zmq_has(\"curve\") is false)") }
        let pair = try CurveKeys.generate()
        let (pub, sec) = try CurveKeys.write(pair, directory: out, name: name)
        print("secret key: \(sec)")
        print("public key: \(pub)")
        print(pair.publicKey)
    }
}
