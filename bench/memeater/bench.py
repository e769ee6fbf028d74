#!/usr/bin/env python3
"""memeater benchmarks, side by side with the peers in the same run.

1. Peak dirtying rate in pages written per second, one thread and all cores, next to
   rawloop (bench/memeater/rawloop.c: the plainest page-dirtying loop, the hardware limit)
   and stress-ng --vm --vm-keep --vm-method write64, over the same region for the same time.
   stress-ng's write64 counts 256-byte blocks and reports them shifted by VM_BOGO_SHIFT (12),
   so one bogo op is 1 MiB written: 256 full pages (checked: --vm-ops 10000 writes for ~2.7 s
   at ~3.7 GB/s here, where 256-byte ops would finish at once).
2. Rate accuracy at 1, 10, 100 MiB/s and at half the peak unique rate: achieved/target over
   the run, the coefficient of variation of memeater's own 100 ms windows, and the CPU time
   memeater used while dirtying (region set-up excluded).

Each configuration runs REPEATS times, interleaved between tools; the median is reported.
Prints a Markdown table and writes it to bench/memeater/results.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def run(command, **kwargs):
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def build():
    run(["swift", "build", "-c", "release", "--product", "memeater"], cwd=ROOT)
    rawloop = os.path.join(tempfile.gettempdir(), "memeater-bench-rawloop")
    run(["gcc", "-O2", "-pthread", os.path.join(HERE, "rawloop.c"), "-o", rawloop])
    return os.path.join(ROOT, ".build", "release", "memeater"), rawloop


def memeater(binary, size_mib, seconds, threads, bytes_per_write=PAGE_BYTES, rate_mib=0.0, verify=False):
    command = [binary, "run", "--size-mib", str(size_mib), "--threads", str(threads),
               "--bytes-per-page-write", str(bytes_per_write), "--rate-mib-per-second", str(rate_mib),
               "--duration-seconds", str(seconds), "--json"]
    if not verify:
        command.append("--no-final-verify")
    lines = run(command).stdout.strip().splitlines()
    records = [json.loads(line) for line in lines]
    return records[:-1], records[-1]


def rawloop(binary, size_mib, seconds, threads, bytes_per_page):
    pages, elapsed = run([binary, str(size_mib), str(bytes_per_page), str(threads), str(seconds)]).stdout.split()
    return int(pages) / float(elapsed)


def stress_ng(size_mib, seconds, workers):
    with tempfile.NamedTemporaryFile(suffix=".yaml") as metrics:
        run(["stress-ng", "--vm", str(workers), "--vm-bytes", f"{size_mib // workers}M", "--vm-keep",
             "--vm-method", "write64", "--timeout", f"{seconds}s", "--metrics-brief", "--yaml", metrics.name])
        import yaml  # PyYAML, listed in the bench requirements
        document = yaml.safe_load(open(metrics.name))
    for entry in document.get("metrics", []):
        if entry.get("stressor") == "vm":
            return float(entry["bogo-ops-per-second-real-time"]) * (1048576 // PAGE_BYTES)
    raise RuntimeError("stress-ng printed no vm metrics")


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    size, seconds, repeats = arguments.size_mib, arguments.seconds, arguments.repeats
    cores = os.cpu_count() or 1
    memeater_binary, rawloop_binary = build()

    rows = []
    peak_unique_pages = None
    for threads in sorted({1, cores}):
        for bytes_per_write, raw_bytes in [(PAGE_BYTES, PAGE_BYTES), (32, 8)]:
            ours, raw, peer = [], [], []
            for _ in range(repeats):
                progress, summary = memeater(memeater_binary, size, seconds, threads, bytes_per_write)
                ours.append(summary["pagesWritten"] / summary["durationSeconds"])
                if bytes_per_write == PAGE_BYTES and threads == 1:
                    unique = summary["achievedPagesPerSecond"]
                    peak_unique_pages = max(peak_unique_pages or 0, unique)
                raw.append(rawloop(rawloop_binary, size, seconds, threads, raw_bytes))
                if bytes_per_write == PAGE_BYTES:
                    peer.append(stress_ng(size, seconds, threads))
            rows.append((threads, bytes_per_write, raw_bytes, median(ours), median(raw), median(peer) if peer else None))

    out = []
    out.append(f"Machine: {os.uname().machine}, {cores} cores, {os.uname().sysname} {os.uname().release}; "
               f"region {size} MiB, {seconds:g} s per run, median of {repeats} interleaved runs.\n")
    out.append("### Peak dirtying rate (pages written per second)\n")
    out.append("| threads | memeater bytes/page | memeater pages/s | rawloop bytes/page | rawloop pages/s | memeater / rawloop | stress-ng write64 pages/s |")
    out.append("|---|---|---|---|---|---|---|")
    for threads, ours_bytes, raw_bytes, ours, raw, peer in rows:
        out.append(f"| {threads} | {ours_bytes} | {ours:,.0f} | {raw_bytes} | {raw:,.0f} | {ours / raw:.2f} | "
                   f"{'-' if peer is None else f'{peer:,.0f}'} |")

    region_pages = size * 1048576 // PAGE_BYTES
    half_peak_mib = min(peak_unique_pages or region_pages, region_pages) / 2 * PAGE_BYTES / 1048576
    out.append("\n### Rate accuracy (1 thread, sequential, whole-page writes)\n")
    out.append("| target MiB/s | achieved MiB/s | achieved / target | CV of 100 ms windows | CPU while dirtying (% of a core) | integrity errors |")
    out.append("|---|---|---|---|---|---|")
    for target in [1, 10, 100, round(half_peak_mib, 1)]:
        ratios, variations, cpu, achieved, errors = [], [], [], [], 0
        for _ in range(repeats):
            progress, summary = memeater(memeater_binary, size, seconds, 1, rate_mib=target, verify=True)
            windows = [record["achievedPagesPerSecond"] for record in progress[1:]
                       if abs(record["windowSeconds"] - 0.1) < 0.02]
            achieved.append(summary["achievedMiBPerSecond"])
            ratios.append(summary["achievedMiBPerSecond"] / target)
            if len(windows) > 2 and statistics.mean(windows) > 0:
                variations.append(statistics.pstdev(windows) / statistics.mean(windows))
            cpu.append(summary["cpuSeconds"] / summary["durationSeconds"])
            errors += summary["integrityErrors"]
        out.append(f"| {target:g} | {median(achieved):.2f} | {median(ratios):.4f} | {median(variations) * 100:.2f}% | "
                   f"{median(cpu) * 100:.1f}% | {errors} |")
    out.append("\nWindows are memeater's own 100 ms progress reports (unique pages per window); the first is "
               "dropped. A page counts once per one-second window however often it is rewritten.")
    text = "\n".join(out)
    print(text)
    with open(os.path.join(HERE, "results.md"), "w") as results:
        results.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
