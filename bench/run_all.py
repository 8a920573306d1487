"""Run every benchmark in ``bench/`` and write a report: ``bench/results/report.md`` and ``chart.png``.

    python bench/run_all.py --quick     # smoke sizes, a few minutes
    python bench/run_all.py             # full sizes

Each benchmark runs as its own process (so one cannot skew the next one's memory or event loop). Its
Markdown tables are copied into the report as they are, its other output lines go under them as notes,
and figures for the chart come from its ``--json`` line where it has one, else from its table cells.
A benchmark that fails is reported (exit status and the end of its stderr) and the others still run.
The chart needs matplotlib (``pip install -e '.[bench]'``); without it only the report is written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    quick: tuple[str, ...]
    full: tuple[str, ...] = ()
    about: str = ""


BENCHMARKS = (
    Benchmark(
        "AMI stream parser: ajam vs panoramisk",
        "bench_parser.py",
        ("--quick",),
        about="messages/s on recorded Asterisk traffic, fed in 4 KiB and 64 KiB reads",
    ),
    Benchmark(
        "Call tracker",
        "bench_tracker.py",
        ("--quick",),
        about="CallTracker.feed throughput and memory per live call on the SIP captures",
    ),
    Benchmark(
        "Client against the simulator",
        "bench_client.py",
        ("--actions", "200", "--events", "100"),
        about="actions/s (AJAM keep-alive vs new connections, AMI TCP) and event → callback delay",
    ),
    Benchmark(
        "Event delay: WaitEvent vs naive 1 s polling",
        "bench_waitevent.py",
        ("--quick", "--json"),
        ("--json",),
        about="the same events seen by ajam's WaitEvent long-poll and by a plain httpx loop polling every second",
    ),
    Benchmark(
        "Gateway WebSocket push",
        "bench_gateway.py",
        ("--quick", "--json", "--gc-freeze"),
        ("--json", "--gc-freeze"),
        about="WebSocket clients on the gateway while the simulator generates calls (heap frozen after"
        " startup, as `ajam serve` does)",
    ),
)


@dataclass
class Outcome:
    benchmark: Benchmark
    command: list[str]
    seconds: float
    returncode: int
    tables: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    stderr_tail: str = ""


# ------------------------------------------------------------------------------------------- running
def run(benchmark: Benchmark, quick: bool, timeout: float) -> Outcome:
    command = [sys.executable, str(BENCH / benchmark.script), *(benchmark.quick if quick else benchmark.full)]
    print(f"running {benchmark.script} {' '.join(command[2:])}".rstrip(), flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=timeout, cwd=BENCH.parent
        )
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        returncode = -1
        stdout = _text(expired.stdout)
        stderr = _text(expired.stderr) + f"\n(timed out after {timeout:.0f} s)"
    outcome = Outcome(benchmark, command, time.perf_counter() - started, returncode)
    outcome.tables, outcome.notes, outcome.figures = parse_output(stdout)
    if returncode != 0:
        outcome.stderr_tail = "\n".join(stderr.strip().splitlines()[-15:])
    print(f"  {'ok' if returncode == 0 else f'FAILED ({returncode})'} in {outcome.seconds:.1f} s", flush=True)
    return outcome


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def parse_output(stdout: str) -> tuple[list[list[str]], list[str], dict[str, Any]]:
    """Split a benchmark's output into Markdown tables, note lines and its JSON figures (if printed)."""
    tables: list[list[str]] = []
    notes: list[str] = []
    figures: dict[str, Any] = {}
    in_table = False
    for line in stdout.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            if not in_table:
                tables.append([])
            tables[-1].append(stripped)
            in_table = True
            continue
        in_table = False
        if stripped.startswith("{") and stripped.endswith("}"):
            try:
                figures = json.loads(stripped)
                continue
            except json.JSONDecodeError:
                pass
        if stripped:
            notes.append(line.rstrip())
    return tables, notes, figures


