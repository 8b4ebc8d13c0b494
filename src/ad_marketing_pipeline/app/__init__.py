"""The serving app (`ad-pipeline serve`, a Databricks App in production): can_serve answered from
memory for ad servers, the report API and the live dashboard for analysts, and the event
collector for pixels and webhooks.

- `queries`: the SQL it runs on Gold (the same text on both readers);
- `readers`: the local Delta tables through delta-rs, or a Databricks SQL warehouse;
- `answers`: reports, report windows and the dashboard's data from the rows;
- `serving_cache`: gold_serving_status in memory, its staleness and stale policy;
- `collector`: checking, de-duplicating and forwarding posted events;
- `server`: the FastAPI application and uvicorn; `main` (`python -m ad_marketing_pipeline.app`)
  is the Databricks App's command.
"""
