-- callmine warehouse views for DuckDB (generated from callmine/warehouse/schema.py;
-- regenerate with `bin/callmine views --template > include/sql/views.sql`).
-- Replace ${WAREHOUSE} with the warehouse root (an absolute path, or s3://... with
-- httpfs loaded), or let `bin/callmine views` print it filled in.
-- Every view works, empty and typed, even before its table has any file.

-- segments: one row per diarized segment; key (call_id, segment_idx)
CREATE OR REPLACE VIEW segments AS
SELECT call_id, segment_idx, speaker, channel, start_s, end_s, text, speaker_label, sentiment, sentiment_score, call_date
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS call_id,
        CAST(NULL AS INTEGER) AS segment_idx,
        CAST(NULL AS VARCHAR) AS speaker,
        CAST(NULL AS INTEGER) AS channel,
        CAST(NULL AS DOUBLE) AS start_s,
        CAST(NULL AS DOUBLE) AS end_s,
        CAST(NULL AS VARCHAR) AS text,
        CAST(NULL AS VARCHAR) AS speaker_label,
        CAST(NULL AS VARCHAR) AS sentiment,
        CAST(NULL AS DOUBLE) AS sentiment_score,
        CAST(NULL AS DATE) AS call_date
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet('${WAREHOUSE}/segments/*/*.parquet',
        hive_partitioning = true, hive_types = {'call_date': 'DATE'},
        union_by_name = true, allow_empty = true)
);

-- words: one row per word; key (call_id, word_idx)
CREATE OR REPLACE VIEW words AS
SELECT call_id, word_idx, segment_idx, speaker, start_s, end_s, word, confidence, call_date
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS call_id,
        CAST(NULL AS INTEGER) AS word_idx,
        CAST(NULL AS INTEGER) AS segment_idx,
        CAST(NULL AS VARCHAR) AS speaker,
        CAST(NULL AS DOUBLE) AS start_s,
        CAST(NULL AS DOUBLE) AS end_s,
        CAST(NULL AS VARCHAR) AS word,
        CAST(NULL AS DOUBLE) AS confidence,
        CAST(NULL AS DATE) AS call_date
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet('${WAREHOUSE}/words/*/*.parquet',
        hive_partitioning = true, hive_types = {'call_date': 'DATE'},
        union_by_name = true, allow_empty = true)
);

-- speaker_metrics: one row per call and speaker; key (call_id, speaker)
CREATE OR REPLACE VIEW speaker_metrics AS
SELECT call_id, speaker, role, talk_s, talk_ratio, word_count, words_per_minute, turns, longest_monologue_s, questions, interruptions, patience_s, call_date
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS call_id,
        CAST(NULL AS VARCHAR) AS speaker,
        CAST(NULL AS VARCHAR) AS role,
        CAST(NULL AS DOUBLE) AS talk_s,
        CAST(NULL AS DOUBLE) AS talk_ratio,
        CAST(NULL AS INTEGER) AS word_count,
        CAST(NULL AS DOUBLE) AS words_per_minute,
        CAST(NULL AS INTEGER) AS turns,
        CAST(NULL AS DOUBLE) AS longest_monologue_s,
        CAST(NULL AS INTEGER) AS questions,
        CAST(NULL AS INTEGER) AS interruptions,
        CAST(NULL AS DOUBLE) AS patience_s,
        CAST(NULL AS DATE) AS call_date
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet('${WAREHOUSE}/speaker_metrics/*/*.parquet',
        hive_partitioning = true, hive_types = {'call_date': 'DATE'},
        union_by_name = true, allow_empty = true)
);

-- keyword_hits: one row per tracked-term occurrence; key (call_id, start_s, tracker, term)
CREATE OR REPLACE VIEW keyword_hits AS
SELECT call_id, tracker, term, speaker, start_s, segment_idx, word_idx, call_date
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS call_id,
        CAST(NULL AS VARCHAR) AS tracker,
        CAST(NULL AS VARCHAR) AS term,
        CAST(NULL AS VARCHAR) AS speaker,
        CAST(NULL AS DOUBLE) AS start_s,
        CAST(NULL AS INTEGER) AS segment_idx,
        CAST(NULL AS INTEGER) AS word_idx,
        CAST(NULL AS DATE) AS call_date
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet('${WAREHOUSE}/keyword_hits/*/*.parquet',
        hive_partitioning = true, hive_types = {'call_date': 'DATE'},
        union_by_name = true, allow_empty = true)
);

