"""Start, find and stop service processes by process group (never by name)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

MARKER = "RETRAIN_STACK_ID"


def _fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, parent, group, ...)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a pid, or None when it is gone."""
    fields = _fields(pid)
    return (fields[0], int(fields[2])) if fields else None


def parent(pid: int) -> int | None:
    """The parent's pid, or None when the process is gone."""
    fields = _fields(pid)
    return int(fields[1]) if fields else None


def children() -> dict[int, list[int]]:
    """Parent pid -> its children's pids, from one pass over /proc."""
    out: dict[int, list[int]] = {}
    for pid in _pids():
        ppid = parent(pid)
        if ppid is not None:
            out.setdefault(ppid, []).append(pid)
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory (MiB): ``VmHWM`` of its own address space. Not
    ``getrusage().ru_maxrss``: a process started with ``subprocess`` inherits in it the parent's
    resident size at the fork, so a small child of a large bench reads as large as its parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def _pids() -> Iterable[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    out = []
    for pid in _pids():
        st = _stat(pid)
        if st and st[1] == pgid and st[0] != "Z":
            out.append(pid)
    return out


def marked_processes(stack_id: str) -> list[int]:
    """Live processes whose environment carries this stack's marker (escaped groups too)."""
    needle = f"{MARKER}={stack_id}".encode() + b"\0"
    me = os.getpid()
    out = []
    for pid in _pids():
        if pid == me:
            continue
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        st = _stat(pid)
        if needle in env + b"\0" and st and st[0] != "Z":
            out.append(pid)
    return out


def spawn(argv: list[str], env: Mapping[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` as the leader of a new session and process group, output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop_group(pgid: int, grace: float = 20.0) -> None:
    """SIGTERM the whole group, wait up to ``grace`` seconds, then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    _wait_gone(lambda: group_members(pgid), grace)
    _signal_all(group_members(pgid), signal.SIGKILL)
    _wait_gone(lambda: group_members(pgid), 5)


def stop_marked(stack_id: str, grace: float = 10.0) -> list[int]:
    """Stop every process left with this stack's marker; returns what it found."""
    found = marked_processes(stack_id)
    if found:
        _signal_all(found, signal.SIGTERM)
        _wait_gone(lambda: marked_processes(stack_id), grace)
        _signal_all(marked_processes(stack_id), signal.SIGKILL)
        _wait_gone(lambda: marked_processes(stack_id), 5)
    return found


def _wait_gone(members: Callable[[], list[int]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while members() and time.monotonic() < deadline:
        time.sleep(0.2)


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])
