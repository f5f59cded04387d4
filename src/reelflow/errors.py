"""The errors reelflow raises on purpose, for code that wants to catch one kind.

Every one is a :class:`ReelflowError` whose message is one sentence saying what is wrong and how
to fix it.
"""

from reelflow._errors import (
    ArtifactNotFoundError,
    ConfigError,
    CorruptObjectError,
    DataError,
    ExecutorError,
    FlowDefinitionError,
    GuardError,
    GuardFailedError,
    MergeArtifactsError,
    ModelError,
    NotFittedError,
    ParameterError,
    PromotionRefusedError,
    ReelflowError,
    RegistryError,
    ResumeError,
    RunInterruptedError,
    SerializationError,
    StepFailedError,
    StoreError,
    UsageError,
)

__all__ = [
    "ArtifactNotFoundError",
    "ConfigError",
    "CorruptObjectError",
    "DataError",
    "ExecutorError",
    "FlowDefinitionError",
    "GuardError",
    "GuardFailedError",
    "MergeArtifactsError",
    "ModelError",
    "NotFittedError",
    "ParameterError",
    "PromotionRefusedError",
    "ReelflowError",
    "RegistryError",
    "ResumeError",
    "RunInterruptedError",
    "SerializationError",
    "StepFailedError",
    "StoreError",
    "UsageError",
]
