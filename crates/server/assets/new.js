// The new-export page: a query builder for every AAO method (nestable AND / OR groups and NOT),
// a JSON mode for any query, a live count with size estimates and a first look at the matching
// ads, the field picker, and creating the export. Errors from the API name the part at fault
// (`query.args[1].args[0]`); they are shown next to that part.
"use strict";

const form = document.getElementById("new-export");
const METHODS = JSON.parse(form.dataset.methods);
const LABEL = Object.fromEntries(METHODS.map((m) => [m.method, m.label]));
const GROUPS = ["AND", "OR"];
const TIMES = ["DATETIME_AFTER", "DATETIME_BEFORE"];
const TEXTS = METHODS.map((m) => m.method).filter((m) => !GROUPS.includes(m) && !TIMES.includes(m) && m !== "NOT" && m !== "ALL");

let query = { method: "ALL" };
/** The images warning as the page first shows it (before an estimate exists). */
const IMAGES_WARNING = document.getElementById("images-warning").textContent;
let mode = "builder";
let lastPreviewOk = false;
let previewTimer = null;
let previewSeq = 0;

const $ = (id) => document.getElementById(id);

// ---- the builder

/** A new node of a method, keeping what can be kept from the old one. */
function nodeOf(method, old) {
  if (GROUPS.includes(method)) {
    const kids = old && GROUPS.includes(old.method) ? old.args : old && old.method !== "ALL" ? [old] : [{ method: "PAGE_NAME_CONTAINS", args: [""] }];
    return { method, args: kids };
  }
  if (method === "NOT") return { method, args: [old && old.method !== "NOT" ? old : { method: "PAGE_NAME_CONTAINS", args: [""] }] };
  if (method === "ALL") return { method };
  if (TIMES.includes(method)) return { method, args: [old && TIMES.includes(old.method) ? old.args[0] : String(Date.now() - 30 * 86400000)] };
  return { method, args: old && TEXTS.includes(old.method) ? old.args : [""] };
}

function render() {
  const root = $("builder");
  root.replaceChildren(renderNode(query, "query", null, null));
}

let uid = 0;

