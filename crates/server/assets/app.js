// aao-export pages: local times, polling while exports run, and the card actions (delete, manage
// access, retry). Plain JavaScript, no framework; every request goes to this site's own API with
// the session cookie.
"use strict";

const POLL_MS = 3000;

/** Shows every <time data-local> in the browser's local time. */
function localTimes(root) {
  for (const el of root.querySelectorAll("time[data-local]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) {
      el.textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      el.title = el.getAttribute("datetime");
    }
  }
}

/** Says something to screen readers (and keeps it for tests to read). */
function announce(text) {
  const el = document.getElementById("announce");
  if (el) el.textContent = text;
}

/** Calls the API; resolves to {ok, status, body}. Errors carry the API's message. */
async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    return { ok: false, status: 0, body: { message: "The service cannot be reached; check your connection and try again." } };
  }
  if (response.status === 401) {
    location.href = "/signin?next=" + encodeURIComponent(location.pathname + location.search);
  }
  let parsed = {};
  try { parsed = await response.json(); } catch (e) { /* not JSON */ }
  return { ok: response.ok, status: response.status, body: parsed };
}

// ---- polling: the server renders, we swap in the cards that changed

let pollTimer = null;

function polling() {
  const list = document.getElementById("export-list");
  return list && list.dataset.polling === "on";
}

async function refresh() {
  const list = document.getElementById("export-list");
  if (!list) return;
  let response;
  try {
    response = await fetch(location.pathname, { headers: { Accept: "text/html", "X-Fragment": "1" }, credentials: "same-origin" });
  } catch (e) {
    return schedule();
  }
  if (response.redirected || response.status === 401) { location.reload(); return; }
  if (!response.ok) return schedule();
  const template = document.createElement("template");
  template.innerHTML = await response.text();
  const fresh = template.content.getElementById("export-list");
  if (fresh) merge(list, fresh);
  schedule();
}

/** Replaces only the cards whose content changed, keeping focus and scroll where they are. */
function merge(list, fresh) {
  const focusedCard = document.activeElement && document.activeElement.closest("article");
  const focusKey = focusedCard && document.activeElement.dataset.action
    ? [focusedCard.id, document.activeElement.dataset.action] : null;
  const oldCards = new Map([...list.querySelectorAll("article")].map((a) => [a.id, a]));
  const freshCards = [...fresh.querySelectorAll("article")];
  if (oldCards.size === 0 || freshCards.length === 0 || freshCards.length < oldCards.size) {
    list.replaceWith(fresh);
    localTimes(fresh);
    restoreFocus(focusKey);
    return;
  }
  let previous = null;
  for (const card of freshCards) {
    const old = oldCards.get(card.id);
    if (old && old.dataset.version === card.dataset.version) {
      previous = old;
      continue;
    }
    localTimes(card);
    if (old) {
      old.replaceWith(card);
      if (card.dataset.status !== old.dataset.status) announce("Export " + card.querySelector("h1, h2").textContent + " is " + card.dataset.status);
    } else if (previous) {
      previous.after(card);
    } else {
      const cards = list.querySelector(".cards");
      if (cards) cards.prepend(card);
    }
    previous = card;
  }
  list.dataset.polling = fresh.dataset.polling || "";
  restoreFocus(focusKey);
}

function restoreFocus(key) {
  if (!key) return;
  const card = document.getElementById(key[0]);
  const again = card && card.querySelector('[data-action="' + key[1] + '"]');
  if (again && document.activeElement !== again) again.focus();
}

function schedule() {
  clearTimeout(pollTimer);
  if (polling() && !document.hidden) pollTimer = setTimeout(refresh, POLL_MS);
}

document.addEventListener("visibilitychange", () => { if (!document.hidden) schedule(); });

// ---- actions

function cardOf(id) {
  return document.getElementById("export-" + id);
}

/** Starts polling again after an action that changes an export. */
function kick() {
  const list = document.getElementById("export-list");
  if (list) list.dataset.polling = "on";
  clearTimeout(pollTimer);
  refresh();
}

async function retry(button) {
  button.disabled = true;
  const result = await api("POST", "/exports/" + button.dataset.id + "/retry");
  button.disabled = false;
  if (!result.ok) {
    showCardError(button.dataset.id, result.body.message || "The export could not be started again.");
    return;
  }
  announce("The export was queued again.");
  kick();
}

function showCardError(id, message) {
  const card = cardOf(id);
  if (!card) return;
  let el = card.querySelector(".card-error");
  if (!el) {
    el = document.createElement("p");
    el.className = "error card-error";
    el.setAttribute("role", "alert");
    card.append(el);
  }
  el.textContent = message;
}

