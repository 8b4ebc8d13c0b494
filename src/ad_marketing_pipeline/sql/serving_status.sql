-- Serving status now: may each advertiser's ads serve, as of the newest processed event.
-- Columns: advertiser, advertiser_id, can_serve, budget_value, spend_to_date, remaining_budget,
--          latest_hour, as_of
SELECT
  advertiser,
  advertiser_id,
  latest_can_serve AS can_serve,
  budget_value,
  spend_to_date,
  budget_value - spend_to_date AS remaining_budget,
  latest_hour,
  as_of
FROM gold_latest_serving_status
ORDER BY can_serve, advertiser
