"""CPU benchmark: one solve at a time through the Solver over the local backend, tokens per second.

Greedy (one row) and N=8 samples, the bundled model by default, every row run to its full budget
(the repetition guard off), medians of interleaved repeats. With `--against REV` the local
backend as it was at git revision REV runs in the same process, interleaved, for a ratio:

    python bench/cpu_speed.py                          # the current backend alone
    python bench/cpu_speed.py --against 5f555d5        # beside the one-run-at-a-time loop of that commit
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from model.backends.local import LocalBackend  # noqa: E402
from model.params import SamplingParams  # noqa: E402
from model.loading import load_causal_lm  # noqa: E402
from model.repetition import RepetitionGuard  # noqa: E402
from model.solver import Solver  # noqa: E402

PROBLEM = "Tom has 12 apples and buys 7 more. He gives 3 to Ann. How many apples does he have now?"
NO_GUARD = RepetitionGuard(min_span=10**9, same_boxed=10**9)


def backend_at(revision: str):
    """The LocalBackend class of `model/backends/local.py` at a git revision."""
    source = subprocess.run(["git", "show", f"{revision}:model/backends/local.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "local_then.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("local_then", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_then"] = module
    spec.loader.exec_module(module)
    return module.LocalBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--against", help="a git revision whose local backend runs beside the current one")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    loaded = load_causal_lm(args.model, precision="auto", device="cpu")
    solvers = {"now": Solver(LocalBackend(loaded, guard=NO_GUARD))}
    if args.against:
        solvers[args.against] = Solver(backend_at(args.against)(loaded, guard=NO_GUARD))
    runs = {
        "greedy": lambda seed: SamplingParams(n=0, max_new_tokens=args.tokens, seed=seed),
        "N=8": lambda seed: SamplingParams(n=8, max_new_tokens=args.tokens, seed=seed, include_greedy=False),
    }
    speeds: dict[tuple[str, str], list[float]] = {(name, run): [] for name in solvers for run in runs}
    for solver in solvers.values():
        solver.solve(PROBLEM, runs["N=8"](0))  # warm-up
    for repeat in range(args.repeats):
        for name, solver in solvers.items():
            for run, params in runs.items():
                result = solver.solve(PROBLEM, params(repeat))
                speeds[(name, run)].append(result.timings.generated_tokens / result.timings.total_s)
    print("| backend | greedy tok/s | N=8 total tok/s |\n|---|---:|---:|")
    for name in solvers:
        print(f"| {name} | {statistics.median(speeds[(name, 'greedy')]):.0f} | {statistics.median(speeds[(name, 'N=8')]):.0f} |")
    for solver in solvers.values():
        solver.close()


if __name__ == "__main__":
    main()
