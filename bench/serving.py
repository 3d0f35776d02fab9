"""Serving benchmark: K concurrent sessions through the launched app's public API.

For each backend it starts `python app.py` (its own port and SQLite file) and, for K in
`--sessions`, sends K sessions at once, each one solve of N samples through `/solve` with
`gradio_client` (distinct browser ids, distinct problems from the held-out set), and prints the
median and max latency and their ratio to one session alone, measured in the same run:

- `local`: the model in the app's own process (the local backend);
- `server`: the app with `--server-url`, generating through `transformers serve
  --continuous-batching` on the same model (started here, stopped at the end).

    python bench/serving.py                                  # bundled model, K = 1, 4, 8, 20, N = 4
    python bench/serving.py --backends local --sessions 1,8 --repeats 3
    python bench/serving.py --model /path/to/qwen2-math-1.5b --max-new-tokens 512

Each K is measured `--repeats` times (default 1) after one warm-up solve; the table reports the
median over all sessions of all repeats. Run it on an otherwise idle machine: it measures
latency under load, so anything else running shows in the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
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


def solve(url: str, problem: str, session: str, args: argparse.Namespace) -> float:
    """One session: connect, solve, wait for the final page; its latency in seconds."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    started = time.perf_counter()
    client.predict(problem, args.n, 1.0, 0.9, args.max_new_tokens, 1, session, api_name="/solve")
    return time.perf_counter() - started


def concurrent(url: str, k: int, round_no: int, args: argparse.Namespace) -> list[float]:
    texts = problems(k)
    latencies: list[float] = [0.0] * k
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            latencies[i] = solve(url, texts[i], f"bench-session-{round_no:03d}-{i:04d}-padding", args)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {k} sessions failed: {errors[0]}")
    return latencies


def measure(backend: str, url: str, args: argparse.Namespace) -> list[dict]:
    solve(url, problems(1)[0], "bench-warm-up-session-0000", args)
    rows = []
    base = None
    for k in args.sessions:
        latencies = [x for r in range(args.repeats) for x in concurrent(url, k, r * 1000 + k, args)]
        median = statistics.median(latencies)
        base = base if base is not None else median
        rows.append({"backend": backend, "sessions": k, "median_s": median, "max_s": max(latencies),
                     "ratio": median / base})
        print(f"{backend}: {k} sessions: median {median:.2f} s, max {max(latencies):.2f} s, {median / base:.2f}x", flush=True)
    return rows


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
            return measure(backend, f"http://127.0.0.1:{app_port}/", args)
        finally:
            stop(process)
    finally:
        if server is not None:
            stop(server)


def table(rows: list[dict]) -> str:
    out = ["| backend | sessions | median latency s | max latency s | median ÷ one session |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['backend']} | {r['sessions']} | {r['median_s']:.2f} | {r['max_s']:.2f} | {r['ratio']:.2f}x |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(BUNDLED), help="model directory (default: the bundled model)")
    parser.add_argument("--backends", default="local,server")
    parser.add_argument("--sessions", default="1,4,8,20", help="concurrent sessions, comma separated (first = baseline)")
    parser.add_argument("--n", type=int, default=4, help="samples per solve")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--reward-model", default="none")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", help="also write the table here (markdown) and the rows beside it (.json)")
    args = parser.parse_args()
    args.sessions = [int(k) for k in args.sessions.split(",")]
    rows: list[dict] = []
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
