#!/usr/bin/env bash
# One-shot init of the callmine stack: the `airflow-init` compose service runs this
# (as root, through the image entrypoint, which has already waited for the metadata
# DB), then exits; every other Airflow service starts only after it exited 0.
#
# 1. Make the bind-mounted ./data usable by the Airflow user: when ./data does not
#    exist on the host, Docker creates it owned by root, and the pipeline (running as
#    AIRFLOW_UID, GID 0) could not write the warehouse. Only directories still owned
#    by root are handed over; a directory the host user already owns is left alone.
# 2. `airflow db migrate` (idempotent: a no-op on an up-to-date database), then the
#    per-provider pools of include/pools.json (include_deferred; edit slots to your plan).
set -euo pipefail

uid="${AIRFLOW_UID:-50000}"
data_root=/opt/airflow/data

for dir in "${data_root}" "${data_root}/recordings" "${data_root}/warehouse"; do
    mkdir -p "${dir}"
    if [[ "$(stat -c %u "${dir}")" == "0" && "${uid}" != "0" ]]; then
        chown "${uid}:0" "${dir}"
        chmod 2775 "${dir}"
    fi
done

airflow version
airflow db migrate
exec airflow pools import /opt/airflow/include/pools.json
