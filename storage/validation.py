"""The input records turned into table rows, or refused with an `InvalidInputError`.

A refused record is a bug in the caller: the store reports it and never keeps it for a retry.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from judgements.solution import ToolCall
from storage.errors import InvalidInputError
from storage.models import utcnow
from storage.records import (
    BACKENDS,
    FEEDBACK_TARGETS,
    FINISHED_STATUSES,
    RANK_LABELS,
    SAMPLE_KINDS,
    VERDICTS,
    AttemptOutcome,
    AttemptStart,
    AttemptTimings,
    FeedbackInput,
    SampleRecord,
    clean_float,
    clean_int,
    clean_text,
)
from storage.session_keys import session_key

# The scheme of a URL, when it has one ("http://", "https://", ...).
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def start_row(attempt_id: str, start: AttemptStart, owner: str) -> dict[str, Any]:
    """The `attempts` row of a solve that begins, `running` and owned by `owner`."""
    if not isinstance(start, AttemptStart):
        raise InvalidInputError(f"expected an AttemptStart, got {type(start).__name__}")
    if not isinstance(start.problem, str) or not start.problem.strip():
        raise InvalidInputError("the problem is empty")
    params = dict(start.params or {})
    try:
        json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the sampling parameters are not plain JSON values ({exc})") from None
    return {
        "id": attempt_id,
        "session_key": session_key(start.session_id),
        "started_at": utcnow(),
        "finished_at": None,
        "status": "running",
        "owner": owner,
        "problem": start.problem,
        "model_id": _required_text("model_id", start.model_id),
        "precision": _required_text("precision", start.precision, 16),
        "device": _required_text("device", start.device or "", 32, allow_empty=True),
        "backend": _choice("backend", start.backend, BACKENDS),
        "server_url": _server_url(start.server_url),
        "params": params,
        "n_samples": clean_int(params.get("n")),
        "temperature": clean_float(params.get("temperature")),
        "top_p": clean_float(params.get("top_p")),
        "max_new_tokens": clean_int(params.get("max_new_tokens")),
        "seed": clean_int(params.get("seed")),
    }


# The columns migrations 0005 (a run's analysis), 0007 (code runs) and 0008 (the votes'
# standings) added. Left out of a write while they hold nothing (they are NULL from the
# start), so that a store on a database not yet at those revisions (an earlier schema opened on purpose, as the upgrade tests do) logs
# unanalysed attempts without code runs as before.
ANALYSIS_COLUMNS = ("checked_answer", "checked_count", "checked_kept", "checked_fell_back", "checked_agrees",
                    "has_wrong_step", "reasoning_map", "vote_standings")
SAMPLE_ANALYSIS_COLUMNS = ("claims", "wrong_steps")


def outcome_values(outcome: AttemptOutcome) -> dict[str, Any]:
    """The `attempts` columns a finished solve sets."""
    if not isinstance(outcome, AttemptOutcome):
        raise InvalidInputError(f"expected an AttemptOutcome, got {type(outcome).__name__}")
    timings = outcome.timings or AttemptTimings()
    _flag("all_agree", outcome.all_agree)
    values = {
        "status": _choice("status", outcome.status, FINISHED_STATUSES),
        "finished_at": utcnow(),
        "queued_s": clean_float(timings.queued_s),
        "ttft_s": clean_float(timings.ttft_s),
        "total_s": clean_float(timings.total_s),
        "prompt_tokens": clean_int(timings.prompt_tokens),
        "generated_tokens": clean_int(timings.generated_tokens),
        "tokens_per_s": clean_float(timings.tokens_per_s),
        "greedy_answer": clean_text(outcome.greedy_answer),
        "maj_answer": clean_text(outcome.maj_answer),
        "maj_count": clean_int(outcome.maj_count),
        "maj_n": clean_int(outcome.n),
        "rm_answer": clean_text(outcome.rm_answer),
        "rm_score": clean_float(outcome.rm_score),
        "rm_label": _choice("rm_label", outcome.rm_label, RANK_LABELS, optional=True),
        "rm_index": _optional_index("rm_index", outcome.rm_index),
        "scorer": clean_text(outcome.scorer),
        "weighted_answer": clean_text(outcome.weighted_answer),
        "agreement": clean_text(outcome.agreement),
        "all_agree": outcome.all_agree,
        "error": clean_text(outcome.error),
        "checked_answer": clean_text(outcome.checked_answer),
        "checked_count": clean_int(outcome.checked_count),
        "checked_kept": _indices("checked_kept", outcome.checked_kept),
        "checked_fell_back": _flag("checked_fell_back", outcome.checked_fell_back),
        "checked_agrees": _flag("checked_agrees", outcome.checked_agrees),
        "has_wrong_step": _flag("has_wrong_step", outcome.has_wrong_step),
        "reasoning_map": _json_object("reasoning_map", outcome.reasoning_map),
        "vote_standings": _json_object("vote_standings", outcome.vote_standings),
    }
    return {k: v for k, v in values.items() if v is not None or k not in ANALYSIS_COLUMNS}


def sample_rows(attempt_id: str, samples: Iterable[SampleRecord]) -> list[dict[str, Any]]:
    """The `samples` rows of an attempt's solutions; no two may share an index."""
    rows = [_sample_row(attempt_id, sample) for sample in samples]
    indices = [row["sample_index"] for row in rows]
    if len(set(indices)) != len(indices):
        raise InvalidInputError(f"two solutions share an index: {sorted(indices)}")
    for group in (SAMPLE_ANALYSIS_COLUMNS, ("tool_calls",)):
        if all(row[name] is None for row in rows for name in group):
            for row in rows:  # none checked, no code run: as before 0005 / 0007 (see ANALYSIS_COLUMNS)
                for name in group:
                    del row[name]
    return rows


