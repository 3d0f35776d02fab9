"""Serving benchmark: K concurrent sessions through the launched app's public API.

For each backend it starts `python app.py` (its own port and SQLite file) and, for K in
`--sessions`, sends K sessions, each one solve of N samples through `/solve` with `gradio_client`
(distinct browser ids, the first K problems of the held-out set), first one at a time, then all
at once (the K clients connect and open their sessions first, off the clock, as K pages
would on load; then they send their solves together and each is timed from its request to its
result), and prints the median and max latency at once, the median one at a time (the same
problems, so their lengths do not count), and the ratios, measured in the same run:

- `local`: the model in the app's own process (the local backend);
- `server`: the app with `--server-url`, generating through `transformers serve
  --continuous-batching` on the same model (started here, stopped at the end).

    python bench/serving.py                                  # bundled model, K = 1, 4, 8, 20, N = 4
    python bench/serving.py --backends local --sessions 1,8 --repeats 3
    python bench/serving.py --model /path/to/qwen2-math-1.5b --max-new-tokens 512
    python bench/serving.py --in-process --sessions 1,8,20,50   # K runs through the Solver, no app

`--in-process` sends the K runs straight to a Solver over the local backend in this process (one
thread each), without the app, the browser protocol or the log: what the shared batch itself
does with K runs.

Each K is measured `--repeats` times (default 1) after one warm-up solve; the table reports
medians over all sessions of all repeats; "at once ÷ one session alone" divides by the first K's
median (the issue's measure, in which longer problems count against the larger K). Run it on an otherwise idle machine: it measures
latency under load, so anything else running shows in the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HELDOUT = REPO / "assets" / "heldout.jsonl"
BUNDLED = REPO / "assets" / "bundled-model"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    """Poll `url` until it answers 200, the process dies, or the time runs out."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


def start(command: list[str], url: str, log: Path, timeout_s: float = 300.0) -> subprocess.Popen:
    handle = log.open("w")
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    process = subprocess.Popen(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_for(url, process, timeout_s)
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def problems(count: int) -> list[str]:
    lines = HELDOUT.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["problem"] for line in lines[:count]]


def latencies_of(open_session, k: int, round_no: int, together: bool) -> list[float]:
    """Latency of each of K solves (problems 0..K-1), sent all at once or one after another.
    The K sessions are opened first (for the app: each client connects and reads the page's
    API), off the clock; then each solve is timed from its request to its result."""
    sessions = [open_session(i, round_no) for i in range(k)]
    global _SOLVE_CPU_S
    cpu_before = _cpu_seconds()
    out = [0.0] * k
    errors: list[BaseException] = []
    gate = threading.Barrier(k if together else 1)

    def one(i: int) -> None:
        try:
            gate.wait(60)
            out[i] = sessions[i]()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    if together:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(k)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for i in range(k):
            one(i)
    _SOLVE_CPU_S += _cpu_seconds() - cpu_before
    if errors:
        raise RuntimeError(f"{len(errors)} of {k} solves failed: {errors[0]}")
    return out


_SOLVE_CPU_S = 0.0  # this process's CPU time while solves ran (for the app: the clients' share)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, open_session, args: argparse.Namespace) -> list[dict]:
    """For each K: the K problems one at a time, then all K at once; medians and ratios.
    `open_session(i, round_no)` opens a session for problem i and returns its timed solve."""
    global _SOLVE_CPU_S
    open_session(0, 0)()  # warm-up
    rows: list[dict] = []
    for k in args.sessions:
        alone = [x for r in range(args.repeats) for x in latencies_of(open_session, k, r + 1, together=False)]
        _SOLVE_CPU_S = 0.0
        together = [x for r in range(args.repeats) for x in latencies_of(open_session, k, r + 1, together=True)]
        client_cpu = _SOLVE_CPU_S / len(together)
        row = {"backend": name, "sessions": k, "alone_s": statistics.median(alone),
               "median_s": statistics.median(together), "max_s": max(together)}
        row["ratio"] = row["median_s"] / row["alone_s"]
        row["ratio_to_one"] = row["median_s"] / (rows[0]["median_s"] if rows else row["median_s"])
        rows.append(row)
        clients = "" if name == "in-process" else f"; the bench's own clients used {client_cpu:.2f} CPU s per solve"
        print(f"{name}: {k} at once: median {row['median_s']:.2f} s, max {row['max_s']:.2f} s; the same {k} one at a "
              f"time: median {row['alone_s']:.2f} s; {row['ratio']:.2f}x{clients}", flush=True)
    return rows


