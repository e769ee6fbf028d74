import ArgumentParser

/// `migverify`: the live-migration verifier. Subcommand groups are added beside `lab`
/// (the verifier's `run` comes next). Subcommands may be `AsyncParsableCommand`s once
/// the root becomes one too.
struct Migverify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migverify",
        abstract: "Test live migration of QEMU/KVM guests driven by libvirt.",
        subcommands: [LabCommand.self, RunCommand.self]
    )
}

Migverify.main()
