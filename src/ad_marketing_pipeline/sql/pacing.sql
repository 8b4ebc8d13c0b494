-- Advertisers near or over budget in their latest hour, with pacing: how fast they spend
-- compared with an even spread of the budget over the period (pacing_ratio 1.0 = on pace).
-- Columns: advertiser, advertiser_id, latest_hour, budget_value, spend_to_date,
--          budget_used_share, expected_spend_to_date, pacing_ratio, can_serve, pacing_status
WITH latest AS (
  SELECT
    *,
    row_number() OVER (PARTITION BY advertiser_key ORDER BY window_start DESC) AS newest
  FROM gold_advertiser_spend
)
SELECT
  advertiser,
  advertiser_id,
  window_start AS latest_hour,
  budget_value,
  spend_to_date,
  CAST(spend_to_date / nullif(budget_value, 0) AS DOUBLE) AS budget_used_share,
  expected_spend_to_date,
  pacing_ratio,
  can_serve,
  CASE
    WHEN budget_value IS NULL THEN 'no budget'
    WHEN spend_to_date >= budget_value THEN 'over budget'
    WHEN spend_to_date >= 0.8 * budget_value THEN 'near budget'
    WHEN pacing_ratio > 1.2 THEN 'overpacing'
    WHEN pacing_ratio < 0.8 THEN 'underpacing'
    ELSE 'on pace'
  END AS pacing_status
FROM latest
WHERE newest = 1
ORDER BY budget_used_share DESC NULLS LAST, advertiser
