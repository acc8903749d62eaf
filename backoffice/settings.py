"""Gatehouse settings, driven by the environment (django-environ).

Safe by default: DEBUG is off unless asked for, and a production run
without SECRET_KEY refuses to start. See .env.example for every variable.
"""

import base64
import hashlib
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from backoffice.database import database_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is a convenience for development; real deployments set the environment.
# ENV_FILE names another file, or is empty to read none.
_env_file = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if _env_file and Path(_env_file).is_file():
    env.read_env(_env_file, overwrite=False)

# development | test | production. Production is the default so that a
# forgotten variable fails closed rather than running with debug settings.
GATEHOUSE_ENV = env.str("GATEHOUSE_ENV", default="production")
if GATEHOUSE_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(
        f"GATEHOUSE_ENV must be development, test or production, not {GATEHOUSE_ENV!r}."
    )
PRODUCTION = GATEHOUSE_ENV == "production"

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Gatehouse refuses to start in production without it: "
            "set SECRET_KEY to a long random string (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), "
            "or set GATEHOUSE_ENV=development for a local run."
        )
    SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105
# Rotation: the previous key(s), still accepted for signatures (docs/security.md, "Secrets").
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

# `check --deploy` only warns about these (security.W018, W009), and nothing runs it on a
# Lambda cold start: in production they stop the process instead. The key rules are Django's
# own (django/core/checks/security/base.py), written out so settings import no checks module.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured(
            "DEBUG is on in production: error pages would show settings, SQL and stack frames "
            "to anyone. Unset DEBUG (or set it off), or set GATEHOUSE_ENV=development for a local run."
        )
    weak = [
        f"it has {len(SECRET_KEY)} characters, fewer than {SECRET_KEY_MIN_LENGTH}"
        if len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
        else "",
        f"it has {len(set(SECRET_KEY))} distinct characters, fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS}"
        if len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        else "",
        "it starts with django-insecure- (a key startproject made for development)"
        if SECRET_KEY.startswith("django-insecure-")
        else "",
    ]
    if any(weak):
        # The reason names the rule broken, never the key.
        raise ImproperlyConfigured(
            "SECRET_KEY is too weak for production: "
            + "; ".join(reason for reason in weak if reason)
            + ". It signs sessions, password-reset links and CSRF tokens: set it to a long random "
            "string (`python -c 'import secrets; print(secrets.token_urlsafe(50))'`)."
        )

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Trigger Lambdas load a lean app list (no admin, no sessions): see backoffice/settings_triggers.py.
INSTALLED_APPS = [
    # django.contrib.admin, with the second factor every staff session needs (backoffice/otp.py).
    "backoffice.apps.GatehouseAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",
    # The admin's second factor: TOTP devices and recovery codes (static devices).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_tasks_db",
    # Top to bottom as in docs/architecture.md: entry points, flows, domain, infrastructure.
    "staff",
    "api",
    "triggers",
    "accounts",
    "invites",
    "tenants",
    "outbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Puts the session's verified device on request.user (is_verified()); the admin site checks it.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Keeps the answer of a write sent with an Idempotency-Key (tenant API only; api/idempotency.py).
    "api.idempotency.IdempotencyMiddleware",
    # AxesMiddleware must be last: it turns a lockout into a response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "backoffice.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

WSGI_APPLICATION = "backoffice.wsgi.application"
ASGI_APPLICATION = "backoffice.asgi.application"

DATABASES = {"default": database_config(env, BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Hashers that can verify imported legacy passwords (see tenants.legacy_hashes).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = env.str("STATIC_URL", default="static/")
# build_lambda collects into the package; a test collects into a temporary folder.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# The path prefix the admin is served under, e.g. "/prod" behind an API Gateway HTTP API stage
# that is not $default: Django strips it from incoming paths and puts it in front of every URL
# it makes (reverse, STATIC_URL). Empty behind a Function URL or a $default stage.
FORCE_SCRIPT_NAME = env.str("FORCE_SCRIPT_NAME", default="") or None
if FORCE_SCRIPT_NAME and not STATIC_URL.startswith(("/", "http://", "https://")):
    # get_asgi_application() sets Django up without the script prefix, and STATIC_URL is read
    # (and cached) then: a relative one would miss the prefix. WhiteNoise strips it again.
    STATIC_URL = f"{FORCE_SCRIPT_NAME.rstrip('/')}/{STATIC_URL}"
# Collected static files: hashed names, gzip/brotli copies and a year's immutable cache
# (WhiteNoise), in production and under `make run`, which runs collectstatic first
# (scripts/run_local.py sets STATIC_COLLECTED). Without them every admin page made the browser
# revalidate each file with runserver (issue 17: warm loads of 430-540 ms). Tests and a bare
# runserver read the source folders through the finders and need no collectstatic.
STATIC_COLLECTED = PRODUCTION or env.bool("STATIC_COLLECTED", default=False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_COLLECTED
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_COLLECTED
WHITENOISE_AUTOREFRESH = not STATIC_COLLECTED

# Tasks: the durable side-effect queue (outbox) runs on Django's task framework.
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "gatehouse",
    }
}

# --- Security -----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # API Gateway and Function URLs terminate TLS and forward the scheme.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Django 6's built-in Content-Security-Policy. The admin needs only its own files;
# template previews are rendered into a sandboxed iframe from srcdoc.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", "https:"],
    "frame-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}

# django-axes: lock an account+address pair after repeated failed admin logins.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

# django-otp: the admin's second factor (backoffice/otp.py). After each wrong code a device
# waits FACTOR * 2**(failures - 1) seconds (1, 2, 4, ... up to an hour) before the next try.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Gatehouse")
OTP_TOTP_THROTTLE_FACTOR = env.int("OTP_THROTTLE_FACTOR", default=1)
OTP_STATIC_THROTTLE_FACTOR = env.int("OTP_THROTTLE_FACTOR", default=1)

# --- AWS and product ------------------------------------------------------------
AWS_REGION = env.str("AWS_REGION", default=env.str("AWS_DEFAULT_REGION", default="us-east-1"))
# Points every boto3 client at an emulator (moto's server, LocalStack) when set.
AWS_ENDPOINT_URL = env.str("AWS_ENDPOINT_URL", default="") or None
# The embedded AWS of `make run` (scripts/run_local.py): moto's server for SES, SNS, SQS and
# KMS, cognito-local for the user pool. Per service, because one endpoint cannot serve both.
# Development only: production talks to AWS, and refuses to start when these are set.
LOCAL_AWS_URL = env.str("LOCAL_AWS_URL", default="")
LOCAL_COGNITO_URL = env.str("LOCAL_COGNITO_URL", default="")
if PRODUCTION and (LOCAL_AWS_URL or LOCAL_COGNITO_URL):
    raise ImproperlyConfigured(
        "LOCAL_AWS_URL or LOCAL_COGNITO_URL is set in production: they point boto3 at the local "
        "emulators of `make run`. Unset them (use AWS_ENDPOINT_URL for an emulator on purpose)."
    )
AWS_SERVICE_ENDPOINTS: dict[str, str] = {}
if LOCAL_AWS_URL:
    AWS_SERVICE_ENDPOINTS.update(dict.fromkeys(("ses", "sesv2", "sns", "sqs", "kms"), LOCAL_AWS_URL))
if LOCAL_COGNITO_URL:
    AWS_SERVICE_ENDPOINTS["cognito-idp"] = LOCAL_COGNITO_URL
COGNITO_USER_POOL_ID = env.str("COGNITO_USER_POOL_ID", default="")
COGNITO_APP_CLIENT_ID = env.str("COGNITO_APP_CLIENT_ID", default="")
# The tenant API (api/, docs/api.md) accepts Cognito's tokens from this issuer only. Derived
# from the pool (https://cognito-idp.{region}.amazonaws.com/{poolId}); COGNITO_ISSUER
# overrides it for cognito-local and tests, and production refuses any issuer that is not
# Cognito's form. The JWKS is always {issuer}/.well-known/jwks.json, never a discovery document.
COGNITO_ISSUER = env.str("COGNITO_ISSUER", default="") or (
    f"https://cognito-idp.{AWS_REGION}.amazonaws.com/{COGNITO_USER_POOL_ID}" if COGNITO_USER_POOL_ID else ""
)
if (
    PRODUCTION
    and COGNITO_ISSUER
    and not re.fullmatch(
        r"https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9-]+_[A-Za-z0-9]+", COGNITO_ISSUER
    )
):
    raise ImproperlyConfigured(
        f"COGNITO_ISSUER {COGNITO_ISSUER!r} is not a Cognito user pool's issuer "
        "(https://cognito-idp.<region>.amazonaws.com/<poolId>): production accepts tokens from "
        "Cognito only. Unset COGNITO_ISSUER to derive it from COGNITO_USER_POOL_ID and AWS_REGION."
    )
# Seconds of clock skew allowed on exp/iat/nbf; seconds the JWKS is kept; the least seconds
# between two refreshes an unknown key id may cause (a forged kid cannot make every request fetch).
API_JWT_LEEWAY_SECONDS = env.int("API_JWT_LEEWAY_SECONDS", default=30)
API_JWKS_LIFESPAN_SECONDS = env.int("API_JWKS_LIFESPAN_SECONDS", default=6 * 3600)
API_JWKS_REFRESH_COOLDOWN_SECONDS = env.int("API_JWKS_REFRESH_COOLDOWN_SECONDS", default=60)
API_JWKS_TIMEOUT_SECONDS = env.float("API_JWKS_TIMEOUT_SECONDS", default=3.0)
# Larger request bodies answer 413 before they are parsed.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)
# Idempotency-Key answers are kept this long; a claim whose request died is free after this.
IDEMPOTENCY_TTL_HOURS = env.int("IDEMPOTENCY_TTL_HOURS", default=24)
IDEMPOTENCY_STALE_SECONDS = env.int("IDEMPOTENCY_STALE_SECONDS", default=60)
SES_SENDER = env.str("SES_SENDER", default="Gatehouse <no-reply@example.com>")
SES_CONFIGURATION_SET = env.str("SES_CONFIGURATION_SET", default="")
APP_URL = env.str("APP_URL", default="http://127.0.0.1:8000")
CRM_WEBHOOK_URL = env.str("CRM_WEBHOOK_URL", default="")
CRM_WEBHOOK_SECRET = env.str("CRM_WEBHOOK_SECRET", default="")
if CRM_WEBHOOK_URL and not CRM_WEBHOOK_SECRET:
    # An empty key makes a signature anyone can compute: the receiver could not tell us apart.
    raise ImproperlyConfigured(
        "CRM_WEBHOOK_URL is set but CRM_WEBHOOK_SECRET is empty: Gatehouse refuses to post "
        "unsigned webhooks. Set CRM_WEBHOOK_SECRET to a long random string shared with the "
        "receiver, or unset CRM_WEBHOOK_URL."
    )

# Fernet keys that encrypt email bodies waiting in the outbox (docs/security.md, "Secrets").
# Comma-separated: the first encrypts, every one decrypts, so a new key goes first and the
# old one stays until the rows it sealed are sent or scrubbed.
OUTBOX_ENCRYPTION_KEYS = env.list("OUTBOX_ENCRYPTION_KEYS", default=[])
if not OUTBOX_ENCRYPTION_KEYS:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "OUTBOX_ENCRYPTION_KEYS is not set. Gatehouse refuses to start in production without "
            "it: pending emails (sign-in and invitation codes) are encrypted with it. Set it to "
            "a Fernet key (`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)."
        )
    # Development and tests: a key derived from SECRET_KEY, so `make run` works unconfigured.
    OUTBOX_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(b"gatehouse-outbox:" + SECRET_KEY.encode()).digest()).decode()
    ]
