"""Settings for the trigger Lambda: the same configuration with only the apps triggers use.

No admin (its autodiscovery imports every admin module), sessions, messages, static
files, login throttling or django.contrib.postgres, and logging configured here rather than
through Django's defaults: they cost cold-start time and triggers never use them
(docs/cold-start.md). Migrations run with backoffice.settings.
"""

import logging.config
import sys
import types
from typing import Any

from backoffice.settings import *  # noqa: F403
from backoffice.settings import INSTALLED_APPS, LOGGING, MIDDLEWARE, env

# No worker runs django-tasks-db rows on Lambda: the drain and the SQS consumer carry the
# outbox (docs/scaling.md), so no task row is written for each side effect.
SIDE_EFFECT_TASKS = env.bool("SIDE_EFFECT_TASKS", default=False)


def _generic_at_runtime() -> None:
    """What django_stubs_ext.monkeypatch() does, for the classes the trigger path can load.

    The same `__class_getitem__` the real one adds (returns the class itself), without
    importing the admin, sessions, messages, sitemaps and feeds whose classes it also
    patches. django-tasks-db needs it for `TaskResult[P, T]` at import time.
    """
    from django.core.files.utils import FileProxyMixin
    from django.core.paginator import Paginator
    from django.db.models.expressions import ExpressionWrapper, Func, Subquery
    from django.db.models.fields import Field
    from django.db.models.fields.related import ForeignKey
    from django.db.models.fields.related_descriptors import (
        ForwardManyToOneDescriptor,
        ReverseManyToOneDescriptor,
        ReverseOneToOneDescriptor,
    )
    from django.db.models.lookups import Lookup
    from django.db.models.manager import BaseManager
    from django.db.models.options import Options
    from django.db.models.query import BaseIterable, ModelIterable, Prefetch, QuerySet, RawQuerySet
    from django.tasks import Task, TaskContext, TaskResult
    from django.utils.connection import BaseConnectionHandler, ConnectionProxy
    from django.utils.datastructures import OrderedSet
    from django.utils.functional import LazyObject, classproperty

    for cls in (
        Task,
        TaskContext,
        TaskResult,
        Field,
        ForeignKey,
        Lookup,
        Func,
        Subquery,
        ExpressionWrapper,
        ForwardManyToOneDescriptor,
        ReverseManyToOneDescriptor,
        ReverseOneToOneDescriptor,
        BaseManager,
        QuerySet,
        RawQuerySet,
        BaseIterable,
        ModelIterable,
        Prefetch,
        Options,
        Paginator,
        FileProxyMixin,
        BaseConnectionHandler,
        ConnectionProxy,
        OrderedSet,
        LazyObject,
        classproperty,
    ):
        if "__class_getitem__" not in cls.__dict__:
            target: Any = cls
            target.__class_getitem__ = classmethod(lambda cls, *args, **kwargs: cls)


def _skip_django_stubs_ext_monkeypatch() -> None:
    """Keep django-tasks-db's import from loading the admin, sessions, sitemaps and feeds.

    django_tasks_db/__init__.py calls django_stubs_ext.monkeypatch(), whose module imports
    django.contrib.admin (and messages, sessions, sitemaps, syndication) at its top only to
    make those classes subscriptable for type checkers. The trigger function registers a
    stand-in module that patches the classes it can load (_generic_at_runtime) and nothing
    else. Settings are imported before apps.populate() imports django_tasks_db, which is
    what makes this the place to do it. The admin function keeps the real monkeypatch.
    """
    if "django_stubs_ext.patch" in sys.modules:
        return
    patch = types.ModuleType("django_stubs_ext.patch")
    patch.__doc__ = "Stand-in registered by backoffice.settings_triggers (see there)."

    def monkeypatch(extra_classes: object = None) -> None:
        _generic_at_runtime()
        for cls in extra_classes or ():  # type: ignore[attr-defined]
            cls.__class_getitem__ = classmethod(lambda cls, *args, **kwargs: cls)

    patch.monkeypatch = monkeypatch  # type: ignore[attr-defined]
    patch.__all__ = ["monkeypatch"]  # type: ignore[attr-defined]
    sys.modules["django_stubs_ext.patch"] = patch


_skip_django_stubs_ext_monkeypatch()

_NOT_FOR_TRIGGERS = {
    # Not needed for ArrayField or ArraySubquery (both work without the app). Installed, its
    # ready() hooks connection_created to look up the hstore and citext type OIDs: two
    # extra round trips on every cold start's first connection, plus its lookups' imports.
    "django.contrib.postgres",
    "backoffice.apps.GatehouseAdminConfig",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "whitenoise.runserver_nostatic",
    "axes",
    # The back office's admin modules and staff commands.
    "staff",
    # The tenant API (its idempotency keys are its only model): served by the admin function.
    "api",
    # The admin's second factor; importing django_otp also connects a user_logged_in receiver.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
}

INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in _NOT_FOR_TRIGGERS]
MIDDLEWARE = [
    m
    for m in MIDDLEWARE
    if not m.startswith(
        ("axes.", "django_otp.", "django.contrib.sessions", "django.contrib.messages", "api.")
    )
]
ROOT_URLCONF = "backoffice.urls_triggers"

# Configure logging here, once, instead of through django.setup(): Django's configure_logging
# first applies its DEFAULT_LOGGING, whose mail_admins handler imports django.views.debug and
# the template library on every cold start, for a handler that cannot send (no ADMINS, no
# email backend). The trigger function's logs are only ours: one JSON object per line.
# (Django's documented way: LOGGING_CONFIG = None, then dictConfig in settings.)
LOGGING_CONFIG = None
logging.config.dictConfig(LOGGING)
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
# The trigger function serves no HTTP; Django still wants a URLconf.
urlpatterns: list[object] = []
