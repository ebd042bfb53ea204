// Civility moderator UI: plain JavaScript over the JSON API, no build step, no CDN.
// The moderator key lives in sessionStorage (gone when the tab closes). User text is always
// inserted with textContent, never as HTML.
"use strict";

const REASONS = [
  ["incivility", "Incivility"], ["personal_attack", "Personal attack"],
  ["off_topic", "Off topic"], ["spam", "Spam"], ["hate", "Hate"], ["other", "Other"],
];
const CORE = ["incivility", "personal_attack", "off_topic"];
const UNDECIDED = ["scoring", "pending", "flagged"];
const PAGE = 50;

const state = {
  queue: "pending", sort: "risk", items: [], current: -1, selected: new Set(),
  reasons: {}, awaitingReason: false, lastDecided: null, total: 0,
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function say(message) {
  $("status").textContent = message;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { $("status").textContent = ""; }, 4000);
}

async function api(path, options = {}) {
  const key = sessionStorage.getItem("civility-key");
  const response = await fetch(path, {
    ...options,
    headers: { "Authorization": `Bearer ${key}`, "Content-Type": "application/json" },
    body: options.body ? JSON.stringify(options.body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) { signOut("Your key is not valid any more."); }
  if (!response.ok) {
    const error = new Error(data.detail && typeof data.detail === "string" ? data.detail : (data.message || response.statusText));
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---- sign in ---------------------------------------------------------------------------
async function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem("civility-key", $("key").value.trim());
  try {
    await start();
  } catch (error) {
    sessionStorage.removeItem("civility-key");
    $("sign-in-error").textContent = error.status === 403
      ? "This key may not moderate (it needs the moderator role)." : error.message;
  }
}

function signOut(message) {
  sessionStorage.removeItem("civility-key");
  for (const id of ["queues", "who", "queue"]) $(id).hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("key").value = "";
  $("key").focus();
}

async function start() {
  const me = await api("/v1/moderator");
  $("moderator-name").textContent = me.name;
  $("sign-in").hidden = true;
  for (const id of ["queues", "who", "queue"]) $(id).hidden = false;
  await load();
}

// ---- the list ----------------------------------------------------------------------------
async function refreshCounts() {
  const counts = await api("/v1/queue/counts");
  for (const node of document.querySelectorAll("[data-count]")) {
    node.textContent = counts[node.dataset.count] ?? 0;
  }
}

async function load(append = false) {
  const offset = append ? state.items.length : 0;
  const params = new URLSearchParams({ queue: state.queue, sort: state.sort, limit: PAGE, offset });
  const [page] = await Promise.all([api(`/v1/queue?${params}`), refreshCounts()]);
  state.items = append ? state.items.concat(page.items) : page.items;
  state.total = page.count;
  if (!append) { state.selected.clear(); state.current = -1; }
  render();
  if (!append && state.items.length) focusItem(0);
}

function scoreRows(item) {
  const scores = item.scores || {};
  const flags = new Set(item.flags || []);
  const names = Object.keys(scores).filter((n) => scores[n] !== null);
  const rest = names.filter((n) => !CORE.includes(n))
    .sort((a, b) => scores[b] - scores[a]);
  const shown = CORE.concat(rest.filter((n) => flags.has(n) || rest.indexOf(n) < 3)).slice(0, 8);
  const rows = el("div", { class: "scores", role: "list", "aria-label": "Scores" });
  if (!item.scores) { rows.append(el("span", { text: "not scored yet" })); return rows; }
  for (const name of shown) {
    const value = scores[name];
    const label = name.replace(/_/g, " ");
    const pct = value === null || value === undefined ? 0 : Math.round(value * 100);
    rows.append(el("div", { class: flags.has(name) ? "flag" : "", role: "listitem" },
      el("span", { text: label + (flags.has(name) ? " ⚑" : "") }),
      el("span", { class: "bar", role: "meter", "aria-label": `${label} score`,
        "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct) },
        el("span", { style: `width:${pct}%` })),
      el("span", { text: value === null || value === undefined ? "n/a" : value.toFixed(2) })));
  }
  return rows;
}

function highlighted(text, spans) {
  // spans are [start, end) in code points (Python's indexing): slice code points, not UTF-16
  const chars = Array.from(text);
  const ranges = Object.values(spans || {}).flat()
    .map(([s, e]) => [Math.max(0, s), Math.min(chars.length, e)])
    .filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const r of ranges) {
    if (merged.length && r[0] <= merged[merged.length - 1][1]) {
      merged[merged.length - 1][1] = Math.max(merged[merged.length - 1][1], r[1]);
    } else merged.push([...r]);
  }
  const out = el("p", { class: "text" });
  let at = 0;
  for (const [s, e] of merged) {
    out.append(chars.slice(at, s).join(""), el("mark", { text: chars.slice(s, e).join("") }));
    at = e;
  }
  out.append(chars.slice(at).join(""));
  return out;
}

function reasonSelect(item, id) {
  const select = el("select", { id, "aria-label": `Reason for rejecting comment ${item.comment_id}` });
  REASONS.forEach(([value, label], i) => select.append(el("option", { value, text: `${i + 1} ${label}` })));
  select.value = state.reasons[item.comment_id] || "incivility";
  select.addEventListener("change", () => { state.reasons[item.comment_id] = select.value; });
  return select;
}

function renderItem(item, index) {
  const undecided = UNDECIDED.includes(item.status);
  const when = item.posted_at ? new Date(item.posted_at).toLocaleString() : "";
  const decision = item.decision;
  const node = el("li", {
    class: "item", tabindex: "-1", "data-id": item.comment_id,
    "aria-label": `Comment ${item.comment_id} by ${item.author.name || item.author.id}`,
    onclick: (event) => { if (!event.target.closest("button, select, input")) focusItem(index); },
  },
    el("div", { class: "meta" },
      el("input", { type: "checkbox", "aria-label": `Select comment ${item.comment_id}`,
        checked: state.selected.has(item.comment_id),
        onchange: () => toggleSelect(index) }),
      el("button", { type: "button", class: "author", text: item.author.name || item.author.id,
        "aria-label": `History of ${item.author.name || item.author.id}`,
        onclick: () => openAuthor(item.author.id) }),
      el("time", { datetime: item.posted_at, text: when }),
      el("span", { class: `badge ${item.status}`, text: item.status }),
      item.risk !== null ? el("span", { text: `risk ${item.risk.toFixed(2)}` }) : null,
      item.rule ? el("span", { text: `rule: ${item.rule}` }) : null,
      item.claimed_by ? el("span", { text: `claimed by ${item.claimed_by}` }) : null),
    el("div", { class: "body" },
      item.article_title ? el("p", { class: "article", text: `On “${item.article_title}”` }) : null,
      item.parent ? el("blockquote", { class: "parent", "aria-label": "Parent comment",
        text: `In reply to ${item.parent.author_name || "a comment"}: ${item.parent.text}` }) : null,
      highlighted(item.text, item.spans)),
    scoreRows(item),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "approve", text: "Approve (a)",
        "aria-label": `Approve comment ${item.comment_id}`, onclick: () => decide([item], "approve") }),
      reasonSelect(item, `reason-${index}`),
      el("button", { type: "button", class: "reject", text: "Reject (r)",
        "aria-label": `Reject comment ${item.comment_id}`,
        onclick: () => decide([item], "reject", state.reasons[item.comment_id] || "incivility") }),
      decision && decision.action !== "hold" ? el("span", { class: "decided", text: decision.automatic
        ? `${decision.action} by rule ${decision.rule || ""}`
        : `${decision.action}${decision.reason ? " (" + decision.reason.replace(/_/g, " ") + ")" : ""} by ${decision.moderator}` }) : null,
      !undecided && decision && !decision.automatic ? el("button", { type: "button",
        text: "Undo", "aria-label": `Undo the decision on comment ${item.comment_id}`,
        onclick: () => undo(item.comment_id) }) : null));
  if (item.claimed_by) node.classList.add("claimed");
  if (state.selected.has(item.comment_id)) node.classList.add("selected");
  return node;
}

