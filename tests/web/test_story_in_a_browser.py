"""The whole story of `resetbot demo`, done by clicking what the page shows, in headless Chromium (issue 24).

Each step mirrors devkit/demo.py: a request by sam, his self-approval refused, dana's approval, the
reveal once, a Namecheap request, a 2-of-N approval with a member of the approver group, a denial
with a reason, a cancel. People act only through the page, by visible text; every click goes
through the simulated Slack to the real app. The test looks behind the page only to check what a
person cannot see from it (the password the sandbox now holds). The tests share one world and run
in order, as the story does; a failure leaves failure.png and the transcript's end. Screenshots:
conftest.py.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.web.slack_page import SlackPage

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> & &lt;b&gt;'


@pytest.fixture(scope="module")
def page(browser, web_demo, artifacts, request) -> SlackPage:
    _world, url, transcript = web_demo
    page = SlackPage(browser, url, artifacts)
    yield page
    if request.session.testsfailed:  # what the simulated Slack saw, and the page as it was
        page.screenshot("failure")
        print("\n".join(transcript[-40:]))


def request_reset(page: SlackPage, command: str, fields: dict[str, str]) -> None:
    """sam types the command in #helpdesk, fills the modal in order and presses Request reset."""
    page.be("sam.engineer")
    page.open("#helpdesk")
    page.type(command)
    page.modal("Reset hosting password")
    for label, value in fields.items():
        page.fill(label, value)
    page.press("Request reset")
    page.no_modal()


def test_1_request_self_approval_approval_and_reveal_once(page, web_demo):
    world = web_demo[0]
    before = world.sandbox.mofh_account("webq7k2m").password
    page.be("sam.engineer")
    page.open("#helpdesk")
    page.type("/reset-password mofh abcd_40312277")
    page.modal("Reset hosting password")
    assert page.field("Account").get_attribute("value") == "abcd_40312277"
    page.fill("Reason", "too short")  # Slack keeps the modal open with the error under the input
    page.press("Request reset")
    page.sees("at least 10 characters", where="modal-layer")  # under Reason
    assert "10 characters" in page.field("Reason").find_element(By.XPATH, "..").text
    page.fill("Reason", "Customer locked out after an FTP client saved an old password.")
    page.fill("Ticket", "SUP-48213")
    page.press("Request reset")
    page.no_modal()
    page.sees("waiting for approval", "Only visible to you")

    # sam tries to approve his own request: the confirm dialog, then a refusal only he sees
    page.open("#pw-reset-approvals")
    page.message_shows("webq7k2m", "account active", "Approve", "Deny")
    page.press("Approve", within="webq7k2m")
    page.wait_for(lambda d: "Approve this reset?" in d.find_element(By.ID, "confirm-layer").text, "the confirm")
    page.screenshot("4-confirm-dialog")
    page.confirm("Approve")
    page.sees("can't approve it")

    page.be("dana.approver")
    page.open("#pw-reset-approvals")
    card = page.message_shows("webq7k2m", "Requester", "@sam.engineer", "account active", "Reason")
    assert "can't approve" not in page.text()  # sam's ephemeral is his alone
    assert "<@" not in card and "&lt;" not in card and "*" not in card
    page.screenshot("1-card-before-approval", page.message("webq7k2m"))
    page.press("Approve", within="webq7k2m")
    page.confirm("Approve")
    page.message_shows("webq7k2m", "Approved by @dana.approver", "changed the password", absent=("Deny",))
    page.screenshot("2-card-after-approval", page.message("webq7k2m"))

    page.be("sam.engineer")
    page.open("resetbot")
    page.sees("Reveal password")
    page.press("Reveal password")
    modal = page.modal("New password")
    after = world.sandbox.mofh_account("webq7k2m").password
    assert after != before and after in modal.text
    page.screenshot("3-reveal-modal")
    page.press("Done")
    page.no_modal()
    page.message_shows("revealed to you", "I told the customer", absent=("Reveal password",))
    assert after not in page.text()  # never in a message
    page.press("I told the customer")
    page.sees("You confirmed telling the customer")


