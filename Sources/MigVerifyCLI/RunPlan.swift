import ArgumentParser
import Foundation
import Lab
import Verifier

/// What one `migverify run` or `sweep` is to do, made once from its option groups by
/// `validate()` and then carried out by `run()`: the matrix (a `--matrix` file is read here,
/// once), the testbed and every run, each checked. Making it reaches no host and changes
/// nothing; ``resolve(lookUpRoute:)`` then looks at what only the hosts and the lab's
/// state can say, when the command runs.
struct RunPlan {
    /// Where the runs go.
    enum Target {
        /// The lab on this machine: its runs are final when the plan is made.
        case lab(LabTarget, Lab)
        /// Real hosts, surveyed only when the command runs.
        case realHosts(RealHostsPlan)
    }

    /// `run` or `sweep`: how the sweep is stored and which runs may be reused.
    let kind: SweepKind
    /// The matrix as asked: the sweep's definition in the results database.
    let matrix: SweepMatrix
    /// Where the runs go.
    let target: Target
    /// The settings every run shares (``MigrationRunOptions/template(endpoints:)``).
    let template: ScenarioParameters
    /// The runs in order, each checked by `ScenarioParameters.validate()`. On real hosts the
    /// domain's RAM and memeater's region are stand-ins until ``resolve(lookUpRoute:)``.
    let runs: [ScenarioParameters]
    /// `--find-boundary`: the bisection steps after the matrix, per memory size and bandwidth.
    let boundarySteps: Int?
    /// `--guest-count` (or the matrix file's `guest-count`): each run is an evacuation of each
    /// of these plans in turn, one per guest count N (`nil`: one guest).
    let evacuations: [EvacuationPlan]?

    /// Makes and checks the plan: every refusal is a `ValidationError` (one line, exit 64).
    /// Reads the matrix file with `readMatrixFile` and the memeater token file; reaches no
    /// host, looks up no route.
    init(kind: SweepKind, matrix options: MatrixOptions, migration: MigrationRunOptions, hosts: RealHostOptions,
         location: LabLocationOptions, evacuation: EvacuationOptions = EvacuationOptions(),
         readMatrixFile: MatrixFileReader = SweepMatrix.load(path:)) throws {
        let matrix = try options.sweepMatrix(kind: kind, onRealHosts: hosts.areGiven, readMatrixFile: readMatrixFile)
        let evacuations = try evacuation.plans(guestCounts: matrix.evacuationGuestCounts)
        if let evacuations {
            for plan in evacuations {
                for scenario in matrix.scenarios {
                    do {
                        try plan.validate(scenario: scenario, catalog: .standard)
                    } catch {
                        throw ValidationError(error.description)
                    }
                }
            }
            if !hosts.areGiven, let largest = matrix.memorySizesMiB.max(), let most = evacuations.map(\.guestCount).max() {
                try validateLabGuestCount(most, memoryMiB: largest)
            }
        }
        self.evacuations = evacuations
        if migration.back, !matrix.scenarios.contains(.live) {
            throw ValidationError("--back (round trip) only applies to the live scenario, and --scenario has no live")
        }
        if hosts.areGiven {
            try hosts.requireComplete()
            try options.refuseLabChoicesOnRealHosts()
        }
        self.kind = kind
        self.matrix = matrix
        self.boundarySteps = options.boundarySteps
        do {
            // The capture interface is looked up when the command runs: a stand-in does here.
            let standIn = { (_: String) in hosts.captureInterface ?? "lo" }
            // As many guests as the largest evacuation: one of N takes the first N.
            let guests = try evacuations.flatMap { plans in
                hosts.areGiven ? try hosts.evacuationHosts(count: plans.map(\.guestCount).max() ?? 1, interface: standIn) : nil
            }
            if let remote = try guests?.first ?? hosts.remoteHosts(interface: standIn) {
                let planned = RealHostsPlan(hosts: remote, captureInterface: hosts.captureInterface,
                                            requestedMemorySizesMiB: options.memoryMiB?.elements, memeaterSizeMiB: options.memeaterSizeMiB,
                                            guests: guests)
                try planned.refuseScenarios(matrix.scenarios)
                target = .realHosts(planned)
                template = migration.template(endpoints: remote.endpoints)
                // The domain's RAM and memeater's region are read from the source when the
                // command runs and checked then; stand-ins let every other parameter be checked now.
                runs = try Self.expand(matrix, template: template, memorySizesMiB: planned.requestedMemorySizesMiB ?? [GuestMemoryRange.realHostBoundsMiB.upperBound],
                                       memeaterSizeMiB: { _ in options.memeaterSizeMiB ?? 16 })
            } else {
                try Self.checkLabMatrix(matrix)
                let lab = location.lab
                let testbed = LabTarget(lab: lab, captureInterface: hosts.captureInterface ?? "up0", guest: 1,
                                        of: evacuations?.map(\.guestCount).max() ?? 1)
                target = .lab(testbed, lab)
                template = migration.template(endpoints: testbed.endpoints)
                runs = try Self.expand(matrix, template: template, memorySizesMiB: matrix.memorySizesMiB,
                                       memeaterSizeMiB: { options.memeaterSizeMiB ?? max(16, $0 / 2) })
            }
        } catch let error as VerifierError {
            throw ValidationError(error.description)
        }
    }

