"""A process's memory as Linux reports it, for load tests that watch it (``/proc/<pid>/status``)."""

from __future__ import annotations


def resident_bytes(pid: int | str = "self", *, field: str = "VmRSS") -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak so far) of process ``pid``, in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")
