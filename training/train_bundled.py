"""Train the bundled offline model: a tiny Qwen2 that solves synthetic arithmetic word problems.

From a seed, on a CPU, with no network: a Qwen2-style tokenizer, then a small `Qwen2ForCausalLM`
from scratch on the app's Qwen2-Math prompt (docs/training.md). `--measure DIR` reports a saved
model's held-out accuracy instead. The shipped model (about 15 minutes on 2 CPU cores):

    python -m training.train_bundled --out assets/bundled-model
"""

from __future__ import annotations

import argparse
import math
import random
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from model.prompts import BOXED_INSTRUCTION, QWEN2_MATH, TIR_INSTRUCTION, build_prompt
from training.synthetic import (
    DEFAULT_HELDOUT_PATH,
    Problem,
    TirSolution,
    read_jsonl,
    solution_equations,
    stream_problems,
    stream_tir_problems,
)
from training.tiny import ENDOFTEXT, IM_END, tiny_qwen2_config, train_tokenizer

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "assets" / "bundled-model"
IGNORE = -100
# Share of products and quotients kept in the arithmetic drill rows (sums and differences: all).
DRILL_KEEP_PRODUCTS = 1 / 3
_BOXED_INT = re.compile(r"\\boxed\{\s*(-?\d+)\s*\}")


@dataclass(frozen=True)
class Recipe:
    """Sizes and schedule of one training run (the defaults are the chain-of-thought model's, from
    scratch; docs/bundled-model.md has the second run that teaches it Python)."""

    seed: int = 0
    vocab_size: int = 1024
    tokenizer_problems: int = 10000
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 352
    steps: int = 1500
    batch_size: int = 32
    drill_rows: int = 8
    # Rows per batch of tool-integrated solutions under the TIR prompt, on top of the
    # chain-of-thought problems (0: chain of thought only, as before, bit for bit).
    tir_rows: int = 0
    # Problems whose TIR prompt and solution the tokenizer also learns from (from scratch only).
    tokenizer_tir_problems: int = 0
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    max_minutes: float = 15.0
    # A saved model (and its tokenizer) to go on training instead of starting from scratch ("": from scratch).
    init: str = ""
    threads: int = 2
    save_dtype: str = "fp32"

    def __post_init__(self) -> None:
        # A batch without a word problem would leave the batch generator looping forever.
        if not 0 <= self.drill_rows < self.batch_size:
            raise ValueError(f"drill_rows (--drill-rows) must be at least 0 and below batch_size (--batch-size, "
                             f"{self.batch_size}): each batch needs at least one word problem")
        if self.tir_rows < 0 or self.tokenizer_tir_problems < 0:
            raise ValueError("tir_rows (--tir-rows) and tokenizer_tir_problems (--tokenizer-tir-problems) "
                             "must be 0 or more")


def build_tokenizer(recipe: Recipe):
    """A Qwen2-style tokenizer trained on synthetic problems, solutions and the prompt text."""
    stream = stream_problems(f"tokenizer-{recipe.seed}")
    texts = ["system\nYou are a helpful assistant.", "user\n", "assistant\n", BOXED_INSTRUCTION]
    for _ in range(recipe.tokenizer_problems):
        problem = next(stream)
        texts.append(f"{problem.problem}\n{BOXED_INSTRUCTION}")
        texts.append(problem.solution)
    if recipe.tokenizer_tir_problems:
        texts.append(f"system\n{TIR_INSTRUCTION}")
        tir = stream_tir_problems(f"tokenizer-{recipe.seed}")
        for _ in range(recipe.tokenizer_tir_problems):
            problem, solution = next(tir)
            texts.append(problem.problem)
            texts.append(solution.text)
    return train_tokenizer(texts, vocab_size=recipe.vocab_size)


Row = tuple[list[int], list[int]]  # (input ids, labels with IGNORE where no loss is taken)


def encode_example(tokenizer, problem: Problem, im_end: int) -> Row:
    """Prompt ids + solution ids + <|im_end|>; labels on the solution and <|im_end|> only."""
    prompt = build_prompt(tokenizer, problem.problem, QWEN2_MATH)
    answer = tokenizer(problem.solution, add_special_tokens=False)["input_ids"] + [im_end]
    return prompt + answer, [IGNORE] * len(prompt) + answer


