from django.apps import AppConfig


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = "Cognito triggers"
    default_auto_field = "django.db.models.BigAutoField"
