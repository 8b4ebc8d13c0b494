"""Apache Kafka (and any Kafka-protocol endpoint) as a stream of received records."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, TimestampType

from ad_marketing_pipeline.config import KafkaSource
from ad_marketing_pipeline.errors import ConfigError

_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def jaas_string(value: str) -> str:
    """A value quoted for a JAAS configuration line."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def checked_bootstrap_servers(servers: str) -> str:
    """`host:port[,host:port...]` as given; anything with `=` or `;` (a connection string
    pasted in the wrong place) is an error that does not repeat it, since the Kafka client's
    own error would print it, key and all."""
    if "=" in servers or ";" in servers:
        raise ConfigError(
            "source.bootstrap_servers must be host:port pairs separated by commas (its value "
            "is not shown: it looks like a connection string, which holds a secret; Event Hubs "
            "takes source.kind: eventhubs with source.auth)"
        )
    return servers


def reader_options(
    *,
    starting_offsets: str,
    fail_on_data_loss: bool,
    max_offsets_per_trigger: int | None,
) -> dict[str, str]:
    """Options of Spark's Kafka source that do not depend on the endpoint."""
    options = {
        "startingOffsets": starting_offsets,
        "failOnDataLoss": str(fail_on_data_loss).lower(),
        "includeHeaders": "true",
    }
    if max_offsets_per_trigger is not None:
        options["maxOffsetsPerTrigger"] = str(max_offsets_per_trigger)
    return options


def kafka_options(source: KafkaSource) -> dict[str, str]:
    """Spark Kafka-source options for a Kafka cluster. Holds the SASL password when one is
    configured: pass it to Spark only, never print it."""
    options = {
        "kafka.bootstrap.servers": checked_bootstrap_servers(source.bootstrap_servers),
        "kafka.security.protocol": source.security_protocol,
        **reader_options(
            starting_offsets=source.starting_offsets,
            fail_on_data_loss=source.fail_on_data_loss,
            max_offsets_per_trigger=source.max_offsets_per_trigger,
        ),
    }
    if source.topics:
        options["subscribe"] = ",".join(source.topics)
    else:
        options["subscribePattern"] = str(source.topic_pattern)
    if source.security_protocol.startswith("SASL") and source.sasl_mechanism:
        if source.sasl_password is None or source.sasl_username is None:
            raise ConfigError(
                "source.sasl_password is missing: set it with the environment variable "
                f"{source.sasl_password_env}"
            )
        password = source.sasl_password.get_secret_value()
        options["kafka.sasl.mechanism"] = source.sasl_mechanism
        options["kafka.sasl.jaas.config"] = (
            f"{_LOGIN_MODULES[source.sasl_mechanism]} required "
            f"username={jaas_string(source.sasl_username)} password={jaas_string(password)};"
        )
    for key, value in source.options.items():
        options[key if key.startswith("kafka.") else f"kafka.{key}"] = value
    return options


def read_kafka(spark: SparkSession, options: dict[str, str], *, source_kind: str) -> DataFrame:
    """A stream of received records from a Kafka-protocol endpoint."""
    raw = spark.readStream.format("kafka").options(**options).load()
    return raw.select(
        F.col("value").cast(StringType()).alias("payload"),
        F.col("key").cast(StringType()).alias("key"),
        F.col("headers"),
        F.lit(source_kind).alias("source_kind"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("source_timestamp"),
        F.lit(None).cast(StringType()).alias("file_path"),
        F.lit(None).cast(TimestampType()).alias("file_modification_time"),
    )
