"""Settings behaviour, checked in fresh processes so each sees its own environment."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Variables of the test process that would change what a fresh Django process does.
_OURS = {
    "COGNITO_ISSUER",
    "COGNITO_USER_POOL_ID",
    "AWS_REGION",
    "SECRET_KEY",
    "OUTBOX_ENCRYPTION_KEYS",
    "SECRET_KEY_FALLBACKS",
    "CRM_WEBHOOK_URL",
    "CRM_WEBHOOK_SECRET",
    "GATEHOUSE_ENV",
    "DEBUG",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "ENV_FILE",
}


def clean_environ():
    return {k: v for k, v in os.environ.items() if k not in _OURS}


def run_django(code, **env):
    base = clean_environ()
    base["ENV_FILE"] = ""  # a developer's .env must not leak into these checks
    base.update(env)
    base["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


LONG_KEY = "a-long-random-production-secret-key-with-enough-entropy-1234567890"


def test_production_with_debug_on_refuses_to_start_with_the_reason():
    result = run_django(
        "import django; django.setup()",
        GATEHOUSE_ENV="production",
        DEBUG="on",
        SECRET_KEY=LONG_KEY,
        DATABASE_URL="postgres://x@127.0.0.1/x",
    )

    assert result.returncode != 0
    assert "DEBUG is on in production" in result.stderr


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("short-key-" + "x1y2z3" * 6, "46 characters"),
        ("k" * 64, "1 distinct characters"),
        ("django-insecure-" + "q8w7e6r5t4y3u2i1o0p9a8s7d6f5g4h3j2k1l0", "django-insecure-"),
    ],
)
def test_production_with_a_weak_secret_key_refuses_to_start_with_the_reason(key, why):
    result = run_django(
        "import django; django.setup()",
        GATEHOUSE_ENV="production",
        SECRET_KEY=key,
        DATABASE_URL="postgres://x@127.0.0.1/x",
    )

    assert result.returncode != 0
    assert "SECRET_KEY is too weak for production" in result.stderr
    assert why in result.stderr
    # The reason names the rule, never the key itself.
    assert key not in result.stderr


def test_a_short_secret_key_is_fine_outside_production():
    result = run_django(
        "from django.conf import settings; print(settings.DEBUG)",
        GATEHOUSE_ENV="development",
        DEBUG="on",
        SECRET_KEY="dev",
        DATABASE_URL="postgres://x@127.0.0.1/x",
    )

    assert (result.returncode, result.stdout.strip()) == (0, "True"), result.stderr


def test_production_without_secret_key_refuses_to_start_with_a_clear_message(tmp_path):
    result = run_django(
        "import django; django.setup()", GATEHOUSE_ENV="production", DATABASE_URL="postgres://x@127.0.0.1/x"
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_is_off_unless_asked_for():
    code = "from django.conf import settings; print(settings.DEBUG)"
    off = run_django(
        code,
        GATEHOUSE_ENV="production",
        SECRET_KEY=LONG_KEY,
        OUTBOX_ENCRYPTION_KEYS="dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHQ=",
        DATABASE_URL="postgres://x@127.0.0.1/x",
    )
    on = run_django(code, GATEHOUSE_ENV="development", DEBUG="on", DATABASE_URL="postgres://x@127.0.0.1/x")
    assert off.stdout.strip() == "False", off.stderr
    assert on.stdout.strip() == "True", on.stderr


def test_database_url_wins_and_sets_timeouts():
    code = (
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "o = d['OPTIONS'];"
        "print(d['HOST'], d['NAME'], o['connect_timeout'], d['CONN_HEALTH_CHECKS'], o['prepare_threshold'])"
    )
    result = run_django(code, GATEHOUSE_ENV="test", DATABASE_URL="postgres://u@db.example:5432/gate")
    assert result.stdout.split() == ["db.example", "gate", "2", "True", "None"], result.stderr


def test_non_postgres_database_url_is_refused():
    result = run_django("import django; django.setup()", GATEHOUSE_ENV="test", DATABASE_URL="sqlite:///x.db")
    assert result.returncode != 0
    assert "must point at PostgreSQL" in result.stderr


def test_without_database_url_the_embedded_postgres_is_used(tmp_path):
    if importlib.util.find_spec("pgserver") is None:
        pytest.skip("pgserver is installed on Python 3.12 only (its only wheels)")
    code = "from django.conf import settings; print(settings.DATABASES['default']['HOST'])"
    env = {"GATEHOUSE_ENV": "test", "DATABASE_URL": ""}
    result = run_django(code, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(ROOT / ".local" / "pgdata")


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **clean_environ(),
            "GATEHOUSE_ENV": "production",
            "OUTBOX_ENCRYPTION_KEYS": "dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHQ=",
            "ENV_FILE": "",
            "SECRET_KEY": LONG_KEY,
            "ALLOWED_HOSTS": "admin.example.com",
            "DATABASE_URL": "postgres://x@127.0.0.1:5432/x",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PRODUCTION = {
    "GATEHOUSE_ENV": "production",
    "SECRET_KEY": LONG_KEY,
    "DATABASE_URL": "postgres://x@127.0.0.1/x",
}
FERNET_KEY = "dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHQ="


def test_production_without_outbox_encryption_keys_refuses_to_start():
    result = run_django("import django; django.setup()", **PRODUCTION)
    assert result.returncode != 0
    assert "OUTBOX_ENCRYPTION_KEYS is not set" in result.stderr


def test_an_outbox_key_that_is_not_a_fernet_key_is_refused_without_showing_it():
    result = run_django(
        "import django; django.setup()", **PRODUCTION, OUTBOX_ENCRYPTION_KEYS="hunter2-not-a-key"
    )
    assert result.returncode != 0
    assert "is not a Fernet key" in result.stderr
    assert "hunter2" not in result.stderr


def test_development_derives_an_outbox_key_so_make_run_works():
    code = "from django.conf import settings; print(len(settings.OUTBOX_ENCRYPTION_KEYS))"
    result = run_django(code, GATEHOUSE_ENV="development", DATABASE_URL="postgres://x@127.0.0.1/x")
    assert result.stdout.strip() == "1", result.stderr


@pytest.mark.parametrize("environment", ["production", "development"])
def test_a_crm_webhook_url_without_a_secret_refuses_to_start(environment):
    env = {**PRODUCTION, "GATEHOUSE_ENV": environment, "OUTBOX_ENCRYPTION_KEYS": FERNET_KEY}
    result = run_django("import django; django.setup()", **env, CRM_WEBHOOK_URL="https://crm.example/hook")
    assert result.returncode != 0
    assert "CRM_WEBHOOK_SECRET is empty" in result.stderr
    signed = run_django(
        "import django; django.setup()",
        **env,
        CRM_WEBHOOK_URL="https://crm.example/hook",
        CRM_WEBHOOK_SECRET="s" * 32,
    )
    assert signed.returncode == 0, signed.stderr


def test_production_refuses_an_issuer_that_is_not_cognitos():
    env = {**PRODUCTION, "OUTBOX_ENCRYPTION_KEYS": FERNET_KEY}
    code = "import django; django.setup(); from django.conf import settings; print(settings.COGNITO_ISSUER)"

    local = run_django(code, **env, COGNITO_ISSUER="http://127.0.0.1:9229/local_pool")
    derived = run_django(code, **env, COGNITO_USER_POOL_ID="eu-west-1_AbC123", AWS_REGION="eu-west-1")
    in_development = run_django(
        code, **{**env, "GATEHOUSE_ENV": "development"}, COGNITO_ISSUER="http://127.0.0.1:9229/local_pool"
    )

    assert local.returncode != 0
    assert "is not a Cognito user pool's issuer" in local.stderr
    assert derived.stdout.strip() == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123", (
        derived.stderr
    )
    assert in_development.stdout.strip() == "http://127.0.0.1:9229/local_pool", in_development.stderr


def test_the_embedded_aws_of_make_run_points_each_service_at_its_emulator():
    code = "from django.conf import settings; print(sorted(settings.AWS_SERVICE_ENDPOINTS.items()))"
    result = run_django(
        code,
        GATEHOUSE_ENV="development",
        DATABASE_URL="postgres://x@127.0.0.1/x",
        LOCAL_AWS_URL="http://127.0.0.1:5001",
        LOCAL_COGNITO_URL="http://127.0.0.1:5002",
    )
    assert result.stdout.strip() == str(
        [
            ("cognito-idp", "http://127.0.0.1:5002"),
            ("kms", "http://127.0.0.1:5001"),
            ("ses", "http://127.0.0.1:5001"),
            ("sesv2", "http://127.0.0.1:5001"),
            ("sns", "http://127.0.0.1:5001"),
            ("sqs", "http://127.0.0.1:5001"),
        ]
    ), result.stderr


def test_production_refuses_the_local_emulators():
    env = {**PRODUCTION, "OUTBOX_ENCRYPTION_KEYS": FERNET_KEY}
    result = run_django("import django; django.setup()", **env, LOCAL_AWS_URL="http://127.0.0.1:5001")
    assert result.returncode != 0
    assert "LOCAL_AWS_URL or LOCAL_COGNITO_URL is set in production" in result.stderr


@pytest.mark.parametrize(
    ("environment", "collected", "storage", "finders"),
    [
        ({"GATEHOUSE_ENV": "development"}, "", "StaticFilesStorage", "True"),
        ({"GATEHOUSE_ENV": "development"}, "on", "CompressedManifestStaticFilesStorage", "False"),
        (
            {**PRODUCTION, "OUTBOX_ENCRYPTION_KEYS": FERNET_KEY},
            "",
            "CompressedManifestStaticFilesStorage",
            "False",
        ),
    ],
)
def test_collected_static_files_in_production_and_under_make_run(environment, collected, storage, finders):
    code = (
        "from django.conf import settings; "
        "print(settings.STORAGES['staticfiles']['BACKEND'].rsplit('.', 1)[1],"
        " settings.WHITENOISE_USE_FINDERS)"
    )
    env = {"DATABASE_URL": "postgres://x@127.0.0.1/x", **environment, "STATIC_COLLECTED": collected}
    result = run_django(code, **env)
    assert result.stdout.split() == [storage, finders], result.stderr