for _key in OUTBOX_ENCRYPTION_KEYS:
    # Checked here without importing cryptography (the trigger path stays lean): a Fernet
    # key is 32 bytes in URL-safe base64.
    try:
        _raw = base64.urlsafe_b64decode(_key.encode())
    except (ValueError, TypeError):
        _raw = b""
    if len(_raw) != 32:
        raise ImproperlyConfigured(
            "OUTBOX_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 bytes, URL-safe "
            "base64); the value is not shown."
        )

# Outbound calls made while Cognito waits: each must end well inside its 5 s.
SIDE_EFFECT_TIMEOUT_SECONDS = env.float("SIDE_EFFECT_TIMEOUT_SECONDS", default=1.0)
SIDE_EFFECT_INLINE_BUDGET_SECONDS = env.float("SIDE_EFFECT_INLINE_BUDGET_SECONDS", default=2.0)
SIDE_EFFECT_MAX_ATTEMPTS = env.int("SIDE_EFFECT_MAX_ATTEMPTS", default=8)
# Write a django-tasks-db row for every side effect, for `make worker` (manage.py db_worker).
# Off on Lambda (settings_triggers), where no worker runs them: the drain and the SQS
# consumer carry the outbox rows there, and a task row would only pile up.
SIDE_EFFECT_TASKS = env.bool("SIDE_EFFECT_TASKS", default=True)
# The SQS queue a trigger sends a side effect's id to after commit, when its inline attempt
# did not finish it (triggers/sqs_consumer.py runs it). Empty: the scheduled drain only.
SIDE_EFFECT_QUEUE_URL = env.str("SIDE_EFFECT_QUEUE_URL", default="")

