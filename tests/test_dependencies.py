"""The lock agrees with pyproject.toml, CI installs from it, and no minimum is vulnerable."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, tuple[Version, int]]:
    """name → (pinned version, number of hashes) from requirements.lock."""
    text = (ROOT / "requirements.lock").read_text()
    pins: dict[str, tuple[Version, int]] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", entry)
        if match:
            name = canonicalize_name(match.group(1))
            pins[name] = (Version(match.group(2)), entry.count("--hash=sha256:"))
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["dev"],
        *project["build-system"]["requires"],
    ]
    return [Requirement(name) for name in names]


def test_every_requirement_is_pinned_with_hashes_and_satisfied() -> None:
    pins = _pins()
    assert pins, "requirements.lock pins nothing"
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: refresh it (README)"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} in requirements.lock does not satisfy {requirement}"
        )
        assert hashes, f"{name} has no hash in requirements.lock"
    assert all(hashes for _, hashes in pins.values())


def test_minimums_are_past_known_advisories() -> None:
    floors = {
        "waitress": Version("3.0.1"),  # request smuggling and a DoS (2024)
        "cryptography": Version("44.0.1"),  # the OpenSSL it bundles (2025)
        "setuptools": Version("78.1.1"),  # path traversal in package_index (2025)
    }
    seen = set()
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        if name not in floors:
            continue
        seen.add(name)
        lowest = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        assert lowest and min(lowest) >= floors[name], f"{requirement} allows a vulnerable {name}"
    assert seen == set(floors)


def test_ci_runs_the_readmes_test_command_from_the_lock() -> None:
    readme = (ROOT / "README.md").read_text()
    command = next(
        line for line in readme.splitlines() if line.startswith("python3 -m venv .venv && ")
    )
    test_command = next(
        line
        for line in readme.splitlines()
        if line.startswith("python3 -m venv") and line.endswith("&& .venv/bin/pytest")
    )
    assert "--require-hashes -r requirements.lock" in command
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
