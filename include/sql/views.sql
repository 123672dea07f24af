-- callmine warehouse views for DuckDB (generated from callmine/warehouse/schema.py;
-- regenerate with `bin/callmine views --template > include/sql/views.sql`).
-- Replace ${WAREHOUSE} with the warehouse root (an absolute path, or s3://... with
-- httpfs loaded), or let `bin/callmine views` print it filled in.
-- Each table's columns come from its schema file (<table>/call_month=0000-00/), which a
-- warehouse gets on its first load or from `bin/callmine migrate`.

-- segments: one row per diarized segment; key (call_id, segment_idx)
CREATE OR REPLACE VIEW segments AS
SELECT * FROM read_parquet('${WAREHOUSE}/segments/call_month=*/*.parquet', hive_partitioning = false, allow_empty = true);

-- words: one row per word; key (call_id, word_idx)
CREATE OR REPLACE VIEW words AS
SELECT * FROM read_parquet('${WAREHOUSE}/words/call_month=*/*.parquet', hive_partitioning = false, allow_empty = true);

-- speaker_metrics: one row per call and speaker; key (call_id, speaker)
CREATE OR REPLACE VIEW speaker_metrics AS
SELECT * FROM read_parquet('${WAREHOUSE}/speaker_metrics/call_month=*/*.parquet', hive_partitioning = false, allow_empty = true);

-- keyword_hits: one row per tracked-term occurrence; key (call_id, start_s, tracker, term)
CREATE OR REPLACE VIEW keyword_hits AS
SELECT * FROM read_parquet('${WAREHOUSE}/keyword_hits/call_month=*/*.parquet', hive_partitioning = false, allow_empty = true);

-- call_insights: one row per analyzed call; key (call_id)
CREATE OR REPLACE VIEW call_insights AS
SELECT * FROM read_parquet('${WAREHOUSE}/call_insights/call_month=*/*.parquet', hive_partitioning = false, allow_empty = true);

-- calls: one row per recording, latest state; key (call_id)
CREATE OR REPLACE VIEW calls AS
SELECT * FROM read_parquet('${WAREHOUSE}/calls/call_month=*/*.parquet', hive_partitioning = false, allow_empty = true);
