"""Block Kit and mrkdwn as the page shows them (devkit/web/mrkdwn.py, blocks.py): as Slack renders them, escaped.

No browser: the HTML is parsed here and its text and elements compared with what Slack would show.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import yaml

from devkit.web.blocks import Place, blocks_html
from devkit.web.mrkdwn import Names, to_html
from devkit.web.server import COMMANDS

NAMES = Names(users={"U0APPROVER1": "dana.approver"}, groups={"S0LEADS0001": "pw-reset-leads"},
              channels={"C0APPROVALS": "pw-reset-approvals"})
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"> " \' &lt;b&gt;'


class Tree(HTMLParser):
    """The elements (tag, attributes) and the text of an HTML fragment, as a browser would parse it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def names(self) -> list[str]:
        return [tag for tag, _ in self.tags]


def slack_escape(text: str) -> str:
    """What a bot sends for typed text (handlers/blocks.py: escape)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_marks_render_as_slack_renders_them():
    html = to_html("*bold* _italic_ ~strike~ `code` a_b_c 2*3*4", NAMES)
    tree = Tree(html)
    assert "<b>bold</b>" in html and "<i>italic</i>" in html and "<s>strike</s>" in html
    assert '<code class="md-code">code</code>' in html
    assert tree.text == "bold italic strike code a_b_c 2*3*4"


def test_quotes_lists_and_code_blocks():
    tree = Tree(to_html("*Reason*\n>first line\n>second *line*\n• one\n• two\n1. first\n2. second\n```x = <1>\n*y*```",
                        NAMES))
    assert tree.names().count("blockquote") == 1 and "b" in tree.names()
    assert tree.names().count("li") == 4 and "ul" in tree.names() and "ol" in tree.names()
    assert "x = <1>\n*y*" in tree.text  # code keeps its marks as text
    assert ">" not in tree.text.replace("x = <1>", "")


def test_mentions_groups_channels_links_and_dates():
    moment = datetime(2026, 11, 2, 15, 7, tzinfo=UTC)
    text = (f"<@U0APPROVER1> <!subteam^S0LEADS0001> <!subteam^S0OTHER|@others> <#C0APPROVALS> <!here> "
            f"<https://example.org/a?b=1&amp;c=2|the docs> <mailto:x@example.org> "
            f"<!date^{int(moment.timestamp())}^{{date_short}} at {{time}}|2026-11-02 15:07 UTC> <javascript:alert(1)|x>")
    html = to_html(text, NAMES, now=moment)
    tree = Tree(html)
    assert "@dana.approver @pw-reset-leads @others #pw-reset-approvals @here the docs x@example.org" in tree.text
    links = [attrs for tag, attrs in tree.tags if tag == "a"]
    assert [a["href"] for a in links] == ["https://example.org/a?b=1&c=2", "mailto:x@example.org"]
    assert all(a["rel"] == "noopener noreferrer" for a in links)
    local = moment.astimezone()
    assert f"{local:%b} {local.day}, {local.year} at {local.hour % 12 or 12}:{local:%M} " in tree.text
    assert "<javascript:alert(1)|x>" in tree.text  # not a link: shown as it is


def test_pretty_dates_say_today_and_yesterday():
    moment = datetime(2026, 11, 2, 9, 30).astimezone()
    html = to_html(f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{date_num}}|fallback>", NAMES,
                   now=moment.replace(hour=23))
    assert Tree(html).text == "today 2026-11-02"
    html = to_html(f"<!date^{int(moment.timestamp())}^{{date_pretty}}|fallback>", NAMES,
                   now=datetime(2026, 11, 3, 9, 0).astimezone())
    assert Tree(html).text == "yesterday"


def test_slack_entities_are_undone_exactly_once():
    tree = Tree(to_html("a &lt;b&gt; &amp;lt; &amp;amp; &quot;", NAMES))
    assert tree.text == "a <b> &lt; &amp; &quot;"
    assert "b" not in tree.names()


def test_what_people_typed_is_text_never_markup():
    typed = slack_escape(HOSTILE)
    for text in (typed, f">{typed}", f"*{typed}*", f"`{typed}`", f"```{typed}```", f"<https://x.example|{typed}>"):
        tree = Tree(to_html(text, NAMES))
        assert HOSTILE in tree.text, text
        assert not {"script", "img"} & set(tree.names()), text
        assert all(not key.startswith("on") for _, attrs in tree.tags for key in attrs), text


def test_a_card_with_hostile_words_everywhere():
    """Header, fields, context, button words and value, confirm dialog: all text."""
    blocks = [
        {"type": "header", "block_id": "h", "text": {"type": "plain_text", "text": HOSTILE}},
        {"type": "section", "block_id": "s", "fields": [{"type": "mrkdwn", "text": slack_escape(HOSTILE)}],
         "accessory": {"type": "image", "image_url": "https://cdn.example/x.png", "alt_text": HOSTILE}},
        {"type": "context", "block_id": "c", "elements": [{"type": "plain_text", "text": HOSTILE}]},
        {"type": "divider", "block_id": "d"},
        {"type": "actions", "block_id": 'b"><script>', "elements": [
            {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": HOSTILE}, "style": "danger",
             "confirm": {"title": {"type": "plain_text", "text": HOSTILE},
                         "text": {"type": "mrkdwn", "text": slack_escape(HOSTILE)},
                         "confirm": {"type": "plain_text", "text": "Yes"}, "deny": {"type": "plain_text", "text": "No"}}},
        ]},
    ]
    html = blocks_html(blocks, NAMES, Place("message", "C0APPROVALS", "1.000001"))
    tree = Tree(html)
    assert not {"script", "img"} & set(tree.names())
    assert tree.text.count(HOSTILE) == 7  # header, field, image alt, context, button, confirm title and text
    button = next(attrs for tag, attrs in tree.tags if tag == "button" and attrs.get("data-act") == "click")
    assert button["data-text"] == HOSTILE and button["data-block"] == 'b"><script>'
    assert "sk-danger" in button["class"]
    assert "https://cdn.example" not in html  # images are never fetched: the page loads nothing from outside
    assert f"[image: {HOSTILE}]" in tree.text
    assert "template" in tree.names()  # the confirm dialog, inert until the button is pressed


def test_a_modal_shows_values_errors_selects_and_radio_buttons():
    blocks = [
        {"type": "input", "block_id": "provider", "dispatch_action": True, "label": {"type": "plain_text", "text": "Provider"},
         "element": {"type": "static_select", "action_id": "p", "options": [
             {"text": {"type": "plain_text", "text": "MyOwnFreeHost"}, "value": "mofh"},
             {"text": {"type": "plain_text", "text": "Namecheap"}, "value": "namecheap"}]}},
        {"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Reason"},
         "hint": {"type": "plain_text", "text": "At least 10 characters."},
         "element": {"type": "plain_text_input", "action_id": "r", "multiline": True}},
        {"type": "input", "block_id": "method", "optional": True, "label": {"type": "plain_text", "text": "Method"},
         "element": {"type": "radio_buttons", "action_id": "m", "options": [
             {"text": {"type": "plain_text", "text": "Email a reset link"}, "value": "email"},
             {"text": {"type": "plain_text", "text": "Reset code"}, "value": "code"}]}},
    ]
    values = {"provider": {"p": {"type": "static_select", "selected_option": {"value": "namecheap"}}},
              "reason": {"r": {"type": "plain_text_input", "value": HOSTILE}}}
    html = blocks_html(blocks, NAMES, Place("view", values=values, errors={"reason": "Give a reason of 10 <b>"}))
    tree = Tree(html)
    assert ("option", {"value": "Namecheap", "selected": None}) in tree.tags
    select = next(attrs for tag, attrs in tree.tags if tag == "select")
    assert select["data-label"] == "Provider" and select["data-dispatch"] == "1"
    textarea = next(attrs for tag, attrs in tree.tags if tag == "textarea")
    assert textarea["data-label"] == "Reason" and "data-dispatch" not in textarea
    assert HOSTILE in tree.text  # the typed value, as text inside the textarea
    assert "Give a reason of 10 <b>" in tree.text and "b" not in tree.names()
    radios = [attrs for tag, attrs in tree.tags if tag == "input" and attrs.get("type") == "radio"]
    assert [r["value"] for r in radios] == ["Email a reset link", "Reset code"]
    assert "(optional)" in tree.text and "At least 10 characters." in tree.text


def test_the_page_offers_the_slash_commands_the_manifest_declares():
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())
    assert tuple(c["command"] for c in manifest["features"]["slash_commands"]) == COMMANDS
