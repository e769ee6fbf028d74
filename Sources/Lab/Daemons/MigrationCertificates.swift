import Foundation

/// A certificate authority made with GnuTLS's `certtool` (Debian's `gnutls-bin`): its key and
/// self-signed certificate in one directory, and the certificates it issues.
///
/// The lab's TLS migration needs one of these and a set of QEMU's x509 files per host; the
/// `tls-untrusted` fault makes a second one, which no host trusts.
public struct CertificateAuthority: Sendable {
    /// The directory holding `ca-key.pem` and `ca-cert.pem`.
    public let directory: String
    /// The CA's common name, also its label in messages.
    public let commonName: String

    /// The CA's certificate (what a host trusts).
    public var certificatePath: String { "\(directory)/ca-cert.pem" }
    var keyPath: String { "\(directory)/ca-key.pem" }

    /// Days a certificate is valid. The lab's state lives in `/run`, so it is remade after a reboot.
    static let validityDays = 365

    /// The CA in `directory`, made there when its key or certificate is missing.
    /// - Throws: ``LabError`` when `certtool` is missing or fails.
    public static func ensure(in directory: String, commonName: String) throws -> (authority: CertificateAuthority, made: Bool) {
        let authority = CertificateAuthority(directory: directory, commonName: commonName)
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: authority.keyPath), fileManager.fileExists(atPath: authority.certificatePath) {
            return (authority, false)
        }
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try authority.makeKey(at: authority.keyPath)
        try authority.certtool(["--generate-self-signed", "--load-privkey", authority.keyPath, "--outfile", authority.certificatePath],
                               template: "cn = \"\(commonName)\"\nca\ncert_signing_key\nexpiration_days = \(validityDays)\n",
                               step: "make the certificate authority \(commonName)")
        return (authority, true)
    }

    /// What a certificate is for: QEMU's migration TLS has a server (the destination) and a
    /// client (the source) side, each with its own certificate.
    public enum Role: String, Sendable {
        case server, client
    }

    /// Issues a key and certificate for `role` to `keyPath` and `certificatePath`. A server
    /// certificate names the host by `commonName` (DNS) and `addresses` (IP), which is what
    /// QEMU's TLS client checks against `tls-hostname` (libvirt passes the migration URI's host).
    public func issue(role: Role, commonName: String, addresses: [String], keyPath: String, certificatePath: String) throws {
        try makeKey(at: keyPath)
        var template = "organization = \"migration lab\"\ncn = \"\(commonName)\"\nexpiration_days = \(Self.validityDays)\n"
            + "signing_key\nencryption_key\n"
        template += role == .server ? "tls_www_server\n" : "tls_www_client\n"
        template += "dns_name = \"\(commonName)\"\n" + addresses.map { "ip_address = \"\($0)\"\n" }.joined()
        try certtool(["--generate-certificate", "--load-privkey", keyPath, "--load-ca-certificate", self.certificatePath,
                      "--load-ca-privkey", self.keyPath, "--outfile", certificatePath],
                     template: template, step: "issue a \(role.rawValue) certificate for \(commonName) from \(self.commonName)")
    }

    private func makeKey(at path: String) throws {
        // RSA: QEMU refuses a certificate whose key usage lacks key encipherment, which
        // certtool sets for RSA keys only. 2048 bits: a fraction of a second each.
        try certtool(["--generate-privkey", "--key-type", "rsa", "--bits", "2048", "--outfile", path],
                     template: nil, step: "make a private key \(path)")
        chmod(path, 0o600)
    }

    private func certtool(_ arguments: [String], template: String?, step: String) throws {
        guard let certtool = CommandRunner.locate("certtool") else {
            throw LabError(step: step, reason: "certtool not found: install Debian's gnutls-bin")
        }
        var command = [certtool] + arguments
        var templatePath: String?
        if let template {
            let path = "\(directory)/.template-\(getpid())-\(UUID().uuidString)"
            try template.write(toFile: path, atomically: true, encoding: .utf8)
            templatePath = path
            command += ["--template", path]
        }
        defer { if let templatePath { try? FileManager.default.removeItem(atPath: templatePath) } }
        try CommandRunner.run(command, step: step)
    }
}

/// QEMU's x509 files for migration TLS on each lab host (`migrate_tls_x509_cert_dir`):
/// `ca-cert.pem`, `server-cert.pem`/`server-key.pem` (used when the host receives) and
/// `client-cert.pem`/`client-key.pem` (used when it sends), all from the lab's one CA.
struct MigrationCertificates {
    let configuration: LabConfiguration

    /// The names of the files QEMU reads from the directory.
    static let fileNames = ["ca-cert.pem", "server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem"]

    var authorityDirectory: String { "\(configuration.stateDirectory)/pki/ca" }

    /// Makes the CA and every host's files where any is missing.
    func ensure(actions: inout [String]) throws {
        let (authority, madeAuthority) = try CertificateAuthority.ensure(in: authorityDirectory, commonName: "migration lab CA")
        if madeAuthority { actions.append("made the lab's certificate authority in \(authorityDirectory)") }
        for host in configuration.hosts {
            let directory = configuration.migrationTLSDirectory(host)
            let complete = Self.fileNames.allSatisfy { FileManager.default.fileExists(atPath: "\(directory)/\($0)") }
            if complete, !madeAuthority { continue }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let name = "lab-\(host.name)"
            for role in [CertificateAuthority.Role.server, .client] {
                try authority.issue(role: role, commonName: name, addresses: [host.address, host.ipv6Address],
                                    keyPath: "\(directory)/\(role.rawValue)-key.pem",
                                    certificatePath: "\(directory)/\(role.rawValue)-cert.pem")
            }
            try FileManager.default.removeItem(atPathIfPresent: "\(directory)/ca-cert.pem")
            try FileManager.default.copyItem(atPath: authority.certificatePath, toPath: "\(directory)/ca-cert.pem")
            actions.append("issued migration TLS certificates for \(host.name) in \(directory)")
        }
    }
}

extension FileManager {
    /// Removes `path` when something is there.
    func removeItem(atPathIfPresent path: String) throws {
        if fileExists(atPath: path) { try removeItem(atPath: path) }
    }
}
