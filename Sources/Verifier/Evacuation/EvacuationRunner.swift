import Foundation
import Synchronization

/// An evacuation's outcome: one result per guest, each a run of its own with every check of
/// a one-guest run, tied together by ``evacuationID``, and the figures of them all.
public struct EvacuationResult: Sendable {
    /// Shared by the guests' runs (stored as `scenarioRun.evacuationId`).
    public var evacuationID: String
    /// Each guest's result, in guest order.
    public var results: [ScenarioResult]
    /// Total time, per-guest times and downtimes, speedup, ports.
    public var figures: EvacuationFigures

    /// An outcome of `results` (guest order) with their `figures`.
    public init(evacuationID: String, results: [ScenarioResult], figures: EvacuationFigures) {
        self.evacuationID = evacuationID
        self.results = results
        self.figures = figures
    }

    /// Every guest's every check passed.
    public var passed: Bool { !results.isEmpty && results.allSatisfy(\.passed) }

    /// What the terminal shows: the evacuation, each guest's verdict line, the figures.
    public var summaryLines: [String] {
        ["evacuation \(evacuationID): \(passed ? "PASS" : "FAIL")"]
            + results.map { result in
                let guest = result.evacuation.map { "guest \($0.guestIndex)/\($0.guestCount)" } ?? "guest"
                return "  \(guest) \(result.parameters.endpoints.domainName): " + ReportWriter.summaryLine(result)
            }
            + figures.summaryLines.map { "  " + $0 }
    }
}

/// Migrates N guests from one host to the other at once, at most K at a time
/// (``EvacuationScheduler``): each guest's run is an ordinary ``ScenarioRunner`` run on that
/// guest's testbed (its domain, its address, its ping, its memeater and token), so every
/// check of a one-guest run is made for each guest.
public final class EvacuationRunner: Sendable {
    /// How many guests, how many at once, which one the fault acts on.
    public let plan: EvacuationPlan
    /// Each guest's testbed, in guest order (guest 1 first).
    public let guests: [any Testbed]
    /// The recorder of one guest's run, made for its membership (a store recorder marks the run).
    public let makeRecorder: @Sendable (EvacuationMembership) -> any RunRecorder
    /// As ``ScenarioRunner``'s.
    public let journal: FaultJournal
    public let interruption: Interruption
    public let captureDirectory: String?
    public let catalog: FaultCatalog
    public let pauses: RunPauses
    public let streamCaptureSettings: StreamCaptureSettings

    /// An evacuation of `guests` (one testbed per guest, as many as the plan's guest count).
    public init(plan: EvacuationPlan, guests: [any Testbed], recorder makeRecorder: @escaping @Sendable (EvacuationMembership) -> any RunRecorder,
                journal: FaultJournal = FaultJournal(), interruption: Interruption = .shared, captureDirectory: String? = nil,
                catalog: FaultCatalog = .standard, pauses: RunPauses = RunPauses(),
                streamCaptureSettings: StreamCaptureSettings = StreamCaptureSettings()) throws(VerifierError) {
        try plan.validate()
        guard guests.count == plan.guestCount else {
            throw .invalidOptions("an evacuation of \(plan.guestCount) guests was given \(guests.count) guest testbeds")
        }
        self.plan = plan
        self.guests = guests
        self.makeRecorder = makeRecorder
        self.journal = journal
        self.interruption = interruption
        self.captureDirectory = captureDirectory
        self.catalog = catalog
        self.pauses = pauses
        self.streamCaptureSettings = streamCaptureSettings
    }

    /// The parameters guest `index` (from 1) runs with: `parameters` on its own domain and
    /// address, with its scenario (``EvacuationPlan/scenario(ofGuest:_:)``).
    public func parameters(ofGuest index: Int, _ parameters: ScenarioParameters) -> ScenarioParameters {
        var own = parameters
        own.scenario = plan.scenario(ofGuest: index, parameters.scenario)
        let endpoints = guests[index - 1].endpoints
        own.endpoints.domainName = endpoints.domainName
        own.endpoints.guestAddress = endpoints.guestAddress
        own.endpoints.memeaterPort = endpoints.memeaterPort
        return own
    }

    /// Runs `parameters`' scenario as an evacuation and returns every guest's result and the
    /// figures. A guest whose run could not start is a failed `setup` check of its own; the
    /// others run on.
    public func run(_ parameters: ScenarioParameters, policy: RunPolicy = RunPolicy(),
                    evacuationID: String = EvacuationMembership.newID()) throws(VerifierError) -> EvacuationResult {
        try plan.validate(scenario: parameters.scenario, catalog: catalog)
        let scheduler = try EvacuationScheduler(maxConcurrent: plan.maxConcurrent)
        let count = plan.guestCount
        let shared = SharedFaultInstallations()
        let startLine = EvacuationStartLine(batchSize: min(plan.maxConcurrent, count))
        let results = scheduler.run(count: count) { [self] offset in
            let index = offset + 1
            defer { startLine.gone(guest: index) }
            let membership = EvacuationMembership(evacuationID: evacuationID, guestIndex: index, guestCount: count)
            let recorder = EvacuationGuestRecorder(inner: makeRecorder(membership), membership: membership)
            let own = self.parameters(ofGuest: index, parameters)
            do {
                let runner = try ScenarioRunner(testbed: guests[offset], recorder: recorder, journal: journal, interruption: interruption,
                                                captureDirectory: captureDirectory, catalog: catalog, pauses: pauses,
                                                streamCaptureSettings: streamCaptureSettings, sharedFaults: shared,
                                                otherGuests: guests.indices.filter { $0 != offset }.map { guests[$0].endpoints.domainName },
                                                waitToStart: { [interruption] in startLine.ready(guest: index) { interruption.signal != nil } })
                return runner.run(own, policy: policy)
            } catch {
                var result = ScenarioResult(parameters: own, accel: "unknown", qemuVersion: "unknown", libvirtVersion: "unknown")
                result.status = .setupFailed
                result.failSetup(because: "\(error)")
                recorder.begin(own, clock: RunClock())
                return recorder.finish(result)
            }
        }
        return EvacuationResult(evacuationID: evacuationID, results: results, figures: EvacuationFigures(results.map(EvacuationGuestTiming.init)))
    }
}

/// One guest's recorder in an evacuation: passes everything on, notes the migration ports
/// its forward migration's stream used (from the capture of the destination's ports), and
/// marks the result with the guest's membership.
final class EvacuationGuestRecorder: RunRecorder {
    let inner: any RunRecorder
    let membership: EvacuationMembership
    private let ports = Mutex<[Int]?>(nil)

    init(inner: any RunRecorder, membership: EvacuationMembership) {
        self.inner = inner
        self.membership = membership
    }

    func begin(_ parameters: ScenarioParameters, clock: RunClock) { inner.begin(parameters, clock: clock) }

    func record(_ record: RunRecord) {
        if case .observation(let observation, .forward) = record, case .seen(let stream)? = observation.migrationStream {
            let used = Set(stream.connections.filter(\.carriesData).map(\.serverPort))
            ports.withLock { $0 = used.sorted() }
        }
        inner.record(record)
    }

    func finish(_ result: ScenarioResult) -> ScenarioResult {
        var marked = result
        marked.evacuation = membership
        marked.evacuation?.migrationPorts = ports.withLock { $0 }
        return inner.finish(marked)
    }
}
