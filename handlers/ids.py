"""Every callback_id, block_id and action_id the app sends and listens for."""

from enum import StrEnum


class Ids(StrEnum):
    COMMAND = "/reset-password"
    RESET_MODAL = "reset_password_modal"
    REVEAL_MODAL = "reveal_password_modal"
    DENY_MODAL = "deny_reset_modal"

    PROVIDER_BLOCK = "provider_block"
    PROVIDER_SELECT = "provider_select"
    ACCOUNT_BLOCK = "account_block"
    ACCOUNT_INPUT = "account_input"
    REASON_BLOCK = "reason_block"
    REASON_INPUT = "reason_input"
    TICKET_BLOCK = "ticket_block"
    TICKET_INPUT = "ticket_input"
    METHOD_BLOCK = "method_block"
    METHOD_SELECT = "method_select"
    SECRET_BLOCK = "secret_block"
    SECRET_INPUT = "secret_input"
    DENY_REASON_BLOCK = "deny_reason_block"
    DENY_REASON_INPUT = "deny_reason_input"

    APPROVE = "approve_reset"
    DENY = "deny_reset"
    REVEAL = "reveal_secret"
    CUSTOMER_INFORMED = "customer_informed"
    CANCEL_REQUEST = "cancel_request"  # in the requester's DM while the request waits
    REMIND_APPROVERS = "remind_approvers"

    # Policy from Slack: Edit policy in the App Home, its modal, the Policy change card's buttons.
    EDIT_POLICY = "edit_policy"
    POLICY_MODAL = "policy_modal"
    APPROVE_POLICY_CHANGE = "approve_policy_change"
    REJECT_POLICY_CHANGE = "reject_policy_change"
    POLICY_APPROVALS_BLOCK = "policy_approvals_block"
    POLICY_EXPIRE_AFTER_BLOCK = "policy_expire_after_block"
    POLICY_REMIND_AFTER_BLOCK = "policy_remind_after_block"
    POLICY_ESCALATE_AFTER_BLOCK = "policy_escalate_after_block"
    POLICY_ESCALATE_TO_BLOCK = "policy_escalate_to_block"
    POLICY_REQUESTS_PER_HOUR_BLOCK = "policy_requests_per_hour_block"
    POLICY_INPUT = "policy_input"  # the one input of each policy block


# Which modal block shows the error for each workflow form field.
FIELD_BLOCKS = {
    "provider": Ids.PROVIDER_BLOCK,
    "account": Ids.ACCOUNT_BLOCK,
    "reason": Ids.REASON_BLOCK,
    "ticket": Ids.TICKET_BLOCK,
    "method": Ids.METHOD_BLOCK,
    "secret": Ids.SECRET_BLOCK,
    # The policy modal's, by ApprovalPolicy field (bot/policy.py: FIELDS).
    "approvals": Ids.POLICY_APPROVALS_BLOCK,
    "expire_after": Ids.POLICY_EXPIRE_AFTER_BLOCK,
    "remind_after": Ids.POLICY_REMIND_AFTER_BLOCK,
    "escalate_after": Ids.POLICY_ESCALATE_AFTER_BLOCK,
    "escalate_to": Ids.POLICY_ESCALATE_TO_BLOCK,
    "requests_per_hour": Ids.POLICY_REQUESTS_PER_HOUR_BLOCK,
}
