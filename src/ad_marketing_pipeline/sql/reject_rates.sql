-- Share of received records that Silver rejected into quarantine, per processing day.
-- Columns: processed_day, input_rows, valid_rows, duplicate_rows, quarantined_rows, reject_rate
SELECT
  to_date(processed_at) AS processed_day,
  sum(input_rows) AS input_rows,
  sum(valid_rows) AS valid_rows,
  sum(duplicate_rows) AS duplicate_rows,
  sum(quarantined_rows) AS quarantined_rows,
  CAST(sum(quarantined_rows) / nullif(sum(input_rows), 0) AS DOUBLE) AS reject_rate
FROM ops_data_quality
GROUP BY to_date(processed_at)
ORDER BY processed_day
