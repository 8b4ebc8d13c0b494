"""The serving app's section (`app`): where it listens, how it reads Gold, how fresh its
can_serve answers must be and what it answers when they are not."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from ad_marketing_pipeline.config.base import _Frozen


class WarehouseConfig(_Frozen):
    """A Databricks SQL warehouse the app reads Gold through (`app.reader: warehouse`). On
    Databricks Apps the app's warehouse resource sets DATABRICKS_WAREHOUSE_ID and the platform
    sets DATABRICKS_HOST and the app's own credentials; the defaults read those."""

    host_env: str = "DATABRICKS_HOST"
    warehouse_id_env: str = "DATABRICKS_WAREHOUSE_ID"
    token_env: str = Field(
        default="DATABRICKS_TOKEN",
        description="a personal access token, when set; otherwise the app's service principal "
        "(DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET, which Databricks Apps set) signs in",
    )


class AppConfig(_Frozen):
    """`ad-pipeline serve`: can_serve for ad servers, the report API, the event collector and the
    live dashboard."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65_535)
    reader: Literal["delta", "warehouse"] = Field(
        default="delta",
        description="delta: the local Delta tables through delta-rs (no JVM); warehouse: a "
        "Databricks SQL warehouse (`app.warehouse`)",
    )
    warehouse: WarehouseConfig = WarehouseConfig()
    refresh_seconds: PositiveFloat = Field(
        default=1.0, description="how often the in-memory serving status is re-read"
    )
    max_data_age_seconds: PositiveFloat = Field(
        default=300.0,
        description="serving data older than this (since the serving stream last wrote "
        "gold_serving_status) is stale and `stale_policy` answers",
    )
    stale_policy: Literal["fail_closed", "fail_open"] = Field(
        default="fail_closed",
        description="can_serve while the data is stale: fail_closed answers false (no "
        "overspend), fail_open answers true (no lost delivery); the answer says which",
    )
    dashboard_refresh_seconds: PositiveFloat = 5.0
    max_events_per_request: PositiveInt = 10_000
    remembered_event_ids: PositiveInt = Field(
        default=1_000_000,
        description="ids of accepted events kept to refuse a retried one; past that, Silver's "
        "de-duplication still keeps it once",
    )
