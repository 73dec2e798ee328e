// resetbot demo --web: the page's few behaviours. The server renders every region as escaped HTML
// (devkit/web/screens.py); this script swaps regions in, long-polls for changes, and sends what the
// person does to /api/act, which hands it to the simulated Slack. Nothing here builds HTML from text.
"use strict";

const state = {
  person: null,       // the id of the person the page acts as
  open: {},           // person -> the conversation they have open (a channel id, their DM id or "home")
  thread: {},         // person -> the ts of the thread they have open, or null
  version: -1,        // the workspace version the page shows
  navigation: 0,      // grows at every change of person, conversation or thread: older answers are dropped
  poll: null,         // the AbortController of the long poll under way
  seen: {},           // person -> conversation -> the activity count when they last looked
  homeOpened: {},     // person -> true once the page told Slack they opened the App Home
  modalKey: null,
  modalView: null,
  regions: {},        // the HTML last put in each region, to leave untouched what did not change
};

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let noticeTimer = null;
function notice(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

async function act(body) {
  body.as = state.person;
  let answer = {};
  try {
    const response = await fetch("/api/act", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    });
    answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      notice(answer.error || `That did not work (HTTP ${response.status}).`);
      answer.refused = true;
    }
  } catch (error) {
    notice("The demo is not answering: is `resetbot demo --web` still running?");
    answer.refused = true;
  }
  refresh();
  return answer;
}

function refresh() {
  state.version = -1;
  if (state.poll) state.poll.abort();
}

function navigate(change) {
  change();
  state.navigation += 1;
  refresh();
}

async function pollLoop() {
  for (;;) {
    const navigation = state.navigation;
    const params = new URLSearchParams({since: String(state.version)});
    if (state.person) params.set("as", state.person);
    if (state.person && state.open[state.person]) params.set("open", state.open[state.person]);
    if (state.person && state.thread[state.person]) params.set("thread", state.thread[state.person]);
    const controller = new AbortController();
    state.poll = controller;
    try {
      const response = await fetch("/api/screen?" + params, {signal: controller.signal});
      const screen = await response.json();
      if (!response.ok) {
        notice(screen.error || `HTTP ${response.status}`);
        await sleep(1000);
        continue;
      }
      if (screen.starting) {
        await sleep(300);
        continue;
      }
      if (navigation === state.navigation) render(screen);
    } catch (error) {
      if (error.name !== "AbortError") await sleep(1000);  // the server went away or restarts: try again
    }
  }
}

function setRegion(id, html) {
  if (state.regions[id] === html) return false;
  state.regions[id] = html;
  $(id).innerHTML = html;
  return true;
}

function render(screen) {
  const person = screen.person;
  state.person = person;
  state.open[person] = screen.open;
  state.thread[person] = screen.thread;
  state.version = screen.version;

  for (const [who, counts] of Object.entries(screen.activity)) {
    if (!state.seen[who]) state.seen[who] = {...counts};  // what was there before the page looked is not new
  }
  if (screen.open in screen.activity[person]) state.seen[person][screen.open] = screen.activity[person][screen.open];
  const unread = (who, conv) => (screen.activity[who][conv] || 0) > (state.seen[who][conv] || 0);

  setRegion("people", screen.people);
  for (const button of $("people").querySelectorAll("[data-person]")) {
    const who = button.dataset.person;
    button.classList.toggle("unread", Object.keys(screen.activity[who] || {}).some((conv) => unread(who, conv)));
  }
  setRegion("sidebar", screen.sidebar);
  for (const item of $("sidebar").querySelectorAll("[data-conv]")) {
    item.classList.toggle("unread", unread(person, item.dataset.conv));
  }
  setRegion("header", screen.header);

  const conversation = $("conversation");
  const switched = conversation.dataset.showing !== `${person} ${screen.open}`;
  const atBottom = conversation.scrollHeight - conversation.scrollTop - conversation.clientHeight < 60;
  if (setRegion("conversation", screen.conversation) && (switched || atBottom)) {
    conversation.scrollTop = conversation.scrollHeight;
  }
  conversation.dataset.showing = `${person} ${screen.open}`;

  const composer = $("composer");
  composer.hidden = !screen.composer;
  $("message-box").placeholder = screen.composer || "";
  $("message-box").setAttribute("aria-label", screen.composer || "Message");

  const thread = $("thread");
  thread.hidden = !screen.thread_html;
  setRegion("thread", screen.thread_html);

  renderModal(screen.modal);

  if (screen.open === "home" && !state.homeOpened[person]) {
    state.homeOpened[person] = true;
    act({kind: "home"});
  }
}

// --- modals ---------------------------------------------------------------------------------------

function fieldValue(field) {
  switch (field.dataset.kind) {
    case "multi":
      return Array.from(field.selectedOptions).map((option) => option.value);
    case "radio": {
      const checked = field.querySelector("input:checked");
      return checked ? checked.value : null;
    }
    case "checkboxes":
      return Array.from(field.querySelectorAll("input:checked")).map((input) => input.value);
    default:
      return field.value;
  }
}

function setFieldValue(field, value) {
  switch (field.dataset.kind) {
    case "multi":
      for (const option of field.options) option.selected = value.includes(option.value);
      break;
    case "radio":
    case "checkboxes":
      for (const input of field.querySelectorAll("input")) {
        input.checked = Array.isArray(value) ? value.includes(input.value) : input.value === value;
      }
      break;
    default:
      field.value = value;
  }
}

