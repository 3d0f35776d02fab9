"""Escape attempts: each is contained, the model reads a clear line, and nothing else is harmed.

Each test runs code a hostile or confused model might write, checks the line the model would
be shown and that the attempt had no effect outside (no connection reached the server, no file
appeared, no secret printed), then that the app, the zygote and the next run are unharmed.
In CI (MATHAPP_TEST_STRICT=1) a missing layer fails these tests instead of skipping them.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbox import Limit, Policy, Sandbox
from sandbox import layers as layer_info
from tests.optional import require

REPO = Path(__file__).resolve().parent.parent
EPERM = "PermissionError: [Errno 1] Operation not permitted"
SECRETS = {"HF_TOKEN": "hf_sandboxtestsecret", "OPENAI_API_KEY": "sk-sandboxtestsecret",
           "MATHAPP_TEACHER_PASSWORD": "teacher-sandboxtestsecret"}


def _start(sandbox: Sandbox) -> Sandbox:
    require(platform.system() == "Linux", "the sandbox (it needs Linux)")
    found = sandbox.start()
    require(sandbox.confined_enough(), f"the sandbox's required layers (missing: {layer_info.missing(found)})")
    return sandbox


@pytest.fixture(scope="module")
def box():
    sandbox = _start(Sandbox())
    yield sandbox
    sandbox.close()


def assert_unharmed(box: Sandbox, zygote_pid: int | None = None) -> None:
    """The zygote is the same live process and a normal cell still runs."""
    pid = box.zygote_pid
    assert pid is not None and (zygote_pid is None or pid == zygote_pid)
    os.kill(pid, 0)
    assert box.run(["print(6 * 7)"]).output == "42"


@pytest.fixture()
def listener():
    """A TCP server on 127.0.0.1 that records whether anyone connected."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    seen: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, addr = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            seen.append(addr)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join()
    server.close()


