"""The source -> bronze_ad_events stream: each micro-batch of received records is appended once
(keyed by the stream and the batch), so a replay after a crash adds nothing twice."""

from __future__ import annotations

from pyspark.sql import DataFrame

from ad_marketing_pipeline.bronze.transforms import source_time, to_bronze
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.io import MicroBatch
from ad_marketing_pipeline.ops import observe_batch
from ad_marketing_pipeline.runtime import Runtime
from ad_marketing_pipeline.sources import source_query_name, source_records
from ad_marketing_pipeline.streams import BatchWriter, Layer
from ad_marketing_pipeline.tables import BRONZE_EVENTS


def read_bronze_input(runtime: Runtime) -> DataFrame:
    """The configured source's records as Bronze rows."""
    return observe_batch(source_records(runtime).transform(to_bronze), source_time())


def bronze_writer(config: PipelineConfig) -> BatchWriter:
    table = config.table(TableKey.BRONZE_EVENTS)

    def write(batch: DataFrame, micro: MicroBatch) -> None:
        micro.append(batch, table)
        micro.finish()

    return write


BRONZE = Layer(
    name="bronze",
    tables=(BRONZE_EVENTS,),
    read=read_bronze_input,
    writer=bronze_writer,
    query_name=source_query_name,
)