def encode_tir_example(tokenizer, problem: Problem, solution: TirSolution, im_end: int) -> Row:
    """The TIR prompt, then the solution as the app's loop builds it: what the model writes up to
    ```` ```output ```` (labels), the output block tokenized on its own as the app tokenizes it
    (no loss: the sandbox writes it), the rest and <|im_end|> (labels)."""
    prompt = build_prompt(tokenizer, problem.problem, QWEN2_MATH, tir=True)
    written = tokenizer(solution.written, add_special_tokens=False)["input_ids"]
    output = tokenizer(solution.output_block, add_special_tokens=False)["input_ids"]
    rest = tokenizer(solution.rest, add_special_tokens=False)["input_ids"] + [im_end]
    ids = prompt + written + output + rest
    return ids, [IGNORE] * len(prompt) + written + [IGNORE] * len(output) + rest


def arithmetic_row(tokenizer, problems: Iterator[Problem], width: int, rng: random.Random) -> Row:
    """Equations taken from solutions, one per line (` $53 + 21 = 74$`), loss on results only.

    These drill rows carry several times more arithmetic per token than a whole problem with
    its prompt, and arithmetic is what a model this small gets wrong most; they play the part
    of Qwen2-Math's math pre-training corpus next to its chat fine-tuning data. Additions and
    subtractions (the errors that remain) are all kept; products and quotients, learnt sooner,
    one time in three. A row holds as many whole equations as fit in `width` tokens.
    """
    ids: list[int] = []
    labels: list[int] = []
    while True:
        for left, result in solution_equations(next(problems).solution):
            if ("times" in left or "div" in left) and rng.random() > DRILL_KEEP_PRODUCTS:
                continue
            question = tokenizer(f" ${left} =", add_special_tokens=False)["input_ids"]
            answer = tokenizer(f" {result}$\n", add_special_tokens=False)["input_ids"]
            if len(ids) + len(question) + len(answer) > width:
                return ids, labels
            ids += question + answer
            labels += [IGNORE] * len(question) + answer


