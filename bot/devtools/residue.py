"""What a database leaves on disk: scan its files for secrets, raw and sealed.

Used by the tests that check that wiped payment tokens are gone from the bytes,
not only from the rows: SQLite's database file, ``-wal`` and ``-shm``;
PostgreSQL's ``pg_dump`` output and every relation file of the database (read by
the server, so the caller must be a superuser, as in the test servers).

A scan looks for each needle (a planted token, a sealed value) as raw bytes, and
decrypts every Fernet token it finds with the given keys, looking for the
needles in what they open to.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from bot.devtools.postgres import find_bin
from storage.db import normalise_url

#: The start of a Fernet token: version byte 0x80 and a timestamp < 2**40, urlsafe base64
#: (what follows may run on into the next column's bytes: see ``_fernet_tokens``).
FERNET = re.compile(rb"gAAAAA[A-Za-z0-9_\-]{90,}={0,2}")


def _fernet_tokens(match: bytes) -> Iterable[bytes]:
    """Every Fernet token ``match`` may begin with, longest first: a token is version,
    timestamp and IV (25 bytes), 16·n bytes of ciphertext and a 32-byte HMAC, base64'd
    with padding."""
    candidates = []
    n = 1
    while (size := 4 * -(-(57 + 16 * n) // 3)) <= len(match):
        padding = -(57 + 16 * n) % 3
        candidate = match[:size]
        if candidate.endswith(b"=" * padding) and b"=" not in candidate[: size - padding]:
            candidates.append(candidate)
        n += 1
    return reversed(candidates)


@dataclass
class Source:
    """One scanned source (a file, a dump) and what was found in it."""

    name: str
    size: int
    raw: dict[str, int] = field(default_factory=dict)  # needle name -> occurrences
    fernet: int = 0  # Fernet-shaped strings
    opened: int = 0  # of which the keys decrypt
    sealed: dict[str, int] = field(default_factory=dict)  # needle name -> decrypted hits

    def found(self, names: Iterable[str] | None = None) -> set[str]:
        hits = {n for n, c in self.raw.items() if c} | {n for n, c in self.sealed.items() if c}
        return hits if names is None else hits & set(names)

    def line(self) -> str:
        def listed(counts: dict[str, int]) -> str:
            hits = {n: c for n, c in sorted(counts.items()) if c}
            if not hits:
                return "none"
            names = ", ".join(f"{n}×{c}" for n, c in hits.items()) if len(hits) <= 6 else "…"
            return f"{len(hits)} needles, {sum(hits.values())} copies ({names})"

        return (
            f"{self.name}: {self.size} bytes; raw: {listed(self.raw)}; fernet values: "
            f"{self.fernet}, decryptable: {self.opened}, opening to: {listed(self.sealed)}"
        )


@dataclass
class Scan:
    sources: list[Source]

    def found(self, names: Iterable[str] | None = None) -> dict[str, set[str]]:
        """Source name -> the needles found there (only sources with findings)."""
        names = None if names is None else list(names)
        return {s.name: hit for s in self.sources if (hit := s.found(names))}

    def report(self) -> str:
        return "\n".join(s.line() for s in self.sources)


def scan_bytes(name: str, data: bytes, needles: Mapping[str, str], keys: Iterable[str]) -> Source:
    source = Source(name, len(data))
    for needle, value in needles.items():
        source.raw[needle] = data.count(value.encode())
    fernet = MultiFernet([Fernet(k) for k in keys])
    for match in FERNET.finditer(data):
        source.fernet += 1
        for candidate in _fernet_tokens(match.group()):
            try:
                plain = fernet.decrypt(candidate)
            except InvalidToken:
                continue
            break
        else:
            continue
        source.opened += 1
        for needle, value in needles.items():
            if value.encode() in plain:
                source.sealed[needle] = source.sealed.get(needle, 0) + 1
    return source


def sqlite_files(url: str) -> dict[str, bytes]:
    """The database file, its write-ahead log and shared-memory index, as they are now."""
    database = make_url(normalise_url(url)).database
    assert database, url
    files = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(database + suffix)
        if path.exists():
            files[path.name] = path.read_bytes()
    return files


def postgres_files(url: str) -> dict[str, bytes]:
    """Every relation file of the database (tables, TOAST, indexes, free space and
    visibility maps), after a checkpoint has flushed the shared buffers."""
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("CHECKPOINT"))
            oid = connection.scalar(
                text("SELECT oid FROM pg_database WHERE datname = current_database()")
            )
            directory = f"base/{oid}"
            names = connection.scalars(
                text("SELECT pg_ls_dir(:d) ORDER BY 1"), {"d": directory}
            ).all()
            relations: dict[str, str] = dict(
                connection.execute(
                    text(
                        "SELECT pg_relation_filenode(oid)::text, relname FROM pg_class "
                        "WHERE pg_relation_filenode(oid) IS NOT NULL"
                    )
                ).all()
            )
            files = {}
            for file_name in names:
                if not file_name[:1].isdigit():
                    continue  # pg_filenode.map, PG_VERSION, pg_internal.init
                node = re.split(r"[._]", file_name)[0]
                label = f"{directory}/{file_name} ({relations.get(node, '?')})"
                data = _read_server_file(connection, f"{directory}/{file_name}")
                if data is not None:  # else dropped since listed (a rewrite)
                    files[label] = data
            return files
    finally:
        engine.dispose()


def _read_server_file(connection: Connection, path: str) -> bytes | None:
    chunk, parts = 1 << 26, list[bytes]()
    while True:
        part = connection.scalar(
            text("SELECT pg_read_binary_file(:p, :o, :n, true)"),
            {"p": path, "o": chunk * len(parts), "n": chunk},
        )
        if part is None:
            return None
        parts.append(bytes(part))
        if len(part) < chunk:
            return b"".join(parts)


def pg_dump(url: str) -> bytes:
    binary = find_bin("pg_dump")
    if binary is None:
        raise RuntimeError("pg_dump is not installed")
    parsed = make_url(normalise_url(url))
    return subprocess.run(  # noqa: S603 - our own binary, our own test server
        [
            binary,
            "--host",
            str(parsed.host),
            "--port",
            str(parsed.port),
            "--username",
            str(parsed.username),
            "--no-password",
            str(parsed.database),
        ],
        check=True,
        capture_output=True,
    ).stdout


def scan_database(url: str, needles: Mapping[str, str], keys: Iterable[str]) -> Scan:
    """SQLite: its three files. PostgreSQL: ``pg_dump`` and every relation file."""
    keys = list(keys)
    if normalise_url(url).startswith("sqlite"):
        files = sqlite_files(url)
    else:
        files = {"pg_dump": pg_dump(url), **postgres_files(url)}
    return Scan([scan_bytes(name, data, needles, keys) for name, data in files.items()])
