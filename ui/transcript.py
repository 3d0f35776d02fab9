"""A stored attempt as one self-contained HTML file, for printing or sharing.

No scripts, no external resources: markdown rendered by markdown-it-py with raw HTML
disabled, formulas converted to MathML on the server (browsers typeset MathML natively), and
the style inline. Everything written by a person or the model is escaped. Follow-up
questions and their answers follow the solution they are about. The step checker's verdicts
and the checked vote are the ones the log kept with the attempt (`AttemptDetail.analysis`);
an attempt logged without them says its steps were not checked.
"""

from __future__ import annotations

import html
import math

from typing import TYPE_CHECKING

from storage.records import AttemptDetail, TurnRecord
from ui.render import CLUSTER_COLOURS, NO_ANSWER_COLOUR, code_runs_text, markdown_to_html
from ui.stepmarks import mark_markdown

if TYPE_CHECKING:
    from judgements.analysis import RunAnalysis

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#111;line-height:1.5}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.9rem}.problem{background:#f6f7f9;border-left:4px solid #2563eb;padding:.6rem 1rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
details{border:1px solid #ddd;border-left-width:6px;border-radius:4px;margin:.5rem 0;padding:.3rem .8rem}
summary{cursor:pointer}code.latex{background:#fff4e5}math[display=block]{margin:.6rem 0}.slip{color:#b91c1c}
.turn{margin:.4rem 0 .4rem 1rem;padding:.2rem .8rem;border-left:3px solid #ddd}.turn.student{border-left-color:#2563eb;background:#f6f7f9}
@media print{details{break-inside:avoid}details>*{display:block}}
"""


def _text(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _runs(calls: object) -> str:
    """`, 2 Python runs · 0.03 s in the sandbox` for a solution that ran code, else ""."""
    return f", {_text(code_runs_text(calls))}" if calls else ""  # type: ignore[arg-type]


def _answer(value: str | None) -> str:
    if value is None:
        return "<i>none</i>"
    return markdown_to_html(f"${value}$").removeprefix("<p>").removesuffix("</p>\n")


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:.{digits}g}"


def _conversation(turns: tuple[TurnRecord, ...]) -> str:
    """The follow-up questions about one solution and their answers, in order ("" when none)."""
    if not turns:
        return ""
    parts = ["<h3>Follow-up questions</h3>"]
    for turn in turns:
        when = _text(turn.started_at.strftime("%Y-%m-%d %H:%M"))
        if turn.role == "student":
            parts.append(f"<div class='turn student'><p class='meta'>Student · {when}</p>{markdown_to_html(turn.text)}</div>")
        else:
            meta = f"Model · {when} · {_text(turn.finish_reason)} · {_text(turn.tokens)} tokens"
            if turn.model_id:
                meta += f" · {_text(turn.model_id)}"
            parts.append(f"<div class='turn assistant'><p class='meta'>{meta}</p>{markdown_to_html(turn.text)}</div>")
    return "".join(parts)


def _slips(analysis: RunAnalysis | None, index: int) -> str:
    """The wrong claims the checker found in one solution, one line each ("" when none)."""
    check = analysis.of(index) if analysis is not None else None
    if check is None:
        return ""
    lines = []
    for claim in check.wrong:
        said = markdown_to_html(mark_markdown(claim)).removeprefix("<p>").removesuffix("</p>\n")
        lines.append(f"<p class='slip'>⚠ step {claim.step + 1}: {said}</p>")
    return "".join(lines)


def _checked(analysis: RunAnalysis | None) -> str:
    """The checked vote's cell: its answer and how many unflagged samples gave it."""
    checked = analysis.checked if analysis is not None else None
    if checked is None:
        return "<span class='meta'>not checked</span>"
    if checked.fell_back:
        detail_text = f"no unflagged sample answered: Maj@{checked.total} of all"
    else:
        detail_text = f"{checked.count} of {len(checked.kept)} unflagged samples"
    return f"{_answer(checked.answer)}<br><span class='meta'>{_text(detail_text)}</span>"


def transcript_html(detail: AttemptDetail) -> str:
    """The whole attempt: problem, settings, greedy solution, votes, every sample, feedback."""
    greedy = next((s for s in detail.samples if s.kind == "greedy"), None)
    samples = [s for s in detail.samples if s.kind == "sampled"]
    analysis = detail.analysis
    params = ", ".join(
        f"{k} {_text(v)}" for k, v in (
            ("N", detail.n_samples), ("temperature", detail.temperature), ("top-p", detail.top_p),
            ("max new tokens", detail.max_new_tokens), ("seed", detail.seed),
        ) if v is not None
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>Qwen2-Math Studio transcript {_text(detail.id[:8])}</title><style>{STYLE}</style></head><body>",
        "<h1>Qwen2-Math Studio: solution transcript</h1>",
        f"<p class='meta'>{_text(detail.started_at.strftime('%Y-%m-%d %H:%M UTC'))} · {_text(detail.model_id)} · "
        f"{_text(detail.precision)} · {_text(detail.device)} · status {_text(detail.status)}<br>{params}</p>",
        "<h2>Problem</h2>",
        f"<div class='problem'>{markdown_to_html(detail.problem)}</div>",
    ]
    if analysis is None and detail.samples:
        parts.append("<p class='meta'>Steps not checked: the log holds no step checker's verdicts for this attempt.</p>")
    if greedy is not None:
        parts += [
            "<h2>Solution (greedy)</h2>",
            markdown_to_html(greedy.text),
            _slips(analysis, greedy.index),
            f"<p><b>Final answer:</b> {_answer(greedy.answer)} <span class='meta'>({_text(greedy.finish_reason)}, "
            f"{_text(greedy.tokens)} tokens{_runs(greedy.tool_calls)})</span></p>",
            _conversation(detail.turns_about(greedy.index)),
        ]
    if samples:
        rm_kind = "reward" if detail.rm_label == "reward" else "confidence"
        parts += [
            f"<h2>{len(samples)} sampled solutions</h2>",
            "<table><tr><th>Majority vote (Maj@N)</th><th>Checked vote</th><th>Best by " + rm_kind
            + " (RM@N)</th><th>Weighted vote</th><th>Greedy</th></tr>",
            f"<tr><td>{_answer(detail.maj_answer)}<br><span class='meta'>{_text(detail.maj_count)} of {_text(detail.maj_n)} votes</span></td>"
            f"<td>{_checked(analysis)}</td>"
            f"<td>{_answer(detail.rm_answer)}<br><span class='meta'>{rm_kind} {_number(detail.rm_score)}</span></td>"
            f"<td>{_answer(detail.weighted_answer)}</td><td>{_answer(detail.greedy_answer)}</td></tr></table>",
            f"<p>{_text(detail.agreement or '')}</p>",
        ]
        for s in samples:
            colour = CLUSTER_COLOURS[s.cluster] if s.cluster is not None and s.cluster < len(CLUSTER_COLOURS) else NO_ANSWER_COLOUR
            reward = f" · {rm_kind} {_number(s.reward)}" if s.reward is not None else ""
            if s.wrong_steps:
                reward += f" · ⚠ {s.wrong_steps} wrong step{'s' if s.wrong_steps != 1 else ''}"
            steps = ""
            if s.step_rewards:
                steps = "<p class='meta'>step rewards: " + ", ".join(_number(v, 2) for v in s.step_rewards) + "</p>"
            parts.append(
                f"<details style='border-left-color:{colour}'><summary>#{s.index} · answer {_answer(s.answer)}{reward} · "
                f"{_text(s.finish_reason)} · {_text(s.tokens)} tokens{_runs(s.tool_calls)}</summary>{_slips(analysis, s.index)}{markdown_to_html(s.text)}{steps}"
                f"{_conversation(detail.turns_about(s.index))}</details>"
            )
    if detail.feedback:
        parts.append("<h2>Feedback</h2><table><tr><th>when</th><th>who</th><th>about</th><th>verdict</th><th>correct answer</th><th>comment</th></tr>")
        for f in detail.feedback:
            parts.append(
                f"<tr><td>{_text(f.created_at.strftime('%Y-%m-%d %H:%M'))}</td><td>{_text(f.author)}</td><td>{_text(f.target)}"
                f"{' #' + _text(f.sample_index) if f.sample_index is not None else ''}</td><td>{_text(f.verdict or '')}</td>"
                f"<td>{_answer(f.correct_answer) if f.correct_answer else ''}</td><td>{_text(f.comment or '')}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
