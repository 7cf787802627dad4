"""Acknowledgement latency, throughput, click-to-vendor latency and memory of
``frontdesk serve``, beside a floor, with the targets of issue 15 beside the figures.

Over HTTP with signed requests, as Slack sends them, to a real ``frontdesk serve``
process (waitress, its worker and notifier running) and, in the same run, to a
bare Bolt app served the same way that only acknowledges (``bench/floor_app.py``).
For each database (SQLite, PostgreSQL) and vendor latency (0 s, 5 s): bursts of 1,
10 and 50 concurrent users doing the four acknowledgements that matter
(``/reset``, the Send click, the ``/sell`` details submission, Approve), p50 and
p99; then the same mix sustained for a while (requests/s); the time from a Send
click or an Approve to the vendor receiving the request (10 users); and the
server's peak RSS.

    .venv/bin/python bench/ack_latency.py            # the full run (several minutes)
    .venv/bin/python bench/ack_latency.py --quick    # a smaller one

Prints the tables and writes ``bench/results/ack_latency.json``. Ratios are against
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
from sqlalchemy import delete, text  # noqa: E402

from bot.devtools.cluster import Cluster, _free_port  # noqa: E402
from bot.devtools.driver import SlackDriver  # noqa: E402
from bot.devtools.stack import SIGNING_SECRET, TEAM, wait_for  # noqa: E402
from bot.slack.ids import SALE_FIELDS, Command, ResetAction, SaleView  # noqa: E402
from bot.workflows.resets import ResetInput  # noqa: E402
from bot.workflows.roles import Actor, Role  # noqa: E402
from bot.workflows.sales import SaleStart  # noqa: E402
from storage.models import Notice  # noqa: E402
from vendors.sandbox import Fault, Sandbox  # noqa: E402

OPERATIONS = ("/reset", "Send", "/sell details", "Approve")
MANAGER = "UBENCHMGR"
#: Issue 15's targets.
TARGETS = {
    "throughput_ratio": 0.6,  # at least, 50 users, each database
    "ack_p50_ratio_1_user": 1.2,  # at most, every kind, vendor at 0 s and 5 s
    "ack_p99_ms_50_users_postgres": 300.0,  # at most
    "click_to_vendor_p50_ms": 50.0,  # at most, 10 users
    "click_to_vendor_p99_ms": 250.0,
    "peak_rss_mb": 120.0 * 1.1,  # at most: today's 120 MB, plus 10%
}
#: The server's per-person and per-member limits, out of the way of a benchmark.
UNLIMITED = {
    "FRONTDESK_RESET_LIMIT_PER_HOUR": "1000000",
    "FRONTDESK_RESETS_PER_PERSON_HOUR": "1000000",
    "FRONTDESK_RESET_DRAFTS_PER_PERSON_HOUR": "1000000",
    "FRONTDESK_SALE_DRAFTS_PER_PERSON_HOUR": "1000000",
}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


#: The people the load comes from: as many as the most concurrent users (a person's
#: own Sends queue one after the other by design, under their hourly limit's lock).
USERS = [f"UBENCH{n:02d}" for n in range(50)]


class Work:
    """Prepared drafts and pending sales, so each request acknowledges something real;
    consecutive items belong to different people (``USERS`` in turn)."""

    def __init__(self, cluster: Cluster, count: int) -> None:
        self.cluster = cluster
        for user in USERS:
            cluster.grant(user, Role.FRONT_DESK)
        services = cluster.local.services
        services.resets.drafts_per_person_hour = 10**9
        services.sales.drafts_per_person_hour = 10**9
        location = services.locations["downtown"]
        today = services.sales.today_at(location)
        self.owner: dict[str, str] = {}
        self.resets = []
        for n in range(count):
            user = USERS[n % len(USERS)]
            actor = Actor(team_id=TEAM, user_id=user)
            request = services.resets.prepare(
                actor, "downtown", ResetInput(email=f"bench{n}@example.com")
            )
            self.resets.append(request.id)
            self.owner[request.id] = user
        self.emails = {
            request_id: f"bench{n}@example.com" for n, request_id in enumerate(self.resets)
        }
        self.drafts = []
        for n in range(count):
            user = USERS[n % len(USERS)]
            actor = Actor(team_id=TEAM, user_id=user)
            draft = services.sales.start(actor, SaleStart("downtown", "2001:3001", today))
            self.drafts.append(draft.id)
            self.owner[draft.id] = user
        self.pending = [
            cluster.pending_sale(f"tok_profile_bench_{n:05d}", f"buyer{n}@example.com")
            for n in range(count)
        ]
        self.counters: dict[str, itertools.count[int]] = {}
        self.lock = threading.Lock()
        # What setting up recorded for Slack (confirmations, approval messages) is not
        # part of the measure: the server starts with an empty outbox.
        with cluster.local.db.session() as session:
            session.execute(delete(Notice))

    def take(self, kind: str) -> int:
        """The next unused draft, sale or pending sale of this kind."""
        with self.lock:
            return next(self.counters.setdefault(kind, itertools.count()))


def details_view(sale_id: str) -> dict[str, Any]:
    blocks = []
    for field in ("first_name", "last_name", "email", "payment1_amount", "payment1_token"):
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

    commands = itertools.count()

    def reset_command() -> httpx.Response:
        return driver.command(USERS[next(commands) % len(USERS)], Command.RESET, "")

    def send() -> httpx.Response:
        n = work.take("resets") if work else 0
        request_id = work.resets[n % len(work.resets)] if work else "x"
        user = work.owner[request_id] if work else "UFRONT"
        return driver.click(user, ResetAction.SEND, request_id, channel="DFRONT", ts="1.1")

    def sell_details() -> httpx.Response:
        n = work.take("drafts") if work else 0
        sale_id = work.drafts[n % len(work.drafts)] if work else "x"
        user = work.owner[sale_id] if work else "UFRONT"
        values = {
            SALE_FIELDS["first_name"][1]: "Ann",
            SALE_FIELDS["last_name"][1]: "Lee",
            SALE_FIELDS["email"][1]: f"ann{n}@example.com",
            SALE_FIELDS["payment1_amount"][1]: "49.00",
            SALE_FIELDS["payment1_token"][1]: f"tok_profile_bench_d{n:05d}",
        }
        return driver.submit_view(user, details_view(sale_id), values)

    def approve() -> httpx.Response:
        n = work.take("pending") if work else 0
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


def click_to_vendor(
    sandbox: Sandbox,
    calls: dict[str, Callable[[], tuple[str, str, float]]],
    samples: int,
    settle: Callable[[], object],
) -> dict[str, list[float]]:
    """For each kind of click: bursts of 10 users clicking at once, each burst once the
    last one's requests reached the vendor and the server is idle again (people who
    click and wait for the outcome); seconds from sending a click to the vendor
    receiving the request it asked for (one clock: the sandbox runs here)."""
    return {kind: _to_vendor(sandbox, kind, call, samples, settle) for kind, call in calls.items()}


def _to_vendor(
    sandbox: Sandbox,
    kind: str,
    call: Callable[[], tuple[str, str, float]],
    samples: int,
    settle: Callable[[], object],
) -> list[float]:
    operation = "password_reset" if kind == "Send" else "contract_sale"
    field = "Email" if operation == "password_reset" else "ExternalId"
    delays: list[float] = []
    for _ in range(max(1, samples // 10)):
        sent: dict[str, float] = {}
        lock = threading.Lock()

        def one(_: int, sent: dict[str, float] = sent, lock: threading.Lock = lock) -> None:
            key, _status, at = call()
            with lock:
                sent[key] = at

        with ThreadPoolExecutor(10) as pool:
            list(pool.map(one, range(10)))

        def arrived(sent: dict[str, float] = sent) -> dict[str, float]:
            found = {}
            for received in sandbox.received("clubready", operation):
                key = str(received.json.get(field) or "")
                if key in sent:
                    found[key] = received.at
            return found

        wait_for(lambda arrived=arrived, sent=sent: len(arrived()) == len(sent), 120)
        delays += [at - sent[key] for key, at in arrived().items()]
        settle()
    return delays


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def clicks(driver: SlackDriver, work: Work) -> dict[str, Callable[[], tuple[str, str, float]]]:
    """A Send click and an Approve, each returning (what the vendor will receive it as,
    the answer's status, when it was sent)."""

    def send() -> tuple[str, str, float]:
        n = work.take("resets")
        request_id = work.resets[n % len(work.resets)]
        at = time.time()
        status = driver.click(
            work.owner[request_id], ResetAction.SEND, request_id, channel="DFRONT", ts="1.1"
        )
        return work.emails[request_id], str(status.status_code), at

    def approve() -> tuple[str, str, float]:
        n = work.take("pending")
        sale = work.pending[n % len(work.pending)]
        view = {
            "id": "VAPPROVE",
            "type": "modal",
            "callback_id": SaleView.APPROVAL.value,
            "private_metadata": json.dumps({"sale": sale.id, "fp": sale.fingerprint}),
            "blocks": [],
        }
        at = time.time()
        status = driver.submit_view(MANAGER, view, {})
        return sale.id, str(status.status_code), at

    return {"Send": send, "Approve": approve}


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
        needed = per_op * len(args.vendor_latency) + args.samples
        needed += int(args.duration * 150) * len(args.vendor_latency)
        print(f"[{name}] preparing {needed} drafts, sales and pending approvals…", flush=True)
        work = Work(cluster, needed)
        server_url = cluster.start_server(
            "bench", FRONTDESK_WORKER_THREADS="8", **UNLIMITED, **dict(args.server_env)
        )
        ours = operations(cluster.driver(server_url), work)
        floor_ops = operations(cluster.driver(floor_url), None)
        for latency in args.vendor_latency:
            _vendor_latency(cluster, latency)
            for users in args.users:
                for op in OPERATIONS:
                    ours_t = burst_latencies(ours[op], users, args.samples)
                    # The floor shares these cores: measure it once frontdesk's backlog
                    # (vendor calls, notices) has drained, not while it still runs.
                    _drain(cluster, latency)
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
            # CPU of the server and of this process (load generator, fake Slack, vendor
            # sandbox) while each runs, per answered request.
            server_pid, here = cluster.pid("bench"), os.getpid()
            before = (cpu_seconds(server_pid), cpu_seconds(here))
            ours_rps = throughput(mix, args.throughput_users, args.duration)
            after = (cpu_seconds(server_pid), cpu_seconds(here))
            _drain(cluster, latency)  # the floor runs alone (see above)
            floor_before = (cpu_seconds(floor.pid), cpu_seconds(here))
            floor_rps = throughput(floor_mix, args.throughput_users, args.duration)
            floor_after = (cpu_seconds(floor.pid), cpu_seconds(here))
            answered = ours_rps * args.duration
            floor_answered = floor_rps * args.duration
            results.append(
                {
                    "kind": "throughput",
                    "database": name,
                    "vendor_latency_s": latency,
                    "users": args.throughput_users,
                    "seconds": args.duration,
                    "rps": ours_rps,
                    "floor_rps": floor_rps,
                    "server_cpu_ms_per_request": 1000 * (after[0] - before[0]) / answered,
                    "client_cpu_ms_per_request": 1000 * (after[1] - before[1]) / answered,
                    "floor_cpu_ms_per_request": 1000
                    * (floor_after[0] - floor_before[0])
                    / floor_answered,
                    "floor_client_cpu_ms_per_request": 1000
                    * (floor_after[1] - floor_before[1])
                    / floor_answered,
                }
            )
            print(
                f"[{name}] vendor {latency} s: {ours_rps:.0f} req/s (floor {floor_rps:.0f})",
                flush=True,
            )
        # Click to vendor: the vendor answers at once, so nothing but frontdesk's own
        # path (acknowledge, wake, claim) is measured; the backlog of the throughput run
        # is let drain first.
        cluster.sandbox.clear_faults()
        wait_for(lambda: _idle(cluster), 300)
        for kind, seconds in click_to_vendor(
            cluster.sandbox,
            clicks(cluster.driver(server_url), work),
            args.samples,
            lambda: wait_for(lambda: _idle(cluster), 120),
        ).items():
            results.append(
                {
                    "kind": "click_to_vendor",
                    "database": name,
                    "users": 10,
                    "operation": kind,
                    "samples": len(seconds),
                    "p50_ms": 1000 * statistics.median(seconds),
                    "p99_ms": 1000 * percentile(seconds, 0.99),
                }
            )
            row = results[-1]
            print(
                f"[{name}] click to vendor, {kind:<8} p50 {row['p50_ms']:6.1f} ms "
                f"p99 {row['p99_ms']:6.1f} ms",
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


def _vendor_latency(cluster: Cluster, seconds: float) -> None:
    """Every vendor answers after ``seconds`` (0: at once)."""
    cluster.sandbox.clear_faults()
    if seconds:
        for vendor in ("clubready", "registrar", "paytronix"):
            cluster.sandbox.inject(Fault("latency", vendor=vendor, seconds=seconds, times=-1))


def _drain(cluster: Cluster, latency: float) -> None:
    """Wait until frontdesk is idle (before a floor measurement). The vendors answer
    at once meanwhile, so a backlog queued at 5 s a call drains in seconds, not
    minutes; the latency is back for frontdesk's next measurement."""
    _vendor_latency(cluster, 0)
    wait_for(lambda: _idle(cluster), 600)
    _vendor_latency(cluster, latency)


def _idle(cluster: Cluster) -> bool:
    """Nothing queued for the vendors, nothing waiting for Slack."""
    with cluster.local.db.session() as session:
        busy = session.scalar(
            text(
                "SELECT (SELECT count(*) FROM reset_requests WHERE status IN ('queued','sending'))"
                " + (SELECT count(*) FROM sales WHERE status IN ('approved','submitting'))"
                " + (SELECT count(*) FROM notices WHERE status IN ('pending','sending'))"
            )
        )
    return not busy


def verdicts(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of issue 15 with the figure it is judged on."""
    out: list[dict[str, Any]] = []

    def add(target: str, figure: float, limit: float, *, at_least: bool, unit: str) -> None:
        met = figure >= limit if at_least else figure <= limit
        out.append(
            {
                "target": target,
                "figure": figure,
                "limit": limit,
                "unit": unit,
                "at_least": at_least,
                "met": met,
            }
        )

    for r in results:
        if r["kind"] == "throughput" and r["users"] >= 50:
            add(
                f"throughput {r['database']}, vendor {r['vendor_latency_s']} s",
                r["rps"] / r["floor_rps"],
                TARGETS["throughput_ratio"],
                at_least=True,
                unit="x floor",
            )
        if r["kind"] == "latency" and r["users"] == 1:
            add(
                f"ack p50 {r['database']}, vendor {r['vendor_latency_s']} s, 1 user, "
                f"{r['operation']}",
                r["p50_ms"] / r["floor_p50_ms"],
                TARGETS["ack_p50_ratio_1_user"],
                at_least=False,
                unit="x floor",
            )
        if r["kind"] == "latency" and r["users"] == 50 and r["database"] == "postgres":
            add(
                f"ack p99 postgres, vendor {r['vendor_latency_s']} s, 50 users, {r['operation']}",
                r["p99_ms"],
                TARGETS["ack_p99_ms_50_users_postgres"],
                at_least=False,
                unit="ms",
            )
        if r["kind"] == "click_to_vendor":
            for q in ("p50", "p99"):
                add(
                    f"click to vendor {q} {r['database']}, 10 users, {r['operation']}",
                    r[f"{q}_ms"],
                    TARGETS[f"click_to_vendor_{q}_ms"],
                    at_least=False,
                    unit="ms",
                )
        if r["kind"] == "memory":
            add(
                f"peak RSS {r['database']}",
                r["peak_rss_mb"],
                TARGETS["peak_rss_mb"],
                at_least=False,
                unit="MB",
            )
    return out


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
    lines += [
        "",
        "| database | vendor | users | req/s | floor req/s | ratio | server CPU ms/req "
        "| floor CPU ms/req | load+fakes CPU ms/req (floor's) |",
        "| --- " * 9 + "|",
    ]
    for r in results:
        if r["kind"] == "throughput":
            lines.append(
                f"| {r['database']} | {r['vendor_latency_s']} s | {r['users']} | {r['rps']:.0f} "
                f"| {r['floor_rps']:.0f} | {r['rps'] / r['floor_rps']:.2f}x "
                f"| {r['server_cpu_ms_per_request']:.2f} | {r['floor_cpu_ms_per_request']:.2f} "
                f"| {r['client_cpu_ms_per_request']:.2f} "
                f"({r['floor_client_cpu_ms_per_request']:.2f}) |"
            )
    lines += ["", "| database | click | users | p50 ms | p99 ms |", "| --- " * 5 + "|"]
    for r in results:
        if r["kind"] == "click_to_vendor":
            lines.append(
                f"| {r['database']} | {r['operation']} | {r['users']} | {r['p50_ms']:.1f} "
                f"| {r['p99_ms']:.1f} |"
            )
    lines += ["", "| database | serve peak RSS MB | floor peak RSS MB |", "| --- | --- | --- |"]
    for r in results:
        if r["kind"] == "memory":
            lines.append(
                f"| {r['database']} | {r['peak_rss_mb']:.0f} | {r['floor_peak_rss_mb']:.0f} |"
            )
    lines += ["", "| target | figure | limit | met |", "| --- | --- | --- | --- |"]
    for v in verdicts(results):
        sign = ">=" if v["at_least"] else "<="
        figure = f"{v['figure']:.2f}" if "x" in v["unit"] else f"{v['figure']:.0f}"
        lines.append(
            f"| {v['target']} | {figure} {v['unit']} | {sign} {v['limit']:g} {v['unit']} "
            f"| {'yes' if v['met'] else '**no**'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter runs")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        type=lambda pair: tuple(pair.split("=", 1)),
        help="KEY=VALUE for the server (e.g. FRONTDESK_SLACK_PROCESS_BEFORE_RESPONSE=false)",
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "ack_latency.json"))
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
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "quick": args.quick,
        "seconds": time.monotonic() - started,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "server_env": dict(args.server_env),
        "targets": TARGETS,
    }
    out.write_text(
        json.dumps({"meta": meta, "results": results, "verdicts": verdicts(results)}, indent=2)
    )
    print()
    print(table(results))
    print(f"\nwritten: {out} ({meta['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
