"""`python -m evaluation`: the command line, from arguments to the files in `--out`.

Exit status: 0 done, 1 the model could not be opened, 2 usage (or no usable problem),
130 interrupted (the summary of the problems done is still written).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from settings import DEFAULT_MODEL, SERVER_API_KEY_ENV, AppConfig, default_sampling
from model.params import DEVICES, MAX_SAMPLES, PRECISIONS, PROMPT_FAMILIES
from model.errors import ConfigError, ModelError
from evaluation.problems import DatasetError, read_problems
from evaluation.report import write_summary
from evaluation.run import evaluate
from evaluation.scoring import nested_sizes
from evaluation.summary import RunInfo, summarize

DEFAULT_OUT = Path("out/eval")
# Evaluation sets hold longer problems than a student types; the context limit still applies.
MAX_PROBLEM_CHARS = 100_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation",
        description="Greedy, Maj@N, the checked vote, RM@N, reward-weighted accuracy and pass@N for N = 1, 2, 4, ... "
        "on problems with known answers, with the app's own Solver, answer checking and ranking.",
        epilog="Input lines need `problem` or `question`, and `answer` (a GSM8K `#### N` inside "
        "it is read as N) or a `solution` with `#### N` or \\boxed{}. Every N uses the first N of "
        "the same samples per problem. Writes results.jsonl, summary.md, summary.json and "
        "accuracy.png to --out.",
    )
    parser.add_argument("--data", required=True, type=Path, help="JSON Lines file of problems with answers")
    parser.add_argument("--n", type=int, default=8, help=f"largest N: samples per problem (1-{MAX_SAMPLES}; default 8)")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="Hub id, size alias (1.5b, 7b, 72b, 2.5-1.5b, ...), local directory, or 'bundled' "
        f"(default {DEFAULT_MODEL}); never silently replaced by another model",
    )
    parser.add_argument(
        "--reward-model",
        default="auto",
        help="auto | none | bundled | Hub id or directory of a Qwen2.5-Math-RM / PRM or likelihood reward model "
        "(none ranks by the policy's confidence; default auto, as the app)",
    )
    parser.add_argument("--prompt-family", default="auto", choices=PROMPT_FAMILIES, help="prompt format (default: from the model)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="as the app's --precision (default auto)")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="as the app's --device (default auto)")
    parser.add_argument("--temperature", type=float, default=None, help="sampling temperature (default: the model family's)")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus top-p (default: the model family's)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="token budget per solution (default 2048 on GPU, 1024 on CPU)"
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed: problem i uses seed + i (default 0)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first K usable problems")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument(
        "--server-url",
        default=None,
        help="generate with an OpenAI-compatible server (vLLM, SGLang, ...) at this URL instead of loading the model "
        "here, e.g. http://127.0.0.1:8000/v1 (API key from MATHAPP_SERVER_API_KEY)",
    )
    parser.add_argument("--server-model", default=None, help="the model name on that server (default: the one it lists)")
    parser.add_argument("--tokenizer", default=None, help="with --server-url: the served model's tokenizer (directory or Hub id)")
    parser.add_argument("--server-timeout", type=float, default=600.0, help="seconds to wait for the server's next reply piece")
    parser.add_argument("--save-text", action="store_true", help="also keep every solution's text in results.jsonl")
    parser.add_argument(
        "--parallel", type=int, default=8,
        help="problems solved at once, sharing one batch (default 8; each keeps its seed: the results are the same)",
    )
    parser.add_argument(
        "--tir", action="store_true",
        help="reason with Python (the TIR prompt; each cell the model writes runs in the app's sandbox, which must "
        "confine code here: sandbox.confined_enough())",
    )
    parser.add_argument("--code-timeout", type=float, default=5.0, help="with --tir: seconds per code run (default 5)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def _config(args: argparse.Namespace) -> AppConfig:
    """The app's configuration for this evaluation; `ConfigError` on the first bad argument."""
    checks = (
        (1 <= args.n <= MAX_SAMPLES, f"--n must be between 1 and {MAX_SAMPLES}; got {args.n}."),
        (args.limit is None or args.limit >= 1, f"--limit must be at least 1; got {args.limit}."),
        (args.seed >= 0, f"--seed must be 0 or more; got {args.seed}."),
        (1 <= args.parallel <= 64, f"--parallel must be between 1 and 64; got {args.parallel}."),
        (0 < args.code_timeout <= 600, f"--code-timeout must be above 0 and at most 600; got {args.code_timeout}."),
    )
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return AppConfig(
        model=args.model,
        prompt_family=args.prompt_family,
        precision=args.precision,
        device=args.device,
        # An evaluation of another model than the one named would be a wrong number.
        fallback_to_bundled=False,
        reward_model=args.reward_model,
        n_samples=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        max_problem_chars=MAX_PROBLEM_CHARS,
        server_url=args.server_url,
        server_model=args.server_model,
        server_timeout=args.server_timeout,
        tokenizer=args.tokenizer,
        server_api_key=os.environ.get(SERVER_API_KEY_ENV) or None,
    )


