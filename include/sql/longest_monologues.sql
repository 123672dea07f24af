-- Longest monologues: the 20 longest uninterrupted turns across all calls.
-- Answers: which calls have someone talking for minutes on end (agent reading a
-- script, customer venting)? Good candidates to listen to.
-- longest_monologue_s is the longest run of consecutive segments by one speaker.
SELECT
    m.call_date,
    m.call_id,
    m.speaker,
    m.role,
    round(m.longest_monologue_s, 1)                      AS longest_monologue_s,
    round(m.longest_monologue_s / nullif(c.duration_s, 0), 3) AS share_of_call,
    round(c.duration_s, 1)                               AS call_duration_s,
    c.source_uri
FROM speaker_metrics AS m
JOIN calls AS c USING (call_id, call_date)
WHERE c.status = 'completed' AND m.longest_monologue_s IS NOT NULL
ORDER BY m.longest_monologue_s DESC, m.call_id, m.speaker
LIMIT 20;