def table_rows(table: list[str]) -> list[list[str]]:
    """The body cells of a Markdown table (header and separator rows dropped)."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table]
    return [row for row in rows[1:] if not all(re.fullmatch(r":?-+:?", cell) for cell in row if cell)]


def _number(text: str) -> float | None:
    match = re.search(r"-?[\d,]*\.?\d+", text)
    return float(match.group().replace(",", "")) if match else None


# ------------------------------------------------------------------------------------- chart figures
def chart_figures(outcomes: list[Outcome]) -> tuple[list[tuple[str, float]], list[tuple[str, float, float]]]:
    """(ratios: label, value) and (latencies: label, p50 ms, p99 ms) gathered from every benchmark."""
    ratios: list[tuple[str, float]] = []
    latencies: list[tuple[str, float, float]] = []
    for outcome in outcomes:
        script, figures = outcome.benchmark.script, outcome.figures
        if script == "bench_parser.py":
            for table in outcome.tables:
                for row in table_rows(table):
                    if len(row) >= 5 and (ratio := _number(row[4])) is not None:
                        ratios.append((f"parser {row[0]}, {row[1]}: ajam / panoramisk", ratio))
        elif script == "bench_client.py":
            for table in outcome.tables:
                for name, value in (row[:2] for row in table_rows(table) if len(row) >= 2):
                    if "ratio" in name and (ratio := _number(value)) is not None:
                        ratios.append(("client: AJAM keep-alive / new connection", ratio))
                    delays = re.search(r"p50 ([\d.]+) ms, p99 ([\d.]+) ms", value)
                    if name.startswith("event") and delays:
                        label = "client event → callback, " + name.split(",", 1)[1].split("(")[0].strip()
                        latencies.append((label, float(delays.group(1)), float(delays.group(2))))
        elif script == "bench_waitevent.py" and figures:
            ratios.append(("event delay p50: 1 s polling / WaitEvent", figures["ratio_p50"]))
            ratios.append(("event delay p99: 1 s polling / WaitEvent", figures["ratio_p99"]))
            for label, key in (("ajam WaitEvent", "ajam_waitevent"), ("naive 1 s polling", "naive_polling")):
                latencies.append(
                    (f"event → handler, {label}", figures[key]["p50_ms"], figures[key]["p99_ms"])
                )
        elif script == "bench_gateway.py" and figures:
            latencies.append(("gateway push (hub → WebSocket client)", figures["p50_ms"], figures["p99_ms"]))
            latencies.append(("gateway PBX → hub", figures["pbx_p50_ms"], figures["pbx_p99_ms"]))
    return ratios, latencies


def draw_chart(outcomes: list[Outcome], path: Path) -> bool:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no chart", file=sys.stderr)
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios, latencies = chart_figures(outcomes)
    if not ratios and not latencies:
        return False
    height = 1.2 + 0.38 * (len(ratios) + 2 * len(latencies))
    figure, (left, right) = plt.subplots(1, 2, figsize=(16, max(4.5, height / 1.6)))
    left.barh([label for label, _ in ratios], [value for _, value in ratios], color="#4c72b0")
    left.set_xscale("log")
    left.axvline(1.0, color="grey", linewidth=0.8)
    left.set_title("Ratios (higher is better for ajam; log scale)")
    left.invert_yaxis()
    for index, (_, value) in enumerate(ratios):
        left.annotate(f"{value:.1f}x", (value, index), xytext=(3, 0), textcoords="offset points", va="center")
    positions = range(len(latencies))
    right.barh([p - 0.2 for p in positions], [p50 for _, p50, _ in latencies], height=0.4, label="p50")
    right.barh([p + 0.2 for p in positions], [p99 for _, _, p99 in latencies], height=0.4, label="p99")
    for index, (_, p50, p99) in enumerate(latencies):
        for offset, value in ((-0.2, p50), (0.2, p99)):
            right.annotate(
                f"{value:.1f}",
                (value, index + offset),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
            )
    right.set_yticks(list(positions), [label for label, _, _ in latencies])
    right.set_xscale("log")
    right.set_xlabel("milliseconds (log scale)")
    right.set_title("Latencies (lower is better)")
    right.invert_yaxis()
    right.legend()
    figure.suptitle(f"ajam benchmarks — {machine()['date']}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


# ------------------------------------------------------------------------------------------- report
def machine() -> dict[str, str]:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu": model,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
    }


def git_revision() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            check=False,
            capture_output=True,
            text=True,
            cwd=BENCH.parent,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def render_report(outcomes: list[Outcome], quick: bool, chart: Path | None) -> str:
    host = machine()
    lines = [
        "# ajam benchmark report",
        "",
        (
            f"Generated by `python bench/run_all.py{' --quick' if quick else ''}` "
            f"({'smoke sizes' if quick else 'full sizes'}); figures vary between runs and machines."
        ),
        "",
        "| machine | |",
        "|---|---|",
        f"| date | {host['date']} |",
        f"| CPU count | {host['cpus']} |",
        f"| CPU | {host['cpu']} |",
        f"| Python | {host['python']} |",
        f"| OS | {host['os']} |",
        f"| git revision | {git_revision()} |",
        "",
        "| benchmark | status | wall time |",
        "|---|---|---|",
    ]
    for outcome in outcomes:
        status = "ok" if outcome.returncode == 0 else f"failed (exit {outcome.returncode})"
        lines.append(f"| {outcome.benchmark.name} | {status} | {outcome.seconds:.1f} s |")
    if chart is not None:
        lines += ["", f"![ratios and latencies]({chart.name})"]
    for outcome in outcomes:
        benchmark = outcome.benchmark
        arguments = " ".join(outcome.command[2:])
        lines += ["", f"## {benchmark.name}", "", benchmark.about + ".", ""]
        lines += [f"`python bench/{benchmark.script}{' ' + arguments if arguments else ''}`", ""]
        for table in outcome.tables:
            lines += [*table, ""]
        if not outcome.tables and outcome.notes and benchmark.script == "bench_tracker.py":
            lines += [*tracker_table(outcome.notes), ""]
        if outcome.notes:
            lines += ["```text", *outcome.notes, "```"]
        if outcome.returncode != 0:
            lines += [
                "",
                f"**Failed** (exit {outcome.returncode}):",
                "",
                "```text",
                outcome.stderr_tail,
                "```",
            ]
    return "\n".join(lines) + "\n"


def tracker_table(notes: list[str]) -> list[str]:
    """bench_tracker prints prose; its two headline figures as a table."""
    text = "\n".join(notes)
    rate = re.search(r"([\d,]+) events/s", text)
    per_call = re.search(r"([\d,]+) bytes per live call", text)
    rows = ["| measurement | result | target |", "|---|---|---|"]
    if rate:
        rows.append(f"| CallTracker.feed throughput | {rate.group(1)} events/s | >= 100,000 events/s |")
    if per_call:
        rows.append(f"| memory per live call | {per_call.group(1)} bytes | <= 2,048 bytes |")
    return rows if len(rows) > 2 else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke sizes for every benchmark (a few minutes)"
    )
    parser.add_argument(
        "--only", action="append", help="run only this script (e.g. bench_parser.py); repeatable"
    )
    parser.add_argument("--timeout", type=float, default=None, help="per-benchmark limit in seconds")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output folder (default bench/results)")
    args = parser.parse_args()
    timeout = args.timeout or (300.0 if args.quick else 1800.0)
    chosen = [b for b in BENCHMARKS if not args.only or b.script in args.only]
    outcomes = [run(benchmark, args.quick, timeout) for benchmark in chosen]
    args.out.mkdir(parents=True, exist_ok=True)
    chart_path = args.out / "chart.png"
    drawn = draw_chart(outcomes, chart_path)
    report_path = args.out / "report.md"
    report_path.write_text(
        render_report(outcomes, args.quick, chart_path if drawn else None), encoding="utf-8"
    )
    print(f"\nreport: {report_path}")
    if drawn:
        print(f"chart:  {chart_path}")
    failed = [outcome.benchmark.script for outcome in outcomes if outcome.returncode != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
