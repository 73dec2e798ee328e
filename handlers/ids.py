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


# Which modal block shows the error for each workflow form field.
FIELD_BLOCKS = {
    "provider": Ids.PROVIDER_BLOCK,
    "account": Ids.ACCOUNT_BLOCK,
    "reason": Ids.REASON_BLOCK,
    "ticket": Ids.TICKET_BLOCK,
    "method": Ids.METHOD_BLOCK,
    "secret": Ids.SECRET_BLOCK,
}
