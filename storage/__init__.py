"""The session log: every solve, its solutions, follow-up questions and people's feedback, in SQL via SQLAlchemy 2.

Plain records in and out; never imports torch, transformers, gradio or `model`. Open a
`Store` and log with it; docs/storage.md is the specification, module by module.
"""

from storage.engine import DB_URL_ENV, DEFAULT_DB_URL, resolve_db_url
from storage.errors import (
    DatabaseUnavailableError,
    InvalidInputError,
    StorageConfigError,
    StorageError,
    TeacherAccessError,
)
from storage.records import (
    ATTEMPT_STATUSES,
    BACKENDS,
    FEEDBACK_FILTERS,
    FEEDBACK_TARGETS,
    TURN_ROLES,
    AttemptDetail,
    AttemptOutcome,
    AttemptQuery,
    AttemptStart,
    AttemptSummary,
    AttemptTimings,
    FeedbackInput,
    FeedbackView,
    FollowUpAnswer,
    LogStatus,
    Page,
    SampleRecord,
    TurnRecord,
)
from storage.session_keys import new_session_id, session_key
from storage.store import Store
from storage.teacher_auth import TeacherAccess

__all__ = [
    "ATTEMPT_STATUSES",
    "BACKENDS",
    "DB_URL_ENV",
    "DEFAULT_DB_URL",
    "FEEDBACK_FILTERS",
    "FEEDBACK_TARGETS",
    "TURN_ROLES",
    "AttemptDetail",
    "AttemptOutcome",
    "AttemptQuery",
    "AttemptStart",
    "AttemptSummary",
    "AttemptTimings",
    "DatabaseUnavailableError",
    "FeedbackInput",
    "FeedbackView",
    "FollowUpAnswer",
    "InvalidInputError",
    "LogStatus",
    "Page",
    "SampleRecord",
    "StorageConfigError",
    "StorageError",
    "Store",
    "TeacherAccess",
    "TeacherAccessError",
    "TurnRecord",
    "new_session_id",
    "resolve_db_url",
    "session_key",
]
