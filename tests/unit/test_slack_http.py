"""bot/slack_http.py: the app's Slack client keeps its connections open, and answers, fails and retries as
slack_sdk's urllib transport did (the simulated Slack of devkit/slack answers over real HTTP on loopback)."""

from __future__ import annotations

from urllib.error import URLError

import pytest
from slack_sdk.errors import SlackApiError

from bot.app import make_slack_client
from bot.config import Settings
from bot.secret import Secret
from bot.slack_http import PooledWebhookClient
from devkit.slack import SlackSim

APPROVALS, ENGINEER = "C0APPROVALS", "U0ENGINEER1"


@pytest.fixture
def sim():
    with SlackSim(socket_mode=False) as sim:
        sim.add_user(ENGINEER, "engineer")
        sim.add_channel(APPROVALS, "pw-reset-approvals", members=[ENGINEER])
        yield sim


def client_for(sim: SlackSim, api_url: str | None = None):
    return make_slack_client(Settings(slack_bot_token=Secret("xoxb-test"), slack_api_url=api_url or sim.api_url))


def test_calls_share_one_kept_connection(sim):
    client = client_for(sim)
    for i in range(5):
        assert client.chat_postMessage(channel=APPROVALS, text=f"card {i}")["ok"]
    client.chat_update(channel=APPROVALS, ts=sim.messages(APPROVALS)[0].ts, text="edited")
    assert [m.text for m in sim.messages(APPROVALS)][1:] == [f"card {i}" for i in range(1, 5)]
    assert sim.connections_accepted == 1  # slack_sdk's own transport opened one a call


def test_response_url_posts_share_the_client_connections(sim):
    client = client_for(sim)
    client.auth_test()
    urls = [sim._issue_response_url(ENGINEER, "C0HELPDESK") for _ in range(3)]  # as a slash command's payload has
    accepted = sim.connections_accepted
    for n, url in enumerate(urls):
        answer = PooledWebhookClient(url, connections=client.connections).send(text=f"status {n}")
        assert (answer.status_code, answer.body) == (200, "ok")
    assert [e.text for e in sim.ephemerals(ENGINEER) if e.source == "response_url"] == ["status 0", "status 1",
                                                                                          "status 2"]
    assert sim.connections_accepted == accepted  # the kept one


def test_a_connection_slack_closed_while_idle_is_replaced(sim):
    client = client_for(sim)
    assert client.chat_postMessage(channel=APPROVALS, text="before")["ok"]
    assert sim.drop_connections() == 1
    assert client.chat_postMessage(channel=APPROVALS, text="after")["ok"]
    assert [m.text for m in sim.messages(APPROVALS)] == ["before", "after"]  # posted once each
    assert sim.connections_accepted == 2


def test_an_error_answer_is_slack_api_error_with_the_answer(sim):
    client = client_for(sim)
    sim.fail_next("chat.postMessage", status=200, error="channel_not_found")
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=APPROVALS, text="x")
    assert raised.value.response["error"] == "channel_not_found"
    assert sim.messages(APPROVALS) == []


def test_rate_limited_calls_wait_retry_after_and_are_retried(sim):
    client = client_for(sim)
    sim.fail_next("chat.postMessage", status=429, retry_after=0)
    assert client.chat_postMessage(channel=APPROVALS, text="once")["ok"]
    assert [c.status for c in sim.calls_to("chat.postMessage")] == [429, 200]
    assert [m.text for m in sim.messages(APPROVALS)] == ["once"]

    sim.fail_next("chat.postMessage", status=429, retry_after=0, count=3)  # beyond the handler's 2 retries
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=APPROVALS, text="never")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "0"


def test_a_server_error_is_retried_only_for_a_call_that_may_repeat(sim):
    client = client_for(sim)
    client.chat_postMessage(channel=APPROVALS, text="card")
    ts = sim.messages(APPROVALS)[0].ts
    sim.fail_next("chat.update", status=503)
    assert client.chat_update(channel=APPROVALS, ts=ts, text="edited")["ok"]
    sim.fail_next("chat.postMessage", status=503)
    with pytest.raises(SlackApiError) as raised:  # a repeated post could post twice
        client.chat_postMessage(channel=APPROVALS, text="again")
    assert raised.value.response.status_code == 503
    assert [c.status for c in sim.calls_to("chat.update")] == [503, 200]


def test_no_server_is_a_urlerror_as_urllib_raised(sim):
    dead = SlackSim(socket_mode=False)
    url = dead.api_url
    dead.stop()
    with pytest.raises(URLError):
        client_for(sim, api_url=url).auth_test()


def test_an_answer_later_than_the_timeout_is_a_timeout(sim):
    client = client_for(sim)
    client.timeout = 0.2
    sim.web_api_latency = 1.0
    with pytest.raises(TimeoutError):
        client.auth_test()
