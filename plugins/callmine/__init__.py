"""callmine: mine archives of recorded phone calls (Airflow 3 + speech-to-text + Parquet + DuckDB)."""
