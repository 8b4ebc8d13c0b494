"""ad_marketing_pipeline: a Databricks medallion lakehouse for ad-marketing events."""

from __future__ import annotations

__version__ = "0.1.0"
