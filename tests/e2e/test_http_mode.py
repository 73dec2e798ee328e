"""`resetbot run --http`: signed requests verified, /healthz, and the Bolt "payload" substring bug worked around."""

from __future__ import annotations

import time

import requests

from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER, HELPDESK


def test_flow_over_signed_http(bot_over_http):
    bot, sim = bot_over_http, bot_over_http.sim
    assert bot.request_mofh().ok
    bot.card()
    sim.click(APPROVER, "Approve", channel=APPROVALS)
    sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                 message="no reveal DM")
    assert bot.request_mofh(account="susp01x").transport == "http"


def _command_body(text: str) -> str:
    return ("token=x&team_id=T0SUPPORT1&team_domain=acme&channel_id=C0HELPDESK&channel_name=helpdesk"
            f"&user_id={ENGINEER}&user_name=sam&command=%2Freset-password&text={text}"
            "&api_app_id=A0RESETBOT&response_url=http%3A%2F%2F127.0.0.1%3A1%2Fnope&trigger_id=1.2.3")


def test_forged_and_stale_signatures_are_refused(bot_over_http):
    sim = bot_over_http.sim
    forged = sim.deliver_raw("slash_commands", _command_body("mofh"), transport="http", signature="v0=" + "0" * 64)
    assert forged.status == 401
    stale = sim.deliver_raw("slash_commands", _command_body("mofh"), transport="http",
                            timestamp=str(int(time.time()) - 301))
    assert stale.status == 401
    assert sim.calls_to("views.open") == []


def test_slash_command_whose_text_says_payload_still_opens_the_modal(bot_over_http):
    sim = bot_over_http.sim
    ack = sim.slash_command(ENGINEER, "/reset-password", "mofh payload1", channel=HELPDESK)
    assert ack.status == 200
    view = sim.wait_for(lambda: sim.current_view(ENGINEER), message="modal did not open")
    assert view.title == "Reset hosting password"


def test_healthz_answers_ok_when_the_database_does(bot_over_http):
    url = bot_over_http.sim.http_url.replace("/slack/events", "/healthz")
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 200 and answer.text == "ok"
    assert requests.get(url.replace("/healthz", "/other"), timeout=5).status_code == 404
