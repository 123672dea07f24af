"""Run callmine on this machine: a project-local Airflow home, deployment, engine and the `run` command."""
