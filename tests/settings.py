"""Settings for the test suite: the real settings with test defaults in the environment."""

import os

os.environ.setdefault("ENV_FILE", "")
os.environ.setdefault("GATEHOUSE_ENV", "test")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 20)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("SES_SENDER", "Gatehouse <no-reply@gatehouse.test>")

from backoffice.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]  # noqa: F405
AXES_ENABLED = False