function render() {
  const list = $("items");
  list.replaceChildren(...state.items.map(renderItem));
  $("empty").hidden = state.items.length > 0;
  $("more").hidden = state.items.length >= state.total;
  $("bulk").hidden = state.selected.size === 0;
  $("selected-count").textContent = `${state.selected.size} selected`;
  if (state.current >= 0 && list.children[state.current]) list.children[state.current].classList.add("current");
}

function focusItem(index) {
  if (!state.items.length) { state.current = -1; return; }
  index = Math.max(0, Math.min(state.items.length - 1, index));
  const list = $("items");
  list.children[state.current]?.classList.remove("current");
  state.current = index;
  const node = list.children[index];
  node.classList.add("current");
  node.focus({ preventScroll: true });
  node.scrollIntoView({ block: "nearest" });
  state.awaitingReason = false;
  const item = state.items[index];
  if (UNDECIDED.includes(item.status)) {  // claim it, so nobody else works on it meanwhile
    api("/v1/queue/claim", { method: "POST", body: { comment_id: item.comment_id } })
      .catch((error) => { if (error.status === 409) say(error.message); });
  }
}

function toggleSelect(index) {
  const item = state.items[index];
  if (!item) return;
  if (state.selected.has(item.comment_id)) state.selected.delete(item.comment_id);
  else state.selected.add(item.comment_id);
  render();
  $("items").children[state.current]?.focus({ preventScroll: true });
}

