"""Block Kit builders and parsers: what Slack will accept and what a person reads."""

from datetime import UTC

from slack_sdk.models.views import View

from bot.domain import Method
from bot.providers import registry
from handlers import blocks
from handlers.errors import errors_under_inputs


def test_reset_modal_is_a_view_slack_accepts_and_keeps_the_contract_labels():
    for provider, method in ((None, None), ("namecheap", Method.RESET_CODE),
                             ("namecheap", Method.CURRENT_PASSWORD), ("mofh", None)):
        view = blocks.reset_modal(providers=list(registry.catalog()), metadata={"draft": "dr_1"}, provider=provider,
                                  method=method)
        View(**view).validate_json()  # slack_sdk's own limits: title, blocks, metadata, ids
        labels = [b["label"]["text"] for b in view["blocks"]]
        assert labels[0] == "Provider" and labels[1].startswith("Account") and "Reason" in labels
        assert "Ticket" in labels
        if provider == "namecheap":
            assert "Method" in labels and method.label in labels


def test_errors_for_inputs_the_view_lacks_go_under_provider():
    view = blocks.reset_modal(providers=list(registry.catalog()), metadata={}, provider="mofh")
    placed = errors_under_inputs(view, {"method": "Choose how.", "secret": "Paste it.", "reason": "Too short."})
    assert placed == {"provider_block": "Choose how. Paste it.", "reason_block": "Too short."}


def test_metadata_parser_refuses_what_is_not_a_small_flat_object():
    assert blocks.parse_metadata({"private_metadata": '{"draft": "dr_1", "n": 5}'}) == {"draft": "dr_1"}
    for raw in ("[" * 2000, "not json", '["a"]', "x" * 3001, None):
        assert blocks.parse_metadata({"private_metadata": raw}) == {}


def _request(**overrides):
    from datetime import datetime

    from bot.domain import RequestView, RevealState, Status

    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    values = dict(id="rr_1", provider="mofh", account="webq7k2m", account_input="abcd_40312277",
                  method=Method.SET_PASSWORD, reason="Locked out <script> & more", ticket="SUP-1",
                  requester_id="U0ENGINEER1", origin_channel="C0HELPDESK", status=Status.PENDING, created_at=now,
                  expires_at=now, reveal_state=RevealState.NONE, reveal_token="sec_x", reveal_expires_at=now)
    values.update(overrides)
    return RequestView(**values)


def test_cards_home_and_reveal_views_stay_within_slack_limits_and_escape_what_people_typed():
    from bot.domain import Status
    from bot.secret import Secret

    for status in Status:
        card = blocks.approval_card(_request(status=status, decided_by="U0APPROVER1", outcome_message="ok"),
                                    context="MyOwnFreeHost (abcd_40312277): account active; domains a.example.",
                                    catalog=registry.catalog())
        assert len(card) <= 50
        buttons = [e["text"]["text"] for b in card if b["type"] == "actions" for e in b["elements"]]
        assert buttons == (["Approve", "Deny"] if status is Status.PENDING else [])
        assert "<script>" not in str(card) and "&lt;script&gt;" in str(card)
    home = blocks.home_view([_request()] * 10, [_request()] * 10, can_request=True, catalog=registry.catalog())
    View(**home).validate_json()
    reveal = blocks.reveal_modal(_request(), Secret("ZZZsentinel12345"), catalog=registry.catalog())
    View(**reveal).validate_json()
    assert reveal["notify_on_close"] is False and "submit" not in reveal
    assert not any(b["type"] == "input" for b in reveal["blocks"])  # Slack never posts this view back