    /// Refuses emulators the lab does not know and guest sizes this machine cannot migrate.
    private static func checkLabMatrix(_ matrix: SweepMatrix) throws {
        do {
            for emulator in matrix.emulators { _ = try EmulatorChoice(name: emulator) }
        } catch let error as LabError {
            throw ValidationError(error.reason)
        }
        try validateLabGuestMemory(matrix.memorySizesMiB)
    }

    /// The runs of `matrix` from `template`, in order, each checked by
    /// `ScenarioParameters.validate()` (and so `MigrationOptions.validate()`).
    static func expand(_ matrix: SweepMatrix, template: ScenarioParameters, memorySizesMiB: [Int],
                       memeaterSizeMiB: (Int) -> Int) throws(VerifierError) -> [ScenarioParameters] {
        var sized = matrix
        sized.memorySizesMiB = memorySizesMiB
        return try sized.cells(template: template, memeaterSizeMiB: memeaterSizeMiB)
    }

    /// The testbed and the runs, after what only the hosts or the lab's state can say: on real
    /// hosts the route to the guest (unless `--capture-interface`), the domain, its RAM and
    /// memeater (surveyed once, before anything is changed); on the lab whether the largest
    /// guest fits into the memory available. A refusal is a `ValidationError`, one line and exit 64.
    func resolve(lookUpRoute: (String) throws -> String = routeInterface(to:)) throws -> (testbed: any Testbed, runs: [ScenarioParameters]) {
        switch target {
        case .lab(let testbed, let lab):
            if let available = hostAvailableMemoryMiB(), let largest = runs.map(\.memoryMiB).max() {
                // The lab's running guests make way for the run's.
                let running = lab.currentRecord()?.guests.map(\.memoryMiB).reduce(0, +) ?? 0
                do {
                    try checkMemoryFits(requestedMiB: largest, guestCount: evacuations?.map(\.guestCount).max() ?? 1,
                                        availableMiB: available + running)
                } catch {
                    throw ValidationError(error.description)
                }
            }
            return (testbed, runs)
        case .realHosts(let planned):
            let interface = try planned.captureInterface ?? lookUpRoute(planned.hosts.endpoints.guestAddress)
            let remote = planned.hosts.capturing(on: interface)
            do {
                // The domain and memeater as they are: the defaults of a real-host run.
                let survey = try remote.preflight(memorySizesMiB: planned.requestedMemorySizesMiB, memeaterSizeMiB: planned.memeaterSizeMiB)
                var template = self.template
                template.endpoints = remote.endpoints
                // The domain's RAM unless --memory-mib asks (and then checks) another: a matrix
                // file's sizes are the lab's, real hosts cannot resize a running guest.
                let runs = try Self.expand(matrix, template: template, memorySizesMiB: planned.requestedMemorySizesMiB ?? [survey.memoryMiB],
                                           memeaterSizeMiB: { _ in planned.memeaterSizeMiB ?? survey.memeaterSizeMiB })
                return (remote, runs)
            } catch {
                throw ValidationError(error.description)
            }
        }
    }

