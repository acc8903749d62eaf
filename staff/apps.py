from django.apps import AppConfig


class StaffConfig(AppConfig):
    """The back office: the Django admin and the staff commands, an entry point above the domain."""

    name = "staff"
    verbose_name = "Back office"
    default_auto_field = "django.db.models.BigAutoField"
