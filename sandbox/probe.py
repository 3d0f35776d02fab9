"""Checking, inside a confined child, that each applied layer really stops what it should.

The app starts the sandbox with one probe run: a child applies every layer like any run, then
instead of model code tries the things the layers forbid. A layer that was applied but whose
check fails is reported as not active, so `layers()` states what this machine actually enforces.
"""

from __future__ import annotations

import errno
import os
import resource
import socket

from sandbox.confine import Job, LayerReport
from sandbox.policy import APP_ROOT


def _refused(action: object) -> tuple[bool, str]:
    """(True, how) when calling `action` raises PermissionError; (False, what happened) otherwise."""
    try:
        result = action()  # type: ignore[operator]
    except PermissionError as exc:
        return True, f"refused ({exc.strerror})"
    except OSError as exc:
        return exc.errno in (errno.EPERM, errno.EACCES), f"{type(exc).__name__}: {exc}"
    if isinstance(result, socket.socket):
        result.close()
    return False, "allowed"


def _fork() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)


def _checks(job: Job) -> dict[str, list[tuple[bool, str]]]:
    secret = str(APP_ROOT / "sandbox" / "__init__.py")
    scratch = os.path.join(job.workdir, "probe.txt")
    with open(scratch, "w", encoding="utf-8") as handle:
        handle.write("ok")
    cpu = job.policy.cpu_limit_s(job.timeout_s)
    return {
        "fresh_process": [(os.getppid() == job.zygote_pid, "parent is the zygote")],
        "environment": [(os.getcwd() == job.workdir and os.listdir(".") == ["probe.txt"], "cwd is the run's folder")],
        "rlimits": [(resource.getrlimit(resource.RLIMIT_CPU)[0] == cpu, "RLIMIT_CPU set"),
                    (resource.getrlimit(resource.RLIMIT_AS)[0] == job.policy.memory_mb * 1024 * 1024, "RLIMIT_AS set")],
        "seccomp": [_refused(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)), _refused(_fork)],
        "landlock_fs": [_refused(lambda: open(secret, "rb")), _refused(lambda: open("/etc/passwd", "rb"))],
        "landlock_signal": [_refused(lambda: os.kill(job.zygote_pid, 0))],
    }


def check(report: LayerReport, job: Job) -> LayerReport:
    """The report with each applied layer downgraded to missing if its check fails."""
    out = dict(report)
    for name, results in _checks(job).items():
        active, detail = out.get(name, (False, "not applied"))
        failed = [what for ok, what in results if not ok]
        if active and failed:
            out[name] = (False, f"applied but its check failed: {'; '.join(failed)}")
    return out