# Retention: what the scheduled drain deletes (triggers/drain.py), in id-range batches.
ACTIVITY_RETENTION_DAYS = env.int("ACTIVITY_RETENTION_DAYS", default=90)
REFUSAL_RETENTION_DAYS = env.int("REFUSAL_RETENTION_DAYS", default=90)
# Done and given-up side effects (their bodies are already scrubbed); waiting ones stay.
SIDE_EFFECT_RETENTION_DAYS = env.int("SIDE_EFFECT_RETENTION_DAYS", default=30)
# django-tasks-db results of finished tasks.
TASK_RESULT_RETENTION_DAYS = env.int("TASK_RESULT_RETENTION_DAYS", default=7)
# Login codes and rate-limit windows, after they expired or closed.
LOGIN_CODE_RETENTION_DAYS = env.int("LOGIN_CODE_RETENTION_DAYS", default=1)
RATE_LIMIT_RETENTION_DAYS = env.int("RATE_LIMIT_RETENTION_DAYS", default=2)
# Rows per DELETE: each statement is short, so no prune holds a lock the triggers wait on.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=5000)

INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=14)
# Resources of role permissions that control access in the customer's app (users:invite,
# roles:edit, admin:...): only superusers and Administrators grant a role carrying one, or a
# wildcard (tenants/grants.py).
ROLE_ADMIN_LEVEL_RESOURCES = env.list("ROLE_ADMIN_LEVEL_RESOURCES", default=["users", "roles", "admin"])
# Seconds a warm trigger container keeps a user's token claims.
CLAIMS_CACHE_SECONDS = env.float("CLAIMS_CACHE_SECONDS", default=30.0)
# Upper bound on the bytes of claims added to one token.
CLAIMS_BYTE_BUDGET = env.int("CLAIMS_BYTE_BUDGET", default=2048)