// ---- decisions ---------------------------------------------------------------------------
async function decide(items, decision, reason) {
  if (!items.length) return;
  const body = { decision, reason: decision === "reject" ? reason : null };
  let done = [];
  try {
    if (items.length === 1) {
      await api("/v1/queue/decide", { method: "POST", body: { ...body, comment_id: items[0].comment_id,
        version: UNDECIDED.includes(items[0].status) ? null : items[0].version } });
      done = [items[0].comment_id];
    } else {
      const result = await api("/v1/queue/bulk", { method: "POST",
        body: { ...body, comment_ids: items.map((i) => i.comment_id) } });
      done = result.results.filter((r) => r.ok).map((r) => r.comment_id);
      if (result.failed) say(`${result.failed} not decided: ${result.results.find((r) => !r.ok).error}`);
    }
  } catch (error) {
    say(error.message);
    if (error.status === 409) await load();
    return;
  }
  state.lastDecided = done[done.length - 1];
  const verb = decision === "approve" ? "Approved" : `Rejected (${reason.replace(/_/g, " ")})`;
  if (!$("status").textContent.includes("not decided")) say(`${verb}: ${done.length} comment${done.length > 1 ? "s" : ""}. u to undo.`);
  for (const id of done) state.selected.delete(id);
  const index = state.current;
  const leaves = state.queue === "pending" || state.queue === "flagged";
  const fresh = await api(`/v1/queue?${new URLSearchParams({ queue: state.queue, sort: state.sort,
    limit: Math.max(PAGE, state.items.length), offset: 0 })}`);
  await refreshCounts();
  state.items = fresh.items;
  state.total = fresh.count;
  state.current = -1;
  render();
  if (state.items.length) focusItem(leaves ? Math.min(index, state.items.length - 1) : index);
}

async function undo(commentId) {
  if (!commentId) { say("Nothing to undo."); return; }
  try {
    await api("/v1/queue/undo", { method: "POST", body: { comment_id: commentId } });
    say(`Undone: comment ${commentId} is back in the queue.`);
    state.lastDecided = null;
    await load();
  } catch (error) { say(error.message); }
}

function chosenItems() {
  if (state.selected.size) return state.items.filter((i) => state.selected.has(i.comment_id));
  return state.current >= 0 ? [state.items[state.current]] : [];
}

function reject(reason) {
  const items = chosenItems();
  if (!items.length) return;
  const chosen = reason || (items.length === 1 ? state.reasons[items[0].comment_id] : $("bulk-reason").value);
  if (!chosen) { state.awaitingReason = true; say("Reason? 1 incivility, 2 personal attack, 3 off topic, 4 spam, 5 hate, 6 other"); return; }
  state.awaitingReason = false;
  decide(items, "reject", chosen);
}

// ---- drawers -----------------------------------------------------------------------------
function openDrawer(title, ...content) {
  $("drawer-title").textContent = title;
  $("drawer-body").replaceChildren(...content);
  $("drawer").hidden = false;
  $("drawer").querySelector(".close").focus();
}

