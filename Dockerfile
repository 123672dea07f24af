# callmine: the Airflow image every service of docker-compose.yaml runs (and the
# embedded speech engine, see the `engine` service). Build context = repo root;
# .dockerignore keeps it to what is copied below.
#
# Keep the base tag in step with the apache-airflow pin in requirements.txt:
# installing a different Airflow on top of the image would replace the one it ships.
FROM apache/airflow:3.3.2-python3.11

USER root
# Mount points owned by the image's `airflow` user and group 0, group-writable, so a
# fresh named volume (logs, engine data) starts writable for any AIRFLOW_UID running
# with GID 0 (the official image's "arbitrary user" convention).
RUN mkdir -p /opt/airflow/data /opt/airflow/logs /data/engine \
 && chown airflow:0 /opt/airflow/data /opt/airflow/logs /data/engine \
 && chmod 2775 /opt/airflow/data /opt/airflow/logs /data/engine
COPY --chmod=0755 docker/airflow-init.sh /usr/local/bin/callmine-airflow-init

# Python dependencies are installed as the airflow user, as the base image expects.
USER airflow
COPY --chown=airflow:0 requirements.txt requirements-nodeps.txt /tmp/
RUN pip install --no-cache-dir -r /tmp/requirements.txt \
 && pip install --no-cache-dir --no-deps -r /tmp/requirements-nodeps.txt

COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/

# `include` importable from every process (scheduler, task workers, dag processor,
# CLI, `python -m include.engine`); plugins/ too, as pyproject's pytest pythonpath
# has it, so `callmine` imports the same way outside Airflow's own plugin loading.
ENV PYTHONPATH=/opt/airflow:/opt/airflow/plugins

# Fail the build, not the first task, if the install replaced Airflow or lacks what
# docker-compose.yaml's URLs need: psycopg (metadata DB, postgresql+psycopg), psycopg2
# (Celery result backend, db+postgresql), redis and the Celery provider (CeleryExecutor).
RUN python -c "import airflow, psycopg, psycopg2, redis, airflow.providers.celery.executors.celery_executor, include; assert airflow.__version__ == '3.3.2', airflow.__version__"
