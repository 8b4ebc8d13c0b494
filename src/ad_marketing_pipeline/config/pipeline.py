"""`PipelineConfig`, the whole configuration a run is given, and how its paths are joined."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from ad_marketing_pipeline.config.app import AppConfig
from ad_marketing_pipeline.config.base import _IDENTIFIER, _Frozen
from ad_marketing_pipeline.config.sections import (
    AttributionConfig,
    BudgetPolicy,
    FaultsConfig,
    OpsConfig,
    PathsConfig,
    QualityConfig,
    ServingConfig,
    SparkSettings,
    TableKey,
    TableNames,
    TriggerConfig,
)
from ad_marketing_pipeline.config.sources import FilesSource, SourceConfig


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
    app: AppConfig = AppConfig()

    @property
    def namespace(self) -> str:
        """`catalog.schema` on Unity Catalog, `schema` locally."""
        return f"{self.catalog}.{self.schema_name}" if self.catalog else self.schema_name

    def table(self, key: TableKey) -> str:
        """Fully qualified name of a table or view by its key (`TableKey.SILVER_EVENTS`)."""
        return f"{self.namespace}.{getattr(self.tables, key.value)}"

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
