"""Where a loaded ``frontdesk serve`` spends its time: py-spy samples the server while
50 users send the four requests of the throughput run, every thread included (the
listeners, the worker, the notifier).

    .venv/bin/pip install py-spy   # not a dependency of frontdesk
    .venv/bin/python bench/profile_load.py [--database postgres] [--seconds 20]

Prints the top functions by own samples and by inclusive samples (``bot.`` and
``storage.`` frames, then everything), from ``py-spy record --format raw``.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ack_latency import (  # noqa: E402
    MANAGER,
    OPERATIONS,
    UNLIMITED,
    Work,
    operations,
    throughput,
)
from bot.devtools.cluster import Cluster  # noqa: E402
from bot.workflows.roles import Role  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--server-env", action="append", default=[])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="frontdesk-pyspy-"))
    server = None
    if args.database == "postgres":
        from bot.devtools.postgres import PostgresServer

        server = PostgresServer()
        url = server.create_database("profile")
    else:
        url = f"sqlite:///{workdir}/profile.sqlite3"
    cluster = Cluster(workdir, url, lease_seconds=120)
    try:
        cluster.grant("UFRONT", Role.FRONT_DESK)
        cluster.grant(MANAGER, Role.MANAGER)
        work = Work(cluster, int(args.seconds * 150) + 100)
        extra = dict(pair.split("=", 1) for pair in args.server_env)
        server_url = cluster.start_server(
            "bench", FRONTDESK_WORKER_THREADS="8", **UNLIMITED, **extra
        )
        ours = operations(cluster.driver(server_url), work)
        raw = workdir / "profile.txt"
        spy = subprocess.Popen(  # noqa: S603
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(cluster.pid("bench")),
                "--duration",
                str(int(args.seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(raw),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        done: list[float] = []
        load = threading.Thread(
            target=lambda: done.append(
                throughput([ours[op] for op in OPERATIONS], 50, args.seconds)
            )
        )
        load.start()
        load.join()
        spy.wait(60)
        print(f"{done[0]:.0f} req/s while sampled")
        report(raw, args.top)
    finally:
        cluster.stop()
        if server is not None:
            server.stop()


def report(raw: Path, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        # Idle threads (waiting on a lock, a socket, a queue) are not work.
        leaf = frames[-1]
        if any(
            w in leaf
            for w in ("wait (threading", "select (", "poll (", "_recv_into", "accept (", "sleep")
        ):
            continue
        total += count
        own[leaf] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"{total} busy samples")
    print("\nby own samples:")
    for frame, count in own.most_common(top):
        print(f"{100 * count / total:5.1f}%  {frame}")
    print("\nby inclusive samples (frontdesk's own code):")
    ours = [(f, c) for f, c in inclusive.most_common() if "(bot/" in f or "(storage/" in f]
    for frame, count in ours[:top]:
        print(f"{100 * count / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
