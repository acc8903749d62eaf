from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


admin.site.site_header = "Gatehouse"
admin.site.site_title = "Gatehouse"
admin.site.index_title = "People and sign-in"

urlpatterns = [
    path("", lambda request: redirect("admin:index")),
    path("healthz", healthz),
    path("admin/", admin.site.urls),
]
