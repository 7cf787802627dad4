"""App Home render time against stored history of 10 thousand, 100 thousand and 1 million
requests, on PostgreSQL, for each role's home (the listener's work: queries, view
building, validation with slack_sdk's models).

    .venv/bin/python bench/home_render.py [--sizes 10000,100000,1000000]

Prints a table and writes ``bench/results/home_render.json``. The baseline in the
same run is the cheapest home there is (a user with no role: one grants query).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.clock import ManualClock  # noqa: E402
from bot.config import load_locations  # noqa: E402
from bot.devtools.history import NOW, fill_history  # noqa: E402
from bot.devtools.postgres import PostgresServer  # noqa: E402
from bot.devtools.stack import LOCATIONS_YAML  # noqa: E402
from bot.slack.home_views import home_view  # noqa: E402
from bot.workflows.home import HomeService  # noqa: E402
from bot.workflows.roles import Actor, Role, Roles  # noqa: E402
from bot.workflows.triage import TriageService  # noqa: E402
from storage.db import Database, upgrade  # noqa: E402


def measure(homes: HomeService, locations: dict[str, Any], actor: Actor, runs: int) -> float:
    homes.home(actor)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        home_view(homes.home(actor), locations)
        timings.append(time.perf_counter() - started)
    return 1000 * statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    server = PostgresServer()
    path = Path(tempfile.mkdtemp(prefix="frontdesk-home-")) / "locations.yml"
    path.write_text(LOCATIONS_YAML)
    locations = load_locations(path)
    results: list[dict[str, Any]] = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            url = server.create_database(f"home{size}")
            upgrade(url)
            db = Database(url)
            started = time.monotonic()
            fill_history(db, resets=size, sales=max(1, size // 20))
            filled = time.monotonic() - started
            clock = ManualClock(NOW)
            roles = Roles(clock=clock)
            people = {
                "support": Actor("T0001", "USUP"),
                "manager": Actor("T0001", "UMGR"),
                "front desk": Actor("T0001", "U7"),
                "no role (baseline)": Actor("T0001", "UNOBODY"),
            }
            with db.session() as session:
                for role, who in (
                    (Role.SUPPORT, "support"),
                    (Role.MANAGER, "manager"),
                    (Role.FRONT_DESK, "front desk"),
                ):
                    location = "downtown" if role is Role.MANAGER else None
                    roles.grant(
                        session, by="bench", target=people[who], role=role, location_id=location
                    )
            triage = TriageService(db=db, roles=roles, locations=locations, clock=clock)
            homes = HomeService(db=db, roles=roles, locations=locations, clock=clock, triage=triage)
            row: dict[str, Any] = {"requests": size, "fill_seconds": round(filled, 1)}
            for name, actor in people.items():
                row[name] = measure(homes, locations, actor, args.runs)
            results.append(row)
            db.dispose()
            timings = ", ".join(f"{name} {row[name]:.1f} ms" for name in people)
            print(f"{size:>9,} requests (filled in {filled:.0f} s): {timings}", flush=True)
    finally:
        server.stop()
    names = ["support", "manager", "front desk", "no role (baseline)"]
    print("\n| stored requests | " + " | ".join(f"{n} ms" for n in names) + " |")
    print("| --- " * (len(names) + 1) + "|")
    for row in results:
        print(f"| {row['requests']:,} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "home_render.json").write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {out / 'home_render.json'}")


if __name__ == "__main__":
    main()
