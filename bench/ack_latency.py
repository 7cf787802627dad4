"""Acknowledgement latency, throughput and memory of ``frontdesk serve``, beside a floor.

Over HTTP with signed requests, as Slack sends them, to a real ``frontdesk serve``
process (waitress, its worker running) and, in the same run, to a bare Bolt app
served the same way that only acknowledges (``bench/floor_app.py``). For each
database (SQLite, PostgreSQL) and vendor latency (0 s, 5 s): bursts of 1, 10 and
50 concurrent users doing the four acknowledgements that matter (``/reset``, the
Send click, the ``/sell`` details submission, Approve), p50 and p99; then the same
mix sustained for a while (requests/s); and the server's peak RSS.

    .venv/bin/python bench/ack_latency.py            # the full run (several minutes)
    .venv/bin/python bench/ack_latency.py --quick    # a smaller one

Prints a table and writes ``bench/results/ack_latency.json``. Ratios are against
the floor measured in the same run: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.devtools.cluster import REQUESTER, Cluster, _free_port  # noqa: E402
from bot.devtools.driver import SlackDriver  # noqa: E402
from bot.devtools.stack import SIGNING_SECRET, wait_for  # noqa: E402
from bot.slack.ids import SALE_FIELDS, Command, ResetAction, SaleView  # noqa: E402
from bot.workflows.resets import ResetInput  # noqa: E402
from bot.workflows.roles import Role  # noqa: E402
from bot.workflows.sales import SaleStart  # noqa: E402
from vendors.sandbox import Fault  # noqa: E402

OPERATIONS = ("/reset", "Send", "/sell details", "Approve")
MANAGER = "UBENCHMGR"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Work:
    """Prepared drafts and pending sales, so each request acknowledges something real."""

    def __init__(self, cluster: Cluster, count: int) -> None:
        self.cluster = cluster
        services = cluster.local.services
        location = services.locations["downtown"]
        today = services.sales.today_at(location)
        self.resets = [
            services.resets.prepare(
                REQUESTER, "downtown", ResetInput(email=f"bench{n}@example.com")
            ).id
            for n in range(count)
        ]
        self.drafts = [
            services.sales.start(REQUESTER, SaleStart("downtown", "2001:3001", today)).id
            for _ in range(count)
        ]
        self.pending = [
            cluster.pending_sale(f"tok_profile_bench_{n:05d}", f"buyer{n}@example.com")
            for n in range(count)
        ]
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def take(self) -> int:
        with self.lock:
            return next(self.counter)


def details_view(sale_id: str) -> dict[str, Any]:
    blocks = []
    for field in ("first_name", "last_name", "email", "payment1_amount", "payment1_profile_token"):
        block_id, action_id = SALE_FIELDS[field]
        blocks.append(
            {
                "type": "input",
                "block_id": block_id,
                "label": {"type": "plain_text", "text": field},
                "element": {"type": "plain_text_input", "action_id": action_id},
            }
        )
    return {
        "id": "VBENCH",
        "type": "modal",
        "callback_id": SaleView.DETAILS.value,
        "private_metadata": json.dumps({"sale": sale_id}),
        "blocks": blocks,
    }


def operations(driver: SlackDriver, work: Work | None) -> dict[str, Callable[[], httpx.Response]]:
    """Each operation as one signed request; against the floor the ids do not matter."""

    def reset_command() -> httpx.Response:
        return driver.command("UFRONT", Command.RESET, "")

    def send() -> httpx.Response:
        n = work.take() if work else 0
        request_id = work.resets[n % len(work.resets)] if work else "x"
        return driver.click("UFRONT", ResetAction.SEND, request_id, channel="DFRONT", ts="1.1")

    def sell_details() -> httpx.Response:
        n = work.take() if work else 0
        sale_id = work.drafts[n % len(work.drafts)] if work else "x"
        values = {
            SALE_FIELDS["first_name"][1]: "Ann",
            SALE_FIELDS["last_name"][1]: "Lee",
            SALE_FIELDS["email"][1]: f"ann{n}@example.com",
            SALE_FIELDS["payment1_amount"][1]: "49.00",
            SALE_FIELDS["payment1_profile_token"][1]: f"tok_profile_bench_d{n:05d}",
        }
        return driver.submit_view("UFRONT", details_view(sale_id), values)

    def approve() -> httpx.Response:
        n = work.take() if work else 0
        sale = work.pending[n % len(work.pending)] if work else None
        view = {
            "id": "VAPPROVE",
            "type": "modal",
            "callback_id": SaleView.APPROVAL.value,
            "private_metadata": json.dumps(
                {"sale": sale.id if sale else "x", "fp": sale.fingerprint if sale else "x"}
            ),
            "blocks": [],
        }
        return driver.submit_view(MANAGER, view, {})

    return {
        "/reset": reset_command,
        "Send": send,
        "/sell details": sell_details,
        "Approve": approve,
    }


def burst_latencies(call: Callable[[], httpx.Response], users: int, samples: int) -> list[float]:
    """``samples`` requests, ``users`` at a time (each burst starts together). A request
    that fails or is not answered in time counts with the time it took (at least the
    client's timeout): Slack would have given up on it."""
    timings: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        started = time.perf_counter()
        try:
            ok = call().status_code == 200
        except httpx.HTTPError:
            ok = False
        elapsed = time.perf_counter() - started
        with lock:
            timings.append(elapsed if ok else max(elapsed, 3.0))

    with ThreadPoolExecutor(users) as pool:
        for _ in range(max(1, samples // users)):
            list(pool.map(lambda _: one(), range(users)))
    return timings


def throughput(calls: list[Callable[[], httpx.Response]], users: int, seconds: float) -> float:
    done = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(offset: int) -> None:
        nonlocal done
        for n in itertools.count(offset):
            if time.monotonic() >= deadline:
                return
            try:
                ok = calls[n % len(calls)]().status_code == 200
            except httpx.HTTPError:
                ok = False  # not answered: not counted
            if ok:
                with lock:
                    done += 1

    started = time.monotonic()
    with ThreadPoolExecutor(users) as pool:
        list(pool.map(loop, range(users)))
    return done / (time.monotonic() - started)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_floor(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    log = (workdir / "floor.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own script
        [
            sys.executable,
            str(ROOT / "bench" / "floor_app.py"),
            "--port",
            str(port),
            "--signing-secret",
            SIGNING_SECRET,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 30)
    return process, url


def run_database(
    name: str, url: str, args: argparse.Namespace, results: list[dict[str, Any]]
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"frontdesk-bench-{name}-"))
    cluster = Cluster(workdir, url, lease_seconds=120)
    floor, floor_url = start_floor(workdir)
    try:
        cluster.grant("UFRONT", Role.FRONT_DESK)
        cluster.grant(MANAGER, Role.MANAGER)
        per_op = sum(max(1, args.samples // users) * users for users in args.users)
        needed = per_op * len(args.vendor_latency) + (200 if args.quick else 1000)
        print(f"[{name}] preparing {needed} drafts, sales and pending approvals…", flush=True)
        work = Work(cluster, needed)
        server_url = cluster.start_server("bench", FRONTDESK_WORKER_THREADS="8")
        ours = operations(cluster.driver(server_url), work)
        floor_ops = operations(cluster.driver(floor_url), None)
        for latency in args.vendor_latency:
            cluster.sandbox.clear_faults()
            if latency:
                for vendor in ("clubready", "registrar", "paytronix"):
                    cluster.sandbox.inject(
                        Fault("latency", vendor=vendor, seconds=latency, times=-1)
                    )
            for users in args.users:
                for op in OPERATIONS:
                    ours_t = burst_latencies(ours[op], users, args.samples)
                    floor_t = burst_latencies(floor_ops[op], users, args.samples)
                    results.append(
                        {
                            "kind": "latency",
                            "database": name,
                            "vendor_latency_s": latency,
                            "users": users,
                            "operation": op,
                            "samples": len(ours_t),
                            "p50_ms": 1000 * statistics.median(ours_t),
                            "p99_ms": 1000 * percentile(ours_t, 0.99),
                            "floor_p50_ms": 1000 * statistics.median(floor_t),
                            "floor_p99_ms": 1000 * percentile(floor_t, 0.99),
                        }
                    )
                    row = results[-1]
                    print(
                        f"[{name}] vendor {latency} s, {users:>2} users, {op:<14} "
                        f"p50 {row['p50_ms']:6.1f} ms p99 {row['p99_ms']:6.1f} ms "
                        f"(floor {row['floor_p50_ms']:5.1f} / {row['floor_p99_ms']:5.1f})",
                        flush=True,
                    )
            mix = [ours[op] for op in OPERATIONS]
            floor_mix = [floor_ops[op] for op in OPERATIONS]
            ours_rps = throughput(mix, args.throughput_users, args.duration)
            floor_rps = throughput(floor_mix, args.throughput_users, args.duration)
            results.append(
                {
                    "kind": "throughput",
                    "database": name,
                    "vendor_latency_s": latency,
                    "users": args.throughput_users,
                    "seconds": args.duration,
                    "rps": ours_rps,
                    "floor_rps": floor_rps,
                }
            )
            print(
                f"[{name}] vendor {latency} s: {ours_rps:.0f} req/s (floor {floor_rps:.0f})",
                flush=True,
            )
        results.append(
            {
                "kind": "memory",
                "database": name,
                "peak_rss_mb": peak_rss_mb(cluster.pid("bench")),
                "floor_peak_rss_mb": peak_rss_mb(floor.pid),
            }
        )
    finally:
        floor.kill()
        floor.wait(10)
        cluster.stop()


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| database | vendor | users | operation | p50 ms | p99 ms | floor p50 | floor p99 "
        "| p50 / floor |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        if r["kind"] != "latency":
            continue
        lines.append(
            f"| {r['database']} | {r['vendor_latency_s']} s | {r['users']} | {r['operation']} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['floor_p50_ms']:.1f} "
            f"| {r['floor_p99_ms']:.1f} | {r['p50_ms'] / r['floor_p50_ms']:.2f}x |"
        )
    lines += ["", "| database | vendor | users | req/s | floor req/s | ratio |", "| --- " * 6 + "|"]
    for r in results:
        if r["kind"] == "throughput":
            lines.append(
                f"| {r['database']} | {r['vendor_latency_s']} s | {r['users']} | {r['rps']:.0f} "
                f"| {r['floor_rps']:.0f} | {r['rps'] / r['floor_rps']:.2f}x |"
            )
    lines += ["", "| database | serve peak RSS MB | floor peak RSS MB |", "| --- | --- | --- |"]
    for r in results:
        if r["kind"] == "memory":
            lines.append(
                f"| {r['database']} | {r['peak_rss_mb']:.0f} | {r['floor_peak_rss_mb']:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter runs")
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()
    args.users = [1, 10, 50]
    args.vendor_latency = [0, 5]
    args.samples = 100 if args.quick else 300
    args.duration = 5.0 if args.quick else 30.0
    args.throughput_users = 50
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    for name in args.databases.split(","):
        if name == "sqlite":
            url = f"sqlite:///{tempfile.mkdtemp(prefix='frontdesk-bench-')}/bench.sqlite3"
            run_database("sqlite", url, args, results)
        elif name == "postgres":
            from bot.devtools.postgres import PostgresServer

            server = PostgresServer()
            try:
                run_database("postgres", server.create_database("bench"), args, results)
            finally:
                server.stop()
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "quick": args.quick,
        "seconds": time.monotonic() - started,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    (out / "ack_latency.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print()
    print(table(results))
    print(f"\nwritten: {out / 'ack_latency.json'} ({meta['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
