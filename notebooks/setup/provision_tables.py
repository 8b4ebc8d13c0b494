# Databricks notebook source
# MAGIC %md
# MAGIC # Provision the pipeline's tables
# MAGIC Creates the schema, the Unity Catalog volume of the checkpoints and every Bronze, Silver,
# MAGIC Gold, attribution and ops table and view. Idempotent: run it once per environment and again
# MAGIC after an upgrade that adds tables.

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

from ad_marketing_pipeline.jobs import ensure_volume
from ad_marketing_pipeline.provisioning import provision

volume = ensure_volume(runtime)
created = provision(runtime)
print(f"volume: {volume or 'none (local run)'}")
print("\n".join(created))
