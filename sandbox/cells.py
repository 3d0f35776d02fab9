"""Running the cells inside a confined child: earlier cells silently, then the new one captured.

Only ever imported and called in a child process after every layer is in place (`child.py`);
the app never executes model code. The earlier cells run first, in the same namespace, with
their output thrown away, so their variables exist and their prints are not repeated; then the
new cell runs with stdout captured up to a cap. If the new cell ends in a bare expression that
calls no `print`, its value is evaluated and reported as `str(value)`, as Qwen's executor does.
"""

from __future__ import annotations

import ast
import builtins
import errno
import io
import sys
import traceback
from typing import Any, Callable


class _CappedRaw(io.RawIOBase):
    """Collects bytes up to `cap`; the write that would pass it calls `on_full` (which never returns)."""

    def __init__(self, cap: int, on_full: Callable[[bytes], None]) -> None:
        self._cap = cap
        self._on_full = on_full
        self._parts: list[bytes] = []
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if self._size + len(chunk) > self._cap:
            self._parts.append(chunk[: self._cap - self._size])
            self._on_full(b"".join(self._parts))
        self._parts.append(chunk)
        self._size += len(chunk)
        return len(chunk)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class _Discard(io.RawIOBase):
    """Where the earlier cells' prints and every stderr write go."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(memoryview(data))


def _text_stream(raw: io.RawIOBase) -> io.TextIOWrapper:
    # No BufferedWriter between: every write reaches the cap check at once, nothing waits in a buffer.
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", write_through=True)  # type: ignore[arg-type]


def last_line(exc: BaseException) -> str:
    """The last line of the formatted traceback, as Qwen's executor reports errors."""
    lines = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip("\n").split("\n")
    return lines[-1]


def _limit_of(exc: BaseException) -> str | None:
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "file_size"
    return None


def _calls_print(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print" for n in ast.walk(node))


def _run_new_cell(code: str, namespace: dict[str, Any]) -> tuple[bool, Any]:
    """Run the new cell; (True, value) when it ended in a bare expression without print."""
    tree = ast.parse(code, filename="<cell>", mode="exec")
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr) and not _calls_print(last):
        tree.body.pop()
        exec(compile(tree, "<cell>", "exec"), namespace)  # noqa: S102 (confined child only)
        return True, eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)  # noqa: S307
    exec(compile(tree, "<cell>", "exec"), namespace)  # noqa: S102
    return False, None


def run(cells: list[str], max_output_bytes: int, on_full: Callable[[str], None]) -> dict[str, Any]:
    """Run `cells` (earlier ones, then the new one) and report stdout, value and error.

    `on_full(stdout_so_far)` is called when the new cell's output passes the cap; it must end
    the process. The report has "stdout", and "value" (str, or None) or "error" and "limit".
    """
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    capture = _CappedRaw(max_output_bytes, lambda data: on_full(data.decode("utf-8", "replace")))
    quiet = _text_stream(_Discard())
    sys.stdout = sys.stderr = quiet
    try:
        for earlier in cells[:-1]:
            exec(compile(earlier, "<cell>", "exec"), namespace)  # noqa: S102
        sys.stdout = _text_stream(capture)
        has_value, value = _run_new_cell(cells[-1], namespace)
        stdout = capture.getvalue().decode("utf-8", "replace")
        text = None
        if has_value and (value is not None or not stdout.strip()):
            text = str(value)[:max_output_bytes]
        return {"stdout": stdout, "value": text}
    except BaseException as exc:  # the code's own failure, whatever it is, is the model's to read
        sys.stdout = quiet
        return {"stdout": capture.getvalue().decode("utf-8", "replace"), "error": last_line(exc), "limit": _limit_of(exc)}