function renderNode(node, path, parent, index) {
  const id = "n" + uid++;
  const box = document.createElement("div");
  box.className = "node";
  box.dataset.path = path;
  const row = document.createElement("div");
  row.className = "row";
  const label = document.createElement("label");
  label.htmlFor = id + "-method";
  label.className = "sr-only";
  label.textContent = parent ? "Condition " + (index + 1) : "Ads to export";
  const select = document.createElement("select");
  select.id = id + "-method";
  for (const m of METHODS) {
    const option = document.createElement("option");
    option.value = m.method;
    option.textContent = m.label;
    option.selected = m.method === node.method;
    select.append(option);
  }
  select.addEventListener("change", () => replace(parent, index, nodeOf(select.value, node)));
  row.append(label, select);
  if (TIMES.includes(node.method)) {
    const input = document.createElement("input");
    input.type = "datetime-local";
    input.id = id + "-time";
    input.setAttribute("aria-label", LABEL[node.method] + " (your local time)");
    input.value = toLocalInput(node.args[0]);
    input.addEventListener("change", () => { node.args = [fromLocalInput(input.value)]; changed(); });
    row.append(input);
  } else if (TEXTS.includes(node.method)) {
    const area = document.createElement("textarea");
    area.id = id + "-args";
    area.rows = Math.max(1, node.args.length);
    area.style.minHeight = "2.4rem";
    const codes = node.method.startsWith("OBSERVER_ID") || node.method === "OBSERVATION_ID_CONTAINS";
    area.setAttribute("aria-label", LABEL[node.method] + (codes ? " (one or more, separated by spaces, commas or lines)" : " (one phrase per line)"));
    area.value = node.args.join("\n");
    area.addEventListener("input", () => { node.args = splitArgs(area.value, codes); changed(); });
    row.append(area);
  }
  if (parent) {
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", "Remove condition " + (index + 1));
    remove.addEventListener("click", () => {
      parent.args.splice(index, 1);
      if (parent.args.length === 0) parent.args.push({ method: "PAGE_NAME_CONTAINS", args: [""] });
      render(); changed();
    });
    row.append(remove);
  }
  box.append(row);
  const error = document.createElement("p");
  error.className = "error node-error";
  error.setAttribute("role", "alert");
  box.append(error);
  if (GROUPS.includes(node.method) || node.method === "NOT") {
    node.args.forEach((child, i) => box.append(renderNode(child, path + ".args[" + i + "]", node, i)));
  }
  if (GROUPS.includes(node.method)) {
    const bar = document.createElement("div");
    bar.className = "toolbar";
    for (const [text, method] of [["+ condition", "PAGE_NAME_CONTAINS"], ["+ AND group", "AND"], ["+ OR group", "OR"], ["+ NOT", "NOT"]]) {
      const add = document.createElement("button");
      add.type = "button";
      add.className = "secondary";
      add.textContent = text;
      add.addEventListener("click", () => { node.args.push(nodeOf(method, null)); render(); changed(); });
      bar.append(add);
    }
    box.append(bar);
  } else if (!parent) {
    const bar = document.createElement("div");
    bar.className = "toolbar";
    for (const [text, method] of [["+ AND", "AND"], ["+ OR", "OR"]]) {
      const add = document.createElement("button");
      add.type = "button";
      add.className = "secondary";
      add.textContent = text;
      add.title = text === "+ AND" ? "Add a condition that must also hold" : "Add an alternative condition";
      add.addEventListener("click", () => {
        query = { method, args: query.method === "ALL" ? [{ method: "PAGE_NAME_CONTAINS", args: [""] }] : [query, { method: "PAGE_NAME_CONTAINS", args: [""] }] };
        render(); changed();
      });
      bar.append(add);
    }
    box.append(bar);
  }
  return box;
}

function replace(parent, index, node) {
  if (parent) parent.args[index] = node; else query = node;
  render();
  changed();
}

function splitArgs(text, codes) {
  const parts = codes ? text.split(/[\s,;]+/) : text.split("\n");
  const args = parts.map((p) => p.trim()).filter((p) => p !== "");
  return args.length ? args : [""];
}

function toLocalInput(ms) {
  const d = new Date(Number(ms));
  if (isNaN(d)) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
}

function fromLocalInput(value) {
  const d = new Date(value);
  return isNaN(d) ? "" : String(d.getTime());
}

// ---- JSON mode

function setMode(next) {
  if (next === mode) return;
  if (next === "json") {
    $("query-json").value = JSON.stringify(query, null, 2);
  } else {
    const parsed = parseJson();
    if (!parsed) {
      document.querySelector('input[name="mode"][value="json"]').checked = true;
      return;
    }
    query = parsed;
    render();
  }
  mode = next;
  $("builder").hidden = mode !== "builder";
  $("json-mode").hidden = mode !== "json";
  changed();
}

/** The JSON mode's query, or null with the reason shown. */
function parseJson() {
  try {
    const value = JSON.parse($("query-json").value);
    $("query-error").textContent = "";
    return value;
  } catch (e) {
    $("query-error").textContent = "Query JSON: not valid JSON (" + e.message + ")";
    $("query-json").setAttribute("aria-invalid", "true");
    return null;
  }
}

function currentQuery() {
  return mode === "json" ? parseJson() : query;
}

// ---- fields

function boxes() {
  return [...document.querySelectorAll('input[name="field"]')];
}

function chosenFields() {
  return boxes().filter((b) => b.checked).map((b) => b.value);
}

function countFields() {
  const all = boxes();
  const n = all.filter((b) => b.checked).length;
  $("field-count").textContent = n + " of " + all.length + " selected";
  $("fields-error").textContent = n === 0 ? "Choose at least one field." : "";
}

