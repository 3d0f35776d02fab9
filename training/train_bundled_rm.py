"""Train the bundled tiny reward model on the bundled policy's own sampled solutions.

    python -m training.train_bundled --seed 1 --out out/verifier-lm      # a second LM, ~15 min
    python -m training.train_bundled_rm --trunk out/verifier-lm [--kind likelihood] [--out assets/bundled-rm]

Sample with the app's Solver, label with the answer checker, fit a likelihood head on `--trunk`
(or train an `orm` end to end), save with `training.json`; docs/training.md has the method.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from judgements.answers import equivalent
from model.backends.local import LocalBackend
from model.params import SamplingParams
from model.loading import BUNDLED_DIR, load_causal_lm
from model.prompts import QWEN2_MATH
from model.reward import (
    BUNDLED_RM_DIR,
    LIKELIHOOD_ARCHITECTURE,
    LikelihoodRewardScorer,
    Qwen2ForLikelihoodRewardModel,
    Qwen2ForRewardModel,
    rm_messages,
    save_reward_model,
)
from model.solver import Solver
from training.synthetic import DEFAULT_HELDOUT_PATH, read_jsonl, stream_problems
from training.tiny_rm import reward_config


@dataclass
class Example:
    problem: int  # index of the problem, to pair right and wrong solutions of one problem
    ids: list[int]
    label: float
    start: int = 0  # where the solution's tokens start (the likelihood kind scores those)


def sample_solutions(policy_dir: Path, count: int, samples: int, seed: int, max_new_tokens: int) -> list[tuple[str, str, bool]]:
    """(problem, solution, right) for every solution the policy writes, greedy row included."""
    loaded = load_causal_lm(str(policy_dir), precision="fp32", device="cpu", prompt_family="qwen2-math")
    solver = Solver(LocalBackend(loaded, inline=True))
    heldout = [p.problem for p in read_jsonl(DEFAULT_HELDOUT_PATH)] if DEFAULT_HELDOUT_PATH.exists() else []
    stream = stream_problems(f"reward-model-{seed}", exclude=heldout)
    rows: list[tuple[str, str, bool]] = []
    start = time.perf_counter()
    for i in range(count):
        problem = next(stream)
        params = SamplingParams(n=samples, temperature=1.0, top_p=0.9, max_new_tokens=max_new_tokens, seed=seed * 100_003 + i)
        result = solver.solve(problem.problem, params)
        for solution in result.solutions:
            right = solution.answer is not None and equivalent(solution.answer, problem.answer)
            rows.append((problem.problem, solution.text, right))
        if (i + 1) % 50 == 0:
            share = sum(r for *_, r in rows) / len(rows)
            print(f"sampled {i + 1}/{count} problems, {share:.0%} of solutions right, {time.perf_counter() - start:.0f}s", flush=True)
    return rows


def encode(tokenizer, problem: str, solution: str) -> list[int]:
    """Exactly what `OutcomeRewardScorer` feeds the model (Qwen2.5-Math RM chat format)."""
    text = tokenizer.apply_chat_template(rm_messages(problem, solution), tokenize=False, add_generation_prompt=False)
    return list(tokenizer.encode(text, add_special_tokens=False))


def load_lm(trunk_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(trunk_dir), trust_remote_code=False, dtype=torch.float32)


def build_likelihood_model(trunk_dir: Path, family: str = QWEN2_MATH) -> Qwen2ForLikelihoodRewardModel:
    """A likelihood reward model around the language model in `trunk_dir` (its weights as they are)."""
    lm = load_lm(trunk_dir)
    config = type(lm.config).from_dict(lm.config.to_dict())
    config.architectures = [LIKELIHOOD_ARCHITECTURE]
    config.prompt_family = family
    model = Qwen2ForLikelihoodRewardModel(config)
    model.model.load_state_dict(lm.model.state_dict(), strict=True)
    if not config.tie_word_embeddings:
        model.lm_head.load_state_dict(lm.lm_head.state_dict(), strict=True)
    return model


def build_model(trunk_dir: Path, tokenizer) -> Qwen2ForRewardModel:
    """An outcome RM of the trunk's size, its trunk initialised from that language model's weights."""
    trunk = load_lm(trunk_dir)
    c = trunk.config
    config = reward_config(
        tokenizer, "orm", hidden_size=c.hidden_size, layers=c.num_hidden_layers, heads=c.num_attention_heads,
        kv_heads=c.num_key_value_heads, intermediate_size=c.intermediate_size, context=c.max_position_embeddings,
    )
    model = Qwen2ForRewardModel(config)
    model.model.load_state_dict(trunk.model.state_dict(), strict=True)
    return model


def pair_accuracy(scores: list[float], examples: list[Example]) -> float:
    """Share of (right, wrong) pairs within a problem where the right solution scores higher."""
    by_problem: dict[int, list[tuple[float, float]]] = {}
    for score, ex in zip(scores, examples):
        by_problem.setdefault(ex.problem, []).append((score, ex.label))
    good = total = 0
    for pairs in by_problem.values():
        rights = [s for s, label in pairs if label == 1.0]
        wrongs = [s for s, label in pairs if label == 0.0]
        for r in rights:
            for w in wrongs:
                total += 1
                good += (r > w) + 0.5 * (r == w)
    return good / total if total else float("nan")


def run(model, chunk: list[Example], pad_id: int, features: bool = False) -> torch.Tensor:
    """The model's rewards [B] for `chunk` (or, for the likelihood kind with `features`, its inputs [B, 2])."""
    ids, mask = pad([e.ids for e in chunk], pad_id)
    if not isinstance(model, Qwen2ForLikelihoodRewardModel):
        return model(ids, mask)
    solution = torch.zeros_like(mask)
    for i, e in enumerate(chunk):
        solution[i, e.start : len(e.ids)] = 1
    return model.features(ids, mask, solution) if features else model(ids, mask, solution)


