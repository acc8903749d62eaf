"""The trigger function's import path stays lean: no admin, no boto3 until a side effect needs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Loaded by the admin function only; boto3 only once a side effect runs (outbox/aws.py);
# cryptography only once an email is sealed or opened (outbox/crypto.py), never for a token.
FORBIDDEN = (
    "boto3",
    "botocore",
    "cryptography",
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "backoffice.otp",
    "whitenoise",
    "mangum",
    # The tenant API and its JOSE library are the admin function's.
    "api",
    "ninja",
    "jwt",
    # Only a pre sign-up with an employee-ID pattern set matches with it (accounts.sign_up).
    "re2",
)

PROBE = """
import importlib, json, sys
import triggers.lambda_handler
from triggers.registry import FAMILIES
for module in sorted(set(FAMILIES.values())):
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module:  # a handler not written yet is fine; a broken import is not
            raise
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after_import(settings_module: str, probe: str = PROBE) -> list[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "GATEHOUSE_ENV": "production",
        "OUTBOX_ENCRYPTION_KEYS": "dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHQ=",
        "SECRET_KEY": "import-path-test-" + "x" * 40,
        "ENV_FILE": "",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _loaded(modules: list[str], prefix: str) -> list[str]:
    return [m for m in modules if m == prefix or m.startswith(prefix + ".")]


def test_the_trigger_function_loads_no_admin_and_no_boto3() -> None:
    modules = _modules_after_import("backoffice.settings_triggers")

    assert {prefix: _loaded(modules, prefix) for prefix in FORBIDDEN} == {prefix: [] for prefix in FORBIDDEN}
    # The handlers are really there: the probe imported the trigger modules themselves.
    assert "triggers.lambda_handler" in modules
    assert "django_tasks_db" in modules


def test_the_full_settings_do_load_the_admin_so_the_probe_can_see_it() -> None:
    modules = _modules_after_import("backoffice.settings")

    assert _loaded(modules, "django.contrib.admin") != []


def test_the_drain_and_the_sqs_consumer_load_boto3_only_when_they_run_an_effect() -> None:
    probe = (
        "import json, sys\nimport triggers.drain, triggers.sqs_consumer\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    modules = _modules_after_import("backoffice.settings_triggers", probe)

    assert {"triggers.drain", "triggers.sqs_consumer"} <= set(modules)
    assert _loaded(modules, "boto3") == _loaded(modules, "botocore") == []
    assert _loaded(modules, "django.contrib.admin") == []