function filterFields() {
  const t = $("field-search").value.trim().toLowerCase();
  for (const label of document.querySelectorAll(".field-groups label")) {
    const box = label.querySelector("input");
    const text = (label.textContent + " " + box.value + " " + label.title).toLowerCase();
    label.hidden = t !== "" && !text.includes(t);
  }
  for (const group of document.querySelectorAll(".field-groups fieldset.group")) {
    group.hidden = [...group.querySelectorAll("label")].every((l) => l.hidden);
  }
}

// ---- preview and errors

function body() {
  const q = currentQuery();
  if (q === null) return null;
  return { query: q, fields: chosenFields(), include_images: $("include-images").checked };
}

function clearErrors() {
  for (const n of document.querySelectorAll(".node")) {
    n.classList.remove("has-error");
    n.querySelector(".node-error").textContent = "";
  }
  if (mode === "builder") $("query-error").textContent = "";
  $("query-json").removeAttribute("aria-invalid");
  $("form-error").hidden = true;
}

/** Shows an API error next to the part its message names. */
function showError(message) {
  const path = (message.match(/^([a-z_]+(?:\.[a-z_]+|\[\d+\])*)\s*:/) || [])[1] || "";
  if (path.startsWith("query")) {
    if (mode === "builder") {
      let best = null;
      for (const n of document.querySelectorAll(".node")) {
        const p = n.dataset.path;
        if ((path === p || path.startsWith(p + ".") || path.startsWith(p + "[")) && (!best || p.length > best.dataset.path.length)) best = n;
      }
      if (best) {
        best.classList.add("has-error");
        best.querySelector(".node-error").textContent = message;
        return;
      }
    }
    $("query-error").textContent = message;
    $("query-json").setAttribute("aria-invalid", "true");
  } else if (path.startsWith("fields")) {
    $("fields-error").textContent = message;
  } else {
    $("form-error").textContent = message;
    $("form-error").hidden = false;
  }
}

function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n, u = 0;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return u === 0 ? n + " B" : v.toFixed(1) + " " + units[u];
}

function changed() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(preview, 350);
}

async function preview() {
  const b = body();
  countFields();
  if (!b) { lastPreviewOk = false; $("count").textContent = "Fix the query to see what it matches."; $("images-warning").textContent = IMAGES_WARNING; return; }
  const seq = ++previewSeq;
  const result = await fetch("/exports/preview", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(b),
  }).then(async (r) => ({ ok: r.ok, status: r.status, retryAfter: r.headers.get("Retry-After"), body: await r.json().catch(() => ({})) }))
    .catch(() => ({ ok: false, status: 0, body: { message: "The service cannot be reached." } }));
  if (seq !== previewSeq) return;
  clearErrors();
  if (result.status === 401) { location.href = "/signin?next=/exports/new"; return; }
  if (result.status === 429) {
    // Too many previews for now: nothing is wrong with the query; ask again when the limit allows.
    const wait = Math.min(Math.max(parseInt(result.retryAfter, 10) || 1, 1), 60);
    lastPreviewOk = false;
    $("count").textContent = "Many previews in a short time: counting again in " + wait + " s.";
    // What is shown still describes the query before: take it away until the new count is in.
    $("estimate").textContent = "";
    $("images-warning").textContent = IMAGES_WARNING;
    $("preview-ads").replaceChildren();
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, wait * 1000);
    return;
  }
  if (!result.ok) {
    lastPreviewOk = false;
    $("count").textContent = "The query cannot run yet.";
    $("estimate").textContent = "";
    $("images-warning").textContent = IMAGES_WARNING;
    showError(result.body.message || "The query could not be checked.");
    return;
  }
  lastPreviewOk = true;
  const p = result.body;
  $("count").textContent = p.estimated
    ? "About " + p.ad_count.toLocaleString() + " ads match (too broad to count quickly: estimated from a sample of the catalogue; the export holds every match)"
    : p.ad_count.toLocaleString() + (p.ad_count === 1 ? " ad matches" : " ads match");
  const est = p.estimated_bytes || {};
  $("estimate").textContent = "Estimated size: about " + bytes(est.without_images || 0) + " without images, " +
    bytes(est.with_images || 0) + " with images (" + (p.image_count || 0).toLocaleString() + " images).";
  $("images-warning").textContent = "Images make the export much larger and slower to build and to download: about " +
    bytes(est.with_images || 0) + " instead of " + bytes(est.without_images || 0) + ".";
  const list = $("preview-ads");
  list.replaceChildren();
  for (const ad of p.ads || []) {
    const li = document.createElement("li");
    if (ad.image_urls && ad.image_urls.length) {
      const img = document.createElement("img");
      img.src = ad.image_urls[0];
      img.alt = "";
      img.loading = "lazy";
      li.append(img);
    }
    const text = document.createElement("div");
    const when = ad.observed_at ? new Date(ad.observed_at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "";
    for (const line of [ad.platform || "", when, ad.page_name || ""]) {
      const div = document.createElement("div");
      div.textContent = line;
      text.append(div);
    }
    li.append(text);
    list.append(li);
  }
}

