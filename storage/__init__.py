"""The session log: SQLAlchemy 2 schema, engine set-up, logging of attempts, history queries.

Plain data in, plain data out; this package never imports torch, transformers, gradio or
the `model` package. The UI builds the input records from the model's results and calls a
`Store`; a solution is a `SampleRecord` both ways, mirroring `model.types.Solution` name for
name:

    store = Store.open(config.db_url, teacher_password=config.teacher_password)
    status = store.start_attempt(AttemptStart(session_id, problem, model_id, precision, device, params))
    status = store.finish_attempt(status.attempt_id, AttemptOutcome("done", ...), samples)

See `storage.store` for the guarantees (writes never raise, failures are reported, nothing is
lost while the process lives), `storage.migrations` for the schema's history and
`storage.export` for exports and the `python -m storage.export` command line.
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
    AttemptDetail,
    AttemptOutcome,
    AttemptQuery,
    AttemptStart,
    AttemptSummary,
    AttemptTimings,
    FeedbackInput,
    FeedbackView,
    LogStatus,
    Page,
    SampleRecord,
)
from storage.store import Store, TeacherAccess, new_session_id, session_key

__all__ = [
    "ATTEMPT_STATUSES",
    "BACKENDS",
    "DB_URL_ENV",
    "DEFAULT_DB_URL",
    "FEEDBACK_FILTERS",
    "FEEDBACK_TARGETS",
    "AttemptDetail",
    "AttemptOutcome",
    "AttemptQuery",
    "AttemptStart",
    "AttemptSummary",
    "AttemptTimings",
    "DatabaseUnavailableError",
    "FeedbackInput",
    "FeedbackView",
    "InvalidInputError",
    "LogStatus",
    "Page",
    "SampleRecord",
    "StorageConfigError",
    "StorageError",
    "Store",
    "TeacherAccess",
    "TeacherAccessError",
    "new_session_id",
    "resolve_db_url",
    "session_key",
]
