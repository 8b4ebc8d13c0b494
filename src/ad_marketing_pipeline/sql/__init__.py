"""The warehouse queries analysts and ad ops run on Gold, shipped as `.sql` files in the wheel.

Each file is one query over the pipeline's tables by their bare names, so it runs in whatever
catalog and schema are current: `USE CATALOG ...; USE SCHEMA ...` in the SQL editor, the
dashboard's `dataset_catalog`/`dataset_schema` (set from the bundle's variables), or the
configured ones in `ad-pipeline sql --query NAME`. Values a user picks (one advertiser) are
named parameter markers (`:advertiser`), which SQL warehouses, AI/BI dashboards and Spark's
`spark.sql(text, args=...)` all bind the same way.
"""

from __future__ import annotations

import re
from importlib import resources

from pyspark.sql import DataFrame, SparkSession

from ad_marketing_pipeline.config import PipelineConfig
from ad_marketing_pipeline.errors import PipelineError

# `:name` outside string literals and `::` casts.
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'")
_LINE_COMMENT = re.compile(r"--[^\n]*")


def query_names() -> list[str]:
    """The shipped queries' names (file names without `.sql`), sorted."""
    folder = resources.files(__name__)
    return sorted(
        entry.name.removesuffix(".sql") for entry in folder.iterdir() if entry.name.endswith(".sql")
    )


def query_text(name: str) -> str:
    """The SQL of the shipped query `name`."""
    if name not in query_names():
        raise PipelineError(f"no query named {name!r}: choose among {', '.join(query_names())}")
    return resources.files(__name__).joinpath(f"{name}.sql").read_text(encoding="utf-8")


def query_parameters(text: str) -> list[str]:
    """The named parameter markers (`:name`) a query uses, in order of first use."""
    code = _STRING_LITERAL.sub("''", _LINE_COMMENT.sub("", text))
    return list(dict.fromkeys(_PARAMETER.findall(code)))


def bind_parameters(text: str, given: dict[str, str]) -> dict[str, str]:
    """The values of the query's parameters; a missing or unknown one is an error."""
    wanted = query_parameters(text)
    missing = [name for name in wanted if name not in given]
    unknown = [name for name in given if name not in wanted]
    if missing or unknown:
        problems = [f"missing --param {name}=VALUE" for name in missing]
        problems += [f"unknown parameter {name!r}" for name in unknown]
        expected = ", ".join(wanted) or "none"
        raise PipelineError(f"{'; '.join(problems)} (this query's parameters: {expected})")
    return {name: given[name] for name in wanted}


def use_pipeline_schema(spark: SparkSession, config: PipelineConfig) -> None:
    """Make the configured catalog (if any) and schema the current ones."""
    if config.catalog:
        spark.sql(f"USE CATALOG `{config.catalog}`")
    spark.sql(f"USE `{config.schema_name}`")


def run_query(
    spark: SparkSession, config: PipelineConfig, name: str, params: dict[str, str]
) -> DataFrame:
    """The shipped query `name` over the configured schema's tables, with its parameters."""
    text = query_text(name)
    bound = bind_parameters(text, params)
    use_pipeline_schema(spark, config)
    return spark.sql(text, args=bound)
