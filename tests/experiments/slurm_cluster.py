"""A real single-node Slurm cluster with accounting, started by hand for the tests.

MariaDB (temporary datadir), munged (a generated key), slurmdbd, slurmctld and slurmd run as
children of the test process, bound to 127.0.0.1 on free ports, with every config, socket, log and
state file in one temporary folder. No systemd, no cgroups: proctrack/linuxproc and task/none.
`stop()` cancels the jobs, shuts the daemons down and waits for every one of them to exit.

Needs root and Debian's packages: apt-get install slurm-wlm slurmdbd munge mariadb-server.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct", "scontrol")
PARTITION = "debug"
NODE_CPUS = 4  # more than the machine's cores (config_overrides): a few tiny jobs at once
NODE_MEMORY_MB = 8000


class SlurmUnavailable(Exception):
    """Why a cluster cannot be started here (the tests skip with this reason)."""


def unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "the Slurm tests start slurmd/slurmctld and need root"
    missing = [name for name in DAEMONS if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install slurm-wlm slurmdbd munge mariadb-server)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    found = shutil.which(name) or str(Path("/usr/sbin", name))
    return found


def _wait(check, what: str, timeout: float, logs: list[Path] = ()) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')[-1500:]}" for p in logs if p.exists())
    raise SlurmUnavailable(f"{what} did not come up within {timeout:.0f}s\n{tails}")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class SlurmCluster:
    root: Path
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    partition: str = PARTITION
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    started_seconds: float = 0.0

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    def run(self, *command: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """A Slurm client command against this cluster."""
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=check, timeout=timeout)

    # -- start-up -------------------------------------------------------------------------------
    def start(self) -> SlurmCluster:
        started = time.time()
        reason = unavailable_reason()
        if reason:
            raise SlurmUnavailable(reason)
        for sub in ("etc", "state", "spool", "log", "run", "db"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        ports = {name: _free_port() for name in ("ctld", "slurmd", "dbd", "mysql")}
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        try:
            self._start_munge()
            self._start_mariadb(ports["mysql"])
            self._write_configs(ports)
            self._start("slurmdbd", [_binary("slurmdbd"), "-D"])
            _wait(lambda: _listening(ports["dbd"]), "slurmdbd", 60, [self.root / "log" / "slurmdbd.log"])
            self._start("slurmctld", [_binary("slurmctld"), "-D", "-i", "-f", str(self.conf)])
            _wait(lambda: self.run("scontrol", "ping", check=False).returncode == 0 and "UP" in self.run("scontrol", "ping", check=False).stdout,
                  "slurmctld", 60, [self.root / "log" / "slurmctld.log"])
            self._start("slurmd", [_binary("slurmd"), "-D", "-N", self.node, "-f", str(self.conf)])
            _wait(self._node_idle, "slurmd (node idle)", 60, [self.root / "log" / "slurmd.log", self.root / "log" / "slurmctld.log"])
            _wait(self._accounting_up, "accounting (sacct)", 60, [self.root / "log" / "slurmdbd.log", self.root / "log" / "slurmctld.log"])
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.time() - started
        return self

    def _start(self, name: str, command: list[str], **kwargs) -> subprocess.Popen:
        with open(self.root / "log" / f"{name}.out", "ab") as log:
            process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs)
        self.processes[name] = process
        return process

    def _start_munge(self) -> None:
        key = self.root / "etc" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        self.munge_socket = self.root / "run" / "munge.socket"
        self._start("munged", [
            _binary("munged"), "-F", "--force", f"--key-file={key}", f"--socket={self.munge_socket}",
            f"--pid-file={self.root / 'run' / 'munged.pid'}", f"--log-file={self.root / 'log' / 'munged.log'}",
            f"--seed-file={self.root / 'run' / 'munged.seed'}", "--num-threads=1",
        ])
        _wait(self.munge_socket.exists, "munged", 20, [self.root / "log" / "munged.log", self.root / "log" / "munged.out"])

    def _start_mariadb(self, port: int) -> None:
        datadir, sock = self.root / "db", self.root / "run" / "mysqld.sock"
        subprocess.run(
            [_binary("mariadb-install-db"), "--no-defaults", f"--datadir={datadir}", "--user=root", "--skip-test-db",
             "--auth-root-authentication-method=socket"],
            check=True, capture_output=True, timeout=120,
        )
        self._start("mariadbd", [
            _binary("mariadbd"), "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={port}",
            "--bind-address=127.0.0.1", "--user=root", f"--pid-file={self.root / 'run' / 'mysqld.pid'}",
            f"--log-error={self.root / 'log' / 'mariadb.log'}", "--innodb-buffer-pool-size=32M", "--skip-log-bin",
            "--innodb-lock-wait-timeout=900",
        ])
        client = shutil.which("mariadb") or "mysql"
        query = [client, "--no-defaults", f"--socket={sock}", "-uroot"]
        _wait(lambda: subprocess.run([*query, "-e", "SELECT 1"], capture_output=True).returncode == 0, "mariadbd", 60, [self.root / "log" / "mariadb.log"])
        self.db_password = secrets.token_hex(8)
        subprocess.run(
            [*query, "-e", f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{self.db_password}'; GRANT ALL ON *.* TO 'slurm'@'127.0.0.1';"],
            check=True, capture_output=True, timeout=30,
        )

    def _write_configs(self, ports: dict[str, int]) -> None:
        r, log = self.root, self.root / "log"
        auth = f"AuthType=auth/munge\nAuthInfo=socket={self.munge_socket}\n"
        self.conf.write_text(
            f"ClusterName=xstilts\nSlurmctldHost={self.node}(127.0.0.1)\nSlurmctldPort={ports['ctld']}\nSlurmdPort={ports['slurmd']}\n"
            f"SlurmUser=root\nSlurmdUser=root\n{auth}CredType=cred/munge\n"
            f"StateSaveLocation={r / 'state'}\nSlurmdSpoolDir={r / 'spool'}\n"
            f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}\nSlurmdPidFile={r / 'run' / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={log / 'slurmctld.log'}\nSlurmdLogFile={log / 'slurmd.log'}\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\n"
            "SchedulerType=sched/backfill\nMpiDefault=none\nJobAcctGatherType=jobacct_gather/none\nReturnToService=2\n"
            "SlurmdParameters=config_overrides\nJobRequeue=1\nKillWait=2\nMinJobAge=300\nInactiveLimit=0\n"
            f"PlugStackConfig={r / 'etc' / 'plugstack.conf'}\n"
            f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\nAccountingStoragePort={ports['dbd']}\n"
            f"AccountingStoragePass={self.munge_socket}\n"
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} State=UNKNOWN\n"
            f"PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP\n"
        )
        (r / "etc" / "plugstack.conf").write_text("")
        dbd = r / "etc" / "slurmdbd.conf"
        dbd.write_text(
            f"{auth}DbdHost={self.node}\nDbdAddr=127.0.0.1\nDbdPort={ports['dbd']}\nSlurmUser=root\n"
            f"LogFile={log / 'slurmdbd.log'}\nPidFile={r / 'run' / 'slurmdbd.pid'}\n"
            f"StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\nStoragePort={ports['mysql']}\n"
            f"StorageUser=slurm\nStoragePass={self.db_password}\nStorageLoc=slurm_acct_db\n"
        )
        dbd.chmod(0o600)  # slurmdbd refuses a readable one: it holds the database password

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "-h", "-N", "-o", "%t", check=False).stdout.split()
        return out == ["idle"]

    def _accounting_up(self) -> bool:
        return self.run("sacct", "-n", "-X", "-S", "now-1hour", check=False).returncode == 0

    # -- shut-down ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel every job, then stop the daemons, newest first, and wait for each to exit."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            self.run("scancel", "--user=root", check=False)
            deadline = time.time() + 20
            while time.time() < deadline and self.run("squeue", "-h", check=False).stdout.strip():
                time.sleep(0.3)
            self.run("scontrol", "shutdown", check=False)
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            process = self.processes.get(name)
            if process is None:
                continue
            if process.poll() is None:
                try:
                    process.wait(timeout=10 if name in ("slurmd", "slurmctld") else 0.1)
                except subprocess.TimeoutExpired:
                    process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values() if p.poll() is None]
