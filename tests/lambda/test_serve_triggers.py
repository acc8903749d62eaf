"""serve_triggers speaks the Lambda Invoke API: boto3's Lambda client (as cognito-local's SDK) can call it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from triggers.management.commands.serve_triggers import InvokeServer


def _echo_function(event: Any, context: Any) -> Any:
    """A stand-in Lambda function, to see exactly what the server passes and returns."""
    if event.get("boom"):
        raise ValueError("the function said no")
    return {
        "got": event,
        "function": context.function_name,
        "left_ms": context.get_remaining_time_in_millis(),
    }


@pytest.fixture
def echo_server() -> Iterator[InvokeServer]:
    server = InvokeServer(("127.0.0.1", 0), _echo_function)
    server.start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def dispatcher_server() -> Iterator[InvokeServer]:
    server = InvokeServer(("127.0.0.1", 0))
    server.start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


def _lambda_client(server: InvokeServer) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_a_result_comes_back_as_the_payload(echo_server: InvokeServer) -> None:
    response = _lambda_client(echo_server).invoke(
        FunctionName="gatehouse-triggers", Payload=json.dumps({"triggerSource": "PreSignUp_SignUp"})
    )

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    body = json.loads(response["Payload"].read())
    assert body["got"] == {"triggerSource": "PreSignUp_SignUp"}
    assert body["function"] == "gatehouse-triggers"
    assert 0 < body["left_ms"] <= 5000


def test_an_exception_is_answered_as_lambda_answers_an_unhandled_error(echo_server: InvokeServer) -> None:
    response = _lambda_client(echo_server).invoke(FunctionName="fn", Payload=json.dumps({"boom": True}))

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorMessage": "the function said no",
        "errorType": "ValueError",
        "stackTrace": [],
    }
    assert echo_server.invocations[-1].error_type == "ValueError"


def test_the_dispatcher_fails_closed_on_an_unknown_trigger_with_a_user_safe_message(
    dispatcher_server: InvokeServer,
) -> None:
    event = {"version": "1", "triggerSource": "Unheard_Of", "userPoolId": "us-east-1_x", "request": {}}

    response = _lambda_client(dispatcher_server).invoke(FunctionName="any-name", Payload=json.dumps(event))

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorMessage": "This sign-in step is not supported",
        "errorType": "UnknownTrigger",
        "stackTrace": [],
    }


def test_a_malformed_body_is_refused_like_lambda_refuses_it(echo_server: InvokeServer) -> None:
    request = urllib.request.Request(
        f"{echo_server.url}/2015-03-31/functions/fn/invocations", data=b"{not json", method="POST"
    )

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)

    assert caught.value.code == 400
    assert caught.value.headers["X-Amzn-ErrorType"] == "InvalidRequestContentException"
    assert echo_server.invocations == []


def test_an_unknown_path_is_not_found(echo_server: InvokeServer) -> None:
    request = urllib.request.Request(f"{echo_server.url}/2015-03-31/functions/fn", data=b"{}", method="POST")

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)

    assert caught.value.code == 404
    assert caught.value.headers["X-Amzn-ErrorType"] == "ResourceNotFoundException"


def test_an_event_invocation_is_accepted_before_the_answer(echo_server: InvokeServer) -> None:
    response = _lambda_client(echo_server).invoke(
        FunctionName="fn", InvocationType="Event", Payload=json.dumps({"a": 1})
    )

    assert response["StatusCode"] == 202
    assert echo_server.invocations[-1].event == {"a": 1}
