"""Reward models for ranking sampled solutions: outcome, process and likelihood checkpoints.

`load_scorer(spec, ...)` gives a `RewardScorer` (or the confidence fallback and a reason);
the ranking itself is torch-free, in `judgements.ranking`. Specification: README ("How answers are
judged") and `docs/reward.md`. Modules: `modules` (torch), `inputs`, `checkpoint`, `scorers`,
`plan` (precision and memory), `loader`.
"""

from judgements.ranking import ConfidenceScorer, RewardScorer, Score, rank_solutions
from model.reward.checkpoint import (
    save_outcome_rm,
    save_reward_model,
)
from model.reward.inputs import STEP_TOKEN, rm_messages, split_steps
from model.reward.loader import BUNDLED_RM_DIR, load_scorer
from model.reward.modules import (
    LIKELIHOOD_ARCHITECTURE,
    Qwen2ForLikelihoodRewardModel,
    Qwen2ForProcessRewardModel,
    Qwen2ForRewardModel,
    RewardHead,
)
from model.reward.plan import estimate_rm_bytes, parameter_split, plan_precision
from model.reward.scorers import (
    SCORERS,
    LikelihoodRewardScorer,
    OutcomeRewardScorer,
    ProcessRewardScorer,
    make_scorer,
)

__all__ = [
    "BUNDLED_RM_DIR",
    "LIKELIHOOD_ARCHITECTURE",
    "SCORERS",
    "STEP_TOKEN",
    "ConfidenceScorer",
    "LikelihoodRewardScorer",
    "OutcomeRewardScorer",
    "ProcessRewardScorer",
    "Qwen2ForLikelihoodRewardModel",
    "Qwen2ForProcessRewardModel",
    "Qwen2ForRewardModel",
    "RewardHead",
    "RewardScorer",
    "Score",
    "estimate_rm_bytes",
    "load_scorer",
    "make_scorer",
    "parameter_split",
    "plan_precision",
    "rank_solutions",
    "rm_messages",
    "save_outcome_rm",
    "save_reward_model",
    "split_steps",
]
