"""What ``weighbridge ps`` shows: the engines running on this machine for this data directory,
read from the state files the engines' supervisors keep up to date."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EngineStatus:
    model: str
    pid: int
    parent_pid: int
    slots: int
    ctx_per_slot: int
    served: int
    in_flight: int
    restarts: int
    uptime_s: float
    rss_bytes: int | None
    file: str


def running_engines(home: Path) -> list[EngineStatus]:
    """Live engines; a state file left by a process that is gone is removed."""
    found = []
    for path in sorted((home / "engines").glob("*.json")):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not (_alive(state["pid"]) and _alive(state["parent_pid"])):
            path.unlink(missing_ok=True)
            continue
        found.append(
            EngineStatus(
                model=state["model"],
                pid=state["pid"],
                parent_pid=state["parent_pid"],
                slots=state["slots"],
                ctx_per_slot=state["ctx_per_slot"],
                served=state["served"],
                in_flight=state["in_flight"],
                restarts=state["restarts"],
                uptime_s=time.time() - state["started_at"],
                rss_bytes=_rss(state["pid"]),
                file=state["file"],
            )
        )
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _rss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
