"""The password sealed at approval is drawn for the request's account (bot/passwords.py: `names_in`)."""

from __future__ import annotations

import pytest

from bot.passwords import ALNUM, PasswordRules
from tests.unit.conftest import APPROVER, ENGINEER, FakeGateway, mofh_form

ASKED: list[str] = []
# Every letter of the account is in the alphabet, so a password holding it is drawn now and then and refused.
RULES = PasswordRules(length=16, alphabet=ALNUM, min_length=16, max_length=16,
                      names_in=lambda account: ASKED.append(account) or (account[:2],))


class NamedRulesGateway(FakeGateway):
    @property
    def rules(self):
        return RULES


@pytest.fixture
def gateways():
    return {"mofh": NamedRulesGateway("mofh"), "namecheap": FakeGateway("namecheap")}


def test_the_sealed_password_keeps_the_requests_account_name_out(workflow, gateways):
    ASKED.clear()
    request, _ = workflow.intake.submit(mofh_form("webq7k2m"), requester_id=ENGINEER, source_view_id="V1")
    workflow.intake.announce(request)
    workflow.decisions.approve(request.id, APPROVER)
    [call] = gateways["mofh"].calls
    assert ASKED and set(ASKED) == {"webq7k2m"}  # the rules were asked about this request's account
    assert "we" not in call["password"].lower() and RULES.check(call["password"], account="webq7k2m") is None
