"""The live processes of a session (read from /proc), for the tests that kill or interrupt a run
started with ``start_new_session=True`` and then count what it left alive."""

from __future__ import annotations

import os
from pathlib import Path


def session_processes(sid: int) -> list[tuple[int, int]]:
    """(pid, ppid) of the live processes of session ``sid`` (ours: started with a new session),
    the session leader itself left out."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == sid:
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            found.append((int(d), int(fields[1])))
    return found
