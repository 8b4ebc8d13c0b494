"""What the synthetic event generator makes: how many lines, over which period and world, with
which seed and which shares of malformed lines and duplicates."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class GeneratorSettings(BaseModel):
    """What to generate: size, the simulated world, the seed and the share of bad lines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: int = Field(default=200_000, ge=1, description="lines written, bad ones included")
    advertisers: int = Field(default=50, ge=1, le=999)
    days: int = Field(default=30, ge=1, le=3_660)
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    seed: int = 7
    malformed_share: float = Field(default=0.01, ge=0, le=0.5)
    duplicate_share: float = Field(default=0.01, ge=0, le=0.5)
    events_per_file: int = Field(default=20_000, ge=1)

    @field_validator("start")
    @classmethod
    def _start_in_utc(cls, value: datetime) -> datetime:
        """A start without a zone is UTC (as in the contract); others are converted to UTC."""
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _leaves_valid_lines(self) -> GeneratorSettings:
        if self.valid_lines < 1:
            raise ValueError(
                f"events={self.events} with malformed_share={self.malformed_share} and "
                f"duplicate_share={self.duplicate_share} leaves no valid event; lower a share"
            )
        return self

    @property
    def malformed_lines(self) -> int:
        """Malformed lines written: `malformed_share` of all lines, rounded down."""
        return int(Decimal(repr(self.malformed_share)) * self.events)

    @property
    def duplicate_lines(self) -> int:
        """Duplicate lines written: `duplicate_share` of all lines, rounded down."""
        return int(Decimal(repr(self.duplicate_share)) * self.events)

    @property
    def valid_lines(self) -> int:
        """Distinct valid events written."""
        return self.events - self.malformed_lines - self.duplicate_lines