def test_2_namecheap_reset_link(page, web_demo):
    request_reset(page, "/reset-password namecheap acmeshop",
                  {"Method": "Email a reset link", "Reason": "Owner asked for a reset link by phone."})
    page.be("dana.approver")
    page.open("#pw-reset-approvals")
    page.message_shows("acmeshop", "Email a reset link", "Approve")
    page.press("Approve", within="acmeshop")
    page.confirm("Approve")
    page.message_shows("acmeshop", "e-mailed the owner", absent=("Deny",))
    assert any(mail["username"] == "acmeshop" for mail in web_demo[0].sandbox.emails())
    page.be("sam.engineer")
    page.open("resetbot")
    page.sees("Done: Namecheap e-mailed")


def test_3_two_approvals_one_from_the_group_after_an_admin_tightened_the_policy(page):
    page.be("alex.admin")
    page.open("App Home")
    page.sees("Policy", "MyOwnFreeHost", "Edit policy")
    page.act("//div[contains(@class, 'sk-section')][contains(., 'MyOwnFreeHost')]//button[normalize-space(.)="
             "'Edit policy']", "Edit policy for MyOwnFreeHost")
    page.modal("Approval policy")
    page.fill("Approvals", "2")
    page.press("Save")
    page.no_modal()
    page.sees("MyOwnFreeHost\nApprovals: 2")

    request_reset(page, "/reset-password mofh webq7k2m",
                  {"Reason": "Customer's developer left and took the FTP password.", "Ticket": "SUP-48230"})
    page.open("resetbot")
    page.message_shows("webq7k2m", "Remind approvers")
    page.press("Remind approvers", within="waiting for")
    page.sees("You reminded the approvers")

    page.be("dana.approver")
    page.open("#pw-reset-approvals")
    page.message_shows("SUP-48230", "Approvals: 0 of 2", "1 reply")
    page.open_thread("SUP-48230")
    page.sees("@pw-reset-leads", where="thread")
    page.screenshot("5-reminder-in-the-thread")
    page.press("Approve", within="SUP-48230")
    page.confirm("Approve")
    page.message_shows("SUP-48230", "Approvals: 1 of 2", "Approve", "Deny")

    page.be("lee.lead")  # lee may approve as a member of @pw-reset-leads
    page.open("#pw-reset-approvals")
    page.press("Approve", within="SUP-48230")
    page.confirm("Approve")
    page.message_shows("SUP-48230", "changed the password", absent=("Deny",))

    page.be("sam.engineer")
    page.open("resetbot")
    page.message_shows("Reveal password", "webq7k2m")


def test_4_a_denial_with_a_reason_and_a_cancel(page):
    request_reset(page, "/reset-password mofh slow01",
                  {"Reason": "Caller says they own slow.example.net.", "Ticket": "SUP-48231"})
    page.be("dana.approver")
    page.open("#pw-reset-approvals")
    page.message_shows("SUP-48231", "Deny")
    page.press("Deny", within="SUP-48231")
    page.modal("Deny this reset?")
    page.fill("Reason", "The caller is not on the account; ask the owner to call from its e-mail.")
    page.press("Deny")
    page.no_modal()
    page.message_shows("SUP-48231", "Denied", "not on the account", absent=("Approve",))
    page.be("sam.engineer")
    page.open("resetbot")
    page.message_shows("was denied", "not on the account")

    # A reason that is markup is shown as typed, as text: no element is made of it, no script runs.
    request_reset(page, "/reset-password namecheap acmeshop",
                  {"Method": "Email a reset link", "Reason": f"Owner asked for a second link {HOSTILE}"})
    page.open("resetbot")
    page.press("Cancel request", within="acmeshop")
    page.confirm("Cancel request")
    page.be("dana.approver")
    page.open("#pw-reset-approvals")
    card = page.message_shows("second link", "Cancelled", absent=("Approve",))
    assert HOSTILE in card  # as typed, entities too
    page.screenshot("6-markup-in-a-reason-is-text", page.message("second link"))
    assert page.driver.execute_script("return window.__pwned") is None
    assert not page.driver.find_elements(By.CSS_SELECTOR, "#conversation img, #conversation script")
