"""`resetbot demo`'s transcript as a snapshot (issue 12, items 7 and 8), robust to ids, times, ports and the password.

The transcript is what a newcomer reads first: mrkdwn rendered to plain text (mentions as @name,
dates as their fallback, emoji as a symbol, no quote or code marks), wrapped rather than cut, a
card as a few indented lines, and events in the order a person sees them. Surfaces (the card, an
ephemeral, the DM, a modal) run side by side, so the snapshot is compared surface by surface, in
order within each; the orders across surfaces that a person relies on are asserted one by one.

Set RESETBOT_UPDATE_SNAPSHOT=1 to rewrite tests/devkit/demo_transcript.txt after a wanted change.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

from devkit.demo import run_demo

SNAPSHOT = Path(__file__).with_name("demo_transcript.txt")
NORMALISE = (
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"\brr_[0-9a-f]{20}\b"), "rr_<id>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d\s+\d\d:\d\d UTC\b"), "<time>"),  # wrapped or not
    (re.compile(r"(New password for \S+ at (?:MyOwnFreeHost|cPanel):\s+·\s+)[A-Za-z0-9]{16,20}( ·)"), r"\1<password>\2"),
    (re.compile(r"\bin \d+\.\d s\b"), "in <n> s"),
)
SURFACE = re.compile(r"^\s*(\[[^\]]+\])")


def normalised(entries: list[str]) -> list[str]:
    out = []
    for entry in entries:
        for pattern, replacement in NORMALISE:
            entry = pattern.sub(replacement, entry)
        out.append(entry)
    return out


def by_surface(entries: list[str]) -> dict[str, list[str]]:
    """Each surface's entries in order; an ephemeral or a click is told apart by who and where."""
    streams: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        found = SURFACE.match(entry)
        streams[found.group(1) if found else "narration"].append(entry)
    return dict(streams)


def test_the_demo_transcript_matches_its_snapshot_surface_by_surface():
    entries: list[str] = []
    assert run_demo(entries.append) == 0
    seen = normalised(entries)
    text = "\n".join(seen) + "\n"
    if os.environ.get("RESETBOT_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(text, encoding="utf-8")
    expected = SNAPSHOT.read_text(encoding="utf-8").rstrip("\n").split("\n")
    # Compared entry by entry: the snapshot is split back into entries at each line that is not indented deeper.
    assert by_surface(_entries(expected)) == by_surface(_entries(text.rstrip("\n").split("\n")))

    # Rendered, not raw: no mrkdwn, no Slack markup, nothing cut.
    for raw in ("<@", "<!date", "<!", "&lt;", "&gt;", "&amp;", "`", ":white_check_mark:", ":warning:", "*Result",
                "\n  >"):
        assert raw not in text, raw
    assert "Result: MyOwnFreeHost changed the password." in text
    assert "Approved by @dana.approver" in text
    assert max(len(line) for line in text.split("\n") if not line.startswith("resetbot demo:")) <= 100

    # The orders a person relies on, across surfaces.
    def first(fragment: str, after: int = 0) -> int:
        return next(i for i, entry in enumerate(seen) if i >= after and fragment in entry)

    assert first("sam.engineer pressed 'Request reset'") < first("[modal for sam.engineer] closed") \
        < first("resetbot posted: Password reset request")
    waiting = first("Your password reset for webq7k2m at MyOwnFreeHost is waiting for")
    assert waiting < first("sam.engineer clicked [Approve]")
    for who in ("sam.engineer", "dana.approver"):
        clicked = first(f"{who} clicked [Approve]")
        assert clicked + 1 == first(f"{who} confirmed 'Approve this reset?'", clicked)
    assert "searched for the 10 secrets the demo used" in text and "none holds one" in text
    # cPanel (issue 23): a domain typed in the Account field; the card shows the account WHM says it belongs to.
    assert "cPanel (acmeshop): account active; domains acmeshop.example." in text
    # The approval policy (issue 10, item 8): 2 of N with a group member, a reminder, a denial's reason, a cancel.
    assert "Approvals: 1 of 2: @dana.approver approved" in text
    assert first("lee.lead clicked [Approve]") < first("Approved by @dana.approver <time>, @lee.lead <time>")
    assert first("resetbot posted in thread: 🔔 @sam.engineer asks for a decision") > first("clicked [Remind approvers]")
    assert "Denied by @dana.approver <time>:" in text and "The caller is not on the account" in text
    assert "Cancelled by the requester, @sam.engineer" in text


def _entries(lines: list[str]) -> list[str]:
    """Snapshot lines back into entries: an entry's continuation lines are indented by more than two spaces."""
    entries: list[str] = []
    for line in lines:
        if entries and line.startswith("    ") and entries[-1] != "":
            entries[-1] += "\n" + line
        else:
            entries.append(line)
    return entries