function closePanels() {
  const wasOpen = !$("drawer").hidden || !$("help").hidden;
  $("drawer").hidden = true;
  $("help").hidden = true;
  if (wasOpen && state.current >= 0) $("items").children[state.current]?.focus();
}

async function openAuthor(authorId) {
  try {
    const history = await api(`/v1/authors/${encodeURIComponent(authorId)}`);
    openDrawer(history.author.name || history.author.id,
      el("p", { class: "totals" },
        el("span", { text: `${history.total} comments` }),
        el("span", { text: `${history.rejected} rejected` }),
        el("span", { text: `${history.approved} approved` }),
        el("span", { text: `${history.waiting} waiting` })),
      el("ul", {}, ...history.comments.map((c) => el("li", {},
        el("span", { class: `badge ${c.status}`, text: c.status }), " ",
        el("span", { text: c.article_title ? `on “${c.article_title}”` : "" }),
        el("p", { text: c.text.length > 280 ? c.text.slice(0, 280) + "…" : c.text })))));
  } catch (error) { say(error.message); }
}

async function openHistory() {
  try {
    const log = await api("/v1/decisions?limit=50");
    openDrawer("Decision history",
      el("ul", {}, ...log.items.map((d) => el("li", {},
        el("strong", { text: `${d.action}${d.reason ? " · " + d.reason.replace(/_/g, " ") : ""}` }),
        ` comment ${d.comment_id} · ${d.automatic ? "rule: " + (d.rule || "") : d.moderator} · `,
        el("time", { datetime: d.decided_at, text: new Date(d.decided_at).toLocaleString() }),
        d.note ? el("p", { text: d.note }) : null))));
  } catch (error) { say(error.message); }
}

// ---- keyboard ----------------------------------------------------------------------------
function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "Escape") { closePanels(); state.awaitingReason = false; return; }
  if (event.target.closest("input, select, textarea") || $("queue").hidden) return;
  const item = state.items[state.current];
  const digit = "123456".indexOf(event.key);
  if (digit >= 0) {
    const reason = REASONS[digit][0];
    if (state.selected.size) $("bulk-reason").value = reason;
    else if (item) state.reasons[item.comment_id] = reason;
    const select = $(`reason-${state.current}`);
    if (select && !state.selected.size) select.value = reason;
    if (state.awaitingReason) reject(reason); else say(`Reason: ${REASONS[digit][1]}`);
    event.preventDefault();
    return;
  }
  const actions = {
    j: () => focusItem(state.current + 1),
    k: () => focusItem(state.current - 1),
    a: () => decide(chosenItems(), "approve"),
    r: () => reject(),
    x: () => toggleSelect(state.current),
    u: () => undo(state.lastDecided),
    o: () => item && openAuthor(item.author.id),
    h: () => openHistory(),
    "?": () => { $("help").hidden = false; $("help").querySelector(".close").focus(); },
  };
  if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
}

function init() {
  const bulkReason = $("bulk-reason");
  REASONS.forEach(([value, label], i) => bulkReason.append(el("option", { value, text: `${i + 1} ${label}` })));
  $("sign-in").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  for (const button of document.querySelectorAll("[data-queue]")) {
    button.addEventListener("click", () => {
      state.queue = button.dataset.queue;
      for (const b of document.querySelectorAll("[data-queue]")) b.setAttribute("aria-pressed", String(b === button));
      load();
    });
  }
  $("sort").addEventListener("change", () => { state.sort = $("sort").value; load(); });
  $("more").addEventListener("click", () => load(true));
  $("bulk-approve").addEventListener("click", () => decide(chosenItems(), "approve"));
  $("bulk-reject").addEventListener("click", () => decide(chosenItems(), "reject", $("bulk-reason").value));
  $("bulk-clear").addEventListener("click", () => { state.selected.clear(); render(); });
  $("help-button").addEventListener("click", () => { $("help").hidden = false; });
  $("history-button").addEventListener("click", openHistory);
  for (const button of document.querySelectorAll("[data-close]")) button.addEventListener("click", closePanels);
  document.addEventListener("keydown", onKey);
  if (sessionStorage.getItem("civility-key")) start().catch(() => signOut());
  else signOut();
}

init();
