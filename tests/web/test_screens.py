"""What each person's screen holds (devkit/web/screens.py), from a simulated Slack a client posts to through its
Web API, as the app would: ephemerals only to their person, threads, the modal stack with views.push and
views.update. No browser, no app."""

from __future__ import annotations

from slack_sdk import WebClient

from devkit.slack import SlackSim
from devkit.web.screens import HOME, Person, screen
from tests.web.test_rendering import Tree

PEOPLE = [Person("U0ENGINEER1", "sam.engineer", "engineer"), Person("U0APPROVER1", "dana.approver", "approver")]
SAM, DANA = PEOPLE[0].id, PEOPLE[1].id


def text(html: str) -> str:
    return Tree(html).text


def modal(title: str, *, submit: str | None = None, close: str = "Cancel", blocks: list | None = None) -> dict:
    view = {"type": "modal", "title": {"type": "plain_text", "text": title}, "close": {"type": "plain_text", "text": close},
            "blocks": blocks or [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}}]}
    if submit:
        view["submit"] = {"type": "plain_text", "text": submit}
    return view


def test_each_person_sees_the_channel_its_threads_and_only_their_own_ephemerals():
    with SlackSim() as sim:
        sim.add_user(SAM, "sam.engineer", channels=["C0HELPDESK"])
        sim.add_user(DANA, "dana.approver", channels=["C0HELPDESK"])
        client = WebClient(token="xoxb-test", base_url=sim.api_url)
        card = client.chat_postMessage(channel="C0HELPDESK", text="fallback", blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*A card* for <@{SAM}>"}}])
        client.chat_postMessage(channel="C0HELPDESK", thread_ts=card["ts"], text="a reply in the thread")
        client.chat_postEphemeral(channel="C0HELPDESK", user=SAM, text="only for sam")

        sams = screen(sim, PEOPLE, SAM, "C0HELPDESK", None)
        seen = text(sams["conversation"])
        assert "A card for @sam.engineer" in seen and "1 reply" in seen
        assert "only for sam" in seen and "Only visible to you" in seen
        assert "a reply in the thread" not in seen  # replies live in the thread
        assert sams["composer"] == "Message #helpdesk" and sams["modal"] is None

        danas = screen(sim, PEOPLE, DANA, "C0HELPDESK", card["ts"])
        assert "only for sam" not in text(danas["conversation"])
        assert "a reply in the thread" in text(danas["thread_html"])
        assert danas["activity"][SAM]["C0HELPDESK"] == danas["activity"][DANA]["C0HELPDESK"] + 1  # the ephemeral

        sidebar = text(sams["sidebar"])
        assert "helpdesk" in sidebar and "App Home" in sidebar and "resetbot" in sidebar
        home = screen(sim, PEOPLE, SAM, HOME, None)
        assert home["composer"] == "" and "Home" in text(home["header"]) and "Messages" in text(home["header"])


def test_the_top_modal_shows_with_views_push_update_and_close():
    with SlackSim() as sim:
        sim.add_user(SAM, "sam.engineer", channels=["C0HELPDESK"])
        sim.add_user(DANA, "dana.approver")
        client = WebClient(token="xoxb-test", base_url=sim.api_url)
        name_input = [{"type": "input", "block_id": "name", "label": {"type": "plain_text", "text": "Name"},
                       "element": {"type": "plain_text_input", "action_id": "n"}}]
        first = client.views_open(trigger_id=sim._issue_trigger(SAM), view=modal("First", submit="Next",
                                                                                  blocks=name_input))
        shown = screen(sim, PEOPLE, SAM, "C0HELPDESK", None)["modal"]
        assert "First" in text(shown["html"]) and "Next" in text(shown["html"]) and 'aria-label="Back"' not in shown["html"]
        assert screen(sim, PEOPLE, DANA, "C0HELPDESK", None)["modal"] is None  # sam's modal is his alone

        client.views_push(trigger_id=sim._issue_trigger(SAM), view=modal("Second", close="Close"))
        pushed = screen(sim, PEOPLE, SAM, "C0HELPDESK", None)["modal"]
        assert "Second" in text(pushed["html"]) and 'aria-label="Back"' in pushed["html"]
        assert "Next" not in text(pushed["html"])  # no submit: only its Close

        sim.close_view(SAM)  # Back: the first modal again
        back = screen(sim, PEOPLE, SAM, "C0HELPDESK", None)["modal"]
        assert back["view"] == first["view"]["id"] and "First" in text(back["html"])

        client.views_update(view_id=first["view"]["id"], view=modal("First, updated", submit="Next", blocks=name_input))
        updated = screen(sim, PEOPLE, SAM, "C0HELPDESK", None)["modal"]
        assert updated["key"] != back["key"] and "First, updated" in text(updated["html"])
        sim.fill(SAM, {"Name": "<b>sam</b>"})
        filled = screen(sim, PEOPLE, SAM, "C0HELPDESK", None)["modal"]
        assert filled["key"] != updated["key"]  # the page swaps the modal in again, with what the simulated Slack holds
    field = next(attrs for tag, attrs in Tree(filled["html"]).tags if tag == "input")
    assert field["value"] == "<b>sam</b>" and field["data-label"] == "Name"