// Delete, behind a confirmation dialog.
let deleting = null;
function askDelete(button) {
  const dialog = document.getElementById("confirm-dialog");
  deleting = button.dataset.id;
  dialog.querySelector("#confirm-error").textContent = "";
  dialog.showModal();
  dialog.querySelector("#confirm-yes").focus();
}

async function confirmDelete() {
  const dialog = document.getElementById("confirm-dialog");
  const id = deleting;
  const result = await api("DELETE", "/exports/" + id);
  if (!result.ok && result.status !== 404) {
    dialog.querySelector("#confirm-error").textContent = result.body.message || "The export could not be deleted.";
    return;
  }
  dialog.close();
  if (location.pathname.startsWith("/exports/")) { location.href = "/exports"; return; }
  const card = cardOf(id);
  if (card) card.remove();
  announce("The export was deleted.");
  const list = document.querySelector("#export-list .cards");
  if (list && !list.querySelector("article")) kick();
}

// Manage access: badges of the users it is shared with, a searchable list of users to add.
let users = null;
let managing = null;

async function loadUsers() {
  if (users) return users;
  const result = await api("GET", "/users");
  users = result.ok ? result.body : [];
  return users;
}

function nameOf(id) {
  const u = (users || []).find((x) => x.id === id);
  return u ? u.full_name : id;
}

async function openAccess(button) {
  managing = button.dataset.id;
  const dialog = document.getElementById("access-dialog");
  dialog.querySelector("#access-error").textContent = "";
  dialog.querySelector("#access-user").value = "";
  await loadUsers();
  const card = cardOf(managing);
  renderAccess(JSON.parse(card.dataset.shared || "[]"), card.dataset.creator);
  dialog.showModal();
  dialog.querySelector("#access-user").focus();
}

function renderAccess(shared, creator) {
  const dialog = document.getElementById("access-dialog");
  const badges = dialog.querySelector("#access-badges");
  badges.replaceChildren();
  for (const id of shared) {
    const li = document.createElement("li");
    li.className = "badge";
    const name = document.createElement("span");
    name.textContent = nameOf(id);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", "Remove " + nameOf(id));
    remove.addEventListener("click", () => changeAccess("unshare", id));
    li.append(name, remove);
    badges.append(li);
  }
  dialog.querySelector("#access-empty").hidden = shared.length > 0;
  const options = dialog.querySelector("#access-users");
  options.replaceChildren();
  for (const u of users || []) {
    if (u.id === creator || shared.includes(u.id)) continue;
    const option = document.createElement("option");
    option.value = u.full_name;
    option.label = u.id;
    options.append(option);
  }
}

/** The user a typed name (or id) means, if exactly one. */
function pickUser(text) {
  const t = text.trim().toLowerCase();
  if (!t) return null;
  const exact = (users || []).filter((u) => u.full_name.toLowerCase() === t || u.id.toLowerCase() === t);
  if (exact.length === 1) return exact[0];
  const partial = (users || []).filter((u) => u.full_name.toLowerCase().includes(t));
  return partial.length === 1 ? partial[0] : null;
}

async function changeAccess(how, userId) {
  const dialog = document.getElementById("access-dialog");
  const error = dialog.querySelector("#access-error");
  error.textContent = "";
  const result = await api("POST", "/exports/" + managing + "/" + how, { user_ids: [userId] });
  if (!result.ok) {
    error.textContent = result.body.message || "Access could not be changed.";
    return;
  }
  const card = cardOf(managing);
  card.dataset.shared = JSON.stringify(result.body.shared_with);
  const manage = card.querySelector('[data-action="access"]');
  if (manage) manage.textContent = "Manage access (" + result.body.shared_with.length + ")";
  renderAccess(result.body.shared_with, card.dataset.creator);
  announce(how === "share" ? nameOf(userId) + " can now see this export." : nameOf(userId) + " no longer has access.");
  dialog.querySelector("#access-user").focus();
}

async function addAccess(event) {
  event.preventDefault();
  const input = document.getElementById("access-user");
  const user = pickUser(input.value);
  if (!user) {
    document.getElementById("access-error").textContent = input.value.trim()
      ? "No single user matches \u201c" + input.value.trim() + "\u201d; pick one from the list."
      : "Type a name first.";
    return;
  }
  input.value = "";
  await changeAccess("share", user.id);
}

// ---- wiring

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) {
    if (button.dataset.action === "retry") retry(button);
    if (button.dataset.action === "delete") askDelete(button);
    if (button.dataset.action === "access") openAccess(button);
    return;
  }
  const close = event.target.closest("[data-close]");
  if (close) {
    const dialog = close.closest("dialog");
    dialog.close();
    if (dialog.id === "access-dialog") kick();
  }
});

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  const yes = document.getElementById("confirm-yes");
  if (yes) yes.addEventListener("click", confirmDelete);
  const form = document.getElementById("access-form");
  if (form) form.addEventListener("submit", addAccess);
  schedule();
});
