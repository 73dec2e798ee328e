"""What people type, on every surface the bot builds: within Block Kit's limits after escaping, quoted, inert.

Each surface (approval card in every status, App Home, the requester's DM, the request and
reveal modals) is built with hostile reasons and tickets and checked three ways: slack_sdk's
own models (`validate_json` raises on overlong fields), the simulated Slack's Block Kit limits
(devkit/slack/blocks.py: text_limit_problems, stricter: fields, context elements, options), and
what a person reads (every typed line inside its quote, nothing that pings or links).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.domain import Method, RequestView, RevealState, Status
from bot.forms import typed_text
from bot.providers import registry
from bot.secret import Secret
from devkit.slack.blocks import text_limit_problems
from handlers import blocks

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
FAKE_APPROVAL = "Locked out, please reset.\n:white_check_mark: *Approved* by <@U0APPROVER1> at 12:00\n\n>> done"
HOSTILE = {
    "600 ampersands": "&" * 600,
    "333 <x>": "<x>" * 333,
    "multi-line fake approval": FAKE_APPROVAL,
    "channel ping": "Please reset <!channel> <!here> @channel now",
    "user mention": "Approved already by <@U123> and <@W123|dana>",
    "group mention": "Escalate to <!subteam^S1> and <!subteam^S1|@ops>",
    "bare links": "See https://evil.example/x and www.evil.example or <https://evil.example|the ticket>",
    "RTL override": "Customer \u202eSPAM\u202c asked, \u2066isolated\u2069 and \u200fmarked",
    "line separators": "first line\u2028:white_check_mark: *Approved*\u2029third\r\nfourth\rfifth\x85sixth",
    "controls": "bell\x07 null\x00 escape\x1b[31m tab\there",
    "astral": "\U0001f511" * 1000,
}
ENTITY = re.compile(r"&(amp|lt|gt);")


def _request(**overrides) -> RequestView:
    values = dict(id="rr_1", provider="mofh", account="webq7k2m", account_input="abcd_40312277",
                  method=Method.SET_PASSWORD, reason="Locked out of FTP after a client update.", ticket="SUP-1",
                  requester_id="U0ENGINEER1", origin_channel="C0HELPDESK", status=Status.PENDING, created_at=NOW,
                  expires_at=NOW, reveal_state=RevealState.READY, reveal_token="sec_x", reveal_expires_at=NOW,
                  decided_by="U0APPROVER1", decided_at=NOW, outcome_message="ok")
    values.update(overrides)
    return RequestView(**values)


def _surfaces(reason: str, ticket: str) -> dict[str, tuple[str, object]]:
    """Every surface the bot builds for a request with this reason and ticket: name -> (kind, blocks or view)."""
    catalog = registry.catalog()
    request = _request(reason=reason, ticket=ticket)
    surfaces: dict[str, tuple[str, object]] = {}
    for status in Status:
        surfaces[f"card {status.value}"] = ("message", blocks.approval_card(
            _request(reason=reason, ticket=ticket, status=status), context=reason, catalog=catalog))
    surfaces["home"] = ("view", blocks.home_view([request] * 10, [request] * 10, can_request=True, catalog=catalog))
    surfaces["DM"] = ("message", blocks.reveal_dm(request, catalog=catalog)[1])
    for state in (RevealState.REVEALED, RevealState.EXPIRED):
        surfaces[f"DM {state.value}"] = ("message", blocks.reveal_dm_after(_request(reveal_state=state),
                                                                          catalog=catalog)[1])
    for provider in ("mofh", "namecheap"):
        surfaces[f"modal {provider}"] = ("view", blocks.reset_modal(
            providers=list(catalog), metadata={"draft": "dr_1"}, provider=provider, method=Method.RESET_CODE,
            account="webq7k2m", reason=reason, ticket=ticket))
    surfaces["reveal modal"] = ("view", blocks.reveal_modal(request, Secret("ZZZsentinel12345"), catalog=catalog))
    return surfaces


def _block_list(kind: str, built) -> list[dict]:
    return built["blocks"] if kind == "view" else built


def _mrkdwn(block_list: list[dict]):
    """Every mrkdwn text object in the blocks, wherever it sits."""
    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)
    yield from walk(block_list)


def _typed_sections(block_list: list[dict], label: str) -> list[str]:
    return [obj["text"] for obj in _mrkdwn(block_list) if obj["text"].startswith(f"*{label}*")]


@pytest.mark.parametrize("reason", HOSTILE.values(), ids=HOSTILE.keys())
def test_every_surface_is_one_slack_accepts_whatever_the_reason(reason):
    for name, (kind, built) in _surfaces(reason, ticket="SUP-1 <!channel> https://x.example").items():
        if kind == "view":
            View(**built).validate_json()  # slack_sdk's limits: title, blocks, texts
        else:
            for block in built:
                Block.parse(block).validate_json()
        assert text_limit_problems(_block_list(kind, built), "/blocks") == [], name
        for obj in _mrkdwn(_block_list(kind, built)):
            assert blocks.slack_length(obj["text"]) <= 3000 and obj.get("verbatim") is True, name


@pytest.mark.parametrize("reason", HOSTILE.values(), ids=HOSTILE.keys())
def test_every_typed_line_is_inside_its_quote_and_nothing_typed_pings_or_links(reason):
    built = blocks.approval_card(_request(reason=reason, ticket="SUP-1\n<!here> www.x.example"),
                                 catalog=registry.catalog())
    for label in ("Reason", "Ticket"):
        (section,) = _typed_sections(built, label)
        head, *lines = section.split("\n")
        assert head in (f"*{label}*", f"*{label}* (shortened)") and lines
        assert all(line.startswith(">") for line in lines)  # nothing typed outside the quote
        body = "\n".join(lines)
        assert "<" not in body and ">" not in body.replace("\n>", "\n").removeprefix(">")  # no markup typed
        assert "&" not in ENTITY.sub("", body)  # every & starts a whole escape: none was cut in half
        assert not re.search(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]", body)
    (ticket,) = _typed_sections(built, "Ticket")
    assert ticket == "*Ticket*\n>SUP-1 &lt;!here&gt; www.x.example"  # one line: a ticket has no line breaks


def test_a_multi_line_fake_approval_reads_as_part_of_the_quoted_reason():
    (section,) = _typed_sections(blocks.approval_card(_request(reason=FAKE_APPROVAL), catalog=registry.catalog()),
                                 "Reason")
    assert section == ("*Reason*\n>Locked out, please reset.\n>:white_check_mark: *Approved* by &lt;@U0APPROVER1&gt; "
                       "at 12:00\n>\n>&gt;&gt; done")


@pytest.mark.parametrize("reason", ["&" * 600, "<x>" * 333], ids=["600 ampersands", "333 <x>"])
def test_a_reason_over_the_limit_after_escaping_is_cut_whole_and_says_shortened(reason):
    (section,) = _typed_sections(blocks.approval_card(_request(reason=reason), catalog=registry.catalog()),
                                 "Reason")
    assert section.startswith("*Reason* (shortened)\n>") and section.endswith("…")
    body = section.split("\n", 1)[1].removeprefix(">").removesuffix("…")
    shown = ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], body)
    assert reason.startswith(shown) and blocks.escape(shown) == body  # whole escapes of what was typed, in order
    assert 3000 - len("&amp;") <= len(section) <= 3000  # and as much as fits


def test_what_fits_is_shown_whole_without_shortened():
    reason = "&" * 590  # 2950 escaped, and "*Reason*\n>" around it: fits
    (section,) = _typed_sections(blocks.approval_card(_request(reason=reason), catalog=registry.catalog()), "Reason")
    assert section == "*Reason*\n>" + "&amp;" * 590


def test_bidi_overrides_and_controls_are_made_visible_or_dropped_and_text_is_nfc():
    assert typed_text("a\u202eb\u2066c\u2069") == "a[U+202E]b[U+2066]c[U+2069]"
    assert typed_text("bell\x07\x00 ok\r\nnext\u2028last") == "bell ok\nnext\nlast"
    assert typed_text("cafe\u0301") == "caf\u00e9"  # NFC: one character, as most keyboards type it
    assert typed_text("ＦＵＬＬ") == "ＦＵＬＬ"  # compatibility forms stay as typed
    assert typed_text("one\ntwo", multiline=False) == "one two"
    assert typed_text("\ud800 lone") == "\ufffd lone"  # storable as UTF-8
    for raw in HOSTILE.values():
        assert typed_text(typed_text(raw)) == typed_text(raw)


def test_the_reason_field_of_the_modal_keeps_its_slack_limits_with_a_hostile_prefill():
    view = blocks.reset_modal(providers=list(registry.catalog()), metadata={}, provider="mofh",
                              reason="&" * 2000, ticket="<!channel>" * 20)
    View(**view).validate_json()
    reason = next(b for b in view["blocks"] if b["block_id"] == "reason_block")["element"]
    ticket = next(b for b in view["blocks"] if b["block_id"] == "ticket_block")["element"]
    assert len(reason["initial_value"]) <= reason["max_length"] and len(ticket["initial_value"]) <= ticket["max_length"]


@pytest.mark.parametrize("quote", [True, False])
@pytest.mark.parametrize("reason", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_text_is_whole_at_exactly_its_length_and_cut_one_unit_below(reason, quote):
    whole, shortened = blocks.fit(reason, 10**6, quote=quote)
    assert not shortened and blocks.fit(reason, blocks.slack_length(whole), quote=quote) == (whole, False)
    if blocks.slack_length(whole) > blocks.slack_length((">" if quote else "") + blocks.ELLIPSIS):
        cut, shortened = blocks.fit(reason, blocks.slack_length(whole) - 1, quote=quote)
        assert shortened and cut.endswith(blocks.ELLIPSIS) and whole.startswith(cut.removesuffix(blocks.ELLIPSIS))
