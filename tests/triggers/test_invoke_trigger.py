"""`manage.py invoke_trigger EVENT.json`: the dispatcher on a saved event, for local debugging."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from tenants.models import UserProfile
from tests.triggers.helpers import REFERENCE_DIR, make_event

pytestmark = pytest.mark.django_db


def run(*args, stdin=None, monkeypatch=None):
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        call_command("invoke_trigger", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_prints_the_response(open_policy, tmp_path):
    path = tmp_path / "event.json"
    path.write_text(json.dumps(make_event("PreSignUp_SignUp")))

    code, out, err = run(str(path))

    assert (code, err) == (0, "")
    # One JSON document ending in a newline, so a shell prompt starts on its own line (issue 17).
    assert out.endswith("}\n")
    assert json.loads(out)["response"] == {
        "autoConfirmUser": False,
        "autoVerifyEmail": False,
        "autoVerifyPhone": False,
    }


def test_prints_the_error_type_and_user_message_and_exits_1(policy, tmp_path):
    path = tmp_path / "event.json"
    path.write_text(json.dumps(make_event("PreSignUp_SignUp")))

    code, out, err = run(str(path))

    assert (code, out) == (1, "")
    assert err.strip() == "Rejection: An invitation code is required to sign up"


def test_a_file_that_is_not_json_is_a_malformed_event(db, tmp_path):
    path = tmp_path / "event.json"
    path.write_text("{not json")
    code, _, err = run(str(path))
    assert code == 1
    assert err.startswith("MalformedEvent: Invalid request\n")


def test_a_missing_file_is_reported(db, tmp_path):
    code, _, err = run(str(tmp_path / "nope.json"))
    assert code == 1
    assert err.startswith("MalformedEvent:")


def test_an_unknown_trigger_is_reported(db, tmp_path):
    path = tmp_path / "event.json"
    path.write_text(json.dumps(make_event("CustomEmailSender_SignUp")))
    assert run(str(path))[0::2] == (1, "UnknownTrigger: This sign-in step is not supported\n")


def test_reads_a_file_with_a_byte_order_mark(open_policy, tmp_path):
    source = (REFERENCE_DIR / "aws-lambda-dotnet__cognito-presignup-event.json").read_bytes()
    assert source.startswith(b"\xef\xbb\xbf")
    path = tmp_path / "dotnet.json"
    path.write_bytes(source.replace(b'"trigger_source"', b'"PreSignUp_SignUp"'))

    code, out, _ = run(str(path))

    assert code == 0
    assert json.loads(out)["userName"] == "username_uuid"


def test_rollback_leaves_no_trace(open_policy, monkeypatch):
    event = make_event("PostConfirmation_ConfirmSignUp", sub="s-1")

    code, out, _ = run("-", "--rollback", stdin=json.dumps(event), monkeypatch=monkeypatch)

    assert code == 0
    assert json.loads(out)["response"] == {}
    assert UserProfile.objects.count() == 0
