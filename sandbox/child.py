"""The life of one forked child: confine, read the cells, run them, write one report, exit.

Called by the zygote right after `os.fork()`; never returns. The cells are read from a pipe
only after every layer is in place, and are run only if every required layer is active. The
report is one JSON document on the result pipe; the process then ends with `os._exit`, so no
cleanup code of the zygote ever runs in the child.
"""

from __future__ import annotations

import json
import os
from typing import Any, NoReturn

from sandbox import cells, confine, probe


def _emit(report: dict[str, Any]) -> None:
    data = json.dumps(report, ensure_ascii=False).encode("utf-8", "surrogatepass")
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(confine.RESULT_FD, view):]
    except OSError:
        pass  # the app stopped listening; nothing else to tell


def _read_cells() -> list[str]:
    chunks = []
    while True:
        chunk = os.read(confine.CODE_FD, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    cells_ = json.loads(b"".join(chunks).decode("utf-8"))
    if not isinstance(cells_, list) or not all(isinstance(c, str) for c in cells_):
        raise ValueError("cells must be a list of strings")
    return cells_


def main(job: confine.Job, code_fd: int, result_fd: int, devnull_fd: int) -> NoReturn:
    """Everything the child does. Ends the process."""
    layers: confine.LayerReport = {}
    running = False
    try:
        layers = confine.apply(job, code_fd, result_fd, devnull_fd)
        if job.probe:
            _emit({"layers": probe.check(layers, job), "stdout": "", "value": None})
            os._exit(0)
        missing = sorted(n for n in job.policy.required_layers if not layers.get(n, (False, ""))[0])
        if missing:
            _emit({"refused": f"required sandbox layers are missing, the code was not run: {', '.join(missing)}", "layers": layers})
            os._exit(0)
        code = _read_cells()

        def on_full(stdout: str) -> None:
            _emit({"stdout": stdout, "limit": "output", "layers": layers,
                   "error": f"OutputLimitError: the code printed more than {job.policy.max_output_bytes} bytes and was stopped"})
            os._exit(0)

        running = True
        report = cells.run(code, job.policy.max_output_bytes, on_full)
        report["layers"] = layers
        _emit(report)
    except BaseException as exc:  # reported rather than lost: before the code ran, the sandbox's failure
        line = f"{type(exc).__name__}: {exc}"
        if running:  # e.g. MemoryError while reporting a huge output: the code's doing
            _emit({"stdout": "", "error": line, "limit": "memory" if isinstance(exc, MemoryError) else None, "layers": layers})
        else:
            _emit({"refused": f"the sandbox failed in the child: {line}", "layers": layers})
    os._exit(0)
