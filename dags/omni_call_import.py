"""omni_call_import: the day's PyAI Omni calls (already transcribed by PyAI's voice agent) -> warehouse.

The run with logical date D imports the Omni calls created on day D (UTC) through the
``pyai_default`` connection, into the same tables as ``call_archive_mining`` with
``provider = 'pyai_omni'``, then analyzes them and loads them with the same load step.
Backfill: ``airflow backfill create --dag-id omni_call_import --from-date A --to-date B``.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from callmine.config import env_default
from callmine.dag_defaults import daily_dag
from callmine.operators.analyze import AnalyzeBatchOperator

PARAMS = {
    "warehouse_uri": Param(env_default("CALLMINE_WAREHOUSE_URI", "data/warehouse"), type="string", minLength=1,
                           description="Root of the Parquet warehouse (local folder or object-store URL)."),
    "batch_size": Param(int(env_default("CALLMINE_BATCH_SIZE", "50")), type="integer", minimum=1, maximum=1000,
                        description="Calls per batch (one mapped import and analyze task each)."),
    "trackers": Param(env_default("CALLMINE_TRACKERS", "include/trackers/default.yaml"), type="string",
                      minLength=1, description="Keyword-tracker YAML file."),
    "insights": Param(env_default("CALLMINE_INSIGHTS", "lexical"), type="string", enum=["lexical", "llm", "off"],
                      description="Call insights analyzer."),
    "reprocess": Param(False, type="boolean", description="Import again calls already loaded."),
}


@dag(dag_id="omni_call_import", params=PARAMS, doc_md=__doc__, **daily_dag())
def omni_call_import() -> None:
    @task
    def discover(**context) -> list[dict]:
        from callmine.pipeline import call_date_for_run
        from callmine.sources.omni_import import omni_settings, plan_omni_day

        day = call_date_for_run(context.get("logical_date"), context.get("data_interval_start"))
        settings = omni_settings(context["params"], day, context["run_id"])
        return plan_omni_day(settings, int(context["params"]["batch_size"]))

    @task(map_index_template="{{ batch_id }}", retries=3)
    def fetch(batch: dict) -> dict:
        from airflow.sdk import get_current_context

        from callmine.sources.omni_import import import_batch

        get_current_context()["batch_id"] = batch["batch_id"]  # names the mapped task instance
        return import_batch(batch)

    # One load at a time deployment-wide: a load rewrites its month's files (see callmine.warehouse.locks).
    @task(trigger_rule="all_done", pool=env_default("CALLMINE_WAREHOUSE_POOL", "callmine_warehouse"))
    def load(**context) -> dict:
        from callmine.pipeline import call_date_for_run, load_day
        from callmine.sources.omni_import import omni_settings

        day = call_date_for_run(context.get("logical_date"), context.get("data_interval_start"))
        # No planned list: an Omni call whose transcript is not pushed yet gets no row (never an empty call).
        return load_day(omni_settings(context["params"], day, context["run_id"]))

    @task
    def report(summary: dict) -> dict:
        return summary

    fetched = fetch.expand(batch=discover())
    analyzed = AnalyzeBatchOperator.partial(
        task_id="analyze", map_index_template="{{ task.batch['batch_id'] }}",
        pool=env_default("CALLMINE_LLM_POOL", "callmine_llm"),
        pool_slots=int(env_default("CALLMINE_LLM_CONCURRENCY", "8")),
        llm_concurrency=int(env_default("CALLMINE_LLM_CONCURRENCY", "8")),
    ).expand(batch=fetched)
    loaded = load()
    analyzed >> loaded
    [fetched, analyzed] >> report(loaded)


omni_call_import()