async function create(event) {
  event.preventDefault();
  // Nothing is submitted while the last check of the query found a problem.
  if (document.querySelector(".node.has-error") || $("query-error").textContent) {
    $("form-error").textContent = "Fix the query first: the problem is shown next to it.";
    $("form-error").hidden = false;
    return;
  }
  clearErrors();
  const b = body();
  if (!b) return;
  if (b.fields.length === 0) { countFields(); $("fields-section").querySelector("input").focus(); return; }
  const button = $("create");
  button.disabled = true;
  const result = await fetch("/exports", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(b),
  }).then(async (r) => ({ ok: r.ok, status: r.status, body: await r.json().catch(() => ({})) }))
    .catch(() => ({ ok: false, status: 0, body: { message: "The service cannot be reached; try again." } }));
  button.disabled = false;
  if (result.ok) { location.href = "/exports"; return; }
  if (result.status === 401) { location.href = "/signin?next=/exports/new"; return; }
  showError(result.body.message || "The export could not be created.");
  const shown = document.querySelector(".node.has-error select, [aria-invalid=true], #form-error:not([hidden])");
  if (shown) shown.focus && shown.focus();
}

// ---- wiring

function start() {
  const initial = JSON.parse(form.dataset.initial || "null");
  if (initial) {
    query = initial.query;
    if (Array.isArray(initial.fields)) for (const b of boxes()) b.checked = initial.fields.includes(b.value);
    $("include-images").checked = !!initial.include_images;
  }
  const known = (n) => n && typeof n === "object" && LABEL[n.method] && (n.method === "ALL" || (Array.isArray(n.args) && n.args.length > 0 &&
    ((GROUPS.includes(n.method) || n.method === "NOT") ? n.args.every(known) : n.args.every((a) => typeof a === "string"))));
  if (known(query)) render(); else { render(); setMode("json"); document.querySelector('input[name="mode"][value="json"]').checked = true; }
  for (const radio of document.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", () => setMode(radio.value));
  $("query-json").addEventListener("input", changed);
  $("include-images").addEventListener("change", changed);
  $("field-search").addEventListener("input", filterFields);
  for (const b of boxes()) b.addEventListener("change", changed);
  for (const button of document.querySelectorAll("[data-fields]")) {
    button.addEventListener("click", () => {
      for (const b of boxes()) b.checked = button.dataset.fields === "all" ? true : button.dataset.fields === "defaults" ? b.dataset.default !== undefined : false;
      changed();
    });
  }
  for (const button of document.querySelectorAll("[data-group-all]")) {
    button.addEventListener("click", () => {
      const group = button.closest("fieldset");
      const inside = [...group.querySelectorAll('input[name="field"]')];
      const all = inside.every((b) => b.checked);
      for (const b of inside) b.checked = !all;
      changed();
    });
  }
  form.addEventListener("submit", create);
  countFields();
  preview();
}

start();
