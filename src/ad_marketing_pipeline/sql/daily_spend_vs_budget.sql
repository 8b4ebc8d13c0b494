-- Daily spend against the daily budget of one advertiser (parameter :advertiser).
-- Columns: spend_day, advertiser, gross_spend, net_spend, clicks, budget_value,
--          budget_used_share, can_serve
SELECT
  spend_day,
  advertiser,
  gross_spend,
  net_spend,
  clicks,
  budget_value,
  CAST(gross_spend / nullif(budget_value, 0) AS DOUBLE) AS budget_used_share,
  can_serve
FROM gold_daily_spend
WHERE advertiser = :advertiser
ORDER BY spend_day
