"""The README, followed as a script by a new user on a fresh checkout.

Every command in the README's ```bash blocks belongs to one of the ROUTES below, and
the test of that route runs it exactly as written, from the checkout's root, with a
user's environment (none of the test suite's AIRFLOW_* / CALLMINE_* settings).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "include" / "samples" / "calls"

# README command prefix -> the test below that runs every command starting with it.
ROUTES = {
    "bin/callmine sql": "analyst",
    "bin/callmine ask": "analyst",
    ".venv/bin/python -c": "analyst",
    "bin/callmine run": "run",
    "bin/callmine up": "deployment",
    "bin/callmine down": "deployment",
    "bin/callmine airflow backfill": "deployment",
    "bin/callmine airflow dags test": "dags_test",
    ".venv/bin/python -m include.engine": "engine",
    "export AIRFLOW_CONN_": "connection",
}


def readme_commands() -> list[str]:
    """Each command line of the README's bash blocks (comments stripped)."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def commands_of(route: str) -> list[str]:
    return [c for c in readme_commands() if _route(c) == route]


def _route(command: str) -> str | None:
    routes = [r for prefix, r in ROUTES.items() if command.startswith(prefix)]
    return routes[0] if len(routes) == 1 else None


def user_env() -> dict[str, str]:
    """A user's shell: none of the test suite's Airflow or callmine settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CALLMINE", "PYTEST"))}


def sh(command: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", "-c", command], cwd=cwd, env=user_env(), capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """The project's tracked files in a new folder (a fresh clone of this tree), sharing .venv."""
    target = tmp_path_factory.mktemp("fresh") / "callmine"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")  # the pinned install is the same; bootstrap sees its stamp
    return target


@pytest.fixture(scope="module")
def after_demo(checkout) -> subprocess.CompletedProcess:
    return sh("bash scripts/demo.sh", checkout)


def test_every_readme_command_is_run_by_a_test():
    unrouted = [c for c in readme_commands() if _route(c) is None]
    assert not unrouted, f"README commands no test runs (add them to ROUTES): {unrouted}"
    assert set(ROUTES.values()) == {_route(c) for c in readme_commands()}


def test_the_demo_ends_with_the_sample_calls_in_the_default_warehouse(after_demo, checkout):
    assert "2026-11-18_damaged-upload.wav" in after_demo.stdout  # the failed call, with its reason
    assert "unreadable audio" in after_demo.stdout
    insights = after_demo.stdout.split("include/sql/call_insights.sql", 1)[1].split("[demo]", 1)[0]
    assert insights.count("callmine-lexical-1") == 4  # each sample call's summary, action items, sentiment
    assert (checkout / "data" / "warehouse" / "callmine.duckdb").is_file()
    assert sorted(p.name for p in (checkout / "data" / "demo" / "recordings").iterdir()) == sorted(
        [*(p.name for p in SAMPLES.glob("*.wav")), "2026-11-18_damaged-upload.wav"]
    )


def test_the_readme_analyst_commands_show_the_demo_calls(after_demo, checkout):
    outputs = {c: sh(c, checkout, timeout=120).stdout for c in commands_of("analyst")}
    assert len(outputs) >= 4
    for command, out in outputs.items():
        assert "(0 rows)" not in out, command
    per_day_and_status = outputs[next(c for c in outputs if "GROUP BY" in c)]
    assert "(5 rows)" in per_day_and_status  # 4 days completed + the damaged upload failed
    python_out = outputs[next(c for c in outputs if c.startswith(".venv/bin/python"))]
    assert python_out.count("completed") == 4 and python_out.count("failed") == 1
    asked = outputs[next(c for c in outputs if c.startswith("bin/callmine ask"))]
    assert "No LLM is configured" in asked and "competitor" in asked.split("== call_", 1)[1]


def test_readme_run_commands_load_a_folder_of_recordings_and_print_the_summary(checkout):
    """`bin/callmine run --source my-calls ...` as the README shows it: two sample calls and a damaged file."""
    day = checkout / "my-calls" / "2026" / "11" / "20"
    day.mkdir(parents=True)
    for sample in ("2026-11-20_acme-renewal_stereo.wav", "2026-11-19_subscription-cancel_mono.wav"):
        shutil.copy(SAMPLES / sample, day / sample.replace("2026-11-19", "call"))
    (day / "damaged.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 8)
    outputs = [sh(c, checkout).stdout for c in commands_of("run")]
    one_day = outputs[0]
    assert re.search(r"2026-11-20 \|\s+3 \|\s+2 \|\s+1 \|", one_day), one_day[-3000:]  # calls, completed, failed
    assert "damaged.wav" in one_day and "unreadable audio" in one_day
    assert "batch 2026-11-20/b000" in one_day  # progress per batch while it ran
    assert len(outputs) == 2  # the range (no recordings in it) runs too


def test_readme_dags_test_command_loads_the_day_from_the_default_recordings_folder(checkout):
    day = checkout / "data" / "recordings" / "2026" / "11" / "20"
    day.mkdir(parents=True)
    shutil.copy(SAMPLES / "2026-11-21_billing-refund_stereo.wav", day / "refund.wav")
    for command in commands_of("dags_test"):
        sh(command, checkout)
    out = sh("bin/callmine sql \"SELECT status FROM calls WHERE source_uri LIKE '%/refund.wav'\"", checkout).stdout
    assert "completed" in out


def test_up_prints_the_ui_and_login_and_down_stops_it(checkout):
    up, *middle, down = commands_of("deployment")
    out = sh(up, checkout, timeout=300).stdout
    try:
        url = re.search(r"Airflow UI: (http://\S+)", out)[1]
        user, password = re.search(r"login: (\S+) / (\S+)", out).groups()
        token = httpx.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)
        assert token.status_code in (200, 201), token.text
        for command in middle:  # the README's backfill against the running deployment
            sh(command, checkout, timeout=300)
    finally:
        sh(down, checkout, timeout=120)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/api/v2/monitor/health", timeout=5)


def test_readme_engine_command_starts_the_engine(checkout):
    [command] = commands_of("engine")
    with subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=checkout, env=user_env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        try:
            port = re.search(r"--port (\d+)", command)[1]
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "the engine did not come up"
                time.sleep(0.5)
        finally:
            proc.terminate()


def test_readme_connection_examples_are_valid_airflow_connections(checkout):
    commands = commands_of("connection")
    assert len(commands) >= 2  # pyai_default and llm_default
    for command in commands:
        variable = re.match(r"export (AIRFLOW_CONN_\w+)=", command)[1]
        conn = json.loads(sh(f"{command} && printenv {variable}", checkout).stdout)
        assert conn["host"].startswith("https://") and conn["password"], command
