-- Agent talk ratio outliers: calls where the agent's share of speech is unusual.
-- Answers: which calls to coach on (agent dominating, or barely speaking)?
-- An outlier is more than 2 standard deviations from the mean agent talk ratio
-- of the same week, or outside 0.2..0.8 outright.
WITH agent AS (
    SELECT m.call_date, m.call_id, m.speaker, m.talk_ratio, m.talk_s, m.interruptions,
           CAST(date_trunc('week', m.call_date) AS DATE) AS week
    FROM speaker_metrics AS m
    JOIN calls AS c USING (call_id, call_date)
    WHERE c.status = 'completed' AND m.role = 'agent' AND m.talk_ratio IS NOT NULL
),
scored AS (
    SELECT *,
           avg(talk_ratio) OVER (PARTITION BY week)         AS week_mean,
           stddev_samp(talk_ratio) OVER (PARTITION BY week) AS week_std
    FROM agent
)
SELECT
    call_date, call_id, speaker,
    round(talk_ratio, 3)                                   AS agent_talk_ratio,
    round(week_mean, 3)                                    AS week_mean,
    round((talk_ratio - week_mean) / nullif(week_std, 0), 2) AS z_score,
    interruptions
FROM scored
WHERE talk_ratio NOT BETWEEN 0.2 AND 0.8
   OR abs(talk_ratio - week_mean) > 2 * week_std
ORDER BY abs(talk_ratio - week_mean) DESC, call_id
LIMIT 50;