class SandboxUnavailable(Exception):
    """--tir where the sandbox cannot start or cannot confine code on this machine."""


def _open_sandbox(timeout_s: float):
    """The app's sandbox for the model's cells, started and checked as the app checks it: code
    never runs unconfined."""
    from sandbox import Policy, Sandbox, SandboxError

    box = Sandbox(Policy(timeout_s=timeout_s))
    try:
        box.start()
    except (SandboxError, OSError, ValueError) as exc:
        box.close()
        raise SandboxUnavailable(f"--tir: the sandbox did not start: {exc}") from exc
    if not box.confined_enough():
        missing = ", ".join(layer.name for layer in box.layers()
                            if not layer.active and layer.name in box.policy.required_layers)
        box.close()
        raise SandboxUnavailable(f"--tir: the sandbox cannot confine code here (missing: {missing}); not running "
                                 "the model's code unconfined.")
    _say("reasoning with Python: " + ", ".join(layer.name for layer in box.layers() if layer.active)
         + f" active; at most {timeout_s:g} s a run")
    return box


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0 done, 1 model error, 2 usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = _config(args)
        dataset = read_problems(args.data, limit=args.limit)
    except (ConfigError, DatasetError) as exc:
        parser.error(str(exc))
    for skipped in dataset.skipped:
        _say(f"{args.data}:{skipped.line}: skipped: {skipped.reason}")
    if not dataset.problems:
        _say(f"error: {args.data} holds no usable problem ({len(dataset.skipped)} lines skipped).")
        return 2

    from model.solver import open_solver

    wall_started = time.perf_counter()
    try:
        sandbox = _open_sandbox(args.code_timeout) if args.tir else None
    except SandboxUnavailable as exc:
        _say(f"error: {exc}")
        return 1
    try:
        solver, scorer_note = open_solver(config, tools=sandbox)
    except ModelError as exc:
        _say(f"error: {exc}")
        if sandbox is not None:
            sandbox.close()
        return 1
    model_info = solver.info
    scorer = solver.scorer
    _say(f"model: {model_info.describe()}")
    _say(f"ranking by: {scorer.name} ({scorer.label})" + (f" - {scorer_note}" if scorer_note else ""))

    base = default_sampling(config, model_info.family, on_gpu=model_info.device.startswith("cuda"))
    params = replace(base, n=args.n, include_greedy=True, tir=args.tir)
    sizes = nested_sizes(args.n)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    try:
        with (out / "results.jsonl").open("w", encoding="utf-8") as sink:
            results, interrupted = evaluate(
                solver,
                dataset.problems,
                params,
                sizes,
                base_seed=args.seed,
                sink=sink,
                progress=not args.no_progress,
                save_text=args.save_text,
                parallel=args.parallel,
            )
    finally:
        solver.close()
        if sandbox is not None:
            sandbox.close()
    if not results:
        _say("interrupted before the first problem finished; nothing to summarise.")
        return 130
    info = RunInfo(
        model=model_info.model,
        model_details=model_info.describe(),
        family=model_info.family,
        data=str(args.data),
        skipped=dataset.skipped,
        scorer_name=scorer.name,
        score_label=scorer.label,
        scorer_note=scorer_note,
        params=params,
        base_seed=args.seed,
        wall_s=time.perf_counter() - wall_started,
        interrupted=interrupted,
        planned=len(dataset.problems),
    )
    markdown = write_summary(out, summarize(results, sizes), info)
    print(markdown, end="")
    _say(f"wrote {out / 'results.jsonl'}, {out / 'summary.md'}, {out / 'summary.json'}, {out / 'accuracy.png'}")
    return 130 if interrupted else 0
