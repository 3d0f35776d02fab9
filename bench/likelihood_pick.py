"""Can a language model's likelihood pick the right one of a policy's samples? A second opinion.

Reads the sampled solutions the reward-model trainer caches (JSONL rows of
`[problem, solution, right]`, greedy row first, then `--samples` samples of that problem) and
scores every sample with a causal language model (`--scorer`, a folder; the app's Qwen2-Math
prompt): its mean token log-probability, and the lowest log-probability it gives any digit
of an equation's result. Then, per problem, it picks the sample each score ranks highest:

    python -m training.train_bundled --seed 1 --out out/verifier-lm      # another seed, ~15 min
    python -m training.train_bundled_rm --trunk out/verifier-lm --solutions out/rm-solutions.jsonl --out out/rm
    python bench/likelihood_pick.py out/rm-solutions.jsonl --scorer assets/bundled-model
    python bench/likelihood_pick.py out/rm-solutions.jsonl --scorer out/verifier-lm

With the policy as its own scorer the picks are close to greedy: its carry slips are
confident. A model trained the same way from another seed slips elsewhere, so its likelihood
sees many of the policy's slips. These picks use no right/wrong labels; the bundled reward
model is the second scorer with a head fitted on the labels (`training.train_bundled_rm`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from model.prompts import build_messages  # noqa: E402
from training.synthetic import EQUATION  # noqa: E402


def token_scores(model, tokenizer, problem: str, solution: str) -> tuple[float, float]:
    """(mean log-probability of the solution's tokens, lowest log-probability of a result digit)."""
    prompt = tokenizer.apply_chat_template(build_messages(problem, "qwen2-math"), add_generation_prompt=True, tokenize=False)
    encoded = tokenizer(prompt + solution, add_special_tokens=False, return_offsets_mapping=True)
    ids = torch.tensor([encoded["input_ids"]])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
    taken = logprobs.gather(1, ids[0, 1:, None])[:, 0].tolist()
    start = len(prompt)
    results = [(start + m.start(2), start + m.end(2)) for m in EQUATION.finditer(solution)]
    own, digits = [], []
    for position, (a, b) in enumerate(encoded["offset_mapping"][1:], start=1):
        if a >= start:
            own.append(taken[position - 1])
        if any(a >= x and b <= y for x, y in results):
            digits.append(taken[position - 1])
    mean = sum(own) / len(own) if own else float("-inf")
    return mean, (min(digits) if digits else 0.0)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("solutions", type=Path, help="the reward-model trainer's --solutions JSONL")
    parser.add_argument("--scorer", type=Path, required=True, help="a causal language model folder")
    parser.add_argument("--samples", type=int, default=8, help="samples per problem after the greedy row")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(str(args.scorer), trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(str(args.scorer), trust_remote_code=False, dtype=torch.float32).eval()
    rows = [json.loads(line) for line in args.solutions.read_text(encoding="utf-8").splitlines() if line.strip()]
    group = args.samples + 1
    if not rows or len(rows) % group:
        raise SystemExit(f"{args.solutions}: {len(rows)} rows is not a multiple of greedy + {args.samples} samples")
    problems = len(rows) // group
    right = {"greedy": 0, "sample": 0.0, "mean": 0, "digit": 0}
    for p in range(problems):
        chunk = rows[p * group : (p + 1) * group]
        samples = chunk[1:]
        scores = [token_scores(model, tokenizer, chunk[0][0], solution) for _, solution, _ in samples]
        right["greedy"] += bool(chunk[0][2])
        right["sample"] += sum(bool(ok) for *_, ok in samples) / len(samples)
        # Ties go to the first sample, as RM@N's do.
        right["mean"] += bool(samples[max(range(len(samples)), key=lambda i: scores[i][0])][2])
        right["digit"] += bool(samples[max(range(len(samples)), key=lambda i: scores[i][1])][2])
    shares = {k: v / problems for k, v in right.items()}
    print(f"{problems} problems, greedy + {args.samples} samples each; scorer {args.scorer}")
    print(f"greedy                                   {shares['greedy']:6.1%}")
    print(f"one sample (average)                     {shares['sample']:6.1%}")
    print(f"pick by mean token log-probability       {shares['mean']:6.1%}")
    print(f"pick by lowest result-digit log-prob.    {shares['digit']:6.1%}")
    return shares


if __name__ == "__main__":
    main()
