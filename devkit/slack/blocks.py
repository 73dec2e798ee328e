"""Block Kit structure: the elements blocks hold, the state Slack keeps for inputs, finding by visible text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_STATEFUL = {
    "plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input",
    "static_select", "external_select", "users_select", "conversations_select", "channels_select",
    "multi_static_select", "multi_external_select", "multi_users_select",
    "multi_conversations_select", "multi_channels_select",
    "radio_buttons", "checkboxes", "datepicker", "timepicker", "datetimepicker", "file_input",
}
_INTERACTIVE = _STATEFUL | {"button", "overflow", "workflow_button"}
_TEXT_INPUTS = {"plain_text_input", "email_text_input", "url_text_input", "number_input"}
_SINGLE_OPTION = {"static_select", "external_select", "radio_buttons"}
_MULTI_OPTION = {"multi_static_select", "multi_external_select", "checkboxes"}


def _element_children(block: dict) -> list[dict]:
    kind = block.get("type")
    if kind == "actions":
        return list(block.get("elements") or [])
    if kind == "section" and isinstance(block.get("accessory"), dict):
        return [block["accessory"]]
    if kind == "input" and isinstance(block.get("element"), dict):
        return [block["element"]]
    return []


def _iter_buttons(blocks: Iterable[dict] | None):
    for block in blocks or []:
        for element in _element_children(block):
            if element.get("type") in ("button", "workflow_button"):
                yield block, element


def _iter_stateful(blocks: Iterable[dict] | None):
    for block in blocks or []:
        for element in _element_children(block):
            if element.get("type") in _STATEFUL:
                yield block, element


def _initial_state(element: dict) -> dict:
    kind = element.get("type")
    entry: dict = {"type": kind}
    if kind in _TEXT_INPUTS:
        entry["value"] = element.get("initial_value")
    elif kind in _SINGLE_OPTION:
        entry["selected_option"] = element.get("initial_option")
    elif kind in _MULTI_OPTION:
        entry["selected_options"] = element.get("initial_options") or []
    elif kind == "users_select":
        entry["selected_user"] = element.get("initial_user")
    elif kind == "multi_users_select":
        entry["selected_users"] = element.get("initial_users") or []
    elif kind == "conversations_select":
        entry["selected_conversation"] = element.get("initial_conversation")
    elif kind == "multi_conversations_select":
        entry["selected_conversations"] = element.get("initial_conversations") or []
    elif kind == "channels_select":
        entry["selected_channel"] = element.get("initial_channel")
    elif kind == "multi_channels_select":
        entry["selected_channels"] = element.get("initial_channels") or []
    elif kind == "datepicker":
        entry["selected_date"] = element.get("initial_date")
    elif kind == "timepicker":
        entry["selected_time"] = element.get("initial_time")
    elif kind == "datetimepicker":
        entry["selected_date_time"] = element.get("initial_date_time")
    elif kind == "rich_text_input":
        entry["rich_text_value"] = element.get("initial_value")
    return entry


def _all_options(element: dict) -> list[dict]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _match_text(candidates: list[tuple[str, Any]], wanted: str, what: str) -> Any:
    """Exact text first, then prefix, then case-insensitive prefix, then substring."""
    wanted_s = str(wanted).strip()
    tests = [
        lambda t: t == wanted_s,
        lambda t: t.startswith(wanted_s),
        lambda t: t.casefold().startswith(wanted_s.casefold()),
        lambda t: wanted_s.casefold() in t.casefold(),
    ]
    for test in tests:
        hits = [item for text, item in candidates if test(text.strip())]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise AssertionError(
                f"{what} {wanted_s!r} is ambiguous: {[t for t, _ in candidates if test(t.strip())]}"
            )
    raise AssertionError(f"no {what} {wanted_s!r}; visible: {[t for t, _ in candidates]}")


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


# Block Kit's length limits that real Slack enforces (docs.slack.dev, reference/block-kit): a block
# over one is refused with `invalid_blocks` (messages) or `invalid_arguments` (views), the way
# Slack answers, so a bot that escapes after checking a length finds out here too.
_TEXT_LIMITS = {"section": 3000, "header": 150}
_FIELD_LIMIT, _CONTEXT_ELEMENT_LIMIT, _BUTTON_LIMIT, _OPTION_LIMIT, _LABEL_LIMIT = 2000, 3000, 75, 75, 2000
_CONFIRM_LIMITS = {"title": 100, "text": 300, "confirm": 30, "deny": 30}


def text_limit_problems(blocks: Iterable[dict] | None, pointer: str) -> list[str]:
    """Slack's error lines for every text in `blocks` longer than Block Kit allows ([] when none is)."""
    problems: list[str] = []

    def check(obj: Any, limit: int, where: str) -> None:
        text = obj.get("text") if isinstance(obj, dict) else None
        if isinstance(text, str) and len(text) > limit:
            problems.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:{where}/text]")

    def check_element(element: dict, where: str) -> None:
        if element.get("type") in ("button", "workflow_button"):
            check(element.get("text"), _BUTTON_LIMIT, f"{where}/text")
        for n, option in enumerate(_all_options(element)):
            check(option.get("text") if isinstance(option, dict) else None, _OPTION_LIMIT,
                  f"{where}/options/{n}/text")
        confirm = element.get("confirm")
        if isinstance(confirm, dict):
            for key, limit in _CONFIRM_LIMITS.items():
                check(confirm.get(key), limit, f"{where}/confirm/{key}")

    for i, block in enumerate(blocks or []):
        if not isinstance(block, dict):
            continue
        here, kind = f"{pointer}/{i}", block.get("type")
        if kind in _TEXT_LIMITS:
            check(block.get("text"), _TEXT_LIMITS[kind], f"{here}/text")
        for n, field in enumerate(block.get("fields") or [] if kind == "section" else []):
            check(field, _FIELD_LIMIT, f"{here}/fields/{n}")
        if kind == "context":
            for n, element in enumerate(block.get("elements") or []):
                if isinstance(element, dict) and element.get("type") != "image":
                    check(element, _CONTEXT_ELEMENT_LIMIT, f"{here}/elements/{n}")
        if kind == "input":
            check(block.get("label"), _LABEL_LIMIT, f"{here}/label")
            check(block.get("hint"), _LABEL_LIMIT, f"{here}/hint")
        for n, element in enumerate(_element_children(block)):
            check_element(element, f"{here}/elements/{n}" if kind == "actions" else f"{here}/element")
    return problems
