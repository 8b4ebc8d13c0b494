# Databricks notebook source
# MAGIC %md
# MAGIC # Bronze -> Silver
# MAGIC Parses and validates what arrived in `bronze_ad_events` since the last run (availableNow),
# MAGIC writes valid, de-duplicated events to `silver_ad_events`, rejects to `silver_quarantine`
# MAGIC with reason codes, and counts per batch to `ops_data_quality`.

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

# COMMAND ----------

# Secrets (the Event Hubs connection string) are read with dbutils.secrets from the scope the
# configuration names; they are never printed.
runtime = notebook_runtime(spark, dbutils.secrets, widgets)

# COMMAND ----------

from ad_marketing_pipeline.io import stream_trigger
from ad_marketing_pipeline.pipeline import run_layers

run_layers(runtime, ["silver"], stream_trigger(runtime.config.trigger, "once"))
