# Databricks notebook source
# MAGIC %md
# MAGIC # Gold for analysts: serving status, pacing, spend, campaigns and attribution
# MAGIC Runs the package's warehouse queries (the same `.sql` files the dashboard uses) on this
# MAGIC environment's Gold tables. Pick one advertiser in the `advertiser` widget for its daily spend
# MAGIC against budget.

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
dbutils.widgets.text("advertiser", "advertiser-001")
advertiser = dbutils.widgets.get("advertiser")

# COMMAND ----------

# Secrets (the Event Hubs connection string) are read with dbutils.secrets from the scope the
# configuration names; they are never printed.
runtime = notebook_runtime(spark, dbutils.secrets, widgets)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Who may serve now, and who is near or over budget

# COMMAND ----------

from ad_marketing_pipeline.sql import run_query

display(run_query(spark, runtime.config, "serving_status", {}))
display(run_query(spark, runtime.config, "pacing", {}))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Daily spend against budget of one advertiser

# COMMAND ----------

display(run_query(spark, runtime.config, "daily_spend_vs_budget", {"advertiser": advertiser}))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Campaign performance (CTR, CPC, CPA, ROAS)

# COMMAND ----------

display(run_query(spark, runtime.config, "campaign_performance", {}))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Channel credit and ROAS by attribution model

# COMMAND ----------

display(run_query(spark, runtime.config, "attribution_comparison", {}))
display(run_query(spark, runtime.config, "channel_roas", {}))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Data quality: the share of records Silver rejected

# COMMAND ----------

display(run_query(spark, runtime.config, "reject_rates", {}))
