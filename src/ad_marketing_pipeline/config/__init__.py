"""Typed configuration of the whole pipeline, parsed once at the entry point.

Sources, lowest precedence first: `conf/<env>.yml` (or `--conf FILE`), environment variables
`AD_PIPELINE__<SECTION>__<KEY>=value` (double underscores between levels), then `--set key=value`
flags. Values are YAML scalars (`--set source.max_offsets_per_trigger=5000`). Invalid
configuration raises `ConfigError` naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ad_marketing_pipeline.config.secret_patterns import (
    MASK,
    SECRET_KEY_PATTERN,
    SECRET_TEXT_PATTERN,
    _holds_secret,
    is_secret_key,
    scrub,
)
from ad_marketing_pipeline.errors import ConfigError

__all__ = [
    "CONF_DIR_VARIABLE",
    "ENV_PREFIX",
    "LOCAL_KAFKA_BOOTSTRAP",
    "LOCAL_KAFKA_TOPIC",
    "MASK",
    "SECRET_KEY_PATTERN",
    "SECRET_TEXT_PATTERN",
    "AttributionConfig",
    "BudgetPolicy",
    "ChannelRule",
    "EventHubsAuth",
    "EventHubsConnectionString",
    "EventHubsServicePrincipal",
    "EventHubsSource",
    "FaultsConfig",
    "FilesSource",
    "Identifier",
    "KafkaSaslMechanism",
    "KafkaSecurityProtocol",
    "KafkaSource",
    "OpsConfig",
    "PathsConfig",
    "PipelineConfig",
    "QualityConfig",
    "ServingConfig",
    "SourceConfig",
    "SparkSettings",
    "TableNames",
    "TriggerConfig",
    "checked_interval",
    "config_error_from",
    "is_secret_key",
    "join_path",
    "load_config",
    "parse_override",
    "redacted_dump",
    "resolve_conf_file",
    "scrub",
    "secret_values",
]

ENV_PREFIX = "AD_PIPELINE__"
CONF_DIR_VARIABLE = "AD_PIPELINE_CONF_DIR"
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"

Identifier = Annotated[str, Field(pattern=_IDENTIFIER)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        """As pydantic's, with the secret-looking values of free-form maps (`source.options`,
        `spark.conf`) masked, as `SecretStr` fields are: a printed or logged config shows no
        secret."""
        for name, value in super().__repr_args__():
            if not isinstance(value, dict):
                yield name, value
                continue
            yield (
                name,
                {
                    key: MASK if is_secret_key(str(key)) or _holds_secret(str(item)) else item
                    for key, item in value.items()
                },
            )


class TableNames(_Frozen):
    """Table names inside the configured catalog and schema (the layer is the name prefix)."""

    bronze_events: Identifier = "bronze_ad_events"
    silver_events: Identifier = "silver_ad_events"
    silver_quarantine: Identifier = "silver_quarantine"
    # Views of silver_ad_events, one per event type, with that type's columns only.
    silver_ad_clicks: Identifier = "silver_ad_clicks"
    silver_impressions: Identifier = "silver_impressions"
    silver_conversions: Identifier = "silver_conversions"
    silver_conversion_cancellations: Identifier = "silver_conversion_cancellations"
    silver_click_refunds: Identifier = "silver_click_refunds"
    silver_budget_updates: Identifier = "silver_budget_updates"
    silver_page_views: Identifier = "silver_page_views"
    ops_streaming_progress: Identifier = "ops_streaming_progress"
    ops_data_quality: Identifier = "ops_data_quality"
    ops_dead_letters: Identifier = "ops_dead_letters"
    gold_advertisers: Identifier = "gold_advertisers"
    gold_advertiser_spend: Identifier = "gold_advertiser_spend"
    gold_hourly_spend: Identifier = "gold_hourly_spend"
    gold_daily_spend: Identifier = "gold_daily_spend"
    gold_monthly_spend: Identifier = "gold_monthly_spend"
    gold_serving_advertisers: Identifier = "gold_serving_advertisers"
    gold_serving_status: Identifier = "gold_serving_status"
    gold_latest_serving_status: Identifier = "gold_latest_serving_status"
    gold_latest_changed_budgets: Identifier = "gold_latest_changed_budgets"
    gold_hourly_average_budget: Identifier = "gold_hourly_average_budget"
    gold_combined_spend_budget: Identifier = "gold_combined_spend_budget"
    gold_aggregated_advertiser_spend: Identifier = "gold_aggregated_advertiser_spend"
    gold_fact_conversions: Identifier = "gold_fact_conversions"
    gold_fact_ad_performance: Identifier = "gold_fact_ad_performance"
    gold_sessions: Identifier = "gold_sessions"
    gold_touchpoints: Identifier = "gold_touchpoints"
    gold_conversion_paths: Identifier = "gold_conversion_paths"
    gold_attribution: Identifier = "gold_attribution"
    gold_attribution_comparison: Identifier = "gold_attribution_comparison"
    gold_channel_performance: Identifier = "gold_channel_performance"


class PathsConfig(_Frozen):
    """Where the pipeline keeps its files. Relative paths are under `root`; `root` itself is
    relative to the working directory unless absolute or a URI (`dbfs:/`, `abfss://`, ...)."""

    root: str = ".pipeline"
    warehouse: str = "warehouse"
    landing: str = "landing"
    checkpoints: str = "checkpoints"


class FilesSource(_Frozen):
    """JSON-lines files dropped in the landing folder (Auto Loader on Databricks)."""

    kind: Literal["files"] = "files"
    path: str | None = Field(default=None, description="defaults to paths.landing")
    file_pattern: str = "*.jsonl"
    max_files_per_trigger: PositiveInt | None = None


KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


# The local broker of `make kafka` / `ad-pipeline kafka-broker`, and the topic the CLI uses
# with it when the configuration names no Kafka source (`run --source kafka`,
# `generate --to kafka`).
LOCAL_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
LOCAL_KAFKA_TOPIC = "ad-events"


class KafkaSource(_Frozen):
    """An Apache Kafka topic (or topics, or a pattern)."""

    kind: Literal["kafka"]
    bootstrap_servers: Annotated[str, Field(min_length=1)]
    topics: list[str] = Field(default_factory=list)
    topic_pattern: str | None = None
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: PositiveInt | None = None
    fail_on_data_loss: bool = True
    security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    sasl_mechanism: KafkaSaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_env: str = "KAFKA_SASL_PASSWORD"
    options: dict[str, str] = Field(default_factory=dict, description="extra kafka.* options")

    @model_validator(mode="after")
    def _one_subscription(self) -> KafkaSource:
        if bool(self.topics) == bool(self.topic_pattern):
            raise ValueError("set exactly one of topics (a list) or topic_pattern (a regex)")
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism and "
                "sasl_username (the password comes from sasl_password or its env variable)"
            )
        return self


class EventHubsConnectionString(_Frozen):
    """Event Hubs auth with a connection string (SASL PLAIN, user `$ConnectionString`)."""

    mode: Literal["connection_string"]
    connection_string: SecretStr | None = None
    secret_scope: str | None = None
    secret_key: str = "eventhubs-connection-string"
    env_var: str = "EVENTHUBS_CONNECTION_STRING"


class EventHubsServicePrincipal(_Frozen):
    """Event Hubs auth as an Entra ID service principal (OAUTHBEARER, client credentials)."""

    mode: Literal["service_principal"]
    tenant_id: Annotated[str, Field(min_length=1)]
    client_id: Annotated[str, Field(min_length=1)]
    client_secret: SecretStr | None = None
    secret_scope: str | None = None
    secret_key: str = "eventhubs-client-secret"
    env_var: str = "EVENTHUBS_CLIENT_SECRET"


EventHubsAuth = Annotated[
    EventHubsConnectionString | EventHubsServicePrincipal, Field(discriminator="mode")
]


class EventHubsSource(_Frozen):
    """Azure Event Hubs read through its Kafka-compatible endpoint (port 9093)."""

    kind: Literal["eventhubs"]
    namespace: Annotated[str, Field(min_length=1, description="name or host name")]
    event_hub: Annotated[str, Field(min_length=1)]
    consumer_group: str = "$Default"
    auth: EventHubsAuth
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: PositiveInt | None = None
    fail_on_data_loss: bool = True
    # Kafka client settings Microsoft recommends for Event Hubs' Kafka endpoint.
    request_timeout_ms: PositiveInt = 60_000
    session_timeout_ms: PositiveInt = 30_000
    metadata_max_age_ms: PositiveInt = 180_000
    connections_max_idle_ms: PositiveInt = 180_000


SourceConfig = Annotated[FilesSource | KafkaSource | EventHubsSource, Field(discriminator="kind")]


class TriggerConfig(_Frozen):
    """`available_now` processes what is there and stops (schedules); `processing_time` runs on."""

    mode: Literal["available_now", "processing_time"] = "available_now"
    processing_time: str = Field(
        default="1 minute",
        description="micro-batch interval of continuous runs (the serving stream has its own, "
        "serving.processing_time): Silver and Gold cost seconds per micro-batch whatever its "
        "size, so batching every minute leaves the CPU to the serving stream",
    )
    max_files_per_batch: PositiveInt = Field(
        default=1000,
        description="most Delta files one micro-batch of a table-to-table stream (Silver, Gold, "
        "attribution) reads; bounds a batch's memory after a long pause",
    )

    @field_validator("processing_time")
    @classmethod
    def _interval(cls, value: str) -> str:
        return checked_interval(value)


def checked_interval(value: str) -> str:
    """A Spark processing-time interval ('10 seconds', '1 minute'), stripped."""
    if not re.fullmatch(r"\d+\s+(milliseconds?|seconds?|minutes?|hours?)", value.strip()):
        raise ValueError("expected an interval such as '10 seconds' or '1 minute'")
    return value.strip()


class BudgetPolicy(_Frozen):
    """How budgets apply: per day or month, in a time zone; and what no known budget means."""

    period: Literal["day", "month"] = "day"
    timezone: str = "UTC"
    missing_budget: Literal["serve", "block"] = Field(
        default="serve",
        description="serve: an advertiser with no known budget can serve; block: it cannot",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "expected an IANA time zone such as 'UTC' or 'Europe/Berlin'"
            ) from None
        return value


class QualityConfig(_Frozen):
    """Silver's validation limits. Time limits judge an event's timestamp against when the
    record was received (broker / enqueued time, else Bronze's ingest time), never against when
    a layer happens to run, so a record gets the same verdict in every run and every layer."""

    max_future_skew_minutes: NonNegativeInt = 15
    max_event_age_days: PositiveInt | None = Field(
        default=None, description="older events are quarantined; null keeps any age"
    )
    earliest_event_time: datetime = Field(
        default=datetime(2000, 1, 1, tzinfo=UTC),
        description="events stamped before this are quarantined (timestamp_too_old): a year-1 "
        "timestamp is a broken clock, not history",
    )
    max_payload_bytes: PositiveInt = 102_400
    max_amount: Annotated[Decimal, Field(gt=0)] = Field(
        default=Decimal(100_000),
        description="largest cost of one click or impression, or one refund, accepted "
        "(value_out_of_range above it)",
    )
    max_revenue: Annotated[Decimal, Field(gt=0)] = Field(
        default=Decimal(1_000_000_000), description="largest revenue of one conversion accepted"
    )
    max_budget_value: Annotated[Decimal, Field(gt=0)] = Field(
        default=Decimal(100_000_000_000), description="largest budget value accepted"
    )

    @field_validator("earliest_event_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("max_amount", "max_revenue", "max_budget_value")
    @classmethod
    def _fits_money(cls, value: Decimal) -> Decimal:
        if value >= Decimal(10) ** 12:
            raise ValueError("must be below 10^12, the largest value DECIMAL(18, 6) holds")
        return value


class ChannelRule(_Frozen):
    """Maps touches whose source/medium/platform match these regexes (case-insensitive) to a
    channel. User rules are tried before the default grouping."""

    channel: Annotated[str, Field(min_length=1)]
    source: str | None = None
    medium: str | None = None
    platform: str | None = None

    @model_validator(mode="after")
    def _has_matcher(self) -> ChannelRule:
        patterns = [p for p in (self.source, self.medium, self.platform) if p is not None]
        if not patterns:
            raise ValueError("a channel rule needs at least one of source, medium, platform")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{pattern!r} is not a valid regex: {error}") from None
        return self


class AttributionConfig(_Frozen):
    """Sessions, conversion paths and attribution models."""

    lookback_days: PositiveInt = 14
    session_timeout_minutes: PositiveInt = 30
    time_decay_half_life_days: PositiveFloat = 7.0
    position_based_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)
    max_path_length: PositiveInt | None = None
    collapse_repeated_channels: bool = True
    drop_direct_unless_only: bool = False
    markov_window_days: PositiveInt = 90
    channel_rules: list[ChannelRule] = Field(default_factory=list)

    @field_validator("position_based_weights")
    @classmethod
    def _weights_sum_to_one(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(weight < 0 for weight in value) or abs(sum(value) - 1.0) > 1e-9:
            raise ValueError(
                "expected three non-negative weights (first, middle, last) summing to 1"
            )
        return value


class ServingConfig(_Frozen):
    """The serving stream (source -> gold_serving_status, `run --layers serving`)."""

    state_partitions: PositiveInt = Field(
        default=1,
        description="partitions of its click de-duplication state and aggregation; fixed at "
        "the stream's first start (Spark keeps it in the checkpoint). One keeps its "
        "micro-batches short; raise it when one task cannot keep up with the click rate",
    )
    processing_time: str = Field(
        default="1 second",
        description="its micro-batch interval in continuous runs, whatever trigger.processing_time "
        "says for the other layers: can_serve is as fresh as this stream's batches (a batch "
        "longer than the interval is followed by the next at once)",
    )

    @field_validator("processing_time")
    @classmethod
    def _interval(cls, value: str) -> str:
        return checked_interval(value)


class OpsConfig(_Frozen):
    """The operations tables."""

    retention_days: PositiveInt = Field(
        default=30,
        description="ops_streaming_progress rows older than this are deleted when a run starts, "
        "hourly while it runs, and by the maintenance job; `ad-pipeline status` reads this "
        "window",
    )


class FaultsConfig(_Frozen):
    """Fault injection for the pipeline's own crash tests; never set it in production."""

    kill_at_write: str | None = Field(
        default=None,
        description="'<layer>:<n>': the process kills itself (SIGKILL, its process group) "
        "before the n-th write (from 1) of that layer's first micro-batch that makes n writes; "
        "n = writes + 1 kills after the batch's last write, before its checkpoint commit",
    )
    action: Literal["kill", "raise"] = Field(
        default="kill",
        description="kill: SIGKILL as a crash does; raise: fail the micro-batch with an error "
        "instead (its stream stops; the next run replays the batch), for tests in one process",
    )

    @field_validator("kill_at_write")
    @classmethod
    def _point(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z_]+:[1-9][0-9]*", value):
            raise ValueError("expected '<layer>:<n>', e.g. 'gold:2'")
        return value


class SparkSettings(_Frozen):
    """The local Spark session (ignored on Databricks, which provides its own)."""

    master: str = "local[*]"
    app_name: str = "ad-marketing-pipeline"
    shuffle_partitions: PositiveInt = 4
    driver_memory: str = "2g"
    jars_dir: str | None = Field(
        default=".jars/spark",
        description="folder of the Delta and Kafka jars (`make jars`); when missing, Spark "
        "downloads the same Maven coordinates itself",
    )
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "WARN"
    conf: dict[str, str] = Field(default_factory=dict, description="extra spark.* settings")


class PipelineConfig(_Frozen):
    """Everything a run needs; built by `load_config`, passed down as one object."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    env: Annotated[str, Field(min_length=1)]
    catalog: Annotated[str, Field(pattern=_IDENTIFIER)] | None = None
    schema_name: Annotated[str, Field(alias="schema", pattern=_IDENTIFIER)] = "ad_marketing"
    tables: TableNames = TableNames()
    paths: PathsConfig = PathsConfig()
    source: SourceConfig = FilesSource()
    trigger: TriggerConfig = TriggerConfig()
    budget: BudgetPolicy = BudgetPolicy()
    quality: QualityConfig = QualityConfig()
    attribution: AttributionConfig = AttributionConfig()
    serving: ServingConfig = ServingConfig()
    ops: OpsConfig = OpsConfig()
    spark: SparkSettings = SparkSettings()
    faults: FaultsConfig = FaultsConfig()

    @property
    def namespace(self) -> str:
        """`catalog.schema` on Unity Catalog, `schema` locally."""
        return f"{self.catalog}.{self.schema_name}" if self.catalog else self.schema_name

    def table(self, name: str) -> str:
        """Fully qualified name of a table by its key in `tables` (e.g. 'bronze_events')."""
        return f"{self.namespace}.{getattr(self.tables, name)}"

    def path(self, name: Literal["warehouse", "landing", "checkpoints"]) -> str:
        """An absolute path or URI of one of the configured folders."""
        return join_path(self.paths.root, getattr(self.paths, name))

    def checkpoint(self, query_name: str) -> str:
        """The checkpoint location of one streaming query."""
        return join_path(self.path("checkpoints"), query_name)

    @property
    def landing_path(self) -> str:
        if isinstance(self.source, FilesSource) and self.source.path:
            return join_path(self.paths.root, self.source.path)
        return self.path("landing")


def _is_absolute(path: str) -> bool:
    return path.startswith("/") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path) is not None


def join_path(base: str, path: str) -> str:
    """`path` if absolute or a URI, otherwise `path` under `base`."""
    if _is_absolute(path):
        return path
    return f"{base.rstrip('/')}/{path}"


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _set_dotted(data: dict[str, Any], dotted_key: str, value: Any) -> None:
    parts = [part for part in dotted_key.split(".") if part]
    if not parts:
        raise ConfigError(f"override {dotted_key!r} has no key")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _yaml_problem(error: yaml.YAMLError) -> str:
    """What PyYAML found wrong and where, without the snippet of the text it quotes (the line
    may hold a secret)."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        what = ", ".join(part for part in (error.context, error.problem) if part)
        return f"{what} (line {mark.line + 1}, column {mark.column + 1})"
    return type(error).__name__


def _parse_scalar(key: str, text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError as error:
        # The value is not repeated: it may be a secret (the user has it at hand anyway).
        raise ConfigError(
            f"{key}: the value is not a valid YAML scalar: {_yaml_problem(error)}; quote it"
        ) from None


def parse_override(assignment: str) -> tuple[str, Any]:
    """`key.path=value` as (key path, YAML-typed value)."""
    key, separator, text = assignment.partition("=")
    if not separator or not key.strip():
        # Only the leading key-like part is shown: what follows may be a value (a secret).
        shown = re.match(r"[\w.-]*", assignment.strip())
        start = shown.group() if shown else ""
        raise ConfigError(
            f"override {start!r}{'...' if start != assignment.strip() else ''} must look like "
            "section.key=value"
        )
    return key.strip(), _parse_scalar(key.strip(), text)


def _environment_overrides(environ: Mapping[str, str]) -> list[tuple[str, Any]]:
    overrides = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX):
            key = ".".join(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            overrides.append((key, _parse_scalar(name, environ[name])))
    return overrides


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file {path} does not exist (pass --conf FILE, or --env NAME with "
            f"conf/NAME.yml in the working directory or in ${CONF_DIR_VARIABLE})"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(error)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, not {type(data).__name__}")
    return data


def _masked(value: Any) -> Any:
    """`value` with the values of secret-looking keys, at any depth, and secret-looking strings
    masked."""
    if isinstance(value, Mapping):
        return {k: MASK if is_secret_key(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    if isinstance(value, str) and _holds_secret(value):
        return MASK
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _secrets_in(value: Any) -> Iterator[str]:
    """The strings under secret-looking keys in plain data, and secret-looking strings."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item) if is_secret_key(str(key)) else _secrets_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets_in(item)
    elif isinstance(value, str) and _holds_secret(value):
        yield value


def secret_values(model: BaseModel) -> set[str]:
    """Every secret a configuration holds: its `SecretStr` values, and the values of
    secret-looking keys in its free-form maps (`source.options`, `spark.conf`)."""
    found: set[str] = set()
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found |= secret_values(value)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, BaseModel):
                    found |= secret_values(item)
        elif isinstance(value, Mapping):
            found.update(_secrets_in(value))
    return found - {""}


def _members(annotation: Any) -> list[Any]:
    """The types an annotation allows, with `Annotated` and unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _is_tag(model: type[BaseModel], part: int | str) -> bool:
    """Whether `part` is `model`'s tag in a discriminated union (its `kind` or `mode`)."""
    return any(
        get_origin(field.annotation) is Literal and part in get_args(field.annotation)
        for field in model.model_fields.values()
    )


def _in_free_form_map(location: Sequence[int | str]) -> bool:
    """Whether pydantic's error `location` lies inside a free-form map of the configuration
    (`source.options`, `spark.conf`): no model checks the spelling of its keys, so a misspelled
    secret key there looks like any other."""
    annotations: list[Any] = [PipelineConfig]
    for part in location:
        following: list[Any] = []
        for annotation in (member for a in annotations for member in _members(a)):
            origin = get_origin(annotation)
            if origin is dict or annotation is dict:
                return True
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                fields = {f.alias or name: f for name, f in annotation.model_fields.items()}
                field = fields.get(str(part)) or annotation.model_fields.get(str(part))
                if field is not None:
                    following.append(field.annotation)
                elif _is_tag(annotation, part):  # pydantic names the union member it tried
                    following.append(annotation)
            elif origin in (list, tuple) and isinstance(part, int):
                following.extend(get_args(annotation))
        annotations = following
    return False


def _shown(value: Any) -> str:
    """`value` as an error may quote it: a mapping by its keys only (a value under a misspelled
    key may be a secret), strings that look like secrets masked."""
    if isinstance(value, Mapping):
        keys = ", ".join(repr(str(key)) for key in value)
        return f"a mapping with keys {keys}" if keys else "an empty mapping"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    return repr(_masked(value))


def _child(node: Any, part: int | str) -> tuple[bool, Any]:
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _input_key_path(data: Any, location: Sequence[int | str]) -> tuple[str, Any, bool]:
    """The user's key path for an error location (dropping union tags pydantic inserts), the
    value found there, and whether it was found."""
    parts: list[str] = []
    node: Any = data
    found = True
    for part in location:
        present, child = _child(node, part)
        if present:
            parts.append(str(part))
            node = child
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and node.get("kind", node.get("mode")) == part
        ):
            continue  # the discriminator tag of a union member
        else:
            parts.append(str(part))
            found = False
            node = None
    return ".".join(parts), node, found


def _describe(key: str, value: Any, found: bool, location: Sequence[int | str]) -> str:
    """The value at an error's location as the error may show it: never a secret."""
    if not found:
        return "missing"
    if is_secret_key(key):
        return repr(MASK)
    if _in_free_form_map(location) and not isinstance(value, Mapping):
        return f"a value of type {type(value).__name__}, not shown"
    return _shown(value)


def config_error_from(error: ValidationError, data: Mapping[str, Any], origin: str) -> ConfigError:
    """A `ConfigError` naming each bad key, its value and what is allowed. No secret is shown:
    values of secret-looking keys are masked, an unknown key's value is never shown (it may be
    a misspelled secret), nor a free-form map's, and a mapping is shown by its keys."""
    lines = []
    for issue in error.errors():
        location = tuple(issue["loc"])
        if issue["type"] in ("union_tag_invalid", "union_tag_not_found"):
            location += (str(issue.get("ctx", {}).get("discriminator", "")).strip("'"),)
        key, value, found = _input_key_path(data, location)
        if issue["type"] == "extra_forbidden":
            lines.append(
                f"  {key}: unknown key (check the spelling; see conf/local.yml for every key)"
            )
            continue
        message = issue["msg"].removeprefix("Value error, ")
        described = _describe(key, value, found, location)
        lines.append(f"  {key or '<top level>'}: {message} (got {described})")
    # Should a validator's message quote its input, the secrets given are masked there too
    # (strings this short would mask ordinary words of the message instead).
    secrets = {secret for secret in _secrets_in(data) if len(secret) >= 4}
    text = f"invalid configuration from {origin}:\n" + "\n".join(lines)
    return ConfigError(scrub(text, secrets))


def resolve_conf_file(
    env: str, conf_file: str | Path | None, environ: Mapping[str, str], cwd: Path
) -> Path:
    """The YAML file to read: `--conf` if given, else conf/<env>.yml."""
    if conf_file is not None:
        return Path(conf_file)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", env):
        raise ConfigError(f"env {env!r} must be a plain name such as local, dev or prod")
    conf_dir = Path(environ.get(CONF_DIR_VARIABLE, cwd / "conf"))
    return conf_dir / f"{env}.yml"


def load_config(
    env: str = "local",
    *,
    conf_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> PipelineConfig:
    """Read conf/<env>.yml (or `conf_file`), apply environment and flag overrides, validate."""
    environ = environ or {}
    cwd = cwd or Path.cwd()
    path = resolve_conf_file(env, conf_file, environ, cwd)
    if conf_file is None and env == "local" and not path.exists():
        # Outside a checkout: the built-in defaults are what conf/local.yml lists.
        data: dict[str, Any] = {}
    else:
        data = _read_yaml(path)
    data.setdefault("env", env)
    for key, value in _environment_overrides(environ):
        _set_dotted(data, key, value)
    for assignment in overrides:
        _set_dotted(data, *parse_override(assignment))
    source = data.get("source")
    if isinstance(source, dict):
        source.setdefault("kind", "files")  # the default source, as in conf/local.yml
    paths = data.get("paths")
    if isinstance(paths, dict) and isinstance(paths.get("root"), str):
        paths["root"] = join_path(str(cwd), paths["root"])
    elif paths is None or isinstance(paths, dict):
        data.setdefault("paths", {}).setdefault("root", join_path(str(cwd), PathsConfig().root))
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as error:
        raise config_error_from(error, data, str(path)) from None


def redacted_dump(config: PipelineConfig) -> dict[str, Any]:
    """The configuration as plain data for printing; secrets show as '**********': `SecretStr`
    settings, and values of secret-looking keys in free-form maps (`source.options`,
    `spark.conf`)."""
    dumped: dict[str, Any] = config.model_dump(mode="json", by_alias=True)
    return _masked_maps(config, dumped)


def _masked_maps(model: BaseModel, dumped: dict[str, Any]) -> dict[str, Any]:
    """`dumped` (the JSON dump of `model`) with its free-form maps masked."""
    shown = dict(dumped)
    for name, field in type(model).model_fields.items():
        key = field.serialization_alias or field.alias or name
        value = getattr(model, name)
        if key not in shown:
            continue
        if isinstance(value, BaseModel):
            shown[key] = _masked_maps(value, shown[key])
        elif isinstance(value, Mapping):
            shown[key] = _masked(shown[key])
        elif isinstance(value, list | tuple):
            shown[key] = [
                _masked_maps(item, dumped_item) if isinstance(item, BaseModel) else dumped_item
                for item, dumped_item in zip(value, shown[key], strict=True)
            ]
    return shown
