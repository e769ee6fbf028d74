#!/usr/bin/env python3
"""pingmon benchmarks (run through bench/pingmon/run.sh, which builds the release binary).

1. Accuracy: outages of known length injected in the target's namespace, while pingmon at 1 ms
   and at 100 µs, iputils `ping -D -i 0.001` and `fping -i 1 -p 1 -o` probe the same target in
   the same run, and `stress-ng --cpu N` keeps every core busy (N = the number of CPUs;
   `--no-load` leaves it out). Error = what each tool reports minus the injected outage. Two
   kinds (`--kinds`), each timed with bash's $EPOCHREALTIME just before and after each action
   (the injector runs SCHED_FIFO 20, above pingmon's sender and the responder):
   - drop: one write to net.ipv4.icmp_echo_ignore_all each way; the kernel drops the requests.
   - queue: the kernel's replies stay off and responder.py answers (SCHED_FIFO); SIGSTOP holds
     the requests in its socket, SIGCONT releases them: answered late, in one burst, as a paused
     guest answers the requests queued for it when it resumes.
2. Probe rate: pingmon alone for 30 s at shorter and shorter intervals; sender-side drops
   (sendto errors), schedule slips, and capture drops from pcap_stats.
3. Offline analysis throughput on the largest capture saved by step 2 (>= 1 million packets).

Everything runs in two namespaces made here (pmb-<pid>-a, pmb-<pid>-b, 198.18.14.0/24 on a veth
pair; `--prefix` names them otherwise) and deleted by name on exit, also on Ctrl-C.
"""
import argparse
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

PID = os.getpid()


def name_namespaces(prefix):
    global NS_PROBER, NS_TARGET, IF_PROBER, IF_TARGET
    NS_PROBER, NS_TARGET = f"{prefix}-{PID}-a", f"{prefix}-{PID}-b"
    IF_PROBER, IF_TARGET = f"{prefix}{PID}a", f"{prefix}{PID}b"


name_namespaces("pmb")
ADDR_PROBER, ADDR_TARGET = "198.18.14.1", "198.18.14.2"
PINGMON_INTERVALS = (1000, 100)
KINDS = ("drop", "queue")
RESPONDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "responder.py")

# One action each way; the clock is read right before and after (microsecond resolution).
# drop: run in the target namespace; the kernel stops answering and drops the requests.
DROP_INJECTOR = r"""
export LC_ALL=C
on0=$EPOCHREALTIME; echo 1 > /proc/sys/net/ipv4/icmp_echo_ignore_all; on1=$EPOCHREALTIME
sleep "$1"
off0=$EPOCHREALTIME; echo 0 > /proc/sys/net/ipv4/icmp_echo_ignore_all; off1=$EPOCHREALTIME
echo "$on0 $on1 $off0 $off1"
"""
# queue: the responder (PID $2) is paused and resumed; its socket holds the requests meanwhile.
QUEUE_INJECTOR = r"""
export LC_ALL=C
on0=$EPOCHREALTIME; kill -STOP "$2"; on1=$EPOCHREALTIME
sleep "$1"
off0=$EPOCHREALTIME; kill -CONT "$2"; off1=$EPOCHREALTIME
echo "$on0 $on1 $off0 $off1"
"""


def run(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def in_prober(*args):
    return ["ip", "netns", "exec", NS_PROBER, *args]


def setup():
    run("ip", "netns", "add", NS_PROBER)
    run("ip", "netns", "add", NS_TARGET)
    # Created inside the prober namespace: the veth never exists in the root namespace.
    run("ip", "-n", NS_PROBER, "link", "add", IF_PROBER, "type", "veth", "peer", "name", IF_TARGET, "netns", NS_TARGET)
    run("ip", "-n", NS_PROBER, "addr", "add", f"{ADDR_PROBER}/24", "dev", IF_PROBER)
    run("ip", "-n", NS_TARGET, "addr", "add", f"{ADDR_TARGET}/24", "dev", IF_TARGET)
    for ns, interface in ((NS_PROBER, IF_PROBER), (NS_TARGET, IF_TARGET)):
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "set", interface, "up")


def teardown():
    for ns in (NS_PROBER, NS_TARGET):
        run("ip", "netns", "delete", ns, check=False)


