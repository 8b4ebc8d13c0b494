# Databricks notebook source
# MAGIC %md
# MAGIC # Silver -> Gold
# MAGIC Updates the Gold tables from the new Silver events (availableNow): advertiser x hour spend
# MAGIC with the budget in effect and `can_serve`, the conversion and ad-performance facts. Only
# MAGIC the affected keys are rewritten.

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

run_layers(runtime, ["gold"], stream_trigger(runtime.config.trigger, "once"))
