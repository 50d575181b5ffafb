"""Who holds a stage's lease, whether that process still lives, and the heartbeat keeper.

A lease names the process that claimed it: host, PID, the process's start time (so that a PID
the system reused for another process does not count as alive) and the machine's boot and PID
namespace (so that a container sharing the host name is not mistaken for this one). A worker
that finds a stage leased by a process of its own machine that no longer exists takes the stage
back at once; leases of other machines end when their heartbeats stop.

The heartbeat runs in a small child process (`keeper`), not a thread: a C call holding the GIL
for minutes (a checkpoint written to slow storage, a tokenizer, a long evaluation) cannot starve
it. It renews the lease every interval while its parent lives, exits when the parent dies (its
stdin closes), and, when the lease was lost to another worker, sends the parent STOP_SIGNAL (if
asked), which the parent turns into KeyboardInterrupt (`runner.stop_signal_interrupts`).

Standard library only: the keeper runs as `python -I leases.py ...` in a fresh interpreter.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sqlite3
import sys
import time
from dataclasses import dataclass
from functools import lru_cache

# The one statement renewing a lease (the store's `heartbeat` runs it too).
RENEW = "UPDATE stages SET heartbeat=? WHERE id=? AND worker=? AND status='running'"
LOST_EXIT = 3  # the keeper's exit status when the lease was lost
LOST = b"lost\n"  # and what it writes on its stdout, before it interrupts its parent
# How a worker is asked to give its stage back: by its lease keeper when the lease was lost, by its
# pool when the pool is interrupted. Not SIGINT: a process started in the background by a
# non-interactive shell (`xstilts run ... &` in a script, under nohup) has SIGINT ignored, and
# Python then raises nothing for it, so the worker would run its stage to the end for nothing.
STOP_SIGNAL = signal.SIGUSR1


@dataclass(frozen=True)
class Holder:
    """The process holding a lease."""

    host: str
    pid: int
    started: str | None  # start time: '<source>:<value>' (None: unknown)
    machine: str | None  # boot id and PID namespace (None: unknown)


def describe(worker: str, host: str | None) -> str:
    """'process 123 on host' for a plain local worker id ('host:123'), '<worker> on host' otherwise."""
    pid = worker.removeprefix(f"{host}:") if host else ""
    who = f"process {pid}" if pid.isdigit() else worker
    return f"{who} on {host or 'an unknown host'}"


def this_process() -> Holder:
    return _identity(os.getpid())


@lru_cache(maxsize=4)
def _identity(pid: int) -> Holder:
    return Holder(socket.gethostname(), pid, process_start(pid), machine_id())


@lru_cache(maxsize=1)
def machine_id() -> str | None:
    """Boot id plus PID namespace: two processes with one PID and one machine id are one process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """When process `pid` started, as an opaque token; None when it does not exist (or is a zombie)
    or its start time cannot be read here."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return _psutil_start(pid)
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    if fields[0] in ("Z", "X"):  # killed, not yet reaped: dead
        return None
    return f"proc:{fields[19]}"  # field 22 of stat: start time in clock ticks after boot


def _psutil_start(pid: int) -> str | None:
    try:
        import psutil  # lazy: loads psutil
    except ImportError:
        return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return f"psutil:{process.create_time():.3f}"
    except psutil.Error:
        return None


def alive(holder: Holder) -> bool | None:
    """True: the holder runs; False: it surely does not; None: it runs elsewhere (cannot tell)."""
    me = this_process()
    if holder.host != me.host or holder.machine != me.machine:
        return None
    if holder.pid == me.pid:
        return True
    if os.path.isdir("/proc/self"):
        started = process_start(holder.pid)
        if started is None:
            return False
        return holder.started is None or started == holder.started
    started = _psutil_start(holder.pid)
    if started is not None and holder.started is not None and holder.started.startswith("psutil:"):
        return started == holder.started
    try:  # no start times here: whether the PID exists at all
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the keeper process --------------------------------------------------------------------------------
def keeper_command(store: str, stage_id: str, worker: str, interval: float, interrupt: bool) -> list[str]:
    return [sys.executable, "-I", os.path.abspath(__file__), store, stage_id, worker, repr(interval), "1" if interrupt else "0", str(os.getpid())]


def keep(store: str, stage_id: str, worker: str, interval: float, interrupt: bool, parent: int) -> int:
    """Renew the lease every `interval` s until stdin closes (the parent died) or the parent kills it."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # a Ctrl-C or hang-up is the parent's to handle
    conn = sqlite3.connect(store, timeout=max(1.0, min(30.0, interval)), isolation_level=None)
    try:
        while True:
            ready, _, _ = select.select([sys.stdin], [], [], interval)
            if ready and not sys.stdin.buffer.read1(1):  # type: ignore[union-attr]  # typeshed: BinaryIO; it is a BufferedReader
                return 0
            if os.getppid() != parent:  # the parent died while a process it forked keeps our stdin open
                return 0
            try:
                held = conn.execute(RENEW, (time.time(), stage_id, worker)).rowcount == 1
            except sqlite3.Error as err:  # a busy or briefly unreadable store: try again next beat
                print(f"heartbeat of stage {stage_id} failed: {err}", file=sys.stderr, flush=True)
                continue
            if not held:
                sys.stdout.buffer.write(LOST)
                sys.stdout.buffer.flush()
                if interrupt:
                    os.kill(parent, STOP_SIGNAL)
                return LOST_EXIT
    finally:
        conn.close()


if __name__ == "__main__":
    _store, _stage, _worker, _interval, _interrupt, _parent = sys.argv[1:7]
    sys.exit(keep(_store, _stage, _worker, float(_interval), _interrupt == "1", int(_parent)))