function modalFields(last) {
  const fields = [];
  for (const field of $("modal-layer").querySelectorAll(".modal-body .sk-field")) {
    if (field !== last) fields.push([field.dataset.label, fieldValue(field)]);
  }
  if (last) fields.push([last.dataset.label, fieldValue(last)]);  // a choice that dispatches goes last
  return fields;
}

function renderModal(modal) {
  const layer = $("modal-layer");
  if (!modal) {
    layer.hidden = true;
    layer.innerHTML = "";
    state.modalKey = state.modalView = null;
    return;
  }
  if (modal.key === state.modalKey) return;
  // What the person typed and the simulated Slack does not hold yet stays, as in Slack, while the modal
  // is the same one (updated by the app, or shown again with errors).
  const kept = {};
  let focused = null;
  const old = layer.querySelector(".modal");
  if (old && old.dataset.view === modal.view) {
    for (const field of old.querySelectorAll(".sk-field[data-dirty]")) kept[field.dataset.label] = fieldValue(field);
    const active = document.activeElement && document.activeElement.closest(".sk-field");
    if (active && layer.contains(active)) focused = active.dataset.label;
  }
  layer.innerHTML = modal.html;
  layer.hidden = false;
  state.modalKey = modal.key;
  state.modalView = modal.view;
  for (const field of layer.querySelectorAll(".sk-field")) {
    if (field.dataset.label in kept) {
      setFieldValue(field, kept[field.dataset.label]);
      field.dataset.dirty = "1";
    }
    if (field.dataset.label === focused) field.focus();
  }
  if (!focused) {
    const first = layer.querySelector(".sk-has-error .sk-field") || layer.querySelector("input[type=text], textarea");
    if (first) first.focus();
  }
}

function clean() {
  for (const field of $("modal-layer").querySelectorAll(".sk-field[data-dirty]")) delete field.dataset.dirty;
}

async function submitModal() {
  const fields = modalFields(null);
  clean();
  await act({kind: "submit", view: state.modalView, fields});
}

// --- buttons and confirm dialogs -------------------------------------------------------------------

async function press(button, confirm) {
  const body = {
    kind: "click", where: button.dataset.where, channel: button.dataset.channel, ts: button.dataset.ts,
    text: button.dataset.text, block: button.dataset.block,
  };
  if (body.where === "view") body.view = state.modalView;
  if (confirm !== undefined) body.confirm = confirm;
  if (button.dataset.url) window.open(button.dataset.url, "_blank", "noopener,noreferrer");
  button.disabled = true;
  try {
    await act(body);
  } finally {
    button.disabled = false;
  }
}

function showConfirm(button, template) {
  const layer = $("confirm-layer");
  layer.innerHTML = "";
  const dialog = document.createElement("div");
  dialog.className = "confirm";
  dialog.setAttribute("role", "alertdialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.append(template.content.cloneNode(true));
  layer.append(dialog);
  layer.hidden = false;
  const answer = (confirmed) => {
    layer.hidden = true;
    layer.innerHTML = "";
    press(button, confirmed);
  };
  dialog.querySelector("[data-role=confirm]").addEventListener("click", () => answer(true));
  dialog.querySelector("[data-role=deny]").addEventListener("click", () => answer(false));
  dialog.querySelector("[data-role=confirm]").focus();
}

// --- events -----------------------------------------------------------------------------------------

document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-act]");
  if (!target || target.disabled) return;
  const what = target.dataset.act;
  if (what === "person") {
    navigate(() => { state.person = target.dataset.person; });
  } else if (what === "open") {
    navigate(() => {
      state.open[state.person] = target.dataset.conv;
      state.thread[state.person] = null;
      if (target.dataset.conv === "home") state.homeOpened[state.person] = false;  // Slack tells the app again
    });
  } else if (what === "thread") {
    navigate(() => { state.thread[state.person] = target.dataset.ts; });
  } else if (what === "close-thread") {
    navigate(() => { state.thread[state.person] = null; });
  } else if (what === "click") {
    const next = target.nextElementSibling;  // a button's own confirm dialog follows it (blocks.py)
    const template = next && next.matches("template.sk-confirm") ? next : null;
    if (template) showConfirm(target, template);
    else press(target);
  } else if (what === "close") {
    act({kind: "close", view: state.modalView});
  } else if (what === "submit") {
    submitModal();
  }
});

document.addEventListener("input", (event) => {
  const field = event.target.closest && event.target.closest("#modal-layer .sk-field");
  if (field) field.dataset.dirty = "1";
});

document.addEventListener("change", (event) => {
  const field = event.target.closest && event.target.closest("#modal-layer .sk-field");
  if (!field) return;
  field.dataset.dirty = "1";
  if (field.dataset.dispatch) {
    const fields = modalFields(field);
    clean();
    act({kind: "fill", view: state.modalView, fields});
  }
});

document.addEventListener("submit", (event) => {
  event.preventDefault();
  if (event.target.id === "composer") sendMessage();
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("confirm-layer").hidden) {
    $("confirm-layer").hidden = true;
    $("confirm-layer").innerHTML = "";
  }
  if (event.target.id === "message-box" && event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    sendMessage();
  }
});

async function sendMessage() {
  const box = $("message-box");
  const text = box.value.trim();
  if (!text) return;
  const answer = await act({kind: "command", text, channel: state.open[state.person]});
  if (!answer.refused) box.value = "";
}

pollLoop();
