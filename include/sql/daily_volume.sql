-- Daily volume and cost: calls, failures, audio hours and billed hours per day.
-- Answers: how much did we process, how reliable was it, and what did it cost?
SELECT
    call_date,
    count(*)                                                  AS calls,
    count(*) FILTER (WHERE status = 'completed')              AS completed,
    count(*) FILTER (WHERE status = 'failed')                 AS failed,
    round(100.0 * count(*) FILTER (WHERE status = 'failed') / count(*), 1) AS pct_failed,
    round(sum(duration_s) / 3600, 2)                          AS audio_hours,
    round(sum(audio_seconds_billed) / 3600, 2)                AS billed_hours,
    round(avg(duration_s) FILTER (WHERE status = 'completed'), 1) AS avg_duration_s
FROM calls
GROUP BY call_date
ORDER BY call_date;
