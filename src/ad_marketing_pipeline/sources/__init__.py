"""Sources: each returns a streaming DataFrame of received records in one shape,
`RECORD_COLUMNS` (the raw payload string, key, headers and source metadata). Bronze adds the
ingestion time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession

from ad_marketing_pipeline.config import (
    EventHubsConnectionString,
    EventHubsSource,
    FilesSource,
    KafkaSource,
    PipelineConfig,
)
from ad_marketing_pipeline.sources.endpoint_check import check_kafka_endpoint
from ad_marketing_pipeline.sources.eventhubs import eventhubs_kafka_options
from ad_marketing_pipeline.sources.files import read_landing_files
from ad_marketing_pipeline.sources.kafka import kafka_options, read_kafka

if TYPE_CHECKING:  # only a type here: the serving app imports sources without Delta's jars
    from ad_marketing_pipeline.runtime import Runtime


def read_source(spark: SparkSession, config: PipelineConfig, *, on_databricks: bool) -> DataFrame:
    """The configured source as a stream of received records (secrets already resolved)."""
    source = config.source
    if isinstance(source, KafkaSource):
        return read_kafka(spark, kafka_options(source), source_kind="kafka")
    if isinstance(source, EventHubsSource):
        options = eventhubs_kafka_options(source, shaded=on_databricks)
        auth = source.auth
        if isinstance(auth, EventHubsConnectionString):
            what, secret = "connection string", auth.connection_string
        else:
            what, secret = "service principal's client id and secret", auth.client_secret
        check_kafka_endpoint(
            spark,
            options,
            topic=source.event_hub,
            what=what,
            secret=secret.get_secret_value() if secret is not None else "",
            shaded=on_databricks,
        )
        return read_kafka(spark, options, source_kind="eventhubs")
    assert isinstance(source, FilesSource)
    return read_landing_files(
        spark,
        config.landing_path,
        file_pattern=source.file_pattern,
        max_files_per_trigger=source.max_files_per_trigger,
        use_auto_loader=on_databricks,
    )


def source_query_name(config: PipelineConfig) -> str:
    """Name of the Bronze query (and its checkpoint folder) for the configured source."""
    return f"bronze_{config.source.kind}"


def source_records(runtime: Runtime) -> DataFrame:
    """The configured source as a stream (Bronze and the serving stream each read it); a local
    landing folder is created first, as a file stream needs it to exist."""
    config = runtime.config
    if isinstance(config.source, FilesSource) and not runtime.on_databricks:
        Path(config.landing_path).mkdir(parents=True, exist_ok=True)
    return read_source(runtime.spark, config, on_databricks=runtime.on_databricks)
