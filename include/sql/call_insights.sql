-- Call insights: each call's summary, action items and the customer's sentiment, with its phases.
-- Answers: what happened on each call, what was promised, and how did the customer feel?
SELECT
    c.call_date,
    regexp_extract(c.source_uri, '[^/]*$')          AS recording,
    i.sentiment,
    round(i.sentiment_score, 2)                     AS sentiment_score,
    i.summary,
    i.action_items,
    [p.name || ' ' || round(p.start_s)::INT || '-' || round(p.end_s)::INT || 's' FOR p IN i.phases] AS phases,
    i.escalation_risk,
    i.model
FROM call_insights i
JOIN calls c USING (call_id)
WHERE i.error IS NULL
ORDER BY c.call_date, recording;
