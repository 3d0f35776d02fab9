"""The sandbox's behaviour: what the model is shown (Qwen's rules), cells, limits, layers, speed.

Every run goes through a real zygote and a real confined child. On a machine without a layer
the tests skip; in CI (MATHAPP_TEST_STRICT=1) a missing layer fails them.
"""

from __future__ import annotations

import ast
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbox import Limit, Policy, RunResult, Sandbox, SandboxError
from sandbox import layers as layer_info
from sandbox.result import from_child, truncate
from tests.optional import require

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def box():
    require(platform.system() == "Linux", "the sandbox (it needs Linux)")
    sandbox = Sandbox()
    found = sandbox.start()
    require(sandbox.confined_enough(), f"the sandbox's required layers (missing: {layer_info.missing(found)})")
    yield sandbox
    sandbox.close()


def test_print_output_comes_back(box):
    result = box.run(["print(1 + 1)\nprint('three')"])
    assert result == RunResult(output="2\nthree", ok=True, elapsed_s=result.elapsed_s, stdout="2\nthree\n")


def test_last_expression_is_shown_as_str_like_qwen(box):
    assert box.run(["import sympy as sp\nx = sp.Symbol('x')\nsp.factor(x**2 - 1)"]).output == "(x - 1)*(x + 1)"
    assert box.run(["'text'"]).output == "text"  # str(), as Qwen's executor, not repr()
    assert box.run(["print('a')\n2 + 3"]).output == "a\n5"  # prints kept, value after them
    assert box.run(["def f():\n    print('side')\nf()"]).output == "side"  # a None value after prints is not shown
    assert box.run(["def f():\n    pass\nf()"]).output == "None"  # ... but is when nothing was printed
    assert box.run(["[print(i) for i in range(3)]"]).output == "0\n1\n2"  # calls print: stdout only


def test_success_without_output_shows_done(box):
    assert box.run(["x = 5"]).output == "Done"


@pytest.mark.parametrize(("code", "line"), [
    ("print(y)", "NameError: name 'y' is not defined"),
    ("1 / 0", "ZeroDivisionError: division by zero"),
    ("x = = 1", "SyntaxError: invalid syntax"),
    ("import numpy as np\nnp.linalg.inv(np.zeros((2, 2)))", "numpy.linalg.LinAlgError: Singular matrix"),
])
def test_error_shows_the_last_traceback_line(box, code, line):
    result = box.run([code])
    assert (result.ok, result.output, result.error, result.limit) == (False, line, line, None)


def test_error_hides_what_was_printed_before_it_like_qwen(box):
    result = box.run(["print('partial')\nraise ValueError('bad')"])
    assert result.output == "ValueError: bad"
    assert result.stdout == "partial\n"  # still there for the UI


def test_earlier_cells_define_variables_and_their_output_is_not_repeated(box):
    cells = ["import sympy as sp\nx = sp.Symbol('x')\nprint('first cell output')",
             "roots = sp.solve(x**2 - 4, x)\nprint('second cell output')",
             "print(sorted(roots))"]
    result = box.run(cells)
    assert result.output == "[-2, 2]"
    assert "cell output" not in result.stdout


def test_runs_do_not_share_state(box):
    box.run(["leaked = 41"])
    assert box.run(["print(leaked)"]).output == "NameError: name 'leaked' is not defined"


def test_sympy_and_numpy_are_preloaded_and_fast(box):
    code = ("import sympy as sp, numpy as np, math, fractions\nx = sp.Symbol('x')\n"
            "print(sp.integrate(x**2, (x, 0, 3)), int(np.arange(5).sum()), math.comb(5, 2), fractions.Fraction(1, 3))")
    times = []
    for _ in range(5):
        result = box.run([code])
        assert result.output == "9 10 10 1/3"
        times.append(result.elapsed_s)
    assert statistics.median(times) < 0.5, times


def test_output_over_400_characters_is_cut_like_qwen(box):
    result = box.run(["print('a' * 300 + 'b' * 300)"])
    assert result.output == "a" * 200 + "..." + "b" * 200
    assert len(result.stdout) == 601
    assert truncate("x" * 400) == "x" * 400


def test_an_endless_loop_times_out(box):
    result = box.run(["while True:\n    pass"], timeout_s=1.5)
    assert (result.ok, result.limit) == (False, Limit.TIMEOUT)
    assert result.output == "TimeoutError: timed out after 1.5 seconds"
    assert result.elapsed_s < 4
    assert box.run(["print('after')"]).output == "after"


def test_sleeping_past_the_limit_times_out(box):
    result = box.run(["import time\ntime.sleep(60)"], timeout_s=1)
    assert result.limit == Limit.TIMEOUT and result.elapsed_s < 4


