"""App configs of the project itself (kept free of model imports: INSTALLED_APPS loads them first)."""

from django.contrib.admin.apps import AdminConfig


class GatehouseAdminConfig(AdminConfig):
    """django.contrib.admin whose `admin.site` requires a second factor (backoffice/otp.py)."""

    default_site = "backoffice.otp.SecondFactorAdminSite"
