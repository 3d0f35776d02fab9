"""The messages between the app and the zygote: JSON records on a SOCK_SEQPACKET socket pair.

One record per message, so no framing is needed, and a run request carries two descriptors
(SCM_RIGHTS): the read end of the pipe the app writes the cells into, and the write end of the
pipe the child writes its report into. The zygote passes both to the child and never reads
either, so it never holds any run's code or output: a child can find nothing of other runs in
the memory it inherits.

app -> zygote: {"op": "run", "id", "timeout_s", "probe"} + [code_r, result_w]; {"op": "kill", "id"}
zygote -> app: {"op": "hello", "pid", "python"}; {"op": "done", "id", "exit", "timed_out", "cpu_s",
"spawn_error"}
"""

from __future__ import annotations

import json
import socket
from typing import Any

MAX_MESSAGE = 64 * 1024


def pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair: (the app's end, the zygote's end)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode("utf-8")
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and its descriptors; (None, []) when the other end has closed."""
    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 4)
    if not data:
        for fd in fds:
            socket.close(fd)
        return None, []
    return json.loads(data.decode("utf-8")), list(fds)
