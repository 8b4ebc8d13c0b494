# Databricks notebook source
# MAGIC %md
# MAGIC # Start streaming ingestion: Event Hubs -> Bronze, and the serving status
# MAGIC Starts the source -> `bronze_ad_events` stream and, beside it, the serving stream (source ->
# MAGIC `gold_serving_status`, the `can_serve` ad servers read). With `trigger` = `continuous`
# MAGIC Bronze runs a micro-batch every `trigger.processing_time` and the serving stream every
# MAGIC `serving.processing_time` until the notebook is stopped (this needs classic compute:
# MAGIC serverless runs streams only with availableNow); with `once` they ingest what is
# MAGIC available and stop.

# COMMAND ----------

# MAGIC %md
# MAGIC Widgets: `env` (reads `conf/<env>.yml` from `conf_dir`), `catalog` and `schema` (empty keeps
# MAGIC the configuration's), `root` (the checkpoint folder in a Unity Catalog volume; empty keeps
# MAGIC the configuration's). The job passes the bundle's variables; the package must be installed
# MAGIC (the job attaches the wheel; interactively `%pip install` the wheel from the bundle's
# MAGIC `artifacts/.internal` folder first).

# COMMAND ----------

from ad_marketing_pipeline.jobs import NOTEBOOK_WIDGETS, notebook_runtime

for name, default in NOTEBOOK_WIDGETS.items():
    dbutils.widgets.text(name, default)
widgets = {name: dbutils.widgets.get(name) for name in NOTEBOOK_WIDGETS}
dbutils.widgets.dropdown("trigger", "continuous", ["continuous", "once"])
trigger_mode = dbutils.widgets.get("trigger")

# COMMAND ----------

# Secrets (the Event Hubs connection string) are read with dbutils.secrets from the scope the
# configuration names; they are never printed.
runtime = notebook_runtime(spark, dbutils.secrets, widgets)

# COMMAND ----------

from ad_marketing_pipeline.io import stream_trigger
from ad_marketing_pipeline.pipeline import run_layers

run_layers(runtime, ["bronze", "serving"], stream_trigger(runtime.config.trigger, trigger_mode))
