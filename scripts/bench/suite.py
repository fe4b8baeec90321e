#!/usr/bin/env python3
"""packetwire's comparative benchmark suite.

Builds and starts, one after the other on this machine, each echo server:

* ``packetwire serve`` with the ``raw``, ``line-bytes`` and ``json`` serializers, on tokio and smol;
* the plain tokio echo server and tokio-util's ``Framed<LinesCodec>`` + serde_json server
  (``crates/bench-baselines``);
* Python EasyNetwork's echo server (JSON and lines) on asyncio and on uvloop (installed from PyPI
  into ``.venv/bench``);

drives each with ``packetwire bench`` (concurrency 10, 1 KiB and 10 KiB messages, over TCP, Unix
stream, UDP and Unix datagram), and writes ``results.md`` (a table with each server's ratio to the
plain tokio server of the same run), ``results.json`` and ``chart.svg`` to a results folder. It also
measures each server's resident memory holding 10,000 idle Unix stream connections, and its peak
resident memory serving 1,000 concurrent JSON clients.

    scripts/bench/suite.py                 # the full suite (about 15 minutes)
    scripts/bench/suite.py --smoke         # a few seconds: one transport, one size, short runs
    scripts/bench/suite.py --rounds 3      # every server run 3 times, interleaved; medians

Every figure that matters is a ratio measured in the same run: absolute numbers drift on a
2-core machine. With ``--rounds N`` the whole list of servers is run N times one after the other
(round 1 of every server, then round 2, ...); each cell then shows the median of the N requests
per second, and the median of the N ratios to the plain tokio server of the same round.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
PEER = ROOT / "scripts" / "interop" / "easynetwork_peer.py"
VENV = Path(os.environ.get("BENCH_VENV", ROOT / ".venv" / "bench"))
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"

TRANSPORTS = ["tcp", "unix", "udp", "unix-dgram"]
SIZES = [1024, 10 * 1024]


@dataclass
class Server:
    """One echo server of the suite."""

    name: str
    # The message format `packetwire bench` must use with it.
    mode: str
    # The command; `{addr}` is replaced with the address to serve.
    command: list[str]
    # The family, for the chart's colours.
    family: str
    transports: list[str] = field(default_factory=lambda: list(TRANSPORTS))


def servers(python: str) -> list[Server]:
    pw = str(TARGET / "packetwire")
    peer = [python, str(PEER), "server", "{addr}"]
    result = []
    for runtime in ("tokio", "smol"):
        for serializer, mode in (("raw", "raw"), ("line-bytes", "line"), ("json", "json")):
            result.append(
                Server(
                    f"packetwire {serializer} ({runtime})",
                    mode,
                    [pw, "serve", "{addr}", "--serializer", serializer, "--runtime", runtime, "--quiet"],
                    "packetwire",
                )
            )
    result.append(Server("tokio plain", "raw", [str(TARGET / "tokio-echo"), "{addr}"], "tokio"))
    result.append(
        Server("tokio Framed+serde_json", "json", [str(TARGET / "framed-json-echo"), "{addr}"], "tokio")
    )
    for loop in ("asyncio", "uvloop"):
        extra = ["--uvloop"] if loop == "uvloop" else []
        result.append(Server(f"EasyNetwork json ({loop})", "json", [*peer, "-s", "json", "--echo", *extra], "python"))
        result.append(Server(f"EasyNetwork line ({loop})", "line", [*peer, "-s", "line", "--echo", *extra], "python"))
    return result


# ------------------------------------------------------------------------------------------------
# Set-up


def run(cmd: list[str], **kwargs) -> None:  # type: ignore[no-untyped-def]
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, **kwargs)


def build() -> None:
    run(["cargo", "build", "--release", "-q", "-p", "packetwire-cli", "-p", "bench-baselines"], cwd=ROOT)


def python_venv() -> str:
    """The bench virtualenv's interpreter, made and filled if needed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".packetwire-requirements"
    want = REQUIREMENTS.read_text()
    if not python.exists():
        run([sys.executable, "-m", "venv", str(VENV)])
    if not stamp.exists() or stamp.read_text() != want:
        run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-r", str(REQUIREMENTS)])
        stamp.write_text(want)
    return str(python)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ------------------------------------------------------------------------------------------------
# Running one server


ADDRESS = re.compile(r"((?:tcp|udp|tls)://\S+|unix-dgram:\S+|unix:\S+)")


