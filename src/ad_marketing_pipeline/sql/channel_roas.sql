-- Return on ad spend per channel under each attribution model.
-- Columns: channel, model, spend, clicks, conversions, revenue, cpa, roas
SELECT
  channel,
  model,
  spend,
  clicks,
  conversions,
  revenue,
  cpa,
  roas
FROM gold_channel_performance
ORDER BY model, roas DESC NULLS LAST, channel
