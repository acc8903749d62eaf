from django.apps import AppConfig


class InvitesConfig(AppConfig):
    name = "invites"
    verbose_name = "Invitations and sign-up"
    default_auto_field = "django.db.models.BigAutoField"
