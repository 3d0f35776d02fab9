"""Exception types raised by the model layer.

Every message is written for a person: it says what went wrong and what to do about it.
Only the UI turns these into banners; the model layer never imports gradio.
"""

from __future__ import annotations


class ModelError(Exception):
    """Base class for every error the model layer raises on purpose."""


class ConfigError(ModelError, ValueError):
    """A configuration value or a combination of values is invalid."""


class ModelNotFoundError(ModelError):
    """The weights could not be found locally and could not be downloaded."""


class NotACausalLMError(ModelError):
    """A directory or Hub id that does not hold a causal language model we can load."""


class QuantizationUnavailableError(ModelError):
    """4-bit/8-bit quantization was asked for where bitsandbytes cannot run."""


class ModelTooLargeError(ModelError):
    """The model would not fit in the memory of the chosen device."""


class OutOfMemoryError(ModelError):
    """The device ran out of memory while loading or generating."""


class PromptTooLongError(ModelError):
    """The problem does not leave room for an answer within the model's context."""


class InvalidProblemError(ModelError, ValueError):
    """The problem text is empty, too long, or not text."""


class InvalidQuestionError(InvalidProblemError):
    """A follow-up question is empty, too long, or not text (caught wherever a bad problem is)."""


class GenerationError(ModelError):
    """Generation failed for a reason other than memory."""


class RewardModelError(ModelError):
    """A reward model could not be loaded or run."""
