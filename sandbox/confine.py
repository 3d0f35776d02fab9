"""Applying the layers in a freshly forked child, in order, before any model code exists in it.

Order matters: the process detaches and keeps only its two pipes; it moves into its empty
folder with the scrubbed environment; limits are set; root's capabilities are dropped; Landlock
takes away files, TCP and signals; the seccomp filter goes last, since it refuses calls
(`capset`, `setrlimit`) the earlier steps make. Each step reports (active, detail) and a step
that fails is reported, never silently skipped; `child.py` then refuses to run the code if a
required layer is missing.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import random
import resource
import signal
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from sandbox import landlock
from sandbox.policy import APP_ROOT, Policy

CODE_FD = 3  # the cells, written by the app
RESULT_FD = 4  # the report, read by the app
_PR_SET_PDEATHSIG = 1
_CAP_VERSION_3 = 0x20080522
_MiB = 1024 * 1024

LayerReport = dict[str, tuple[bool, str]]


@dataclass
class Job:
    """Everything a child needs, prepared by the zygote before the fork."""

    policy: Policy
    timeout_s: float
    workdir: str  # new empty folder, owned by this run
    readable: list[str]
    seccomp_filter: Any  # a pyseccomp.SyscallFilter, or None where unavailable
    seccomp_detail: str
    zygote_pid: int
    allowed_env: frozenset[str]
    probe: bool = False


def _detach(code_fd: int, result_fd: int, devnull_fd: int, zygote_pid: int) -> tuple[bool, str]:
    """Own session, killed with the zygote, stdin/stdout/stderr on /dev/null, no other descriptors."""
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != zygote_pid:  # the zygote died between fork and prctl
        os._exit(1)
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    high_code = fcntl.fcntl(code_fd, fcntl.F_DUPFD_CLOEXEC, 100)
    high_result = fcntl.fcntl(result_fd, fcntl.F_DUPFD_CLOEXEC, 100)
    for fd in (0, 1, 2):
        os.dup2(devnull_fd, fd)
    os.dup2(high_code, CODE_FD, inheritable=False)
    os.dup2(high_result, RESULT_FD, inheritable=False)
    os.closerange(RESULT_FD + 1, os.sysconf("SC_OPEN_MAX"))
    return True, f"forked from zygote {zygote_pid}; only its two pipes open"


def _environment(job: Job) -> tuple[bool, str]:
    """Empty folder as working directory, HOME and TMPDIR; fresh random seeds; no extra variables."""
    os.chdir(job.workdir)
    os.environ["HOME"] = os.environ["TMPDIR"] = job.workdir
    tempfile.tempdir = job.workdir
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # an int seed: seed() with no argument costs ~10 ms of lazy imports per run
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
    extra = sorted(set(os.environ) - job.allowed_env)
    if extra:
        return False, f"unexpected variables: {', '.join(extra)}"
    return True, f"{len(os.environ)} variables, working directory an empty temporary folder"


def _rlimits(policy: Policy, timeout_s: float) -> tuple[bool, str]:
    cpu = policy.cpu_limit_s(timeout_s)
    limits = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_AS, policy.memory_mb * _MiB, policy.memory_mb * _MiB),
        (resource.RLIMIT_FSIZE, policy.max_file_mb * _MiB, policy.max_file_mb * _MiB),
        (resource.RLIMIT_NOFILE, policy.max_open_files, policy.max_open_files),
        (resource.RLIMIT_NPROC, 0, 0),  # ignored for root; seccomp refuses fork either way
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_MEMLOCK, 0, 0),
    ]
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))
    return True, (f"CPU {cpu} s, address space {policy.memory_mb} MiB, files {policy.max_file_mb} MiB, "
                  f"{policy.max_open_files} open files, 0 processes")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> tuple[bool, str]:
    """Empty the capability sets (stays uid 0 when root: the interpreter may live under /root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        return False, f"capset failed: {os.strerror(ctypes.get_errno())}"
    check = (_CapData * 2)()
    libc.capget(ctypes.byref(header), check)
    held = any(d.effective or d.permitted for d in check)
    who = "root, all capabilities dropped" if os.geteuid() == 0 else f"uid {os.geteuid()}, no capabilities"
    return (not held), who if not held else "capabilities still held after capset"


def _landlock(job: Job) -> dict[str, tuple[bool, str]]:
    abi = landlock.abi_version()
    if abi < 1:
        reason = (False, "Landlock not available on this kernel")
        return {"landlock_fs": reason, "landlock_tcp": reason, "landlock_signal": reason}
    applied = landlock.restrict(read=job.readable, write=[job.workdir], abi=abi)
    return {
        "landlock_fs": (applied.filesystem, f"ABI {abi}; read: {len(job.readable)} paths of the Python installation and system libraries; write: the run's folder"),
        "landlock_tcp": (applied.tcp, f"ABI {abi}" if applied.tcp else f"ABI {abi} < 4"),
        "landlock_signal": (applied.signals, f"ABI {abi}" if applied.signals else f"ABI {abi} < 6"),
    }


def _seccomp(job: Job) -> tuple[bool, str]:
    if job.seccomp_filter is None:
        return False, job.seccomp_detail
    job.seccomp_filter.load()
    return True, job.seccomp_detail


def _scrub_imports() -> None:
    """The app's tree leaves sys.path; this package leaves sys.modules (its code keeps running)."""
    root, prefix = str(APP_ROOT), os.path.abspath(sys.prefix)

    def keep(entry: str) -> bool:
        path = os.path.abspath(entry)
        in_root = path == root or path.startswith(root + os.sep)
        return bool(entry) and (not in_root or path.startswith(prefix + os.sep))

    sys.path[:] = [p for p in sys.path if keep(p)]
    for name in [m for m in sys.modules if m == "sandbox" or m.startswith("sandbox.")]:
        del sys.modules[name]


def _step(report: LayerReport, name: str, action: Any) -> None:
    try:
        report[name] = action()
    except (OSError, ValueError, RuntimeError, AttributeError) as exc:
        report[name] = (False, f"{type(exc).__name__}: {exc}")


def apply(job: Job, code_fd: int, result_fd: int, devnull_fd: int) -> LayerReport:
    """Apply every layer in order; return what each did. Must run in the child, single-threaded."""
    report: LayerReport = {}
    _step(report, "fresh_process", lambda: _detach(code_fd, result_fd, devnull_fd, job.zygote_pid))
    _step(report, "environment", lambda: _environment(job))
    _step(report, "rlimits", lambda: _rlimits(job.policy, job.timeout_s))
    _step(report, "capabilities", _drop_capabilities)
    try:
        report.update(_landlock(job))
    except (OSError, ValueError) as exc:
        failed = (False, f"{type(exc).__name__}: {exc}")
        report.update({"landlock_fs": failed, "landlock_tcp": failed, "landlock_signal": failed})
    _step(report, "seccomp", lambda: _seccomp(job))
    report["output_cap"] = (True, f"stdout kept up to {job.policy.max_output_bytes} bytes, then the run stops")
    _scrub_imports()
    return report
