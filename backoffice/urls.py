from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import path

from api.main import api
from staff import dashboard, mailbox, try_trigger


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def favicon(request: HttpRequest) -> HttpResponse:
    # Browsers ask for /favicon.ico on every page whatever the page links: without this each
    # admin page logged a 404 (issue 17). The icon itself is a static file (WhiteNoise).
    return HttpResponsePermanentRedirect(static("gatehouse/favicon.svg"))


admin.site.site_header = "Gatehouse"
admin.site.site_title = "Gatehouse"
admin.site.index_title = "People and sign-in"

urlpatterns = [
    path("", lambda request: redirect("admin:index")),
    path("healthz", healthz),
    path("favicon.ico", favicon),
    # The admin's own pages, before admin.site.urls (whose catch-all would answer 404).
    path("admin/dashboard/", admin.site.admin_view(dashboard.dashboard_view), name="gatehouse_dashboard"),
    path(
        "admin/dashboard/retry/<int:pk>/",
        admin.site.admin_view(dashboard.side_effect_retry_view),
        name="gatehouse_side_effect_retry",
    ),
    path(
        "admin/try-trigger/",
        admin.site.admin_view(try_trigger.try_trigger_view),
        name="gatehouse_try_trigger",
    ),
    # Development only (404 without make run's local SES): what the local SES accepted.
    path("admin/mailbox/", admin.site.admin_view(mailbox.mailbox_view), name="gatehouse_mailbox"),
    path(
        "admin/mailbox/<str:message_id>/frame/",
        admin.site.admin_view(mailbox.mailbox_frame_view),
        name="gatehouse_mailbox_frame",
    ),
    path("admin/", admin.site.urls),
    # The tenant API (api/, docs/api.md): the customer's app, with Cognito bearer tokens.
    path("api/v1/", api.urls),
]
