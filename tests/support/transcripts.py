"""Read the byte-exact Asterisk captures in ``../shared/asterisk`` (the project's ground truth).

File format (see ``shared/asterisk/README.md``): ``# `` header lines, then chunks
``#### <KIND> t=+<sec>s bytes=<N>`` LF, N raw bytes, LF. KIND is ``C>S``, ``S>C``, ``EOF``,
``CONNECT`` or ``NOTE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "asterisk"
_MARKER = re.compile(rb"#### (\S+) t=\+([\d.]+)s bytes=(\d+)\n")


@dataclass(frozen=True)
class Chunk:
    kind: str
    time: float
    data: bytes


@dataclass(frozen=True)
class Transcript:
    path: Path
    chunks: tuple[Chunk, ...]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def is_http(self) -> bool:
        return self.name.startswith("http_")

    def of_kind(self, kind: str) -> list[Chunk]:
        return [chunk for chunk in self.chunks if chunk.kind == kind]

    def server_bytes(self) -> bytes:
        return b"".join(chunk.data for chunk in self.of_kind("S>C"))


def require_shared() -> Path:
    """The shared folder, or a clear skip when this clone is used outside the workspace."""
    if not SHARED.is_dir():
        pytest.skip(f"ground-truth captures not found at {SHARED} (clone used outside the ajam workspace)")
    return SHARED


@cache
def load(path: Path) -> Transcript:
    raw = path.read_bytes()
    chunks: list[Chunk] = []
    pos = raw.find(b"\n#### ") + 1
    while 0 < pos < len(raw):
        match = _MARKER.match(raw, pos)
        if match is None:
            raise ValueError(f"{path.name}: bad chunk marker at byte {pos}")
        start = match.end()
        size = int(match.group(3))
        chunks.append(Chunk(match.group(1).decode(), float(match.group(2)), raw[start : start + size]))
        pos = start + size + 1
    return Transcript(path, tuple(chunks))


def transcript_paths(pattern: str = "*.txt") -> list[Path]:
    """Paths of every capture matching ``pattern`` in both folders (empty when the folder is absent)."""
    if not SHARED.is_dir():
        return []
    return sorted(SHARED.glob(f"transcripts/{pattern}")) + sorted(SHARED.glob(f"transcripts-sip/{pattern}"))


def transcript_params(pattern: str = "*.txt") -> list[object]:
    """pytest parameters (one per capture), or a single skipped parameter when the folder is absent."""
    paths = transcript_paths(pattern)
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no captures at {SHARED}"))]
    return [pytest.param(path, id=path.stem) for path in paths]


def split_http_response(data: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers (in order, original case) and body of one captured HTTP response."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
    return status, [(k, v) for k, v in headers], body