def training_batches(
    tokenizer,
    problems: Iterator[Problem],
    batch_size: int,
    rng: random.Random,
    drill_rows: int = 0,
    pool: int = 16,
    tir_problems: Iterator[tuple[Problem, TirSolution]] | None = None,
    tir_rows: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(input_ids, labels) batches, right-padded; rows of similar length share a batch.

    Each batch holds `batch_size - drill_rows` problems (labels -100 on the prompt, so the loss
    covers the solution and its closing `<|im_end|>`) and `drill_rows` arithmetic rows, and on
    average `tir_rows` tool-integrated solutions from `tir_problems` more (sorted by length with
    the problems, so a batch holds `batch_size - drill_rows + tir_rows` of both). Padding sits
    after each sequence, where a causal model never attends from a real token, so no attention
    mask is needed.
    """
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    pad = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    n_problems = batch_size - drill_rows
    if tir_problems is None:
        tir_rows = 0
    while True:
        examples = [encode_example(tokenizer, next(problems), im_end) for _ in range(n_problems * pool)]
        examples += [encode_tir_example(tokenizer, *next(tir_problems), im_end) for _ in range(tir_rows * pool)]
        examples.sort(key=lambda e: len(e[0]))
        per_batch = n_problems + tir_rows
        chunks = [examples[i : i + per_batch] for i in range(0, len(examples), per_batch)]
        rng.shuffle(chunks)
        for chunk in chunks:
            width = max(len(ids) for ids, _ in chunk)
            chunk = chunk + [arithmetic_row(tokenizer, problems, width, rng) for _ in range(drill_rows)]
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
            for row, (ids, row_labels) in enumerate(chunk):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                labels[row, : len(ids)] = torch.tensor(row_labels)
            yield input_ids, labels


def learning_rate(step: int, recipe: Recipe) -> float:
    """Linear warm-up, then cosine decay to `min_lr_ratio * lr` at `recipe.steps`."""
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = min(1.0, (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps))
    floor = recipe.min_lr_ratio * recipe.lr
    return floor + (recipe.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def heldout_texts(path: Path) -> list[str]:
    """Problem texts that training must never see (none if the file is absent)."""
    return [p.problem for p in read_jsonl(path)] if path.is_file() else []


def train(
    recipe: Recipe, out: Path, heldout: Path = DEFAULT_HELDOUT_PATH, log_every: int = 50, device: str = "cpu"
):
    """Train a tokenizer and a model from `recipe.seed`; save both to `out`; return them.

    Training runs in fp32: bf16 autocast measured 10x slower on a CPU without native bf16
    (AVX2 only). The weights are saved in `recipe.save_dtype`.
    """
    from transformers import GenerationConfig, Qwen2ForCausalLM

    started = time.monotonic()
    torch.set_num_threads(recipe.threads)
    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)

    if recipe.init:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(recipe.init)
        stop_ids = [tokenizer.convert_tokens_to_ids(IM_END), tokenizer.convert_tokens_to_ids(ENDOFTEXT)]
        model = Qwen2ForCausalLM.from_pretrained(recipe.init, dtype=torch.float32).to(device)
        print(f"going on from {recipe.init}", flush=True)
    else:
        tokenizer = build_tokenizer(recipe)
        stop_ids = [tokenizer.convert_tokens_to_ids(IM_END), tokenizer.convert_tokens_to_ids(ENDOFTEXT)]
        config = tiny_qwen2_config(
            len(tokenizer),
            hidden_size=recipe.hidden_size,
            layers=recipe.layers,
            heads=recipe.heads,
            kv_heads=recipe.kv_heads,
            intermediate_size=recipe.intermediate_size,
            eos_token_id=stop_ids,
        )
        model = Qwen2ForCausalLM(config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"tokenizer: {len(tokenizer)} tokens; model: {n_params / 1e6:.2f}M parameters", flush=True)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
        betas=(0.9, 0.95),
    )
    excluded = heldout_texts(heldout)
    problems = stream_problems(recipe.seed, exclude=excluded)
    tir_problems = stream_tir_problems(recipe.seed, exclude=excluded) if recipe.tir_rows else None
    batches = training_batches(tokenizer, problems, recipe.batch_size, random.Random(recipe.seed), recipe.drill_rows,
                               tir_problems=tir_problems, tir_rows=recipe.tir_rows)
    deadline = started + 60 * recipe.max_minutes
    model.train()
    train_started = time.monotonic()
    step, tokens, running = 0, 0, None
    for step in range(recipe.steps):
        if time.monotonic() > deadline:
            print(f"time budget of {recipe.max_minutes} minutes reached at step {step}; saving", flush=True)
            break
        input_ids, labels = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, recipe)
        loss = model(input_ids=input_ids.to(device), labels=labels.to(device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += input_ids.numel()
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        if step % log_every == 0 or step == recipe.steps - 1:
            elapsed = time.monotonic() - started
            print(f"step {step:5d}  loss {running:.4f}  lr {learning_rate(step, recipe):.2e}  "
                  f"{tokens / (time.monotonic() - train_started):,.0f} tok/s  {elapsed / 60:.1f} min", flush=True)
    else:
        step = recipe.steps
    model.eval()
    # Sampling defaults as Qwen's Instruct checkpoints ship them (do_sample on), so that servers that
    # read them (`transformers serve` samples only when do_sample is true) sample like the app: top-p
    # alone, top-k off. The app's own decode loop passes its settings explicitly.
    model.generation_config = GenerationConfig(
        eos_token_id=stop_ids, pad_token_id=stop_ids[1], do_sample=True, temperature=1.0, top_p=0.9, top_k=0
    )
    save(model.cpu(), tokenizer, out, recipe.save_dtype)
    print(f"saved to {out} after {step} steps in {(time.monotonic() - started) / 60:.1f} minutes", flush=True)
    return model, tokenizer


def save(model, tokenizer, out: Path, dtype: str) -> None:
    """Model (safetensors, in `dtype`), generation config and tokenizer, loadable offline."""
    out.mkdir(parents=True, exist_ok=True)
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def extract_boxed_int(text: str) -> str | None:
    """The integer in the last `\\boxed{...}`, or None (enough for these synthetic answers)."""
    found = _BOXED_INT.findall(text)
    return found[-1] if found else None


def majority(answers: Sequence[str | None]) -> str | None:
    """Most frequent answer; a tie goes to the answer reached first; no answer votes for nothing."""
    counts = Counter(a for a in answers if a is not None)
    return counts.most_common(1)[0][0] if counts else None


def _generate(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, **sampling) -> list[str]:
    """Decoded continuations of left-padded prompts (one per prompt and returned sequence)."""
    pad = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    width = max(len(p) for p in prompts)
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    out = model.generate(
        input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device), max_new_tokens=max_new_tokens,
        **sampling,
    )
    return tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)


def measure(
    model_dir: Path,
    heldout: Path = DEFAULT_HELDOUT_PATH,
    limit: int | None = None,
    samples: int = 8,
    temperature: float = 1.0,
    top_p: float = 0.9,
    seed: int = 0,
    max_new_tokens: int = 200,
    threads: int = 2,
    device: str = "cpu",
    chunk: int = 8,
) -> dict[str, float]:
    """Greedy, Maj@`samples`, mean-sample and pass@`samples` accuracy on held-out problems.

    Problems go `chunk` at a time: one greedy batch, then one batch of `chunk * samples` samples.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
    problems = read_jsonl(heldout)[:limit]
    prompts = [build_prompt(tokenizer, p.problem, QWEN2_MATH) for p in problems]
    greedy_right = maj_right = sample_right = any_right = 0
    torch.manual_seed(seed)
    with torch.inference_mode():
        for start in range(0, len(problems), chunk):
            batch = problems[start : start + chunk]
            batch_prompts = prompts[start : start + chunk]
            greedy = _generate(model, tokenizer, batch_prompts, max_new_tokens, do_sample=False)
            sampled = _generate(
                model, tokenizer, batch_prompts, max_new_tokens, do_sample=True,
                temperature=temperature, top_p=top_p, top_k=0, num_return_sequences=samples,
            )
            for i, problem in enumerate(batch):
                answers = [extract_boxed_int(t) for t in sampled[i * samples : (i + 1) * samples]]
                greedy_right += extract_boxed_int(greedy[i]) == problem.answer
                maj_right += majority(answers) == problem.answer
                sample_right += sum(a == problem.answer for a in answers)
                any_right += problem.answer in answers
    n = len(problems)
    return {
        "problems": n,
        "greedy": greedy_right / n,
        f"maj@{samples}": maj_right / n,
        "mean_sample": sample_right / (n * samples),
        f"pass@{samples}": any_right / n,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line: the recipe's fields as flags, plus --out, --heldout and --measure."""
    defaults = Recipe()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT_PATH)
    parser.add_argument("--measure", type=Path, default=None, metavar="MODEL_DIR",
                        help="report held-out accuracy of a saved model instead of training")
    parser.add_argument("--measure-limit", type=int, default=None, help="first N held-out problems only")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--measure-chunk", type=int, default=8, help="problems per generate call")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--device", default="cpu", help="where to train or measure (the shipped model: cpu)")
    for name, value in vars(defaults).items():
        flag = "--" + name.replace("_", "-")
        if name == "save_dtype":
            parser.add_argument(flag, choices=("fp32", "bf16"), default=value, help="dtype of the saved weights")
        else:
            parser.add_argument(flag, type=type(value), default=value)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Train and save the bundled model, or measure a saved one."""
    args = parse_args(argv)
    if args.measure is not None:
        result = measure(
            args.measure, args.heldout, args.measure_limit, args.samples, threads=args.threads, device=args.device,
            chunk=args.measure_chunk,
        )
        print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
        return
    try:
        recipe = Recipe(**{k: getattr(args, k) for k in vars(Recipe())})
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    train(recipe, args.out, args.heldout, args.log_every, args.device)


if __name__ == "__main__":
    main()
