"""Sandbox latency: from `Sandbox.run` being called to the model's output, per run and 8 at once.

Starts one sandbox (zygote plus probe), then for each cell runs it N times one after another and
prints the median and 90th percentile; then runs 8 cells at once from 8 threads and prints the
wall time against one run alone (medians of repeats). Plain lines, one number each:

    python bench/sandbox_latency.py            # 50 runs per cell, 10 repeats of the 8-at-once round
    python bench/sandbox_latency.py --runs 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox import Sandbox  # noqa: E402

CELLS = {
    "print(1+1)": ["print(1+1)"],
    "small sympy": ["import sympy as sp\nx = sp.Symbol('x')\nprint(sp.solve(x**2 - 5*x + 6, x))"],
    "3 earlier cells + new": ["a = 3", "b = a ** 2", "import sympy as sp\nc = sp.Rational(b, 4)", "print(a, b, c)"],
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def one_run(box: Sandbox, cells: list[str]) -> float:
    started = time.perf_counter()
    result = box.run(cells)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"benchmark cell failed: {result.output}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10, help="repeats of the 8-at-once round")
    args = parser.parse_args()

    started = time.perf_counter()
    box = Sandbox()
    layers = box.start()
    print(f"start (zygote + probe): {1000 * (time.perf_counter() - started):.0f} ms")
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, "
          f"layers active: {sum(layer.active for layer in layers)}/{len(layers)}, confined_enough: {box.confined_enough()}")
    try:
        for name, cells in CELLS.items():
            one_run(box, cells)  # warm
            times = [one_run(box, cells) for _ in range(args.runs)]
            print(f"{name}: median {1000 * statistics.median(times):.1f} ms, p90 {1000 * percentile(times, 0.9):.1f} ms "
                  f"over {args.runs} runs")
        cells = CELLS["small sympy"]
        singles, eights = [], []
        with ThreadPoolExecutor(8) as pool:
            for _ in range(args.rounds):
                singles.append(one_run(box, cells))
                round_start = time.perf_counter()
                list(pool.map(lambda _i: one_run(box, cells), range(8)))
                eights.append(time.perf_counter() - round_start)
        one, eight = statistics.median(singles), statistics.median(eights)
        print(f"8 at once (small sympy): wall {1000 * eight:.1f} ms vs one run {1000 * one:.1f} ms, ratio {eight / one:.2f} "
              f"(median of {args.rounds} rounds)")
    finally:
        box.close()


if __name__ == "__main__":
    main()
