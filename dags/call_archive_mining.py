"""call_archive_mining: the day's call recordings -> speech jobs -> Parquet warehouse.

The run with logical date D processes the recordings whose call date is D and that
are not loaded as ``completed`` yet; it fires after day D ends. The same DAG
backfills: ``airflow backfill create --dag-id call_archive_mining --from-date A --to-date B``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task, task_group

from callmine.operators.analyze import AnalyzeBatchOperator
from callmine.operators.stage import StageBatchOperator
from callmine.operators.submit import SubmitBatchOperator
from callmine.sensors.transcription import TranscriptionJobsSensor
from callmine.config import env_default
from callmine.dag_defaults import daily_dag

# Defaults come from the environment so an operator configures a deployment once;
# the UI form can still override each one per run.
PARAMS = {
    "source_uri": Param(
        env_default("CALLMINE_SOURCE_URI", "data/recordings"), type="string", minLength=1,
        description="Folder or fsspec URL holding the recordings (YYYY/MM/DD/ folders or dated file names).",
    ),
    "warehouse_uri": Param(
        env_default("CALLMINE_WAREHOUSE_URI", "data/warehouse"), type="string", minLength=1,
        description="Root of the Parquet warehouse (local folder or object-store URL).",
    ),
    "provider": Param(
        env_default("CALLMINE_PROVIDER", "pyai"), type="string", enum=["pyai", "assemblyai", "callmissed", "openai"],
        description="Speech provider, each with its Airflow connection: pyai (pyai_default; none: the embedded "
        "engine), assemblyai (assemblyai_default), callmissed (callmissed_default), openai (openai_audio_default).",
    ),
    "batch_size": Param(
        int(env_default("CALLMINE_BATCH_SIZE", "50")), type="integer", minimum=1, maximum=1000,
        description="Recordings per batch: one mapped transcribe task and one trigger per batch.",
    ),
    "trackers": Param(
        env_default("CALLMINE_TRACKERS", "include/trackers/default.yaml"), type="string", minLength=1,
        description="Keyword-tracker YAML file (relative paths are under the project root).",
    ),
    "reprocess": Param(False, type="boolean", description="Transcribe again even if already loaded."),
    "lookback_days": Param(
        int(env_default("CALLMINE_LOOKBACK_DAYS", "3")), type="integer", minimum=0, maximum=60,
        description="Also pick up the recordings of this many earlier days that are not loaded yet or whose "
        "last attempt failed as retryable (scheduled and manual runs; backfills cover their own days).",
    ),
    "max_failed_ratio": Param(
        0.1, type="number", minimum=0, maximum=1,
        description="Fail the run when more than this share of its calls failed for a non-retryable reason "
        "(any retryable failure always fails it).",
    ),
    "speakers": Param(
        2, type="integer", minimum=1, maximum=10, description="Expected speakers in mono recordings."
    ),
    "insights": Param(
        env_default("CALLMINE_INSIGHTS", "lexical"), type="string", enum=["lexical", "llm", "off"],
        description="Call insights: lexical (offline, no model), llm (the chat endpoint of the Airflow "
        "connection llm_default) or off.",
    ),
    "language": Param(
        env_default("CALLMINE_LANGUAGE", "") or None, type=["null", "string"],
        description="BCP-47 language of the calls (e.g. en); empty lets the provider detect it.",
    ),
}


@dag(dag_id="call_archive_mining", params=PARAMS, doc_md=__doc__, **daily_dag())
def call_archive_mining() -> None:
    @task
    def discover(**context) -> list[dict]:
        from airflow.sdk.exceptions import AirflowFailException

        from callmine.hooks.llm import LLMConfigurationError
        from callmine.pipeline import plan_day, settings_for_run

        params = context["params"]
        # Backfill runs cover their own days: only scheduled and manual runs look back.
        lookback = 0 if str(context["dag_run"].run_type).endswith("backfill") else int(params["lookback_days"])
        try:
            return plan_day(settings_for_run(context), int(params["batch_size"]), lookback)
        except LLMConfigurationError as exc:  # no retry can fix a missing llm_default connection
            raise AirflowFailException(str(exc)) from None

    # One load at a time deployment-wide: a load rewrites its month's files (see callmine.warehouse.locks).
    @task(trigger_rule="all_done", pool=env_default("CALLMINE_WAREHOUSE_POOL", "callmine_warehouse"))
    def load(planned: list[dict], **context) -> dict:
        from callmine.pipeline import load_day, settings_for_run

        return load_day(settings_for_run(context), planned)

    @task(trigger_rule="all_done")
    def report(summary: dict | None, **context) -> dict:
        """Fails the run (alerting fires) for any retryable failure or too many failed calls."""
        from airflow.sdk.exceptions import AirflowFailException

        from callmine.pipeline import judge_run

        verdict = judge_run(summary, float(context["params"]["max_failed_ratio"]))
        if verdict:
            raise AirflowFailException(verdict)
        return summary

    # Per batch: submit -> wait (deferrable sensor) -> stage -> analyze; then one load for the day.
    # A mapped task group: instance b002 of each step depends on instance b002 of the step
    # before only, so a batch moves on as soon as its own jobs are done (expanding each step
    # over the previous step's whole output would wait for every batch at every step). A
    # retried wait re-polls the jobs its submit recorded. prefix_group_id=False keeps the
    # task ids submit / wait / stage / analyze.
    @task_group(group_id="batch", prefix_group_id=False)
    def per_batch(batch: dict):
        submitted = SubmitBatchOperator(
            task_id="submit", batch=batch, map_index_template="{{ task.batch['batch_id'] }}",
            retries=3, retry_delay=timedelta(seconds=15),
        )
        waited = TranscriptionJobsSensor(
            task_id="wait", submission=submitted.output,
            map_index_template="{{ task.submission['batch']['batch_id'] }}",
            # The provider's pool (include/pools.json) counts jobs in flight: one slot per recording.
            pool=env_default("CALLMINE_PROVIDER_POOL", f"callmine_{env_default('CALLMINE_PROVIDER', 'pyai')}"),
            pool_slots=int(env_default("CALLMINE_BATCH_SIZE", "50")),
            retries=3, retry_delay=timedelta(seconds=10),
        )
        staged = StageBatchOperator(
            task_id="stage", wait_result=waited.output,
            map_index_template="{{ task.wait_result['submission']['batch']['batch_id'] }}",
            retries=3, retry_delay=timedelta(seconds=10),
        )
        return AnalyzeBatchOperator(
            task_id="analyze", batch=staged.output,
            map_index_template="{{ task.batch['batch_id'] }}",
            pool=env_default("CALLMINE_LLM_POOL", "callmine_llm"),
            pool_slots=int(env_default("CALLMINE_LLM_CONCURRENCY", "8")),  # requests in flight per batch
            llm_concurrency=int(env_default("CALLMINE_LLM_CONCURRENCY", "8")),
            retries=2,
            retry_delay=timedelta(seconds=20),
        )

    batches = discover()
    analyzed = per_batch.expand(batch=batches)
    loaded = load(batches)
    analyzed >> loaded
    report(loaded)


call_archive_mining()
