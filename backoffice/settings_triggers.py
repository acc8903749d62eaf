"""Settings for the trigger Lambda: the same configuration with only the apps triggers use.

No admin (its autodiscovery imports every admin module), sessions, messages, static
files or login throttling: they cost cold-start time and triggers never use them.
"""

from backoffice.settings import *  # noqa: F403
from backoffice.settings import INSTALLED_APPS, MIDDLEWARE

_NOT_FOR_TRIGGERS = {
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "whitenoise.runserver_nostatic",
    "axes",
}

INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in _NOT_FOR_TRIGGERS]
MIDDLEWARE = [
    m for m in MIDDLEWARE if not m.startswith(("axes.", "django.contrib.sessions", "django.contrib.messages"))
]
ROOT_URLCONF = "backoffice.urls_triggers"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
