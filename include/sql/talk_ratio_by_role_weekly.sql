-- Talk ratio per speaker role per week.
-- Answers: do agents talk more than customers, and is that changing week over week?
-- Grain: one row per ISO week (starting Monday) and role; completed calls only.
-- talk_ratio is a speaker's share of all speech in the call (see docs/warehouse.md).
SELECT
    CAST(date_trunc('week', m.call_date) AS DATE)      AS week,
    coalesce(m.role, 'unassigned')                     AS role,
    count(DISTINCT m.call_id)                          AS calls,
    round(avg(m.talk_ratio), 3)                        AS avg_talk_ratio,
    round(median(m.talk_ratio), 3)                     AS median_talk_ratio,
    round(sum(m.talk_s) / 3600, 2)                     AS talk_hours
FROM speaker_metrics AS m
JOIN calls AS c USING (call_id, call_date)
WHERE c.status = 'completed'
GROUP BY ALL
ORDER BY week, role;
