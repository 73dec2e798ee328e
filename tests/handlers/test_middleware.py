"""The global middleware: malformed payloads are acked and dropped; listeners find their collaborators."""

from __future__ import annotations

import logging

from tests.handlers.conftest import APPROVER, button_click, slash_command


def test_a_malformed_payload_is_acked_and_dropped_before_any_listener(slack, caplog):
    payload = {**slash_command(), "user_id": "not a user"}
    with caplog.at_level(logging.WARNING):
        response = slack.dispatch(payload)
    assert (response.status, response.body) == (200, "")
    assert "dropped a malformed Slack payload: no usable user id" in caplog.text
    assert slack.client.methods() == [] and slack.webhooks.sent == []


def test_a_response_url_that_is_not_slacks_is_never_called(slack, caplog):
    payload = button_click(APPROVER, "approve_reset", "rr_0000", response_url="https://evil.example/hook")
    with caplog.at_level(logging.WARNING):
        slack.dispatch(payload)
    assert "a response_url that is not Slack's" in caplog.text
    assert slack.webhooks.sent == [] and slack.client.methods() == []


def test_listeners_get_the_workflow_and_notifier_from_the_context(slack):
    seen = {}

    @slack.app.command("/probe")
    def probe(ack, workflow, notifier):
        ack()
        seen.update(workflow=workflow, notifier=notifier)

    slack.dispatch({**slash_command(), "command": "/probe"})
    assert seen["workflow"] is slack.workflow
    assert seen["notifier"].client is slack.client



def test_a_view_submission_whose_view_has_no_type_is_screened_out_before_bolt():
    """Bolt reads view.type unguarded while it builds any listener's or middleware's arguments
    (slack_bolt/request/payload_utils.py: is_workflow_step_save), so the transports' screen must refuse
    it before app.dispatch (found by tests/e2e/test_hostile_payloads.py)."""
    from handlers.guard import problem_with
    from tests.handlers.conftest import reset_modal_view, view_submission

    view = {key: value for key, value in reset_modal_view().items() if key != "type"}
    hosts = frozenset({"hooks.slack.com"})
    assert problem_with(view_submission(view), hosts) is not None
    assert problem_with(view_submission(reset_modal_view()), hosts) is None