@torch.no_grad()
def predict(model, examples: list[Example], pad_id: int, batch: int = 32, features: bool = False) -> torch.Tensor:
    model.eval()
    return torch.cat([run(model, examples[i : i + batch], pad_id, features) for i in range(0, len(examples), batch)])


def fit_head(model: Qwen2ForLikelihoodRewardModel, train_set: list[Example], valid_set: list[Example], *,
             pad_id: int, l2: float = 1e-3) -> tuple[dict, dict]:
    """Logistic regression of right/wrong on the LM's likelihood features, written into `model.score`."""
    x = predict(model, train_set, pad_id, features=True)
    y = torch.tensor([e.label for e in train_set])
    mean, std = x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)
    z = (x - mean) / std
    positives = float(y.sum())
    pos_weight = torch.tensor((len(y) - positives) / max(positives, 1.0))
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    z, y = z.double(), y.double()
    optimizer = torch.optim.LBFGS([w, b], max_iter=500, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def loss_fn() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, y, pos_weight=pos_weight.double())
        loss = loss + l2 * (w**2).sum()
        loss.backward()
        return loss

    loss = float(optimizer.step(loss_fn).detach())
    with torch.no_grad():  # fold the standardisation in: the head reads the raw features
        weight = (w / std.double()).float()
        model.score.weight.copy_(weight[None, :])
        model.score.bias.copy_((b - (w * mean.double() / std.double()).sum()).float())
    accuracy = pair_accuracy(predict(model, valid_set, pad_id).tolist(), valid_set)
    print(f"head fitted: loss {loss:.4f}, weights {model.score.weight[0].tolist()}, "
          f"validation pair accuracy {accuracy:.3f}", flush=True)
    best = {"pair_accuracy": accuracy, "train_pair_accuracy": pair_accuracy(predict(model, train_set, pad_id).tolist(), train_set)}
    return best, {"positives": int(positives), "train": len(train_set), "valid": len(valid_set)}


def pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def train(model, train_set: list[Example], valid_set: list[Example], *, pad_id: int, seed: int, epochs: int,
          batch: int, lr: float, deadline: float) -> tuple[dict, dict]:
    """BCE on the reward logit; keep the state with the best validation pair accuracy."""
    rng = random.Random(seed)
    positives = sum(e.label for e in train_set)
    # Weigh the rarer class up so the head does not learn the base rate only.
    pos_weight = torch.tensor((len(train_set) - positives) / max(positives, 1.0))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * math.ceil(len(train_set) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    best = {"pair_accuracy": pair_accuracy(predict(model, valid_set, pad_id).tolist(), valid_set), "step": 0}
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    step = 0
    for epoch in range(epochs):
        order = list(range(len(train_set)))
        rng.shuffle(order)
        model.train()
        for i in range(0, len(order), batch):
            chunk = [train_set[j] for j in order[i : i + batch]]
            ids, mask = pad([e.ids for e in chunk], pad_id)
            labels = torch.tensor([e.label for e in chunk])
            loss = loss_fn(model(ids, mask), labels)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            if time.perf_counter() > deadline:
                break
        accuracy = pair_accuracy(predict(model, valid_set, pad_id).tolist(), valid_set)
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, validation pair accuracy {accuracy:.3f}", flush=True)
        if accuracy > best["pair_accuracy"]:
            best = {"pair_accuracy": accuracy, "step": step, "epoch": epoch + 1}
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        if time.perf_counter() > deadline:
            print("time budget reached", flush=True)
            break
    model.load_state_dict(best_state)
    return best, {"steps": step, "positives": int(positives), "train": len(train_set), "valid": len(valid_set)}


# Options the likelihood kind does not use (left out of its recorded command).
ORM_ONLY = ("epochs", "batch", "lr", "max_minutes")


def _shown(path: Path) -> str:
    """`path` relative to the repository when it lies inside it (no machine's folders in the record)."""
    root = BUNDLED_DIR.parent.parent
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, default=BUNDLED_DIR)
    parser.add_argument("--kind", choices=("likelihood", "orm"), default="likelihood",
                        help="likelihood: a second LM's likelihood through a fitted head (shipped); "
                             "orm: a Qwen2.5-Math-RM-format outcome model trained end to end")
    parser.add_argument("--trunk", type=Path, default=None,
                        help="language model (a folder with weights and tokenizer) the reward model is built on; "
                             "required for --kind likelihood (not the policy: train one with "
                             "`python -m training.train_bundled --seed 1 --out out/verifier-lm`); orm default: the policy")
    parser.add_argument("--out", type=Path, default=BUNDLED_RM_DIR)
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=384)
    parser.add_argument("--epochs", type=int, default=3, help="orm only")
    parser.add_argument("--batch", type=int, default=16, help="orm only")
    parser.add_argument("--lr", type=float, default=2e-4, help="orm only")
    parser.add_argument("--max-minutes", type=float, default=12.0, help="budget for the orm training phase")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solutions", type=Path, default=None,
                        help="JSONL of sampled solutions: read it when it exists, else sample and write it there")
    args = parser.parse_args(argv)
    if args.kind == "likelihood" and args.trunk is None:
        parser.error("--kind likelihood needs --trunk, a language model other than the policy; train one with "
                     "`python -m training.train_bundled --seed 1 --out out/verifier-lm` (about 15 minutes)")

    torch.manual_seed(args.seed)
    started = time.perf_counter()
    if args.solutions is not None and args.solutions.is_file():
        rows = [tuple(json.loads(line)) for line in args.solutions.read_text(encoding="utf-8").splitlines()]
        if len(rows) != args.problems * (args.samples + 1):
            raise SystemExit(f"{args.solutions} holds {len(rows)} solutions, not {args.problems} x {args.samples + 1}")
    else:
        rows = sample_solutions(args.policy, args.problems, args.samples, args.seed, args.max_new_tokens)
        if args.solutions is not None:
            args.solutions.parent.mkdir(parents=True, exist_ok=True)
            args.solutions.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    sampling_s = time.perf_counter() - started
    from transformers import AutoTokenizer

    trunk = args.trunk if args.trunk is not None else args.policy
    tokenizer = AutoTokenizer.from_pretrained(str(trunk), trust_remote_code=False)
    per_problem = args.samples + 1
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    split = int(args.problems * 0.85)
    if args.kind == "likelihood":
        model = build_likelihood_model(trunk)
        # Encoded by the scorer itself: training sees exactly what the app will score.
        scorer = LikelihoodRewardScorer(model, tokenizer, name="training")
        examples = []
        for i, (p, s, right) in enumerate(rows):
            row, _ = scorer.encode(p, s)
            examples.append(Example(i // per_problem, row.ids, 1.0 if right else 0.0, row.start))
    else:
        model = build_model(trunk, tokenizer)
        examples = [Example(i // per_problem, encode(tokenizer, p, s), 1.0 if right else 0.0) for i, (p, s, right) in enumerate(rows)]
    train_set = [e for e in examples if e.problem < split]
    valid_set = [e for e in examples if e.problem >= split]
    if args.kind == "likelihood":
        best, stats = fit_head(model, train_set, valid_set, pad_id=pad_id)
    else:
        deadline = time.perf_counter() + args.max_minutes * 60
        best, stats = train(model, train_set, valid_set, pad_id=pad_id, seed=args.seed, epochs=args.epochs,
                            batch=args.batch, lr=args.lr, deadline=deadline)
    save_reward_model(model.eval(), tokenizer, args.out)
    report = {
        "kind": args.kind, "policy": _shown(args.policy), "trunk": _shown(trunk), "problems": args.problems, "samples_per_problem": per_problem,
        "right_share": sum(e.label for e in examples) / len(examples), "sampling_s": round(sampling_s),
        "total_s": round(time.perf_counter() - started), **stats, **best,
        "command": "python -m training.train_bundled_rm " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k not in ("policy", "trunk", "out", "solutions") and (args.kind == "orm" or k not in ORM_ONLY)),
    }
    (args.out / "training.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
