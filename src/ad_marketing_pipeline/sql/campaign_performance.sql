-- Campaign performance over all days: delivery, spend, conversions and the ratios, recomputed
-- from the totals (an average of daily ratios would weigh a quiet day like a busy one).
-- Columns: campaign_id, campaign_name, impressions, clicks, ad_spend, conversions, revenue,
--          ctr, cpc, cpa, roas
SELECT
  campaign_id,
  max(campaign_name) AS campaign_name,
  sum(impressions) AS impressions,
  sum(clicks) AS clicks,
  sum(ad_spend) AS ad_spend,
  sum(conversions) AS conversions,
  sum(revenue) AS revenue,
  CAST(sum(clicks) / nullif(sum(impressions), 0) AS DOUBLE) AS ctr,
  sum(ad_spend) / nullif(sum(clicks), 0) AS cpc,
  sum(ad_spend) / nullif(sum(conversions), 0) AS cpa,
  CAST(sum(revenue) / nullif(sum(ad_spend), 0) AS DOUBLE) AS roas
FROM gold_fact_ad_performance
GROUP BY campaign_id
ORDER BY ad_spend DESC, campaign_id
