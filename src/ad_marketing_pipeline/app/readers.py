"""One way to read Gold for the app, two backends: `DeltaGoldReader` reads the local Delta tables
through delta-rs (DataFusion SQL, no JVM), `WarehouseGoldReader` a Databricks SQL warehouse
(databricks-sql-connector). Both take the SQL of `queries` with `{table}` placeholders and give
rows back as dicts of Python values (Decimal money, UTC-aware datetimes)."""

from __future__ import annotations

import contextlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import pyarrow as pa
from databricks import sql as databricks_sql
from deltalake import DeltaTable, QueryBuilder
from deltalake.exceptions import TableNotFoundError

from ad_marketing_pipeline.app.queries import QUERY_TABLES
from ad_marketing_pipeline.config import PipelineConfig, TableKey, join_path
from ad_marketing_pipeline.errors import ConfigError, PipelineError

Row = dict[str, Any]
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_CACHED_RESULTS = 64  # the newest query results kept, each with its tables' versions


class GoldUnavailableError(PipelineError):
    """A table the app reads does not exist yet (the pipeline has not written it) or cannot be
    read now."""


class GoldReader(Protocol):
    def query(self, sql: str) -> list[Row]:
        """Run `sql` (tables as `{table_key}` placeholders) and return its rows."""
        ...

    def close(self) -> None: ...


def tables_named(sql: str) -> list[TableKey]:
    """The tables a query names by placeholder, each a known table of the app."""
    keys = [TableKey(name) for name in dict.fromkeys(_PLACEHOLDER.findall(sql))]
    unknown = [key for key in keys if key not in QUERY_TABLES]
    if unknown:
        raise ValueError(f"the app does not read {unknown}")
    return keys


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def utc_rows(rows: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Rows with every datetime made UTC-aware (a warehouse gives session-time naive ones; the
    app's warehouse session is UTC)."""
    return [{name: _utc(value) for name, value in row.items()} for row in rows]


# ---------------------------------------------------------------------------------------------
# Local Delta tables, through delta-rs
# ---------------------------------------------------------------------------------------------


class DeltaGoldReader:
    """The local warehouse's Delta tables (`<paths.warehouse>/<schema>.db/<table>`), each
    opened once and brought up to its newest version before every query."""

    def __init__(self, config: PipelineConfig, database: str | None = None) -> None:
        """`database`: the folder of the schema's tables, when not where a local run keeps
        them (`<paths.warehouse>/<schema>.db`)."""
        self._database = database or join_path(config.path("warehouse"), f"{config.schema_name}.db")
        self._names = {key: getattr(config.tables, key.value) for key in QUERY_TABLES}
        self._tables: dict[TableKey, Any] = {}
        self._results: OrderedDict[str, tuple[list[int], list[Row]]] = OrderedDict()
        self._lock = threading.Lock()

    def _table(self, key: TableKey) -> Any:
        table = self._tables.get(key)
        if table is not None:
            table.update_incremental()
            return table
        try:
            table = DeltaTable(f"{self._database}/{self._names[key]}")
        except TableNotFoundError:
            raise GoldUnavailableError(
                f"table {self._names[key]} does not exist yet: run the pipeline first"
            ) from None
        self._tables[key] = table
        return table

    def query(self, sql: str) -> list[Row]:
        """The rows of `sql`; the same query on the same table versions is answered from the
        last result (the serving status is asked every second and changes far less often)."""
        with self._lock:
            tables = {key.value: self._table(key) for key in tables_named(sql)}
            versions = [table.version() for table in tables.values()]
            cached = self._results.get(sql)
            if cached is not None and cached[0] == versions:
                self._results.move_to_end(sql)
                return [dict(row) for row in cached[1]]
            builder = QueryBuilder()
            for name, table in tables.items():
                builder.register(name, table)
            names = {name: name for name in tables}
            rows = utc_rows(pa.table(builder.execute(sql.format(**names))).to_pylist())
            self._results[sql] = (versions, rows)
            while len(self._results) > _CACHED_RESULTS:
                self._results.popitem(last=False)
        return [dict(row) for row in rows]

    def close(self) -> None:
        self._tables.clear()
        self._results.clear()


# ---------------------------------------------------------------------------------------------
# A Databricks SQL warehouse
# ---------------------------------------------------------------------------------------------

Connect = Callable[..., Any]


def _databricks_connect(**settings: Any) -> Any:
    return databricks_sql.connect(**settings)


def warehouse_settings(config: PipelineConfig, environ: Mapping[str, str]) -> dict[str, Any]:
    """`databricks.sql.connect` arguments from the environment Databricks Apps give an app with a
    warehouse resource (host, warehouse id) and a token when one is set; without a token the
    app's service principal signs in through the Databricks SDK."""
    warehouse = config.app.warehouse
    missing = [
        name for name in (warehouse.host_env, warehouse.warehouse_id_env) if not environ.get(name)
    ]
    if missing:
        raise ConfigError(
            f"app.reader is warehouse but {' and '.join(missing)} is not set: give the app a SQL "
            "warehouse resource (databricks.yml resources.apps) or set them"
        )
    host = re.sub(r"^https?://", "", environ[warehouse.host_env]).rstrip("/")
    settings: dict[str, Any] = {
        "server_hostname": host,
        "http_path": f"/sql/1.0/warehouses/{environ[warehouse.warehouse_id_env]}",
        "session_configuration": {"TIMEZONE": "UTC"},
    }
    token = environ.get(warehouse.token_env)
    if token:
        settings["access_token"] = token
    else:
        settings["credentials_provider"] = _service_principal(host)
    return settings


def _service_principal(host: str) -> Callable[[], Any]:
    try:
        from databricks.sdk.core import (  # noqa: PLC0415 - optional: only without a token
            Config,
            oauth_service_principal,
        )
    except ImportError:
        raise ConfigError(
            "no token for the SQL warehouse and the Databricks SDK is not installed: set the "
            "token variable (app.warehouse.token_env) or pip install databricks-sdk"
        ) from None
    return lambda: oauth_service_principal(Config(host=f"https://{host}"))


class WarehouseGoldReader:
    """Gold through a SQL warehouse: one connection, reopened after a failure."""

    def __init__(
        self, config: PipelineConfig, settings: Mapping[str, Any], connect: Connect | None = None
    ) -> None:
        self._tables = {key.value: config.table(key) for key in QUERY_TABLES}
        self._settings = dict(settings)
        self._connect = connect or _databricks_connect
        self._connection: Any = None
        self._lock = threading.Lock()

    def query(self, sql: str) -> list[Row]:
        text = sql.format(**{key.value: self._tables[key.value] for key in tables_named(sql)})
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self._connect(**self._settings)
                with self._connection.cursor() as cursor:
                    cursor.execute(text)
                    columns = [column[0] for column in cursor.description]
                    rows = cursor.fetchall()
            except Exception as error:
                self.close()
                raise GoldUnavailableError(f"the SQL warehouse query failed: {error}") from None
        return utc_rows(dict(zip(columns, row, strict=True)) for row in rows)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                connection.close()


def gold_reader(config: PipelineConfig, environ: Mapping[str, str]) -> GoldReader:
    """The reader `app.reader` names."""
    if config.app.reader == "warehouse":
        return WarehouseGoldReader(config, warehouse_settings(config, environ))
    return DeltaGoldReader(config)
