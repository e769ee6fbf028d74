import Foundation
import Libvirt
import MigrationModel
import Synchronization

/// A thread that reads where the guest runs, on the source and on the destination daemon, at a
/// fixed interval while a migration may move it: from just before the migration call
/// (``start()``) until the hosts were looked at after it (``stop()``). It keeps a compact
/// ``PlacementTimeline`` (counts and the windows in which the guest ran on both hosts), not
/// every sample, for `no-dual-running`.
///
/// Each sample reads the source, the destination, then the source again (the three-read rule
/// of ``PlacementSample``). A read that fails is recorded as such, not fatal: a daemon killed
/// or a link cut by a fault is part of the run.
public final class PlacementSampler: Sendable {
    private struct State {
        var timeline: PlacementTimeline
        var source: any Hypervisor
        var destination: any Hypervisor
        /// stop() gave up waiting for the thread: its samples come too late to keep.
        var threadAbandoned = false
        var stopped = false
    }

    private let domainName: String
    private let guestUUID: String
    private let now: @Sendable () -> Double
    private let state: Mutex<State>
    private let thread: PeriodicThread

    /// How long ``stop()`` waits for a read in flight (a read over a cut link can block until
    /// libvirt's keepalive gives up); the run goes on without that sample.
    static let stopWaitSeconds = 10.0

    /// - Parameters:
    ///   - source, destination: the daemons, as connected for the migration.
    ///   - domainName, guestUUID: the guest's domain; a domain of its name with another UUID
    ///     is not the guest (a migration keeps the UUID).
    ///   - intervalMilliseconds: time between samples (at least 1 ms).
    ///   - now: the run clock, ms.
    public init(source: any Hypervisor, destination: any Hypervisor, domainName: String, guestUUID: String,
                intervalMilliseconds: Double = 100, now: @escaping @Sendable () -> Double) {
        self.domainName = domainName
        self.guestUUID = guestUUID
        let interval = max(1, intervalMilliseconds)
        thread = PeriodicThread(name: "migverify-placement", intervalMilliseconds: interval)
        self.now = now
        self.state = Mutex(State(timeline: PlacementTimeline(intervalMilliseconds: interval), source: source, destination: destination))
    }

    /// Takes the first sample on the caller's thread (so that the window starts before the
    /// migration call, however short the call), then samples on a thread of its own.
    public func start() {
        thread.start { [self] byThread in sampleOnce(byThread: byThread) }
    }

    /// Reads the hosts through `source` and `destination` from now on: the runner opens fresh
    /// connections after the migration (the first may have crossed a cut link, or lost its
    /// daemon to a fault that killed it).
    public func follow(source: any Hypervisor, destination: any Hypervisor) {
        state.withLock {
            $0.source = source
            $0.destination = destination
        }
    }

    /// Stops the thread (waiting at most ``stopWaitSeconds`` for a read in flight), takes a
    /// last sample on the caller's thread and returns the timeline. Idempotent: a second call
    /// returns the same timeline; a sampler never started returns an empty one.
    @discardableResult
    public func stop() -> PlacementTimeline {
        let first = thread.stop(waitSeconds: Self.stopWaitSeconds, abandoned: {
            state.withLock {
                $0.threadAbandoned = true
                $0.timeline.recordFailedRead("a read still pending after \(formatNumber(Self.stopWaitSeconds)) s when sampling stopped")
            }
        }, lastTick: { sampleOnce(byThread: false) })
        if first { state.withLock { $0.stopped = true } }
        return timeline
    }

    /// The timeline so far.
    public var timeline: PlacementTimeline { state.withLock { $0.timeline } }

    /// One sample: the source, the destination, the source again.
    func sampleOnce(byThread: Bool = false) {
        let (source, destination) = state.withLock { ($0.source, $0.destination) }
        let sourceBefore = read(source)
        let destinationRead = read(destination)
        let at = now()
        let sourceAfter = read(source)
        let sample = PlacementSample(atMilliseconds: at, sourceBefore: sourceBefore, destination: destinationRead, sourceAfter: sourceAfter)
        state.withLock { state in
            // Samples are kept in time order, and the timeline stop() returned stays as it was.
            guard !state.stopped, !(byThread && state.threadAbandoned) else { return }
            state.timeline.record(sample)
        }
    }

    private func read(_ daemon: any Hypervisor) -> PlacementRead {
        do {
            guard let domain = try daemon.guestDomain(named: domainName) else { return .absent }
            let uuid = try domain.uuidString()
            let state = try domain.state()
            return uuid.lowercased() == guestUUID.lowercased() ? .state(state) : .another(uuid: uuid, state)
        } catch let failure as LibvirtError where failure.kind == .noDomain {
            return .absent  // gone between the look-up and the state read (a transient domain that migrated away)
        } catch {
            return .failed("\(daemon.uri): \(error)")
        }
    }
}
