-- Failed calls with reasons.
-- Answers: what is failing, at which provider, since when, and which recordings to retry.
-- First result: failures grouped by provider and error; second: the 100 most recent.
SELECT
    coalesce(provider, '?')                 AS provider,
    coalesce(error, '(no error recorded)')  AS error,
    count(*)                                AS failed_calls,
    min(call_date)                          AS first_day,
    max(call_date)                          AS last_day
FROM calls
WHERE status = 'failed'
GROUP BY ALL
ORDER BY failed_calls DESC, provider, error;

SELECT call_date, call_id, provider, provider_job_id, error, source_uri, ingested_at, run_id
FROM calls
WHERE status = 'failed'
ORDER BY call_date DESC, ingested_at DESC, call_id
LIMIT 100;
