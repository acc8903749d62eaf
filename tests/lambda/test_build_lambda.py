"""build_lambda: the deployment package holds the runtime dependencies, our code and the static files.

The file selection and the pip command are checked directly (fast). One full build runs the
real pip step too, because only a real build shows the wheels fit the Lambda runtime and the
package imports on its own; pip's cache keeps it to about half a minute after the first run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from triggers.management.commands.build_lambda import pip_install_command, source_files

BASE_DIR = Path(settings.BASE_DIR)


def test_our_code_ships_without_tests_tools_or_local_files() -> None:
    files = {path.as_posix() for path in source_files(BASE_DIR)}

    assert {
        "triggers/lambda_handler.py",
        "backoffice/asgi.py",
        "backoffice/settings_triggers.py",
        "triggers/drain.py",
        "templates/emails/en/welcome.html",
        "tenants/migrations/0001_initial.py",
    } <= files
    top_level = {path.split("/")[0] for path in files}
    assert top_level == {
        "backoffice",
        "staff",
        "triggers",
        "accounts",
        "invites",
        "tenants",
        "outbox",
        "core",
        "templates",
    }
    assert [f for f in files if "__pycache__" in f or f.endswith(".pyc") or "/." in f] == []


def test_dependencies_come_from_requirements_txt_as_wheels_for_the_lambda_runtime(tmp_path: Path) -> None:
    command = pip_install_command(
        requirements=BASE_DIR / "requirements.txt",
        target=tmp_path,
        python_version="3.12",
        platform="manylinux2014_x86_64",
    )

    assert command[command.index("--requirement") + 1] == str(BASE_DIR / "requirements.txt")
    assert command[command.index("--platform") + 1] == "manylinux2014_x86_64"
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in command


def test_a_full_build_makes_a_package_that_imports_on_its_own(tmp_path: Path) -> None:
    output = tmp_path / "gatehouse-lambda.zip"
    stdout = StringIO()

    call_command("build_lambda", "--output", str(output), stdout=stdout)

    printed = stdout.getvalue()
    assert f"{output}: " in printed
    assert " MB zipped, " in printed
    with zipfile.ZipFile(output) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "task")
    assert "staticfiles/staticfiles.json" in names
    assert "triggers/__pycache__/lambda_handler.cpython-312.pyc" in names
    assert any(n.startswith("psycopg_binary/") and "x86_64-linux-gnu" in n for n in names)
    # No development dependency (requirements-dev.txt) ships.
    assert {n.split("/")[0] for n in names} & {
        "pytest",
        "moto",
        "ruff",
        "cfnlint",
        "hypothesis",
        "pgserver",
    } == set()
    # What Lambda does: the task folder on sys.path, no site-packages, the trigger handler imported.
    probe = (
        "import sys; sys.path.insert(0, '.');"
        "import triggers.lambda_handler, backoffice.asgi, triggers.drain, psycopg, boto3;"
        "import os; print(psycopg.pq.__impl__, boto3.__file__.startswith(os.getcwd()))"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "GATEHOUSE_ENV": "production",
        "OUTBOX_ENCRYPTION_KEYS": "dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHQ=",
        "ENV_FILE": "",
        "SECRET_KEY": "package-probe-" + "x" * 40,
        "DATABASE_URL": "postgres://probe@127.0.0.1:5432/probe",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [getattr(sys, "_base_executable", sys.executable), "-S", "-c", probe],
        cwd=tmp_path / "task",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "binary True"), result.stderr[-2000:]
