from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = "Side effects"
    default_auto_field = "django.db.models.BigAutoField"
