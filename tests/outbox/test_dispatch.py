"""How a stored side effect reaches a runner: a task row only where a worker runs them, SQS
after commit where a queue is configured, and the outbox row the record whatever happens."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from outbox.aws import client
from outbox.models import SideEffect, SideEffectStatus
from outbox.runner import inline_budget
from outbox.services import OutgoingEmail, email_enqueue, side_effect_retry
from tests.conftest import SENDER
from triggers.drain import handler as drain
from triggers.sqs_consumer import handler as consume

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


def _email(key: str = "welcome:1", to: str = "ada@acme.test") -> SideEffect:
    return email_enqueue(
        key=key,
        email=OutgoingEmail(to=to, sender=f"Gatehouse <{SENDER}>", subject="Hi", html="<p>Hi</p>", text="Hi"),
    )


@pytest.fixture
def queue(aws: Any, settings: Any) -> str:
    url = client("sqs").create_queue(QueueName="gatehouse-side-effects")["QueueUrl"]
    settings.SIDE_EFFECT_QUEUE_URL = url
    return str(url)


def _received(url: str) -> list[dict[str, Any]]:
    """ReceiveMessage output as the Lambda event source mapping would hand it to the consumer."""
    answer = client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
    )
    return [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:gatehouse-side-effects",
            "awsRegion": "us-east-1",
        }
        for m in answer.get("Messages", [])
    ]


# --- Task rows ------------------------------------------------------------------------------


def test_with_a_worker_each_side_effect_gets_one_task_row(aws: Any, settings: Any) -> None:
    settings.SIDE_EFFECT_TASKS = True
    with inline_budget(0):
        effect = _email()

    (task,) = DBTaskResult.objects.all()
    assert (task.task_path, task.args_kwargs["kwargs"]) == (
        "outbox.tasks.perform_side_effect",
        {"side_effect_id": effect.pk},
    )


def test_on_lambda_no_task_row_is_written_and_the_drain_carries_the_effect(aws: Any, settings: Any) -> None:
    settings.SIDE_EFFECT_TASKS = False
    with inline_budget(0):  # the trigger's time ran out: the row waits
        effect = _email()
    effect.status = SideEffectStatus.FAILED
    effect.save(update_fields=["status"])
    assert side_effect_retry(side_effect=effect)

    assert DBTaskResult.objects.count() == 0
    assert drain({}, None)["counts"] == {"done": 1}
    assert [m.destinations["ToAddresses"] for m in aws.ses_messages()] == [["ada@acme.test"]]


def test_the_trigger_settings_write_no_task_rows_and_the_back_office_does() -> None:
    probe = (
        "from django.conf import settings; import django; django.setup(); print(settings.SIDE_EFFECT_TASKS)"
    )
    env = {**os.environ, "GATEHOUSE_ENV": "test", "ENV_FILE": "", "SECRET_KEY": "x" * 50}
    env.pop("SIDE_EFFECT_TASKS", None)

    def value(module: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=REPO,
            env={**env, "DJANGO_SETTINGS_MODULE": module},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1]

    assert (value("backoffice.settings_triggers"), value("backoffice.settings")) == ("False", "True")


# --- SQS ------------------------------------------------------------------------------------


def test_an_effect_the_trigger_could_not_finish_is_sent_to_sqs_and_run_by_the_consumer(
    aws: Any, queue: str
) -> None:
    with inline_budget(0):  # deferred: the inline attempt did not run
        effect = _email()
    records = _received(queue)
    assert [json.loads(r["body"]) for r in records] == [{"side_effect_id": effect.pk}]

    assert consume({"Records": records}, None) == {"batchItemFailures": []}
    # SQS delivers at least once: the same message again runs nothing twice.
    assert consume({"Records": records}, None) == {"batchItemFailures": []}

    effect.refresh_from_db()
    assert effect.status == SideEffectStatus.DONE
    assert len(aws.ses_messages()) == 1


def test_an_effect_done_inline_is_not_sent_to_sqs(aws: Any, queue: str) -> None:
    _email()

    assert SideEffect.objects.get().status == SideEffectStatus.DONE
    assert _received(queue) == []


def test_the_consumer_reports_only_the_messages_whose_effect_still_waits(
    aws: Any, queue: str, settings: Any
) -> None:
    with inline_budget(0):
        good = _email("good", to="ada@acme.test")
        bad = _email("bad", to="bo@acme.test")
    records = _received(queue)
    records.append({**records[0], "messageId": "not-ours", "body": "{}"})
    # SES refuses every message to bo (moto: an unverified sender would refuse all; here the
    # row's sender is changed for one effect only, so SES answers MessageRejected for it).
    SideEffect.objects.filter(pk=bad.pk).update(payload={**bad.payload, "from": "nobody@unverified.test"})
    ids = {json.loads(r["body"]).get("side_effect_id"): r["messageId"] for r in records}

    answer = consume({"Records": records}, None)

    assert sorted(f["itemIdentifier"] for f in answer["batchItemFailures"]) == sorted(
        [ids[bad.pk], "not-ours"]
    )
    assert SideEffect.objects.get(pk=good.pk).status == SideEffectStatus.DONE
    # The failed one waits for its backoff in the outbox, whatever SQS does with the message.
    waiting = SideEffect.objects.get(pk=bad.pk)
    assert (waiting.status, waiting.attempts) == (SideEffectStatus.PENDING, 1)


def test_when_sqs_is_down_the_send_is_logged_and_the_drain_runs_the_effect(
    aws: Any, settings: Any, caplog: Any
) -> None:
    from tests.reliability.conftest import closed_port

    settings.SIDE_EFFECT_QUEUE_URL = f"http://127.0.0.1:{closed_port()}/123456789012/gone"
    from outbox.aws import reset_clients

    reset_clients()
    endpoint = settings.AWS_ENDPOINT_URL
    settings.AWS_ENDPOINT_URL = settings.SIDE_EFFECT_QUEUE_URL.rsplit("/", 2)[0]
    client("sqs")  # the SQS client points at nothing; the others at moto
    settings.AWS_ENDPOINT_URL = endpoint

    with caplog.at_level(logging.WARNING, logger="outbox.runner"), inline_budget(0):
        effect = _email()

    assert [r.getMessage() for r in caplog.records if r.name == "outbox.runner"] == [
        "side effect not sent to SQS: the drain will run it"
    ]
    assert drain({}, None)["counts"] == {"done": 1}
    effect.refresh_from_db()
    assert effect.status == SideEffectStatus.DONE


def test_an_effect_that_failed_inline_reaches_sqs_only_after_its_first_backoff(aws: Any, queue: str) -> None:
    effect = email_enqueue(
        key="refused-inline",
        email=OutgoingEmail(
            to="ada@acme.test", sender="nobody@unverified.test", subject="Hi", html="<p>Hi</p>", text="Hi"
        ),
    )

    waiting = SideEffect.objects.get(pk=effect.pk)
    assert (waiting.status, waiting.attempts) == (SideEffectStatus.PENDING, 1)
    attributes = client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    # Sent with the first backoff as its delay: not visible yet, so no consumer runs it early.
    assert (attributes["ApproximateNumberOfMessagesDelayed"], attributes["ApproximateNumberOfMessages"]) == (
        "1",
        "0",
    )
    assert _received(queue) == []
