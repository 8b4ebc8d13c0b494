"""The project's own errors. Messages name the field, the value and what to do."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(PipelineError):
    """The configuration (conf/<env>.yml, flags, environment variables) is not usable."""


class ContractError(PipelineError):
    """An event does not follow the event contract."""


class SetupError(PipelineError):
    """The local runtime is incomplete (Java, the JVM jars, the Kafka broker)."""


class SourceError(PipelineError):
    """The configured source cannot be read: its endpoint refused us, or has no such topic."""