def start_responder():
    """The kernel's echo replies off in the target namespace, responder.py answering instead."""
    run("ip", "netns", "exec", NS_TARGET, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/icmp_echo_ignore_all")
    # ip netns exec and chrt exec the responder: the PID is the responder's, for kill -STOP.
    responder = subprocess.Popen(["ip", "netns", "exec", NS_TARGET, "chrt", "-f", "10", sys.executable, RESPONDER],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if responder.stdout.readline().strip() != "ready":
        responder.kill()
        raise RuntimeError(f"responder.py did not start: {responder.communicate()[1].strip()[-300:]}")
    check = run(*in_prober("ping", "-c", "3", "-i", "0.2", "-W", "1", ADDR_TARGET), check=False)
    if check.returncode != 0:
        stop_responder(responder)
        raise RuntimeError(f"responder.py does not answer: {check.stdout.strip()[-300:]}")
    return responder


def stop_responder(responder):
    responder.terminate()
    responder.wait(timeout=30)
    run("ip", "netns", "exec", NS_TARGET, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/icmp_echo_ignore_all", check=False)


def last_json(text):
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("pingmon printed nothing on standard output")
    return json.loads(lines[-1])


def ping_figures(output, interval_ms):
    """Longest gap between ping -D reply timestamps, and lost x interval for that gap."""
    replies = []
    for match in re.finditer(r"^\[(\d+\.\d+)\].*icmp_seq=(\d+)", output, re.M):
        replies.append((float(match.group(1)), int(match.group(2))))
    best_gap, best_lost = 0.0, 0
    for (t0, s0), (t1, s1) in zip(replies, replies[1:]):
        gap = (t1 - t0) * 1000
        if gap > best_gap:
            best_gap, best_lost = gap, (s1 - s0 - 1) % 65536
    return best_gap, best_lost * interval_ms, len(replies)


def fping_outage(output):
    match = re.search(r"outage\(ms\) = ([\d.]+)", output)
    if not match:
        raise RuntimeError(f"no outage in fping output: {output.strip()[-300:]}")
    return float(match.group(1))


def accuracy_run(pingmon, outage_ms, kind="drop", responder=None, warmup_s=0.7, tail_s=0.6):
    """One outage, measured at once by pingmon at 1 ms and at 100 µs, ping -D and fping at 1 ms."""
    def start_pingmon(interval_us):
        return subprocess.Popen(in_prober(pingmon, "--target", ADDR_TARGET, "--interface", IF_PROBER, "--interval-microseconds",
                                          str(interval_us), "--json", "--quiet", "--linger-milliseconds", "300"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    monitors = {interval_us: start_pingmon(interval_us) for interval_us in PINGMON_INTERVALS}
    ping = subprocess.Popen(in_prober("ping", "-D", "-n", "-i", "0.001", ADDR_TARGET), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # -i 1 as well: without it fping paces every probe by its default 10 ms interval, whatever -p says.
    fping = subprocess.Popen(in_prober("fping", "-i", "1", "-p", "1", "-o", "-l", "-q", ADDR_TARGET),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(warmup_s)
    # The injector runs SCHED_FIFO above pingmon's sender and the responder, so that nothing comes
    # between its action and its clock reads: released, the responder would otherwise run first
    # and delay the read after SIGCONT by as long as it takes to answer the whole queue.
    if kind == "drop":
        injected = run("ip", "netns", "exec", NS_TARGET, "chrt", "-f", "20", "bash", "-c", DROP_INJECTOR, "injector", f"{outage_ms / 1000:.3f}")
    else:
        injected = run("chrt", "-f", "20", "bash", "-c", QUEUE_INJECTOR, "injector", f"{outage_ms / 1000:.3f}", str(responder.pid))
    on0, on1, off0, off1 = (float(x) for x in injected.stdout.split())
    time.sleep(tail_s)
    for process in (*monitors.values(), ping, fping):
        process.send_signal(signal.SIGINT)
    reports = {interval_us: last_json(process.communicate(timeout=60)[0]) for interval_us, process in monitors.items()}
    ping_out, _ = ping.communicate(timeout=60)
    _, fping_err = fping.communicate(timeout=60)
    shortest, longest = (off0 - on1) * 1000, (off1 - on0) * 1000
    truth = (shortest + longest) / 2
    uncertainty = (longest - shortest) / 2
    ping_gap, ping_lost, ping_replies = ping_figures(ping_out, 1.0)
    row = {
        "kind": kind,
        "requestedOutageMilliseconds": outage_ms,
        "injectedMilliseconds": truth,
        "injectionUncertaintyMilliseconds": uncertainty,
        "pingGapError": ping_gap - truth,
        "pingLostTimesIntervalError": ping_lost - truth,
        "pingReplies": ping_replies,
        "fpingOutageError": fping_outage(fping_err) - truth,
        "pingmon": {},
    }
    for interval_us, report in reports.items():
        row["pingmon"][interval_us] = {
            "gapError": report["longestGapMilliseconds"] - truth,
            "estimateError": report["downtimeMilliseconds"] - truth,
            "inBounds": report["downtimeLowerBoundMilliseconds"] - uncertainty <= truth <= report["downtimeUpperBoundMilliseconds"] + uncertainty,
            "scheduling": report["sender"].get("scheduling", "?"),
            "boundsWidth": report["downtimeUpperBoundMilliseconds"] - report["downtimeLowerBoundMilliseconds"],
            "sent": report["sent"],
            "downtimeLostProbes": report["downtimeLostProbes"],
            "downtimeLateProbes": report["downtimeLateProbes"],
            "lateProbes": report["sender"]["lateProbes"],
            # A long RTT means the target's kernel handled probes late (softirq backlog on a busy
            # machine): the outage then acts on them later than their capture time says.
            "rttMaximumMicroseconds": report["rttMicroseconds"]["maximum"],
        }
    return row


def rate_run(pingmon, interval_us, seconds, capture_path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run(*in_prober(pingmon, "--target", ADDR_TARGET, "--interface", IF_PROBER, "--interval-microseconds", str(interval_us),
                            "--duration-seconds", str(seconds), "--save-capture", capture_path, "--json", "--quiet",
                            "--capture-buffer-mib", "64"), check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = last_json(result.stdout)
    sender, capture = report["sender"], report["capture"]
    return {
        "intervalMicroseconds": interval_us,
        "nominalRatePerSecond": 1e6 / interval_us,
        "achievedRatePerSecond": sender["probesSent"] / seconds,
        "probesSent": sender["probesSent"],
        "sendErrors": sender["sendErrors"],
        "lateProbes": sender["lateProbes"],
        "scheduleResets": sender["scheduleResets"],
        "maximumLatenessMicroseconds": sender["maximumLatenessMicroseconds"],
        "captureDroppedByKernel": capture["packetsDroppedByKernel"],
        "requestsMissingFromCapture": report["requestsMissingFromCapture"],
        "lost": report["lost"],
        "sendIntervalP99Microseconds": report["sendIntervalMicroseconds"]["p99"],
        "cpuSeconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "packetsCaptured": report["packetsCaptured"],
        "live": report,
        "capturePath": capture_path,
    }


def offline_run(pingmon, capture_path, live, repeats=3):
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run(pingmon, "analyze", capture_path, "--target", ADDR_TARGET, "--json", check=False)
        timings.append(time.perf_counter() - start)
    report = last_json(result.stdout)
    same = all(report[key] == live[key] for key in ("sent", "received", "lost", "downtimeMilliseconds", "longestGapMilliseconds",
                                                    "downtimeLowerBoundMilliseconds", "downtimeUpperBoundMilliseconds", "rttMicroseconds"))
    best = min(timings)
    return {"packets": report["packetsCaptured"], "bytes": os.path.getsize(capture_path), "bestSeconds": best,
            "medianSeconds": statistics.median(timings), "packetsPerSecond": report["packetsCaptured"] / best, "identicalToLive": same}


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    debian = open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version") else "?"
    return f"{os.cpu_count()} vCPU ({model}), Debian {debian}, Linux {platform.release()}"


def load():
    return open("/proc/loadavg").read().split()[0]


def fmt(values):
    magnitudes = [abs(v) for v in values]
    return f"{statistics.mean(magnitudes):.3f} / {max(magnitudes):.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pingmon", required=True)
    parser.add_argument("--quick", action="store_true", help="one repeat, three outage lengths, 10 s rate runs")
    parser.add_argument("--results", default=os.path.join(tempfile.gettempdir(), "pingmon-bench-results.json"))
    parser.add_argument("--no-load", action="store_true", help="measure accuracy without stress-ng keeping the CPUs busy")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="outage kinds to inject, comma-separated: drop (icmp_echo_ignore_all), queue (a paused responder)")
    parser.add_argument("--prefix", default="pmb", help="name prefix of the namespaces made (PREFIX-PID-a/b)")
    options = parser.parse_args()
    kinds = [kind for kind in options.kinds.split(",") if kind]
    if not kinds or any(kind not in KINDS for kind in kinds):
        parser.error(f"--kinds takes {', '.join(KINDS)}")
    name_namespaces(options.prefix)
    repeats = 1 if options.quick else 3
    outages = [20, 100, 500] if options.quick else [20, 50, 100, 200, 500]
    rate_seconds = 10 if options.quick else 30

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)

    workdir = tempfile.mkdtemp(prefix="pingmon-bench-")
    cpus = os.cpu_count() or 1
    results = {"machine": machine(), "loadBefore": load(), "accuracy": [], "rate": [], "offline": None,
               "cpuLoad": "none" if options.no_load else f"stress-ng --cpu {cpus}"}
    stress = None
    try:
        setup()
        print(f"machine: {results['machine']}; accuracy under {results['cpuLoad']}", file=sys.stderr)
        if not options.no_load:
            # Every core busy at normal priority while the outages are measured; stopped before the rate runs.
            stress = subprocess.Popen(["stress-ng", "--cpu", str(cpus), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            if stress.poll() is not None:
                raise RuntimeError(f"stress-ng --cpu {cpus} exited at once with status {stress.returncode}")
            results["loadDuringAccuracy"] = None
        for kind in kinds:
            responder = start_responder() if kind == "queue" else None
            try:
                for outage_ms in outages:
                    for _ in range(repeats):
                        row = accuracy_run(options.pingmon, outage_ms, kind=kind, responder=responder)
                        print(f"accuracy {kind} {outage_ms} ms: pingmon 1 ms {row['pingmon'][1000]['estimateError']:+.3f}, 100 us "
                              f"{row['pingmon'][100]['estimateError']:+.3f}, ping gap {row['pingGapError']:+.3f}, "
                              f"fping {row['fpingOutageError']:+.3f}", file=sys.stderr)
                        results["accuracy"].append(row)
            finally:
                if responder is not None:
                    stop_responder(responder)
        if stress is not None:
            results["loadDuringAccuracy"] = load()
            stress.terminate()
            stress.wait(timeout=30)
            stress = None
        for interval_us in (100, 50, 20):
            path = os.path.join(workdir, f"rate-{interval_us}.pcapng")
            row = rate_run(options.pingmon, interval_us, rate_seconds, path)
            print(f"rate {interval_us} us: {row['achievedRatePerSecond']:.0f}/s, send errors {row['sendErrors']}, "
                  f"kernel drops {row['captureDroppedByKernel']}", file=sys.stderr)
            results["rate"].append(row)
        biggest = max(results["rate"], key=lambda r: r["packetsCaptured"])
        results["offline"] = offline_run(options.pingmon, biggest["capturePath"], biggest["live"])
        results["offline"]["fromIntervalMicroseconds"] = biggest["intervalMicroseconds"]
    finally:
        if stress is not None:
            stress.kill()
            stress.wait()
        teardown()
        for name in os.listdir(workdir):
            os.remove(os.path.join(workdir, name))
        os.rmdir(workdir)
    results["loadAfter"] = load()
    for row in results["rate"]:
        del row["live"]
        del row["capturePath"]
    with open(options.results, "w") as out:
        json.dump(results, out, indent=1)

    print(f"Machine: {results['machine']}; 1-minute load average {results['loadBefore']} before, {results['loadAfter']} after. "
          f"Raw results: {options.results}\n")
    print("Accuracy: mean / max absolute error in ms against the injected outage. In each run one outage is measured at once by "
          f"pingmon at 1 ms and at 100 µs, `ping -D -i 0.001` and `fping -i 1 -p 1 -o`, under CPU load: {results['cpuLoad']}"
          + (f" (1-minute load average {results['loadDuringAccuracy']} at its end)" if results.get("loadDuringAccuracy") else "")
          + ". pingmon's sender: " + ", ".join(sorted({m["scheduling"] for r in results["accuracy"] for m in r["pingmon"].values()})) + ".\n")
    for kind in kinds:
        print(f"Outages that {'drop' if kind == 'drop' else 'queue'} the probes ({kind}):\n")
        print("| outage | runs | pingmon 1 ms: estimate | gap | in bounds | lost + late | pingmon 100 µs: estimate | gap | in bounds "
              "| ping -D: gap | lost x 1 ms | fping -o |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for outage_ms in outages:
            rows = [r for r in results["accuracy"] if r["requestedOutageMilliseconds"] == outage_ms and r["kind"] == kind]
            cells = []
            for interval_us in PINGMON_INTERVALS:
                mine = [r["pingmon"][interval_us] for r in rows]
                cells += [fmt([m["estimateError"] for m in mine]), fmt([m["gapError"] for m in mine]), f"{sum(m['inBounds'] for m in mine)}/{len(mine)}"]
                if interval_us == 1000:
                    # What the outage did to the 1 ms probes, first run: lost + held (answered late).
                    cells.append(f"{mine[0]['downtimeLostProbes']} + {mine[0]['downtimeLateProbes']}")
            print(f"| {outage_ms} ms | {len(rows)} | " + " | ".join(cells) + f" | {fmt([r['pingGapError'] for r in rows])} | "
                  f"{fmt([r['pingLostTimesIntervalError'] for r in rows])} | {fmt([r['fpingOutageError'] for r in rows])} |")
        print()
    # Held probes take the whole outage to be answered: only the drop runs say anything here.
    dropped = [r for r in results["accuracy"] if r["kind"] == "drop"]
    slow = [r for r in dropped if max(r["pingmon"][i]["rttMaximumMicroseconds"] for i in PINGMON_INTERVALS) > 1000]
    print(f"\nDrop runs in which some probe took more than 1 ms to be answered (target kernel busy): {len(slow)} of {len(dropped)}; "
          "their pingmon estimate errors: " + ", ".join(f"{r['pingmon'][1000]['estimateError']:+.2f}/{r['pingmon'][100]['estimateError']:+.2f} ms" for r in slow))
    for kind in kinds:
        rows = [r for r in results["accuracy"] if r["kind"] == kind]
        within = {interval_us: sum(abs(r["pingmon"][interval_us]["estimateError"]) <= interval_us / 1000 + 0.2 for r in rows)
                  for interval_us in PINGMON_INTERVALS}
        inside = {interval_us: sum(r["pingmon"][interval_us]["inBounds"] for r in rows) for interval_us in PINGMON_INTERVALS}
        print(f"\n{kind}: pingmon downtime within interval + 0.2 ms: " + ", ".join(f"{within[i]}/{len(rows)} runs at {i} µs" for i in PINGMON_INTERVALS)
              + "; outage inside pingmon's bounds: " + ", ".join(f"{inside[i]}/{len(rows)} at {i} µs" for i in PINGMON_INTERVALS)
              + f"; injection uncertainty at most {max(r['injectionUncertaintyMilliseconds'] for r in rows):.3f} ms.")
    print()
    print(f"Probe rate, {rate_seconds} s each:\n")
    print("| interval | nominal rate | achieved rate | sendto errors | probes > 1 interval late | schedule resets | pcap kernel drops | requests missing from capture | lost | pingmon CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in results["rate"]:
        print(f"| {row['intervalMicroseconds']} µs | {row['nominalRatePerSecond']:.0f}/s | {row['achievedRatePerSecond']:.0f}/s | {row['sendErrors']} | "
              f"{row['lateProbes']} | {row['scheduleResets']} | {row['captureDroppedByKernel']} | {row['requestsMissingFromCapture']} | "
              f"{row['lost']} | {100 * row['cpuSeconds'] / rate_seconds:.0f} % |")
    offline = results["offline"]
    print(f"\nOffline analysis: {offline['packets']} packets ({offline['bytes'] / 1e6:.0f} MB, from the {offline['fromIntervalMicroseconds']} µs run) "
          f"in {offline['bestSeconds']:.2f} s best / {offline['medianSeconds']:.2f} s median = {offline['packetsPerSecond'] / 1e6:.2f} M packets/s; "
          f"figures identical to the live run: {offline['identicalToLive']}.")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        teardown()
        sys.exit(130)
