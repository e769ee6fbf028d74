import ArgumentParser
import Foundation

/// `migverify`: the live-migration verifier.
struct Migverify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migverify",
        abstract: "Test live migration of QEMU/KVM guests driven by libvirt.",
        subcommands: [LabCommand.self, RunCommand.self, SweepCommand.self, CorrelateCommand.self, ReportCommand.self,
                      RejudgeCommand.self]
    )
}

// Errors are one line, `migverify: error: ...`, not the usage text; help still prints in full.
do {
    var command = try Migverify.parseAsRoot()
    try command.run()
} catch {
    let code = Migverify.exitCode(for: error)
    if code == .success || error is ExitCode { Migverify.exit(withError: error) }
    let message = Migverify.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    FileHandle.standardError.write(Data("migverify: error: \(message)\n".utf8))
    Migverify.exit(withError: ExitCode(code.rawValue))
}
