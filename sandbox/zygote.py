"""The zygote: a clean Python process with numpy and sympy loaded that forks one child per run.

The app starts it as `python -s -m sandbox.zygote FD POLICY_JSON` (see `client.py`) with the
scrubbed environment, so it inherits none of the app's memory, threads, variables or open files,
and OpenBLAS is held to one thread before numpy loads. It imports the libraries model code uses
and warms sympy once, then waits on its socket. For each run request it makes an empty folder,
forks (it has a single thread, so forking is safe), and the child confines itself and runs the
code (`child.py`). The zygote kills a child at its wall-clock limit, reaps it, removes its folder
and tells the app how it ended. It never sees a run's code or output: those travel on pipes
between the app and the child. It exits when the app's end of the socket closes.
"""

from __future__ import annotations

import gc
import importlib
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

from sandbox import child, protocol, seccomp_filter
from sandbox.confine import Job
from sandbox.policy import Policy, readable_paths, scrubbed_env

PRELOAD = ("math", "cmath", "fractions", "decimal", "itertools", "functools", "collections", "statistics",
           "random", "re", "string", "heapq", "bisect", "operator", "datetime", "numpy", "numpy.random",
           "numpy.linalg", "numpy.polynomial", "numpy.fft", "sympy")


def preload() -> None:
    """Import what model code uses, and run each once so lazy imports happen here, not per run."""
    for name in PRELOAD:
        importlib.import_module(name)
    import numpy as np
    import sympy as sp

    x = sp.Symbol("x")
    warm = [sp.solve(x**2 - 2, x), sp.simplify(sp.sin(x) ** 2 + sp.cos(x) ** 2), sp.factorint(360),
            sp.integrate(x**2, (x, 0, 1)), sp.Rational(1, 3) + 1, sp.nsimplify(0.5), sp.expand((x + 1) ** 3),
            sp.Matrix([[1, 2], [3, 4]]).det(), sp.N(sp.pi, 20), sp.latex(sp.sqrt(x)), sp.binomial(10, 3),
            np.linalg.solve(np.eye(2), np.ones(2)), np.arange(3).sum()]
    for value in warm:
        str(value)
    time.localtime()  # glibc reads the time zone now, before Landlock hides /etc


@dataclass
class _Running:
    """A forked child the zygote has not reaped yet."""

    run_id: int
    workdir: str
    deadline: float
    timed_out: bool = False


class Zygote:
    """The fork server's state: its socket, its children, their deadlines."""

    def __init__(self, sock: socket.socket, policy: Policy) -> None:
        self.sock = sock
        self.policy = policy
        self.tmp_root = os.environ.get("TMPDIR") or tempfile.mkdtemp(prefix="mathapp-sandbox-")
        self.readable = readable_paths(policy.private_paths)
        ok, self.seccomp_detail = seccomp_filter.available()
        self.filter = None
        if ok:
            try:
                self.filter = seccomp_filter.build()
            except OSError as exc:  # reported by every child as the seccomp layer missing
                self.seccomp_detail = f"the filter could not be built: {exc}"
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.allowed_env = frozenset(scrubbed_env(self.tmp_root))
        self.children: dict[int, _Running] = {}
        self.selector = selectors.DefaultSelector()
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the app's; the zygote ends with its socket
        self.selector.register(sock, selectors.EVENT_READ, self._on_message)
        self.selector.register(self.wake_r, selectors.EVENT_READ, self._on_signal)
        self.running = True

    def serve(self) -> None:
        protocol.send(self.sock, {"op": "hello", "pid": os.getpid(), "python": sys.version.split()[0],
                                  "readable": self.readable, "seccomp": self.seccomp_detail})
        while self.running:
            timeout = None
            if self.children:
                timeout = max(0.0, min(r.deadline for r in self.children.values()) - time.monotonic())
            for key, _events in self.selector.select(timeout):
                handler: Callable[[], None] = key.data
                handler()
            self._kill_overdue()
        self._shutdown()

    def _on_message(self) -> None:
        try:
            message, fds = protocol.receive(self.sock)
        except ConnectionError:
            message, fds = None, []
        if message is None:
            self.running = False
        elif message.get("op") == "run" and len(fds) == 2:
            self._spawn(message, fds[0], fds[1])
        elif message.get("op") == "kill":
            for pid, run in self.children.items():
                if run.run_id == message.get("id"):
                    os.kill(pid, signal.SIGKILL)
        else:
            for fd in fds:
                os.close(fd)

    def _spawn(self, message: dict[str, Any], code_r: int, result_w: int) -> None:
        run_id = int(message["id"])
        timeout_s = float(message.get("timeout_s", self.policy.timeout_s))
        workdir = ""
        try:
            workdir = tempfile.mkdtemp(dir=self.tmp_root, prefix=f"run-{run_id}-")
            job = Job(policy=self.policy, timeout_s=timeout_s, workdir=workdir, readable=self.readable,
                      seccomp_filter=self.filter, seccomp_detail=self.seccomp_detail, zygote_pid=os.getpid(),
                      allowed_env=self.allowed_env, probe=bool(message.get("probe")))
            pid = os.fork()
        except OSError as exc:  # no folder or no process: the app hears why, the zygote carries on
            os.close(code_r)
            os.close(result_w)
            if workdir:
                _remove(workdir)
            protocol.send(self.sock, {"op": "done", "id": run_id, "spawn_error": str(exc)})
            return
        if pid == 0:
            try:
                child.main(job, code_r, result_w, self.devnull)
            finally:
                os._exit(1)  # never back into the zygote's loop, whatever happened
        os.close(code_r)
        os.close(result_w)
        self.children[pid] = _Running(run_id, workdir, time.monotonic() + timeout_s)

    def _on_signal(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self.children.pop(pid, None)
            if run is None:
                continue
            _remove(run.workdir)
            protocol.send(self.sock, {"op": "done", "id": run.run_id, "exit": os.waitstatus_to_exitcode(status),
                                      "timed_out": run.timed_out, "cpu_s": usage.ru_utime + usage.ru_stime})

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for pid, run in self.children.items():
            if not run.timed_out and now >= run.deadline:
                run.timed_out = True
                os.kill(pid, signal.SIGKILL)

    def _shutdown(self) -> None:
        for pid in list(self.children):
            os.kill(pid, signal.SIGKILL)
        for pid, run in list(self.children.items()):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            _remove(run.workdir)
        shutil.rmtree(self.tmp_root, ignore_errors=True)


def _remove(path: str) -> None:
    """Remove a run's folder, even where the code took its own permissions away."""

    def retry(func: Callable[[str], Any], failed: str, _error: Any) -> None:
        os.chmod(os.path.dirname(failed), 0o700)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, 0o700)
        func(failed)

    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=retry)
        else:
            shutil.rmtree(path, onerror=retry)
    except OSError as exc:
        print(f"sandbox: could not remove {path}: {exc}", file=sys.stderr)


def main(argv: list[str]) -> None:
    """`python -m sandbox.zygote FD POLICY_JSON`."""
    sock = socket.socket(fileno=int(argv[0]))
    policy = Policy.from_json(argv[1])
    sys.dont_write_bytecode = True
    preload()
    os.chdir("/")
    zygote = Zygote(sock, policy)
    gc.collect()
    gc.freeze()  # the children's garbage collector leaves the preloaded objects (and their pages) alone
    zygote.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
