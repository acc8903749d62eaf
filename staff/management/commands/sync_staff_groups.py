"""Bring the Support and Administrators groups up to date (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tenants.staff import staff_groups_sync


class Command(BaseCommand):
    help = "Create or update the Support and Administrators staff groups and their permissions."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, count in staff_groups_sync().items():
            self.stdout.write(f"{name}: {count} permissions")