LOGIN_CODE_LENGTH = env.int("LOGIN_CODE_LENGTH", default=6)
LOGIN_CODE_TTL_SECONDS = env.int("LOGIN_CODE_TTL_SECONDS", default=300)
LOGIN_CODE_MAX_ATTEMPTS = env.int("LOGIN_CODE_MAX_ATTEMPTS", default=3)
LOGIN_CODES_PER_WINDOW = env.int("LOGIN_CODES_PER_WINDOW", default=5)
LOGIN_CODE_WINDOW_SECONDS = env.int("LOGIN_CODE_WINDOW_SECONDS", default=900)
# User migration: password attempts per legacy user (counted in Postgres).
LEGACY_LOGIN_ATTEMPTS_PER_WINDOW = env.int("LEGACY_LOGIN_ATTEMPTS_PER_WINDOW", default=5)
LEGACY_LOGIN_WINDOW_SECONDS = env.int("LEGACY_LOGIN_WINDOW_SECONDS", default=900)
# A login code younger than this is answered again instead of mailing a second one (Cognito
# retries a slow CreateAuthChallenge; a new InitiateAuth must not flood the inbox either).
LOGIN_CODE_REUSE_SECONDS = env.int("LOGIN_CODE_REUSE_SECONDS", default=60)
# Code answers per trusted caller address (accounts.trusted_source), across users.
LOGIN_ANSWERS_PER_SOURCE_PER_WINDOW = env.int("LOGIN_ANSWERS_PER_SOURCE_PER_WINDOW", default=30)

# The shared secret the app's backend signs the caller's address with (docs/security.md,
# "Trust model"). Empty: no address is trusted, and IP allowlists refuse every sign-in.
TRUSTED_BACKEND_SECRET = env.str("TRUSTED_BACKEND_SECRET", default="")
if TRUSTED_BACKEND_SECRET and len(TRUSTED_BACKEND_SECRET) < 32:
    raise ImproperlyConfigured(
        "TRUSTED_BACKEND_SECRET is shorter than 32 characters: a short HMAC key can be guessed "
        "offline from one signed address. Set at least 32 random characters, or leave it empty."
    )
# Sign-ups that carry no trusted address: per email and, all together, per hour (0 = off).
SIGNUPS_PER_EMAIL_PER_HOUR = env.int("SIGNUPS_PER_EMAIL_PER_HOUR", default=5)
UNTRUSTED_SIGNUPS_PER_HOUR = env.int("UNTRUSTED_SIGNUPS_PER_HOUR", default=500)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "backoffice.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own default config gives "django" a plain console handler under DEBUG as
        # well: with it every line printed twice, plain and JSON (issue 17). One JSON line.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # At DEBUG botocore logs request bodies: emails with sign-in codes, Cognito passwords.
        "botocore": {"level": "WARNING"},
    },
}
