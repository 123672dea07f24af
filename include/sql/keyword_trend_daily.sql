-- Keyword trend: hits per tracker per day, absolute and per 100 completed calls.
-- Answers: is a topic (e.g. churn, complaints) rising? Normalising by call volume
-- separates "more mentions" from "more calls".
-- Grain: one row per day and tracker that had at least one hit.
WITH daily_calls AS (
    SELECT call_date, count(*) AS completed_calls
    FROM calls
    WHERE status = 'completed'
    GROUP BY call_date
)
SELECT
    h.call_date,
    h.tracker,
    count(*)                                                   AS hits,
    count(DISTINCT h.call_id)                                  AS calls_with_hit,
    d.completed_calls,
    round(100.0 * count(*) / d.completed_calls, 2)             AS hits_per_100_calls,
    round(100.0 * count(DISTINCT h.call_id) / d.completed_calls, 1) AS pct_calls_with_hit
FROM keyword_hits AS h
JOIN daily_calls AS d USING (call_date)
GROUP BY h.call_date, h.tracker, d.completed_calls
ORDER BY h.call_date, hits DESC, h.tracker;
