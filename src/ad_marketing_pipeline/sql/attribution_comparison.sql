-- Conversions and revenue credited to each channel by each attribution model, side by side.
-- Columns: channel, model, conversions, revenue, conversion_share, revenue_share
SELECT
  channel,
  model,
  conversions,
  revenue,
  conversion_share,
  revenue_share
FROM gold_attribution_comparison
ORDER BY model, conversions DESC, channel
