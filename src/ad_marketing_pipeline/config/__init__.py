"""Typed configuration of the whole pipeline, parsed once at the entry point.

Sources, lowest precedence first: `conf/<env>.yml` (or `--conf FILE`), environment variables
`AD_PIPELINE__<SECTION>__<KEY>=value` (double underscores between levels), then `--set key=value`
flags. Values are YAML scalars (`--set source.max_offsets_per_trigger=5000`). Invalid
configuration raises `ConfigError` naming the key, the bad value and what is allowed.

Its modules, each name of which this package re-exports:

- `sources`: where the events come from (files, Kafka, Event Hubs);
- `sections`: the other sections (table names, paths, trigger, budget, quality, attribution,
  serving, ops, faults, Spark);
- `app`: the serving app's section (`AppConfig`, `WarehouseConfig`);
- `pipeline`: `PipelineConfig`, the whole configuration, and `join_path`;
- `base`: the frozen base model of them all, and `Identifier`;
- `loading`: `load_config` and the YAML, environment and `--set` overrides it applies;
- `errors`: `config_error_from`, validation errors as a readable `ConfigError`;
- `secret_patterns`: which keys and text hold a secret, and `scrub`;
- `redaction`: masking secrets in data and printed configuration (`redacted_dump`).
"""

from __future__ import annotations

from ad_marketing_pipeline.config.app import AppConfig, WarehouseConfig
from ad_marketing_pipeline.config.base import Identifier
from ad_marketing_pipeline.config.errors import config_error_from
from ad_marketing_pipeline.config.loading import (
    CONF_DIR_VARIABLE,
    ENV_PREFIX,
    load_config,
    parse_override,
    resolve_conf_file,
)
from ad_marketing_pipeline.config.pipeline import PipelineConfig, join_path
from ad_marketing_pipeline.config.redaction import redacted_dump, secret_values
from ad_marketing_pipeline.config.secret_patterns import (
    MASK,
    SECRET_KEY_PATTERN,
    SECRET_TEXT_PATTERN,
    is_secret_key,
    scrub,
)
from ad_marketing_pipeline.config.sections import (
    AttributionConfig,
    BudgetPolicy,
    ChannelRule,
    FaultsConfig,
    OpsConfig,
    PathsConfig,
    QualityConfig,
    ServingConfig,
    SparkSettings,
    TableKey,
    TableNames,
    TriggerConfig,
    checked_interval,
)
from ad_marketing_pipeline.config.sources import (
    LOCAL_KAFKA_BOOTSTRAP,
    LOCAL_KAFKA_TOPIC,
    EventHubsAuth,
    EventHubsConnectionString,
    EventHubsServicePrincipal,
    EventHubsSource,
    FilesSource,
    KafkaSaslMechanism,
    KafkaSecurityProtocol,
    KafkaSource,
    SourceConfig,
)

__all__ = [
    "CONF_DIR_VARIABLE",
    "ENV_PREFIX",
    "LOCAL_KAFKA_BOOTSTRAP",
    "LOCAL_KAFKA_TOPIC",
    "MASK",
    "SECRET_KEY_PATTERN",
    "SECRET_TEXT_PATTERN",
    "AppConfig",
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
    "TableKey",
    "TableNames",
    "TriggerConfig",
    "WarehouseConfig",
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