    /// An evacuation's guest testbeds, guest 1 first, and the runs (each run is the
    /// evacuation of them all), after what only the hosts or the lab's state can say (see
    /// ``resolve(lookUpRoute:)``): on real hosts each guest's route, domain and memeater is
    /// surveyed, and their RAM must be equal (each run's parameters are every guest's).
    func resolveEvacuation(lookUpRoute: (String) throws -> String = routeInterface(to:)) throws -> (guests: [any Testbed], runs: [ScenarioParameters]) {
        let (testbed, runs) = try resolve(lookUpRoute: lookUpRoute)
        if case .lab(let first, let lab) = target {
            return (LabTarget.fleet(lab: lab, count: first.guestCount, captureInterface: first.captureInterface), runs)
        }
        guard case .realHosts(let planned) = target, let guests = planned.guests else { return ([testbed], runs) }
        var resolved: [any Testbed] = [testbed]
        for guest in guests.dropFirst() {
            let remote = guest.capturing(on: try planned.captureInterface ?? lookUpRoute(guest.endpoints.guestAddress))
            do {
                let survey = try remote.preflight(memorySizesMiB: planned.requestedMemorySizesMiB, memeaterSizeMiB: planned.memeaterSizeMiB)
                if let first = runs.first, planned.requestedMemorySizesMiB == nil, survey.memoryMiB != first.memoryMiB {
                    throw ValidationError("the evacuation's guests need equal RAM: \(first.endpoints.domainName) has \(first.memoryMiB) MiB, "
                                          + "\(remote.endpoints.domainName) \(survey.memoryMiB) MiB")
                }
            } catch let error as VerifierError {
                throw ValidationError(error.description)
            }
            resolved.append(remote)
        }
        return (resolved, runs)
    }

    /// The testbeds of an evacuation of `count` guests, out of `guests` (those of the largest,
    /// from ``resolveEvacuation(lookUpRoute:)``): on the lab its fleet of `count`, so that it
    /// runs exactly those guests; on real hosts the first `count`.
    func evacuationGuests(_ count: Int, of guests: [any Testbed]) -> [any Testbed] {
        if case .lab(let first, let lab) = target {
            return LabTarget.fleet(lab: lab, count: count, captureInterface: first.captureInterface)
        }
        return Array(guests.prefix(count))
    }
}

/// Real hosts as the options name them, before they are reached.
struct RealHostsPlan {
    /// The hosts; their capture interface is a stand-in unless ``captureInterface`` is given.
    let hosts: RemoteHosts
    /// `--capture-interface`; `nil`: the interface of the route to the guest.
    let captureInterface: String?
    /// `--memory-mib`: checked against the domain's RAM; `nil`: the domain's.
    let requestedMemorySizesMiB: [Int]?
    /// `--memeater-size-mib`; `nil`: memeater's region in the guest.
    let memeaterSizeMiB: Int?
    /// An evacuation's guests, guest 1 first (``hosts`` is guest 1); `nil`: one guest.
    var guests: [RemoteHosts]? = nil

    /// Refuses scenarios these hosts cannot run (lab-only faults, or a fault that needs a
    /// shell on a host the options give no ssh access to).
    func refuseScenarios(_ scenarios: [ScenarioKind]) throws {
        for scenario in scenarios {
            if let refusal = FaultCatalog.standard.refusal(scenario, on: hosts) { throw ValidationError(refusal) }
        }
    }
}