class Running:
    """A started server: its process and the address it reported."""

    def __init__(self, server: Server, addr: str, log: Path) -> None:
        self.server = server
        self.log = log
        cmd = [part.replace("{addr}", addr) for part in server.command]
        self.log_file = open(log, "w")  # noqa: SIM115 - closed in stop()
        # stdin stays open: the Python peer stops at its end.
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=self.log_file,
            stderr=self.log_file,
            text=True,
            start_new_session=True,
        )
        self.addr = self._wait_ready(addr)

    def _wait_ready(self, asked: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.server.name} exited early: {self.log.read_text()[-2000:]}")
            text = self.log.read_text()
            # Every server prints a line with `ready` and its address once it accepts.
            for line in text.splitlines():
                if "ready" in line:
                    match = ADDRESS.search(line)
                    if match:
                        return match.group(1).rstrip(".,)")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.server.name} did not report ready on {asked}")

    def rss_kib(self, field_name: str = "VmRSS") -> int:
        """Resident memory of the server process (and its children), in KiB."""
        total = 0
        for pid in [self.proc.pid, *children(self.proc.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(field_name + ":"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                pass
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.log_file.close()


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def address_for(transport: str, tmp: Path, tag: str) -> str:
    if transport == "tcp":
        return "tcp://127.0.0.1:0"
    if transport == "udp":
        return "udp://127.0.0.1:0"
    name = re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")
    if transport == "unix":
        return f"unix:{tmp / (name + '.sock')}"
    return f"unix-dgram:{tmp / (name + '.dgram')}"


def bench(addr: str, mode: str, msize: int, args: argparse.Namespace, concurrency: int = 10) -> dict:
    cmd = [
        str(TARGET / "packetwire"),
        "bench",
        addr,
        "--mode",
        mode,
        "--msize",
        str(msize),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--output",
        "json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + args.warmup + 120)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or f"packetwire bench exited {done.returncode}")
    return json.loads(done.stdout)


# ------------------------------------------------------------------------------------------------
# Memory


def hold_idle_connections(path: str, count: int) -> list[socket.socket]:
    """`count` connections to `path`, each kept open and silent."""
    conns = []
    deadline = time.monotonic() + 120
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                s.connect(path)
                break
            except BlockingIOError:
                # The listen backlog is full (Unix sockets say EAGAIN): let the server accept.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.001)
        conns.append(s)
    return conns


def memory(server: Server, tmp: Path, args: argparse.Namespace) -> dict:
    running = Running(server, address_for("unix", tmp, "mem-" + server.name), tmp / "mem.log")
    try:
        path = running.addr.removeprefix("unix:")
        base = running.rss_kib()
        conns = hold_idle_connections(path, args.idle)
        time.sleep(1.0)
        idle = running.rss_kib()
        for c in conns:
            c.close()
    finally:
        running.stop()
    busy = peak = None
    if server.mode == "json":
        # A fresh server, so that its peak is the JSON load's, not the idle connections'.
        running = Running(server, address_for("unix", tmp, "busy-" + server.name), tmp / "busy.log")
        try:
            busy = bench(running.addr, "json", 1024, args, concurrency=args.clients)
            peak = running.rss_kib("VmHWM")
        finally:
            running.stop()
    return {
        "base_kib": base,
        "idle_kib": idle,
        "idle_connections": args.idle,
        "json_clients": args.clients if busy else None,
        "json_peak_kib": peak if busy else None,
        "json_rps": busy["requests_per_second"] if busy else None,
    }


# ------------------------------------------------------------------------------------------------
# Report


def fmt_rate(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def write_table(results: list[dict], mem: dict, meta: dict, out: Path) -> str:
    lines = [
        f"# packetwire benchmark results — {meta['date']}",
        "",
        f"Machine: {meta['machine']}. Command: `{meta['command']}`.",
        f"Each cell: requests per second with `packetwire bench` (concurrency {meta['concurrency']}, "
        f"{meta['duration']} s measured after {meta['warmup']} s warm-up), and in brackets the ratio "
        "to the plain tokio server of the same transport and size in this run."
        + (f" Median of {meta['rounds']} interleaved rounds (rps and ratio medians taken separately)."
           if meta.get("rounds", 1) > 1 else ""),
        "",
    ]
    transports = [t for t in TRANSPORTS if any(r["transport"] == t for r in results)]
    sizes = sorted({r["msize"] for r in results})
    names = list(dict.fromkeys(r["server"] for r in results))
    header = "| server | mode | " + " | ".join(f"{t} {s // 1024} KiB" for t in transports for s in sizes) + " |"
    lines += [header, "|" + "---|" * (2 + len(transports) * len(sizes))]
    for name in names:
        mode = next(r["mode"] for r in results if r["server"] == name)
        cells = []
        for t in transports:
            for s in sizes:
                r = next((r for r in results if r["server"] == name and r["transport"] == t and r["msize"] == s), None)
                if r is None:
                    cells.append("—")
                elif r.get("error"):
                    cells.append("error")
                else:
                    ratio = r.get("ratio_to_tokio")
                    cells.append(fmt_rate(r["rps"]) + (f" ({ratio:.2f}×)" if ratio is not None else ""))
        lines.append(f"| {name} | {mode} | " + " | ".join(cells) + " |")
    errors = [r for r in results if r.get("error")]
    if errors:
        lines += ["", "Errors:", ""]
        lines += [f"- {r['server']} {r['transport']} {r['msize']} B: {r['error']}" for r in errors]
    if mem:
        lines += [
            "",
            "## Resident memory",
            "",
            f"| server | at rest | {meta['idle']:,} idle Unix connections | ratio to tokio plain | "
            f"peak with {meta['clients']:,} JSON clients | JSON req/s |",
            "|---|---|---|---|---|---|",
        ]
        tokio_idle = mem.get("tokio plain", {}).get("idle_kib")
        for name, m in mem.items():
            if "error" in m:
                lines.append(f"| {name} | error: {m['error']} | | | | |")
                continue
            ratio = f"{m['idle_kib'] / tokio_idle:.2f}×" if tokio_idle else "—"
            peak = f"{m['json_peak_kib'] / 1024:.1f} MiB" if m["json_peak_kib"] else "—"
            lines.append(
                f"| {name} | {m['base_kib'] / 1024:.1f} MiB | {m['idle_kib'] / 1024:.1f} MiB | {ratio} | {peak} | "
                f"{fmt_rate(m['json_rps'])} |"
            )
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    return text


COLOURS = {"packetwire": "#2b6cb0", "tokio": "#718096", "python": "#dd6b20"}


def write_chart(results: list[dict], out: Path) -> None:
    """Bars of requests per second per server, one group per transport and size."""
    ok = [r for r in results if not r.get("error") and r.get("rps")]
    groups = list(dict.fromkeys((r["transport"], r["msize"]) for r in ok))
    names = list(dict.fromkeys(r["server"] for r in ok))
    if not groups:
        return
    bar, gap, left, top, height = 12, 28, 70, 30, 320
    width = left + len(groups) * (len(names) * bar + gap) + 260
    peak = max(r["rps"] for r in ok)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 60}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="18" font-size="14">Echo requests per second (higher is better)</text>',
    ]
    for i in range(5):
        y = top + height - height * i / 4
        parts.append(f'<line x1="{left}" x2="{width - 250}" y1="{y}" y2="{y}" stroke="#e2e8f0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{peak * i / 4:,.0f}</text>')
    x = left + gap / 2
    for transport, msize in groups:
        for name in names:
            r = next((r for r in ok if r["server"] == name and r["transport"] == transport and r["msize"] == msize), None)
            if r is not None:
                h = height * r["rps"] / peak
                family = next(s for s in ALL_FAMILIES if s[0] == name)[1]
                parts.append(
                    f'<rect x="{x:.1f}" y="{top + height - h:.1f}" width="{bar - 2}" height="{h:.1f}" '
                    f'fill="{COLOURS.get(family, "#999")}" opacity="{0.55 + 0.45 * (names.index(name) % 3) / 2:.2f}">'
                    f"<title>{name} {transport} {msize} B: {r['rps']:,.0f} req/s</title></rect>"
                )
            x += bar
        parts.append(
            f'<text x="{x - len(names) * bar / 2:.1f}" y="{top + height + 16}" text-anchor="middle">'
            f"{transport} {msize // 1024} KiB</text>"
        )
        x += gap
    ly = top
    for name in names:
        family = next(s for s in ALL_FAMILIES if s[0] == name)[1]
        parts.append(
            f'<rect x="{width - 240}" y="{ly}" width="10" height="10" fill="{COLOURS.get(family, "#999")}" '
            f'opacity="{0.55 + 0.45 * (names.index(name) % 3) / 2:.2f}"/>'
        )
        parts.append(f'<text x="{width - 225}" y="{ly + 9}">{name}</text>')
        ly += 16
    parts.append("</svg>")
    (out / "chart.svg").write_text("\n".join(parts) + "\n")


ALL_FAMILIES: list[tuple[str, str]] = []


# ------------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def add_ratios(results: list[dict]) -> None:
    """Each entry's ratio to the plain tokio server of the same transport and size."""
    for r in results:
        base = next((b for b in results if b["server"] == "tokio plain" and b["transport"] == r["transport"]
                     and b["msize"] == r["msize"] and b.get("rps")), None)
        if base and r.get("rps"):
            r["ratio_to_tokio"] = r["rps"] / base["rps"]


def merge_rounds(rounds: list[list[dict]]) -> list[dict]:
    """One entry per cell: the median rps and the median of the per-round ratios."""
    if len(rounds) == 1:
        return rounds[0]
    merged = []
    for first in rounds[0]:
        key = (first["server"], first["transport"], first["msize"])
        cells = [r for run in rounds for r in run if (r["server"], r["transport"], r["msize"]) == key]
        ok = [c for c in cells if c.get("rps")]
        entry = {k: first[k] for k in ("server", "mode", "transport", "msize")}
        entry["rounds"] = [
            {"rps": c.get("rps"), "ratio_to_tokio": c.get("ratio_to_tokio"), "error": c.get("error")} for c in cells
        ]
        if not ok:
            entry["error"] = next((c["error"] for c in cells if c.get("error")), "no result")
        else:
            entry["rps"] = median([c["rps"] for c in ok])
            entry["mib_s"] = median([c["mib_s"] for c in ok])
            entry["latency_us"] = {
                k: median([c["latency_us"][k] for c in ok]) for k in ok[0]["latency_us"]
            }
            ratios = [c["ratio_to_tokio"] for c in ok if c.get("ratio_to_tokio") is not None]
            if ratios:
                entry["ratio_to_tokio"] = median(ratios)
            failed = len(cells) - len(ok)
            if failed:
                entry["failed_rounds"] = failed
        merged.append(entry)
    return merged


def run_round(transports: list[str], chosen: list[Server], sizes: list[int], tmp: Path,
              args: argparse.Namespace) -> list[dict]:
    """Every chosen server on every transport and size, once; with ratios to tokio plain."""
    results: list[dict] = []
    for transport in transports:
        for server in chosen:
            if transport not in server.transports:
                continue
            try:
                running = Running(server, address_for(transport, tmp, server.name), tmp / "server.log")
            except RuntimeError as exc:
                for msize in sizes:
                    results.append({"server": server.name, "mode": server.mode, "transport": transport,
                                    "msize": msize, "error": str(exc)[:300]})
                continue
            try:
                for msize in sizes:
                    entry = {"server": server.name, "mode": server.mode, "transport": transport, "msize": msize}
                    try:
                        report = bench(running.addr, server.mode, msize, args)
                        entry.update(rps=report["requests_per_second"], mib_s=report["mib_per_second"],
                                     latency_us=report["latency_us"])
                        print(f"{server.name:32} {transport:10} {msize:6} B  {entry['rps']:>10,.0f} req/s",
                              file=sys.stderr, flush=True)
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        entry["error"] = str(exc)[:300]
                        print(f"{server.name:32} {transport:10} {msize:6} B  error: {entry['error']}",
                              file=sys.stderr, flush=True)
                    results.append(entry)
            finally:
                running.stop()
    add_ratios(results)
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few seconds: TCP, 1 KiB, short runs, no memory")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every server this many times, interleaved; report medians")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--servers", default="", help="comma-separated substrings of server names to keep")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections for the memory test")
    parser.add_argument("--clients", type=int, default=1_000, help="JSON clients for the memory test")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--results", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup = 0.5, 0.2
        args.transports, args.sizes = "tcp", "1024"
        args.no_memory = True
        if not args.servers:
            args.servers = "packetwire raw (tokio),packetwire json (tokio),tokio plain,Framed,EasyNetwork json (asyncio)"
    transports = [t for t in args.transports.split(",") if t]
    sizes = [int(s) for s in args.sizes.split(",") if s]

    raise_fd_limit()
    if not args.no_build:
        build()
    python = python_venv()
    chosen = servers(python)
    ALL_FAMILIES.extend((s.name, s.family) for s in chosen)
    if args.servers:
        keep = [k.strip() for k in args.servers.split(",") if k.strip()]
        chosen = [s for s in chosen if any(k in s.name for k in keep)]

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    out = args.results / stamp
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="packetwire-suite-"))
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rounds: list[list[dict]] = []
    results: list[dict] = []
    try:
        for round_no in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {round_no} of {args.rounds}", file=sys.stderr, flush=True)
            rounds.append(run_round(transports, chosen, sizes, tmp, args))
        results = merge_rounds(rounds)
        mem: dict = {}
        if not args.no_memory:
            for server in chosen:
                if "(smol)" in server.name or " line " in server.name or "line-bytes" in server.name:
                    continue
                try:
                    mem[server.name] = memory(server, tmp, args)
                    print(f"{server.name:32} memory {mem[server.name]}", file=sys.stderr, flush=True)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                    mem[server.name] = {"error": str(exc)[:200]}
        meta = {
            "date": stamp,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
            "command": "scripts/bench/suite.py " + " ".join(argv),
            "concurrency": 10,
            "rounds": args.rounds,
            "idle": args.idle,
            "clients": args.clients,
            "duration": args.duration,
            "warmup": args.warmup,
        }
        (out / "results.json").write_text(json.dumps({"meta": meta, "results": results, "memory": mem}, indent=1))
        print(write_table(results, mem, meta, out))
        write_chart(results, out)
        print(f"results in {out}", file=sys.stderr)
        latest = args.results / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(out.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    failed = [r for r in results if r.get("error")]
    return 1 if failed and args.smoke else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