def test_cpu_limit_and_crash_statuses_become_clear_lines():
    xcpu = from_child(None, {"exit": -signal.SIGXCPU, "cpu_s": 5.0}, 5.0, 5.0, 5)
    assert (xcpu.limit, xcpu.output) == (Limit.CPU, "TimeoutError: used more than 5 seconds of CPU time")
    segv = from_child(None, {"exit": -signal.SIGSEGV, "cpu_s": 0.1}, 0.1, 5.0, 5)
    assert (segv.ok, segv.output) == (False, "RuntimeError: the code crashed (SIGSEGV)")
    with pytest.raises(SandboxError):
        from_child(None, {"spawn_error": "fork failed"}, 0.0, 5.0, 5)


def test_each_run_gets_an_empty_folder_removed_afterwards(box):
    result = box.run(["import os\nopen('note.txt', 'w').write('x')\nprint(os.getcwd())\nprint(os.listdir('.'))"])
    folder, listing = result.output.split("\n")
    assert listing == "['note.txt']"
    assert not os.path.exists(folder)
    assert box.run(["import os\nos.listdir('.')"]).output == "[]"


def test_eight_concurrent_runs_return_their_own_results(box):
    def one(i: int) -> str:
        return box.run([f"n = {i}", "import sympy as sp\nx = sp.Symbol('x')\nprint(n, sp.expand((x + n) ** 2))"]).output

    with ThreadPoolExecutor(8) as pool:
        outputs = list(pool.map(one, range(8)))
    assert outputs == [f"{i} {'x**2' if i == 0 else f'x**2 + {2 * i}*x + {i * i}'}" for i in range(8)]


def test_threads_in_the_app_share_one_zygote(box):
    pid = box.zygote_pid
    threads = [threading.Thread(target=box.run, args=(["print(1)"],)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert box.zygote_pid == pid


@pytest.mark.parametrize("name", list(layer_info.DESCRIPTIONS))
def test_each_layer_is_active_and_checked(box, name):
    layer = {layer.name: layer for layer in box.layers()}[name]
    require(layer.active, f"the sandbox layer {name} ({layer.detail})")
    assert layer.stops and layer.open_without
    assert layer.line().startswith(f"{name}: active")


def test_missing_layers_are_named_and_stop_confinement():
    report = {name: (True, "") for name in layer_info.DESCRIPTIONS}
    report["landlock_fs"] = (False, "Landlock not available on this kernel")
    found = layer_info.from_report(report)
    assert not layer_info.confined_enough(found)
    assert layer_info.missing(found) == ["landlock_fs"]
    line = next(layer for layer in found if layer.name == "landlock_fs").line()
    assert "MISSING" in line and "session log" in line
    with pytest.raises(ValueError):
        Policy(required_layers=("no_such_layer",))


def test_without_pyseccomp_the_layer_reports_why():
    code = "import sys; sys.modules['pyseccomp'] = None\nfrom sandbox import seccomp_filter\nprint(seccomp_filter.available())"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.startswith("(False, 'pyseccomp unavailable")


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_the_zygote_is_restarted_after_it_dies():
    require(platform.system() == "Linux", "the sandbox (it needs Linux)")
    with Sandbox() as sandbox:
        first = sandbox.zygote_pid
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(sandbox.run, ["import time\ntime.sleep(3)"])
            time.sleep(0.5)
            os.kill(first, signal.SIGKILL)
            with pytest.raises(SandboxError):
                in_flight.result(timeout=20)
        deadline = time.monotonic() + 10
        while _state(first) not in ("Z", None) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sandbox.run(["print('again')"]).output == "again"
        assert sandbox.zygote_pid not in (None, first)


def test_python_m_sandbox_runs_a_file_as_the_model_would(tmp_path):
    require(platform.system() == "Linux", "the sandbox (it needs Linux)")
    script = tmp_path / "cell.py"
    script.write_text("import sympy as sp\nx = sp.Symbol('x')\nsp.solve(x**2 - 9, x)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "sandbox", str(script)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[-3, 3]\n"
    assert "seccomp: active" in done.stderr and "landlock_fs: active" in done.stderr
    script.write_text("print(undefined)\n", encoding="utf-8")
    failed = subprocess.run([sys.executable, "-m", "sandbox", str(script)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert (failed.returncode, failed.stdout) == (1, "NameError: name 'undefined' is not defined\n")


APP_PACKAGES = {"model", "ui", "storage", "judgements", "evaluation", "training", "settings", "app"}


def test_the_sandbox_imports_nothing_of_the_app():
    for path in sorted((REPO / "sandbox").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] not in APP_PACKAGES, f"{path.name} imports {name}"
    code = "import sys, sandbox, sandbox.zygote, sandbox.__main__\nprint(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % (APP_PACKAGES,)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert "gradio" not in subprocess.run([sys.executable, "-c", "import sys, sandbox; print(list(sys.modules))"],
                                          cwd=REPO, capture_output=True, text=True, check=True).stdout