def test_connecting_to_the_network_is_refused(box, listener):
    port, seen = listener
    pid = box.zygote_pid
    result = box.run([f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"])
    assert (result.ok, result.output) == (False, EPERM)
    for code in ["import socket\nsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
                 "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
                 "import socket\nsocket.socketpair()",
                 "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:%d/')" % port]:
        assert "Operation not permitted" in box.run([code]).output, code
    time.sleep(0.3)
    assert seen == []
    assert_unharmed(box, pid)


def test_a_socket_made_through_ctypes_is_refused(box, listener):
    port, seen = listener
    code = f"""import ctypes, struct, socket
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(2, 1, 0)
err = ctypes.get_errno()
addr = struct.pack('<HH4s8x', 2, socket.htons({port}), bytes([127, 0, 0, 1]))
rc = libc.connect(fd, addr, len(addr))
print(fd, err, rc)"""
    result = box.run([code])
    assert result.output == "-1 1 -1"  # socket() returned -1 with EPERM; connect had nothing to use
    time.sleep(0.3)
    assert seen == []
    assert_unharmed(box)


def test_a_socket_through_the_32_bit_system_call_abi_is_stopped(box):
    """`int 0x80` reaches the i386 table, which a 64-bit filter would not see: libseccomp kills it."""
    code = """import ctypes, mmap
machine = bytes.fromhex('b867010000' 'bb02000000' 'b901000000' '31d2' 'cd80' 'c3')  # socket(2, 1, 0) via int 0x80
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(machine)
print(ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))())"""
    result = box.run([code])
    assert (result.ok, result.output) == (False, "PermissionError: a forbidden system call stopped the code")
    assert_unharmed(box)


def test_reading_the_session_log_the_key_and_the_source_is_refused(box, tmp_path):
    log = tmp_path / "log" / "mathapp.sqlite3"
    key = tmp_path / "browser-key.txt"
    log.parent.mkdir()
    log.write_text("SELECT secret-session-rows", encoding="utf-8")
    key.write_text("secret-browser-key", encoding="utf-8")
    for path in (log, key, REPO / "app.py", REPO / "sandbox" / "policy.py", Path("/etc/passwd"), Path(f"/proc/{os.getpid()}/cmdline")):
        result = box.run([f"print(open({str(path)!r}).read())"])
        assert result.output == f"PermissionError: [Errno 13] Permission denied: {str(path)!r}", path
        assert "secret" not in result.stdout
    listing = box.run([f"import os\nos.listdir({str(REPO)!r})"])
    assert listing.output.startswith("PermissionError: [Errno 13]")
    assert_unharmed(box)


def test_private_paths_are_never_readable_even_inside_allowed_folders(tmp_path):
    """A private path inside an otherwise readable folder takes that folder off the list."""
    from sandbox.policy import readable_paths

    site = next(p for p in readable_paths() if p.endswith("site-packages"))
    assert site not in readable_paths((os.path.join(site, "secret.db"),))
    assert not any(Path(p) == REPO or REPO in Path(p).parents and ".venv" not in p for p in readable_paths())


def test_writing_outside_the_temporary_folder_is_refused(box, tmp_path):
    for path in (tmp_path / "escape.txt", REPO / "escape.txt", Path("/tmp/sandbox-escape.txt")):
        result = box.run([f"open({str(path)!r}, 'w').write('x')"])
        assert result.output == f"PermissionError: [Errno 13] Permission denied: {str(path)!r}"
        assert not path.exists()
    assert box.run(["open('inside.txt', 'w').write('fine')\nopen('inside.txt').read()"]).output == "fine"
    big = box.run(["open('big.bin', 'wb').write(b'x' * (64 * 1024 * 1024))"])
    assert (big.limit, big.output) == (Limit.FILE_SIZE, "OSError: [Errno 27] File too large")
    assert_unharmed(box)


def test_environment_secrets_are_not_visible(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with _start(Sandbox()) as sandbox:
        app = os.getpid()
        result = sandbox.run(["import os\nprint(dict(os.environ))"])
        assert result.ok
        for name, value in SECRETS.items():
            assert name not in result.stdout and value not in result.stdout
        assert "/root" not in result.stdout and str(REPO) not in result.stdout
        for path in ("/proc/self/environ", f"/proc/{app}/environ"):
            assert sandbox.run([f"open({path!r}).read()"]).output.startswith("PermissionError: [Errno 13]")
        assert_unharmed(sandbox)


@pytest.mark.parametrize(("code", "line"), [
    ("import os\nos.fork()", EPERM),
    ("import subprocess\nsubprocess.run(['touch', 'marker'])", EPERM),
    ("import os\nos.execv('/bin/sh', ['sh', '-c', 'touch marker'])", EPERM),
    ("import os\nos.posix_spawn('/bin/sh', ['sh', '-c', 'touch marker'], {})", EPERM),
    ("import multiprocessing\nmultiprocessing.Process(target=print).start()", EPERM),
])
def test_starting_processes_is_refused(box, code, line):
    result = box.run([code + "\nimport os\nprint(os.listdir('.'))"])
    assert result.output.startswith(line)  # posix_spawn adds the program's name
    assert_unharmed(box)


def test_os_system_starts_nothing(box):
    result = box.run(["import os\nstatus = os.system('touch marker')\nprint(status != 0, os.listdir('.'))"])
    assert result.output == "True []"
    assert_unharmed(box)


def test_allocating_8_gb_is_contained(box):
    pid = box.zygote_pid
    result = box.run(["x = bytearray(8 * 1024 ** 3)"])
    assert (result.ok, result.limit, result.output) == (False, Limit.MEMORY, "MemoryError")
    numpy = box.run(["import numpy as np\nnp.ones((1024, 1024, 1024))"])
    assert numpy.limit == Limit.MEMORY and "Unable to allocate 8.00 GiB" in numpy.output
    assert box.run(["import numpy as np\nint(np.ones((4000, 4000)).sum())"]).output == "16000000"  # 128 MB is fine
    assert_unharmed(box, pid)


def test_an_endless_loop_is_stopped(box):
    pid = box.zygote_pid
    started = time.monotonic()
    result = box.run(["n = 0\nwhile True:\n    n += 1"], timeout_s=2)
    assert (result.limit, result.output) == (Limit.TIMEOUT, "TimeoutError: timed out after 2 seconds")
    assert time.monotonic() - started < 5
    assert_unharmed(box, pid)


def test_printing_100_mb_is_contained_quickly(box):
    pid = box.zygote_pid
    for code in ["print('x' * 100_000_000)", "while True:\n    print('spam spam spam')"]:
        started = time.monotonic()
        result = box.run([code], timeout_s=20)
        assert time.monotonic() - started < 5
        assert (result.ok, result.limit) == (False, Limit.OUTPUT)
        assert result.output == "OutputLimitError: the code printed more than 1000000 bytes and was stopped"
        assert len(result.stdout.encode()) <= box.policy.max_output_bytes
    assert_unharmed(box, pid)


def test_flooding_the_report_pipe_is_contained(box):
    result = box.run(["import os\nwhile True:\n    os.write(4, b'{' * 65536)"], timeout_s=20)
    assert result.limit == Limit.OUTPUT and result.output.startswith("OutputLimitError")
    assert_unharmed(box)


def test_killing_the_parent_or_the_app_is_refused(box):
    pid = box.zygote_pid
    app = os.getpid()
    for code in ["import os\nos.kill(os.getppid(), 9)", f"import os\nos.kill({app}, 9)", f"import os\nos.kill({pid}, 15)",
                 "import os\nos.kill(-1, 0)", "import os\nos.killpg(os.getpgid(os.getppid()), 0)"]:
        assert box.run([code]).output == EPERM, code
    assert_unharmed(box, pid)


def test_importing_the_app_is_impossible(box):
    for code in ["import model", "import storage", "from ui import app", "import sandbox"]:
        assert box.run([code]).output.startswith("ModuleNotFoundError: No module named"), code
    assert box.run(["import sys\nprint([p for p in sys.path if p.startswith(%r) and '.venv' not in p])" % str(REPO)]).output == "[]"
    forced = box.run([f"import sys\nsys.path.insert(0, {str(REPO)!r})\nimport model"])
    assert forced.output.startswith(("PermissionError: [Errno 13]", "ModuleNotFoundError"))
    assert_unharmed(box)


def test_raising_its_own_limits_is_refused(box):
    result = box.run(["import resource\nresource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))"])
    assert not result.ok
    raw = box.run(["import ctypes, resource\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                   "new = (ctypes.c_uint64 * 2)(2**40, 2**40)\n"
                   "print(libc.prlimit(0, resource.RLIMIT_AS, new, None), ctypes.get_errno(), resource.getrlimit(resource.RLIMIT_AS)[0] < 2**40)"])
    assert raw.output == "-1 1 True"
    assert_unharmed(box)


def test_tracing_or_reading_another_process_is_refused(box):
    pid = box.zygote_pid
    code = f"""import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
r1 = libc.ptrace(16, {pid}, None, None); e1 = ctypes.get_errno()   # PTRACE_ATTACH
buf = ctypes.create_string_buffer(8)
class iovec(ctypes.Structure): _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
local = iovec(ctypes.cast(buf, ctypes.c_void_p), 8); remote = iovec(0x400000, 8)
r2 = libc.process_vm_readv({pid}, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0); e2 = ctypes.get_errno()
r3 = libc.unshare(0x10000000); e3 = ctypes.get_errno()   # CLONE_NEWUSER
print(r1, e1, r2, e2, r3, e3)"""
    assert box.run([code]).output == "-1 1 -1 1 -1 1"
    assert_unharmed(box, pid)


def test_runs_cannot_see_each_others_code():
    """The zygote never holds a run's code, so a concurrent run finds nothing of it in memory."""
    with _start(Sandbox()) as sandbox:
        marker = "secret-problem-" + "7f3a9c"
        hidden = f"note = {marker!r}\nimport time\ntime.sleep(1.5)"
        scan = ("import gc, sys\nneedle = 'secret-problem-' + '7f3a9c'\nfound = False\n"
                "for obj in gc.get_objects():\n"
                "    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()\n"
                "    try:\n"
                "        found = found or any(isinstance(s, str) and s is not needle and needle in s for s in items)\n"
                "    except Exception:\n"
                "        pass\n"
                "print(found)")
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(sandbox.run, [hidden])
            time.sleep(0.3)
            assert sandbox.run([scan]).output == "False"
            assert first.result().ok
        own = scan.replace("needle = ", "mine = 'note: secret-problem-' + '7f3a9c'\nneedle = ")
        assert sandbox.run([own]).output == "True"  # the same scan does find a string its own run holds


def test_sandbox_works_with_a_tighter_policy():
    with _start(Sandbox(Policy(timeout_s=2, memory_mb=512, max_output_bytes=1000))) as sandbox:
        assert sandbox.run(["print(sum(range(10)))"]).output == "45"
        assert sandbox.run(["print('y' * 5000)"]).limit == Limit.OUTPUT
        assert sandbox.run(["x = bytearray(600 * 1024 * 1024)"]).limit == Limit.MEMORY
