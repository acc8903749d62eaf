from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """The flows that span apps: sign-up decision, onboarding, sign-in, passwordless, messages."""

    name = "accounts"
    verbose_name = "Sign-up and sign-in flows"
    default_auto_field = "django.db.models.BigAutoField"
