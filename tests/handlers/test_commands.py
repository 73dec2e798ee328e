"""/reset-password through app.dispatch: the modal opens, or the engineer is told why not, privately."""

from __future__ import annotations

from tests.handlers.conftest import ENGINEER, HELPDESK, OUTSIDER, RESPONSE_URL, TRIGGER, slash_command


def test_the_command_opens_the_prefilled_modal(slack):
    response = slack.dispatch(slash_command(ENGINEER, "mofh webq7k2m"))
    assert (response.status, response.body) == (200, "")
    (opened,) = slack.client.to("views.open")
    assert opened["trigger_id"] == TRIGGER
    view = opened["view"]
    assert view["callback_id"] == "reset_password_modal" and view["title"]["text"] == "Reset hosting password"
    provider = next(b for b in view["blocks"] if b["block_id"] == "provider_block")
    assert provider["element"]["initial_option"]["value"] == "mofh"
    account = next(b for b in view["blocks"] if b["block_id"] == "account_block")
    assert account["element"]["initial_value"] == "webq7k2m"
    assert slack.client.methods() == ["views.open"] and slack.webhooks.sent == []


def test_someone_without_a_role_is_told_privately_and_no_modal_opens(slack):
    response = slack.dispatch(slash_command(OUTSIDER))
    assert (response.status, response.body) == (200, "")
    assert slack.client.to("views.open") == []
    ((url, message),) = slack.webhooks.sent
    assert url == RESPONSE_URL and message["response_type"] == "ephemeral"
    assert "requester" in message["text"].lower()


def test_without_a_trigger_id_the_engineer_is_asked_to_run_it_again(slack):
    slack.dispatch(slash_command(ENGINEER, trigger_id=None))
    assert slack.client.to("views.open") == []
    assert slack.private_texts(ENGINEER) == ["Slack sent no way to open the form; run /reset-password again."]


def test_a_refused_views_open_is_told_with_slacks_error(slack):
    slack.client.fail_next("views.open", "expired_trigger_id")
    slack.dispatch(slash_command(ENGINEER))
    assert slack.private_texts(ENGINEER) == [
        "Slack could not open the request form (expired_trigger_id); run /reset-password again."]


def test_a_failed_response_url_falls_back_to_an_ephemeral_in_the_channel(slack):
    slack.webhooks.status = 404
    slack.dispatch(slash_command(OUTSIDER))
    (ephemeral,) = slack.client.to("chat.postEphemeral")
    assert ephemeral["channel"] == HELPDESK and ephemeral["user"] == OUTSIDER
    assert "requester" in ephemeral["text"].lower()
    assert slack.client.to("chat.postMessage") == []  # no DM: the ephemeral got through


def test_without_a_response_url_the_refusal_is_an_ephemeral(slack):
    slack.dispatch(slash_command(OUTSIDER, response_url=None))
    assert slack.webhooks.sent == []
    assert [e["user"] for e in slack.client.to("chat.postEphemeral")] == [OUTSIDER]