def feedback_row(
    attempt_id: str, feedback: FeedbackInput, *, author: str, session_key: str | None
) -> dict[str, Any]:
    """A `feedback` row: a verdict, a correct answer or a comment, about one answer or the attempt."""
    if not isinstance(feedback, FeedbackInput):
        raise InvalidInputError(f"expected a FeedbackInput, got {type(feedback).__name__}")
    if not isinstance(attempt_id, str):
        raise InvalidInputError("the attempt id must be text")
    verdict = _choice("verdict", feedback.verdict, VERDICTS, optional=True)
    correct = clean_text(feedback.correct_answer)
    comment = clean_text(feedback.comment)
    if verdict is None and correct is None and comment is None:
        raise InvalidInputError("give a verdict (right or wrong), the correct answer, or a comment")
    target = _choice("target", feedback.target, FEEDBACK_TARGETS)
    sample_index = clean_int(feedback.sample_index)
    if (target == "sample") != (sample_index is not None):
        raise InvalidInputError("a sample_index is needed for target 'sample', and only for it")
    return {
        "id": uuid.uuid4().hex,
        "attempt_id": attempt_id,
        "session_key": session_key,
        "created_at": utcnow(),
        "author": author,
        "verdict": verdict,
        "correct_answer": correct,
        "comment": comment,
        "target": target,
        "sample_index": sample_index,
    }


def _sample_row(attempt_id: str, sample: SampleRecord) -> dict[str, Any]:
    if not isinstance(sample, SampleRecord):
        raise InvalidInputError(f"expected a SampleRecord, got {type(sample).__name__}")
    index = clean_int(sample.index)
    if index is None or index < 0:
        raise InvalidInputError(f"a solution's index must be a whole number >= 0; got {sample.index!r}")
    if not isinstance(sample.text, str):
        raise InvalidInputError(f"a solution's text must be text; got {type(sample.text).__name__}")
    step_rewards = None
    if sample.step_rewards is not None:
        step_rewards = [clean_float(value) for value in sample.step_rewards]
    finish_reason = clean_text(sample.finish_reason)
    if finish_reason is not None:
        _required_text("finish_reason", finish_reason, 16)
    return {
        "attempt_id": attempt_id,
        "sample_index": index,
        "kind": _choice("kind", sample.kind, SAMPLE_KINDS),
        "text": sample.text,
        "answer": clean_text(sample.answer),
        "cluster": clean_int(sample.cluster),
        "reward": clean_float(sample.reward),
        "step_rewards": step_rewards,
        "tokens": clean_int(sample.tokens),
        "finish_reason": finish_reason,
        "mean_logprob": clean_float(sample.mean_logprob),
        "weight": clean_float(sample.weight),
        "claims": _claims(sample.claims),
        "wrong_steps": _optional_index("wrong_steps", sample.wrong_steps),
        "tool_calls": _tool_calls(sample.tool_calls),
    }


def _required_text(name: str, value: object, max_len: int | None = None, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidInputError(f"{name} must be non-empty text; got {value!r}")
    if max_len is not None and len(value) > max_len:
        raise InvalidInputError(f"{name} must be at most {max_len} characters; got {value!r}")
    return value


def _choice(name: str, value: object, choices: Sequence[str], *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if value not in choices:
        raise InvalidInputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _optional_index(name: str, value: int | None) -> int | None:
    index = clean_int(value)
    if index is not None and index < 0:
        raise InvalidInputError(f"{name} must be a whole number >= 0; got {value!r}")
    return index


def _flag(name: str, value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidInputError(f"{name} must be True, False or None; got {value!r}")
    return value


def _indices(name: str, values: Sequence[int] | None) -> list[int] | None:
    if values is None:
        return None
    found = [_optional_index(name, v) for v in values]
    return [v for v in found if v is not None]


def _tool_calls(calls: Iterable[Any]) -> list[dict[str, Any]] | None:
    """A solution's code runs as stored: a list of `{code, output, ok, elapsed_s}` (None: none)."""
    stored = []
    for call in calls or ():
        if not isinstance(call, ToolCall):
            raise InvalidInputError(f"a code run must be a ToolCall; got {type(call).__name__}")
        stored.append(call.to_dict())
    return stored or None


def _claims(claims: Iterable[Any] | None) -> list[dict[str, Any]] | None:
    """A solution's claims as stored: a list of JSON objects (None: not checked)."""
    if claims is None:
        return None
    found = [_json_object("a claim", claim) for claim in claims]
    return [claim for claim in found if claim is not None]


def _json_object(name: str, value: Any) -> dict[str, Any] | None:
    """A mapping as a JSON column holds it: keys as text, non-finite numbers as null (JSON
    cannot hold them, and a map's mean reward of NaN means none), refused if not JSON."""
    if value is None:
        return None
    if not isinstance(value, dict) and not hasattr(value, "items"):
        raise InvalidInputError(f"{name} must be a mapping of plain JSON values; got {type(value).__name__}")
    plain = _finite(dict(value))
    try:
        json.dumps(plain, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} is not plain JSON values ({exc})") from None
    return plain


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return clean_float(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _server_url(value: str | None) -> str | None:
    """An OpenAI-compatible server's URL as logged: any text, but never with credentials.

    The URL is stored and exported, so user information (`user:password@`, or a token as
    `token@`) in its authority part is refused. The message does not repeat the URL: it
    would put the secret in the log file instead.
    """
    url = clean_text(value)
    if url is None:
        return None
    scheme = _URL_SCHEME.match(url)
    rest = url[scheme.end():] if scheme else url.removeprefix("//")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise InvalidInputError(
            "server_url holds credentials (user:password@host); log the server's URL without "
            "them and give its key some other way"
        )
    return url