-- call_insights: one row per analyzed call; key (call_id)
CREATE OR REPLACE VIEW call_insights AS
SELECT call_id, call_date, model, summary, action_items, sentiment, phases, generated_at, analyzer, prompt_version, transcript_hash, sentiment_score, intent, resolution, agent_performance, escalation_risk, key_topics, compliance, satisfaction_score, action_item_details, error, input_tokens, output_tokens
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS call_id,
        CAST(NULL AS DATE) AS call_date,
        CAST(NULL AS VARCHAR) AS model,
        CAST(NULL AS VARCHAR) AS summary,
        CAST(NULL AS VARCHAR[]) AS action_items,
        CAST(NULL AS VARCHAR) AS sentiment,
        CAST(NULL AS STRUCT(name VARCHAR, start_s DOUBLE, end_s DOUBLE, summary VARCHAR)[]) AS phases,
        CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS generated_at,
        CAST(NULL AS VARCHAR) AS analyzer,
        CAST(NULL AS VARCHAR) AS prompt_version,
        CAST(NULL AS VARCHAR) AS transcript_hash,
        CAST(NULL AS DOUBLE) AS sentiment_score,
        CAST(NULL AS VARCHAR) AS intent,
        CAST(NULL AS VARCHAR) AS resolution,
        CAST(NULL AS VARCHAR) AS agent_performance,
        CAST(NULL AS VARCHAR) AS escalation_risk,
        CAST(NULL AS VARCHAR[]) AS key_topics,
        CAST(NULL AS VARCHAR) AS compliance,
        CAST(NULL AS INTEGER) AS satisfaction_score,
        CAST(NULL AS STRUCT(text VARCHAR, speaker VARCHAR, start_s DOUBLE)[]) AS action_item_details,
        CAST(NULL AS VARCHAR) AS error,
        CAST(NULL AS BIGINT) AS input_tokens,
        CAST(NULL AS BIGINT) AS output_tokens
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet('${WAREHOUSE}/call_insights/*/*.parquet',
        hive_partitioning = true, hive_types = {'call_date': 'DATE'},
        union_by_name = true, allow_empty = true)
);

-- calls: one row per recording, latest state; key (call_id)
CREATE OR REPLACE VIEW calls AS
SELECT call_id, source_uri, call_date, duration_s, channels, provider, provider_job_id, diarization, status, error, retryable, speakers, audio_seconds_billed, ingested_at, run_id, format, size_bytes, srt_uri, vtt_uri
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS call_id,
        CAST(NULL AS VARCHAR) AS source_uri,
        CAST(NULL AS DATE) AS call_date,
        CAST(NULL AS DOUBLE) AS duration_s,
        CAST(NULL AS INTEGER) AS channels,
        CAST(NULL AS VARCHAR) AS provider,
        CAST(NULL AS VARCHAR) AS provider_job_id,
        CAST(NULL AS VARCHAR) AS diarization,
        CAST(NULL AS VARCHAR) AS status,
        CAST(NULL AS VARCHAR) AS error,
        CAST(NULL AS BOOLEAN) AS retryable,
        CAST(NULL AS INTEGER) AS speakers,
        CAST(NULL AS DOUBLE) AS audio_seconds_billed,
        CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS ingested_at,
        CAST(NULL AS VARCHAR) AS run_id,
        CAST(NULL AS VARCHAR) AS format,
        CAST(NULL AS BIGINT) AS size_bytes,
        CAST(NULL AS VARCHAR) AS srt_uri,
        CAST(NULL AS VARCHAR) AS vtt_uri
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet('${WAREHOUSE}/calls/*/*.parquet',
        hive_partitioning = true, hive_types = {'call_date': 'DATE'},
        union_by_name = true, allow_empty = true)
);
