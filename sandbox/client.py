"""The app's side: `Sandbox` starts the zygote, sends it runs, and turns what comes back into results.

The zygote is a separate interpreter started with `subprocess` (fork and exec at once, so it
shares nothing with an app that holds torch threads or secrets), with the scrubbed environment.
Each `run` makes two pipes, hands the zygote the child's ends with the request, writes the cells
into one and reads the child's report from the other, then waits for the zygote's word on how
the child ended. Any number of threads may call `run` at once. If the zygote dies (it should
not), the runs in flight raise `SandboxError` and the next run starts a new one.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import queue
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Sequence

from sandbox import layers as layer_info
from sandbox import protocol
from sandbox.layers import Layer
from sandbox.policy import APP_ROOT, Policy, scrubbed_env
from sandbox.result import Limit, RunResult, SandboxError, from_child

_START_TIMEOUT_S = 120.0  # importing numpy and sympy on a cold disk
_GRACE_S = 5.0  # past the run's own limit, before the app stops waiting for the zygote
_REPORT_SLACK = 8  # a report's JSON may be this many times the stdout cap (escaped control characters)


@dataclass
class _Zygote:
    """One started zygote: its process, socket, and the runs waiting for its 'done' messages."""

    proc: subprocess.Popen[bytes]
    sock: Any
    tmp_root: str
    info: dict[str, Any]
    pending: dict[int, "queue.Queue[dict[str, Any] | None]"] = field(default_factory=dict)
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    alive: bool = True

    def listen(self) -> None:
        """Reader thread: route each 'done' to its run; on EOF wake every waiting run with None."""
        try:
            while True:
                message, fds = protocol.receive(self.sock)
                for fd in fds:
                    os.close(fd)
                if message is None:
                    break
                box = self.pending.pop(int(message.get("id", -1)), None)
                if box is not None:
                    box.put(message)
        except (OSError, ValueError) as exc:
            if self.alive:  # not closed by us
                print(f"sandbox: lost the zygote: {exc}", file=sys.stderr)
        self.alive = False
        for box in list(self.pending.values()):
            box.put(None)


def _stop(zygote: _Zygote) -> None:
    """Close the socket (the zygote exits on EOF), wait a little, then make sure."""
    zygote.alive = False
    try:
        zygote.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread; the zygote reads EOF
    except OSError:
        pass
    zygote.sock.close()
    try:
        zygote.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        zygote.proc.kill()
        zygote.proc.wait()
    shutil.rmtree(zygote.tmp_root, ignore_errors=True)


class Sandbox:
    """Runs model-written Python cells confined, in a fresh child of a preloaded zygote per run.

    >>> box = Sandbox(); box.start()          # doctest: +SKIP
    >>> box.run(["x = 2", "print(x ** 10)"]).output   # doctest: +SKIP
    '1024'
    """

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self._lock = threading.Lock()
        self._zygote: _Zygote | None = None
        self._layers: list[Layer] | None = None
        self._ids = itertools.count(1)

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self) -> list[Layer]:
        """Start the zygote and probe the layers in a child; return them (also what `layers()` gives)."""
        self._ensure()
        report = self._run(["pass"], self.policy.timeout_s, probe=True).get("report") or {}
        self._layers = layer_info.from_report({k: (bool(v[0]), str(v[1])) for k, v in report.get("layers", {}).items()})
        return self._layers

    def layers(self) -> list[Layer]:
        """Which layers this machine enforces, each checked in a real child (starts the sandbox)."""
        if self._layers is None:
            if platform.system() != "Linux":
                reason = f"not available on {platform.system()}"
                return layer_info.from_report({name: (False, reason) for name in layer_info.DESCRIPTIONS})
            self.start()
        assert self._layers is not None
        return self._layers

    def confined_enough(self) -> bool:
        """Whether model code may run here (every required layer active); see docs/sandbox.md."""
        return layer_info.confined_enough(self.layers(), frozenset(self.policy.required_layers))

    @property
    def zygote_pid(self) -> int | None:
        zygote = self._zygote
        return zygote.proc.pid if zygote is not None and zygote.alive else None

    def run(self, cells: Sequence[str], *, timeout_s: float | None = None) -> RunResult:
        """Run the earlier successful cells silently, then the last cell; return what the model sees.

        Raises `SandboxError` only when the sandbox itself fails (or a required layer is missing);
        whatever the code does comes back as a `RunResult`.
        """
        started = time.monotonic()
        timeout = self.policy.timeout_s if timeout_s is None else float(timeout_s)
        if not 0 < timeout <= 600:
            raise ValueError(f"timeout_s must be in (0, 600], got {timeout}")
        if not cells or not all(isinstance(c, str) for c in cells):
            raise ValueError("cells must be a non-empty list of strings")
        if sum(len(c.encode("utf-8", "surrogatepass")) for c in cells) > self.policy.max_code_bytes:
            line = f"SyntaxError: the code is longer than {self.policy.max_code_bytes} bytes and was not run"
            return RunResult(output=line, ok=False, error=line, elapsed_s=time.monotonic() - started)
        status = self._run(list(cells), timeout)
        return from_child(status.get("report"), status, time.monotonic() - started, timeout,
                          self.policy.cpu_limit_s(timeout))

    def close(self) -> None:
        """Stop the zygote and remove its folders. Runs in flight raise SandboxError."""
        with self._lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            _stop(zygote)

    def _ensure(self) -> _Zygote:
        with self._lock:
            if self._zygote is not None and self._zygote.alive and self._zygote.proc.poll() is None:
                return self._zygote
            if self._zygote is not None:
                _stop(self._zygote)
            self._zygote = self._start_zygote()
            return self._zygote

    def _start_zygote(self) -> _Zygote:
        if platform.system() != "Linux":
            raise SandboxError(f"the sandbox needs Linux (fork, seccomp, Landlock); this is {platform.system()}")
        tmp_root = tempfile.mkdtemp(prefix="mathapp-sandbox-")
        app_end, zygote_end = protocol.pair()
        command = [sys.executable, "-s", "-m", "sandbox.zygote", str(zygote_end.fileno()), self.policy.to_json()]
        try:
            proc = subprocess.Popen(command, cwd=str(APP_ROOT), env=scrubbed_env(tmp_root), pass_fds=[zygote_end.fileno()],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except OSError as exc:
            app_end.close()
            raise SandboxError(f"could not start the sandbox's zygote: {exc}") from exc
        finally:
            zygote_end.close()
        app_end.settimeout(_START_TIMEOUT_S)
        try:
            hello, _fds = protocol.receive(app_end)
        except (OSError, ValueError) as exc:
            hello = None
            print(f"sandbox: no hello from the zygote: {exc}", file=sys.stderr)
        app_end.settimeout(None)
        if not hello or hello.get("op") != "hello":
            proc.kill()
            proc.wait()
            app_end.close()
            shutil.rmtree(tmp_root, ignore_errors=True)
            raise SandboxError("the sandbox's zygote did not start (see its messages on stderr)")
        zygote = _Zygote(proc=proc, sock=app_end, tmp_root=tmp_root, info=hello)
        threading.Thread(target=zygote.listen, name="sandbox-zygote-reader", daemon=True).start()
        weakref.finalize(self, _stop, zygote)
        return zygote

    def _run(self, cells: list[str], timeout: float, probe: bool = False) -> dict[str, Any]:
        """One request: returns the zygote's 'done' message with the child's parsed report in 'report'."""
        zygote = self._ensure()
        run_id = next(self._ids)
        box: queue.Queue[dict[str, Any] | None] = queue.Queue()
        zygote.pending[run_id] = box
        try:
            raw, overflow = self._exchange(zygote, run_id, cells, timeout, probe)
            try:
                status = box.get(timeout=timeout + 2 * _GRACE_S)
            except queue.Empty:
                status = None
        finally:
            zygote.pending.pop(run_id, None)
        if status is None:
            raise SandboxError("the sandbox's zygote stopped during the run")
        status["report"] = _parse_report(raw, overflow, self.policy.max_output_bytes)
        return status

    def _exchange(self, zygote: _Zygote, run_id: int, cells: list[str], timeout: float, probe: bool) -> tuple[bytes, bool]:
        """Send the request with the child's pipe ends, write the cells, read the report to EOF."""
        code_r, code_w = os.pipe()
        result_r, result_w = os.pipe()
        # File objects close each descriptor exactly once (a second os.close could hit another thread's file).
        with os.fdopen(code_w, "wb", buffering=0) as code_out, os.fdopen(result_r, "rb", buffering=0) as report_in:
            try:
                try:
                    with zygote.send_lock:
                        protocol.send(zygote.sock, {"op": "run", "id": run_id, "timeout_s": timeout, "probe": probe}, [code_r, result_w])
                finally:
                    os.close(code_r)
                    os.close(result_w)
                _write_all(code_out.fileno(), json.dumps(cells).encode("utf-8", "surrogatepass"))
                code_out.close()  # EOF: the child reads the cells to the end
                return self._read_report(zygote, run_id, report_in.fileno(), time.monotonic() + timeout + _GRACE_S)
            except OSError as exc:
                raise SandboxError(f"lost contact with the sandbox: {exc}") from exc

    def _read_report(self, zygote: _Zygote, run_id: int, fd: int, deadline: float) -> tuple[bytes, bool]:
        """Read the child's report to EOF; past the size cap or the deadline, have the zygote kill it."""
        cap = _REPORT_SLACK * self.policy.max_output_bytes + 65536
        chunks: list[bytes] = []
        size, killed, overflow = 0, False, False
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                wait = deadline - time.monotonic()
                if wait <= 0 and not killed:
                    self._kill(zygote, run_id)
                    killed, deadline = True, time.monotonic() + 4 * _GRACE_S
                    continue
                if wait <= 0:
                    raise SandboxError("a sandboxed run could not be stopped")
                if not selector.select(wait):
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return b"".join(chunks), overflow
                if not overflow:
                    chunks.append(chunk)
                    size += len(chunk)
                if size > cap and not overflow:
                    overflow, chunks = True, []
                    self._kill(zygote, run_id)

    def _kill(self, zygote: _Zygote, run_id: int) -> None:
        try:
            with zygote.send_lock:
                protocol.send(zygote.sock, {"op": "kill", "id": run_id})
        except OSError:
            pass  # the zygote is gone, and with it (PR_SET_PDEATHSIG) the child


def _parse_report(raw: bytes, overflow: bool, cap: int) -> dict[str, Any] | None:
    if overflow:
        return {"stdout": "", "limit": Limit.OUTPUT.value,
                "error": f"OutputLimitError: the code wrote more than {cap} bytes and was stopped"}
    if not raw:
        return None
    try:
        report = json.loads(raw.decode("utf-8", "surrogatepass"))
    except ValueError:
        return {"stdout": "", "error": "RuntimeError: the code's result could not be read (it wrote into the sandbox's pipe)"}
    return report if isinstance(report, dict) else None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        pass  # the child ended before reading; its report says why