def measure_in_process(args: argparse.Namespace) -> list[dict]:
    """K runs straight to a Solver over the local backend in this process, one thread each."""
    sys.path.insert(0, str(REPO))
    from model.backends.local import LocalBackend
    from model.params import SamplingParams
    from model.loading import load_causal_lm
    from model.solver import Solver

    loaded = load_causal_lm(args.model, precision="auto", device="auto")
    solver = Solver(LocalBackend(loaded, max_queue=max(args.sessions) + 8))
    texts = problems(max(args.sessions))

    def open_session(i: int, round_no: int):
        def solve() -> float:
            started = time.perf_counter()
            solver.solve(texts[i], SamplingParams(n=args.n, max_new_tokens=args.max_new_tokens, seed=round_no * 1000 + i))
            return time.perf_counter() - started

        return solve

    try:
        return measure("in-process", open_session, args)
    finally:
        solver.close()


def measure_app(backend: str, url: str, args: argparse.Namespace) -> list[dict]:
    """K sessions through the launched app's `/solve`, each its own client and browser id."""
    from gradio_client import Client

    texts = problems(max(args.sessions))

    def open_session(i: int, round_no: int):
        client = Client(url, verbose=False)
        browser = f"bench-session-{round_no:03d}-{i:04d}-padding"
        # A page's first event makes the server build the session's state, as a browser's page
        # load does; here a Stop with nothing running (answers "Nothing is running.").
        client.predict(browser, api_name="/stop")

        def solve() -> float:
            started = time.perf_counter()
            client.predict(texts[i], args.n, 1.0, 0.9, args.max_new_tokens, round_no * 1000 + i, browser,
                           api_name="/solve")
            return time.perf_counter() - started

        return solve

    return measure(backend, open_session, args)


def run_backend(backend: str, args: argparse.Namespace, work: Path) -> list[dict]:
    app_port = free_port()
    app = [sys.executable, "app.py", "--port", str(app_port), "--db-url", f"sqlite:///{work / backend}.sqlite3",
           "--reward-model", args.reward_model, "--max-queue", str(max(args.sessions) + 8), "--no-fallback-to-bundled"]
    server = None
    try:
        if backend == "server":
            port = free_port()
            server = start(["transformers", "serve", args.model, "--device", "cpu", "--port", str(port),
                            "--continuous-batching"], f"http://127.0.0.1:{port}/health", work / "serve.log")
            app += ["--server-url", f"http://127.0.0.1:{port}/v1"]
        else:
            app += ["--model", args.model]
        process = start(app, f"http://127.0.0.1:{app_port}/", work / f"app-{backend}.log")
        try:
            return measure_app(backend, f"http://127.0.0.1:{app_port}/", args)
        finally:
            stop(process)
    finally:
        if server is not None:
            stop(server)


def table(rows: list[dict]) -> str:
    out = [("| backend | K | median latency, K at once | max | median, the same K one at a time | at once ÷ one at a time | "
           "at once ÷ one session alone |"), "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['backend']} | {r['sessions']} | {r['median_s']:.2f} s | {r['max_s']:.2f} s | {r['alone_s']:.2f} s | "
                   f"{r['ratio']:.2f}x | {r['ratio_to_one']:.2f}x |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(BUNDLED), help="model directory (default: the bundled model)")
    parser.add_argument("--backends", default="local,server")
    parser.add_argument("--sessions", default="1,4,8,20", help="concurrent sessions, comma separated")
    parser.add_argument("--n", type=int, default=4, help="samples per solve")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--reward-model", default="none")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--in-process", action="store_true", help="K runs through a Solver in this process, no app")
    parser.add_argument("--out", help="also write the table here (markdown) and the rows beside it (.json)")
    args = parser.parse_args()
    args.sessions = [int(k) for k in args.sessions.split(",")]
    rows: list[dict] = []
    if args.in_process:
        rows = measure_in_process(args)
    else:
        with tempfile.TemporaryDirectory(prefix="mathapp-serving-") as tmp:
            for backend in args.backends.split(","):
                rows += run_backend(backend, args, Path(tmp))
    text = f"N={args.n}, max {args.max_new_tokens} new tokens, {os.cpu_count()} CPUs\n\n{table(rows)}\n"
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(text)
        Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
