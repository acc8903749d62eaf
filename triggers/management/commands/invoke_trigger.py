"""Run the trigger dispatcher on a saved Cognito event, for local debugging.

    python manage.py invoke_trigger EVENT.json [--rollback]

Prints the response (the event with `response` filled) as JSON; on a refusal or an
error prints its type and the message the user would see, and exits with status 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction


class Command(BaseCommand):
    help = "Run a Cognito trigger event (a JSON file, or - for stdin) through the trigger dispatcher."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("event", help="Path to the event JSON file, or - to read standard input.")
        parser.add_argument(
            "--rollback",
            action="store_true",
            help="Undo every database write when done (side effects are then not run either).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The adapter configures the trigger process when imported (django.setup, logging):
        # load it when the command runs, not when `manage.py help` lists commands.
        from triggers.errors import MalformedEvent, TriggerError
        from triggers.lambda_handler import invoke

        self.show_detail = options["verbosity"] > 1
        try:
            event = self._load(options["event"])
        except (OSError, ValueError) as exc:
            self._fail(MalformedEvent(str(exc)), f"cannot read the event: {exc}")
        try:
            if options["rollback"]:
                with transaction.atomic():
                    response = invoke(event)
                    transaction.set_rollback(True)
            else:
                response = invoke(event)
        except TriggerError as error:
            self._fail(error, error.detail)
        self.stdout.write(json.dumps(response, indent=2, ensure_ascii=False))

    def _load(self, name: str) -> Any:
        # utf-8-sig: saved events (aws-lambda-dotnet's among them) may start with a BOM.
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8-sig")
        return json.loads(text.lstrip("\ufeff"))

    def _fail(self, error: Exception, detail: str) -> None:
        self.stderr.write(f"{type(error).__name__}: {error}")
        if detail and self.show_detail:
            self.stderr.write(f"detail: {detail}")
        raise SystemExit(1)
