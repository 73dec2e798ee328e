"""Block Kit as HTML: what a person sees of a message, a modal or the App Home, and what they can act on.

Every text goes through devkit.web.mrkdwn (mrkdwn) or `plain_to_html` (plain_text): escaped. What
the page can act on carries what the simulated Slack's person needs to find it again, by the words
shown: a button its text (and its block, where two show the same words), an input its label (the
data-* attributes, escaped too). Nothing here
knows the bot's block ids or action ids beyond what the page sends back with a modal's values.
Images are never loaded (the page fetches nothing from outside): their alt text is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devkit.slack.blocks import _all_options, _initial_state, _truthy
from devkit.slack.rendering import _plain
from devkit.web.mrkdwn import Names, esc, plain_to_html, to_html


@dataclass
class Place:
    """Where blocks are shown, so that a click on them can be sent back through the simulated Slack."""

    where: str  # "message", "ephemeral", "view" (a modal) or "home"
    channel: str = ""
    ts: str = ""
    values: dict = field(default_factory=dict)  # a view's state: block_id -> action_id -> entry
    errors: dict = field(default_factory=dict)  # a view's errors by block_id (response_action=errors)


def text_html(obj: Any, names: Names, now: datetime | None = None) -> str:
    """A text object (mrkdwn or plain_text) or a bare string (mrkdwn) as HTML."""
    if isinstance(obj, dict) and obj.get("type") == "plain_text":
        return plain_to_html(obj.get("text") or "")
    return to_html(_plain(obj), names, now=now)


def blocks_html(blocks: list | None, names: Names, place: Place, now: datetime | None = None) -> str:
    return "".join(_block(block, names, place, now) for block in blocks or [] if isinstance(block, dict))


def _block(block: dict, names: Names, place: Place, now: datetime | None) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="sk-header">{plain_to_html(_plain(block.get("text")))}</div>'
    if kind == "divider":
        return '<hr class="sk-divider">'
    if kind == "section":
        return _section(block, names, place, now)
    if kind == "context":
        parts = []
        for element in block.get("elements") or []:
            if not isinstance(element, dict):
                continue
            if element.get("type") == "image":
                parts.append(_image_alt(element.get("alt_text")))
            else:
                parts.append(f'<span class="sk-context-text">{text_html(element, names, now)}</span>')
        return f'<div class="sk-context">{"".join(parts)}</div>'
    if kind == "actions":
        elements = "".join(_element(block, element, names, place, now, label=_plain(element.get("placeholder")))
                           for element in block.get("elements") or [] if isinstance(element, dict))
        return f'<div class="sk-actions">{elements}</div>'
    if kind == "input":
        return _input(block, names, place, now)
    if kind == "image":
        title = _plain(block.get("title"))
        return (f'<div class="sk-image">{_image_alt(block.get("alt_text"))}'
                + (f'<div class="sk-image-title">{plain_to_html(title)}</div>' if title else "") + "</div>")
    if kind == "rich_text":
        return f'<div class="sk-rich">{_rich(block.get("elements"), names, now)}</div>'
    if kind == "markdown":
        return f'<div class="sk-section">{to_html(str(block.get("text") or ""), names, now=now)}</div>'
    return f'<div class="sk-unsupported">(a {esc(str(kind))} block, not shown on this page)</div>'


def _section(block: dict, names: Names, place: Place, now: datetime | None) -> str:
    body = ""
    if block.get("text"):
        body += f'<div class="sk-section-text">{text_html(block.get("text"), names, now)}</div>'
    fields = block.get("fields") or []
    if fields:
        body += ('<div class="sk-fields">'
                 + "".join(f'<div class="sk-field-text">{text_html(f, names, now)}</div>' for f in fields)
                 + "</div>")
    accessory = block.get("accessory")
    side = ""
    if isinstance(accessory, dict):
        side = '<div class="sk-accessory">' + _element(block, accessory, names, place, now,
                                                        label=_plain(block.get("text"))) + "</div>"
    return f'<div class="sk-section"><div class="sk-section-main">{body}</div>{side}</div>'


def _image_alt(alt: Any) -> str:
    return f'<span class="sk-image-alt" title="{esc(str(alt or "image"))}">[image: {esc(str(alt or "image"))}]</span>'


def _input(block: dict, names: Names, place: Place, now: datetime | None) -> str:
    element = block.get("element") if isinstance(block.get("element"), dict) else {}
    label = _plain(block.get("label"))
    optional = ' <span class="sk-optional">(optional)</span>' if _truthy(block.get("optional")) else ""
    field_id = f"in-{esc(str(block.get('block_id', '')))}"
    hint = block.get("hint")
    error = (place.errors or {}).get(block.get("block_id"))
    return (
        f'<div class="sk-input{" sk-has-error" if error else ""}">'
        f'<label class="sk-label" for="{field_id}">{plain_to_html(label)}{optional}</label>'
        + _element(block, element, names, place, now, label=label, field_id=field_id,
                   dispatch=_truthy(block.get("dispatch_action")))
        + (f'<div class="sk-hint">{plain_to_html(_plain(hint))}</div>' if hint else "")
        + (f'<div class="sk-error" role="alert">{plain_to_html(str(error))}</div>' if error else "")
        + "</div>"
    )


def _state(block: dict, element: dict, place: Place) -> dict:
    entry = ((place.values or {}).get(block.get("block_id")) or {}).get(element.get("action_id"))
    return entry if isinstance(entry, dict) else _initial_state(element)


def _field_attrs(kind: str, label: str, dispatch: bool, field_id: str = "") -> str:
    return (f'class="sk-field" data-kind="{kind}" data-label="{esc(label)}"'
            + (' data-dispatch="1"' if dispatch else "") + (f' id="{field_id}"' if field_id else ""))


def _element(block: dict, element: dict, names: Names, place: Place, now: datetime | None, *,
             label: str = "", field_id: str = "", dispatch: bool = True) -> str:
    """An element of an actions block, a section's accessory or an input block's element.

    A select in an actions block or a section dispatches at once (as Slack's do); in an input block only
    with `dispatch_action`."""
    kind = element.get("type")
    if kind in ("button", "workflow_button"):
        return _button(block, element, names, place, now)
    if kind == "image":
        return _image_alt(element.get("alt_text"))
    if place.where != "view":
        # Outside a modal the simulated Slack's person presses buttons only: show what Slack would, inert.
        shown = _plain(element.get("placeholder")) or kind
        return f'<span class="sk-inert" title="not operable on this page">{plain_to_html(str(shown))} ▾</span>'
    if block.get("type") != "input":
        dispatch = True
    state = _state(block, element, place)
    placeholder = _plain(element.get("placeholder"))
    if kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
        value = state.get("value")
        limit = element.get("max_length")
        common = (_field_attrs("text", label, dispatch, field_id)
                  + (f' placeholder="{esc(placeholder)}"' if placeholder else "")
                  + (f' maxlength="{int(limit)}"' if isinstance(limit, int) else ""))
        if kind == "plain_text_input" and _truthy(element.get("multiline")):
            return f'<textarea {common} rows="3">{esc(str(value or ""))}</textarea>'
        html_type = {"email_text_input": "email", "url_text_input": "url", "number_input": "number"}.get(kind, "text")
        return f'<input type="{html_type}" {common} value="{esc(str(value or ""))}">'
    if kind in ("static_select", "external_select"):
        chosen = (state.get("selected_option") or {}).get("value")
        return (f"<select {_field_attrs('select', label, dispatch, field_id)}>"
                f'<option value="" disabled{"" if chosen else " selected"}>{esc(placeholder or "Select an item")}'
                "</option>" + _options(element, {chosen}) + "</select>")
    if kind in ("multi_static_select", "multi_external_select"):
        chosen_values = {o.get("value") for o in state.get("selected_options") or []}
        return (f"<select multiple {_field_attrs('multi', label, dispatch, field_id)}>"
                + _options(element, chosen_values) + "</select>")
    if kind in ("radio_buttons", "checkboxes"):
        single = kind == "radio_buttons"
        chosen_values = ({(state.get("selected_option") or {}).get("value")} if single
                         else {o.get("value") for o in state.get("selected_options") or []})
        group = esc(f"{block.get('block_id')}.{element.get('action_id')}")
        items = []
        for option in _all_options(element):
            text = _plain(option.get("text"))
            description = option.get("description")
            checked = " checked" if option.get("value") in chosen_values else ""
            items.append(
                f'<label class="sk-choice"><input type="{"radio" if single else "checkbox"}" name="{group}" '
                f'value="{esc(text)}"{checked}> <span>{text_html(option.get("text"), names, now)}</span>'
                + (f'<small class="sk-choice-description">{text_html(description, names, now)}</small>'
                   if description else "")
                + "</label>")
        return (f'<div {_field_attrs("radio" if single else "checkboxes", label, dispatch, field_id)}>'
                + "".join(items) + "</div>")
    if kind == "users_select":
        chosen = state.get("selected_user")
        options = "".join(f'<option value="{esc(uid)}"{" selected" if uid == chosen else ""}>{esc(name)}</option>'
                          for uid, name in names.users.items())
        return (f"<select {_field_attrs('user', label, dispatch, field_id)}>"
                f'<option value="" disabled{"" if chosen else " selected"}>{esc(placeholder or "Select a person")}'
                f"</option>{options}</select>")
    if kind in ("datepicker", "timepicker"):
        value = state.get("selected_date" if kind == "datepicker" else "selected_time") or ""
        html_type = "date" if kind == "datepicker" else "time"
        return f'<input type="{html_type}" {_field_attrs(html_type, label, dispatch, field_id)} value="{esc(value)}">'
    return f'<div class="sk-unsupported">(a {esc(str(kind))} element, not operable on this page)</div>'


def _options(element: dict, chosen: set) -> str:
    """A select's options, valued by their visible text: the page sends what a person picked, by its words."""
    def option(o: dict) -> str:
        text = _plain(o.get("text"))
        return f'<option value="{esc(text)}"{" selected" if o.get("value") in chosen else ""}>{esc(text)}</option>'

    groups = element.get("option_groups")
    if groups:
        return "".join(f'<optgroup label="{esc(_plain(g.get("label")))}">'
                       + "".join(option(o) for o in g.get("options") or []) + "</optgroup>" for g in groups)
    return "".join(option(o) for o in element.get("options") or [])


def _button(block: dict, element: dict, names: Names, place: Place, now: datetime | None) -> str:
    text = _plain(element.get("text"))
    style = element.get("style")
    css = "sk-button" + (f" sk-{style}" if style in ("primary", "danger") else "")
    attrs = (f'type="button" class="{css}" data-act="click" data-where="{esc(place.where)}" '
             f'data-channel="{esc(place.channel)}" data-ts="{esc(place.ts)}" data-text="{esc(text)}" '
             f'data-block="{esc(str(block.get("block_id") or ""))}"')
    url = element.get("url")
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        attrs += f' data-url="{esc(url)}"'
    button = f"<button {attrs}>{plain_to_html(text)}</button>"
    confirm = element.get("confirm")
    if not isinstance(confirm, dict):
        return button
    dialog = (
        '<template class="sk-confirm">'
        f'<div class="confirm-title">{plain_to_html(_plain(confirm.get("title")) or "Are you sure?")}</div>'
        f'<div class="confirm-text">{text_html(confirm.get("text"), names, now)}</div>'
        f'<div class="confirm-buttons"><button type="button" class="sk-button" data-role="deny">'
        f'{plain_to_html(_plain(confirm.get("deny")) or "Cancel")}</button>'
        f'<button type="button" class="sk-button sk-{"danger" if confirm.get("style") == "danger" else "primary"}" '
        f'data-role="confirm">{plain_to_html(_plain(confirm.get("confirm")) or "Yes")}</button></div>'
        "</template>"
    )
    return f'<span class="sk-button-wrap">{button}{dialog}</span>'


def _rich(elements: Any, names: Names, now: datetime | None) -> str:
    """rich_text blocks: sections, lists, quotes and preformatted text, with their styled runs."""
    if not isinstance(elements, list):
        return ""
    out = []
    for element in elements:
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind == "rich_text_section":
            out.append(f'<div class="md-p">{_runs(element.get("elements"), names)}</div>')
        elif kind == "rich_text_quote":
            out.append(f'<blockquote class="md-quote">{_runs(element.get("elements"), names)}</blockquote>')
        elif kind == "rich_text_preformatted":
            out.append(f'<pre class="md-pre">{_runs(element.get("elements"), names)}</pre>')
        elif kind == "rich_text_list":
            tag = "ol" if element.get("style") == "ordered" else "ul"
            items = "".join(f"<li>{_runs(item.get('elements'), names)}</li>"
                            for item in element.get("elements") or [] if isinstance(item, dict))
            out.append(f'<{tag} class="md-list">{items}</{tag}>')
    return "".join(out)


def _runs(elements: Any, names: Names) -> str:
    out = []
    for run in elements or []:
        if not isinstance(run, dict):
            continue
        kind = run.get("type")
        if kind == "text":
            piece = esc(str(run.get("text") or "")).replace("\n", "<br>")
        elif kind == "link":
            url = str(run.get("url") or "")
            shown = esc(str(run.get("text") or url))
            piece = (f'<a class="md-link" href="{esc(url)}" target="_blank" rel="noopener noreferrer">{shown}</a>'
                     if url.startswith(("http://", "https://", "mailto:")) else shown)
        elif kind == "user":
            uid = str(run.get("user_id") or "")
            piece = f'<span class="mention">@{esc(names.users.get(uid, uid))}</span>'
        elif kind == "usergroup":
            gid = str(run.get("usergroup_id") or "")
            piece = f'<span class="mention">@{esc(names.groups.get(gid, gid))}</span>'
        elif kind == "channel":
            cid = str(run.get("channel_id") or "")
            piece = f'<span class="mention">#{esc(names.channels.get(cid, cid))}</span>'
        elif kind == "emoji":
            piece = esc(f":{run.get('name')}:")
        elif kind in ("rich_text_section", "rich_text_list", "rich_text_quote", "rich_text_preformatted"):
            piece = _rich([run], names, None)
        else:
            continue
        style = run.get("style") if isinstance(run.get("style"), dict) else {}
        for key, tag in (("code", "code"), ("strike", "s"), ("italic", "i"), ("bold", "b")):
            if style.get(key):
                piece = f"<{tag}>{piece}</{tag}>"
        out.append(piece)
    return "".join(out)
