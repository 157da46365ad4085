// The demo's Slack page: renders the Block Kit the bot sent, as the fake Slack holds it, for the
// person picked at the top, and turns clicks into requests to the demo server, which sends the
// bot what Slack would send. Everything shown comes from polling /api/screen.
"use strict";

const POLL_INTERVAL_MS = 400;
// forage's page reads the same key: the person picked here is the one signed in to forage.
const PERSON_KEY = "demo.person";
const DEFAULT_PERSON = "bob";

const EMOJI = {
  white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️", rocket: "🚀",
  lock: "🔒", unlock: "🔓", tada: "🎉", eyes: "👀", "+1": "👍", thumbsup: "👍", "-1": "👎",
  boom: "💥", hourglass: "⌛", stop_button: "⏹", link: "🔗", wave: "👋", information_source: "ℹ️",
};

const page = {
  viewer: localStorage.getItem(PERSON_KEY) || DEFAULT_PERSON,
  screen: null,
  shownText: "",
  modalKey: "",
  pollTimer: null,
  pipelinesText: "",
  peopleShown: false,
  // Rendered timeline entries by their kind and ts, with the JSON they were built from.
  entryNodes: new Map(),
  // Whether the app's Home tab is on screen instead of the channel.
  homeOpen: false,
};

// ---- Talking to the demo server ----

async function post(path, body) {
  let answer;
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ as: page.viewer, ...body }),
    });
    answer = await response.json().catch(() => ({ ok: response.ok }));
    if (!response.ok && answer.ok === undefined) answer.ok = false;
  } catch (error) {
    answer = { ok: false, error: "The demo is not answering." };
  }
  if (!answer.ok) showToast(answer.error || "That did not work.");
  refreshSoon();
  return answer;
}

async function poll() {
  pollPipelines();
  const viewer = page.viewer;
  try {
    const response = await fetch(`/api/screen?as=${encodeURIComponent(viewer)}`);
    const text = await response.text();
    document.getElementById("connection").hidden = response.ok;
    // A switch of person while the request was out makes this answer stale.
    if (response.ok && viewer === page.viewer && text !== page.shownText) {
      page.shownText = text;
      render(JSON.parse(text));
    }
  } catch (error) {
    document.getElementById("connection").hidden = false;
  }
  page.pollTimer = setTimeout(poll, POLL_INTERVAL_MS);
}

// ---- forest's side: the release pipelines and the runner ----

async function pollPipelines() {
  try {
    const response = await fetch("/api/forest");
    if (!response.ok) return;
    const text = await response.text();
    if (text === page.pipelinesText) return;
    page.pipelinesText = text;
    renderPipelines(JSON.parse(text).releases);
  } catch (error) {
    // the connection notice is the Slack poll's job
  }
}

const STAGE_WORDS = {
  PENDING: "waiting", ACTIVE: "running", SUCCEEDED: "done", FAILED: "failed", CANCELLED: "cancelled",
};

function stageElement(release, stage) {
  const row = element("div", "stage");
  row.dataset.stage = stage.stage_id;
  let word = STAGE_WORDS[stage.status] || stage.status.toLowerCase();
  if (stage.approval_status === "AWAITING_APPROVAL") word = "plan awaits approval";
  row.appendChild(element("span", "stage-label", escapeHtml(stage.label)));
  const status = element("span", `stage-status ${stage.status}`, escapeHtml(word));
  row.appendChild(status);
  if (stage.can_finish) {
    const finish = element("button", "finish", escapeHtml(`Finish ${stage.label}`));
    finish.type = "button";
    finish.addEventListener("click", () => finishStage(release, stage, "succeeded"));
    const fail = element("button", "fail", "Fail");
    fail.type = "button";
    fail.setAttribute("aria-label", `Fail ${stage.label}`);
    fail.addEventListener("click", () => finishStage(release, stage, "failed"));
    row.append(finish, fail);
  }
  return row;
}

function renderPipelines(releases) {
  const list = document.getElementById("pipelines");
  const nodes = releases.map((release) => {
    const box = element("article", "pipeline");
    box.dataset.intent = release.release_intent_id;
    box.appendChild(element("div", "pipeline-title", escapeHtml(release.title)));
    const status = release.status === "ACTIVE" ? "in progress" : release.status.toLowerCase();
    box.appendChild(element("div", "pipeline-meta", escapeHtml(`${release.project} · ${status}`)));
    for (const stage of release.stages) box.appendChild(stageElement(release, stage));
    return box;
  });
  if (!nodes.length) nodes.push(element("p", "empty", "No releases yet."));
  list.replaceChildren(...nodes);
}

async function finishStage(release, stage, outcome) {
  page.pipelinesText = "";
  await post("/api/forest/finish", {
    release_intent_id: release.release_intent_id, stage_id: stage.stage_id, outcome,
  });
  pollPipelines();
}

function refreshSoon() {
  clearTimeout(page.pollTimer);
  page.pollTimer = setTimeout(poll, 50);
}

// ---- Slack's mrkdwn ----

function escapeHtml(text) {
  return String(text)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

// Slack escapes &, < and > in text; undo that before escaping for HTML.
function unescapeSlack(text) {
  return String(text).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function withEmoji(html) {
  return html.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
}

function nameOf(userId) {
  return (page.screen && page.screen.names[userId]) || userId;
}

function viewerId() {
  const me = page.screen && page.screen.people.find((p) => p.username === page.viewer);
  return me ? me.user_id : "";
}

function formatTime(seconds, withDate) {
  const when = new Date(Number(seconds) * 1000);
  const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return withDate ? `${when.toLocaleDateString()} ${time}` : time;
}

// Slack's date tokens ({time}, {date_short_pretty}, ...) in the viewer's zone and locale.
function slackDate(seconds, format) {
  const when = new Date(Number(seconds) * 1000);
  if (Number.isNaN(when.getTime())) return "";
  const day = (options) => when.toLocaleDateString([], options);
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86400000);
  const pretty = (options) => {
    if (when.toDateString() === today.toDateString()) return "Today";
    if (when.toDateString() === yesterday.toDateString()) return "Yesterday";
    return day(options);
  };
  const tokens = {
    time: formatTime(seconds, false),
    time_secs: when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }),
    date_num: day({ year: "numeric", month: "2-digit", day: "2-digit" }),
    date: day({ year: "numeric", month: "long", day: "numeric" }),
    date_short: day({ year: "numeric", month: "short", day: "numeric" }),
    date_long: day({ weekday: "long", year: "numeric", month: "long", day: "numeric" }),
    date_pretty: pretty({ year: "numeric", month: "long", day: "numeric" }),
    date_short_pretty: pretty({ year: "numeric", month: "short", day: "numeric" }),
    date_long_pretty: pretty({ weekday: "long", year: "numeric", month: "long", day: "numeric" }),
  };
  return format.replace(/\{(\w+)\}/g, (whole, name) => tokens[name] ?? whole);
}

function isoOf(seconds) {
  const when = new Date(Number(seconds) * 1000);
  return Number.isNaN(when.getTime()) ? "" : when.toISOString();
}

// One <…> token: a mention, a channel, a date, a special mention or a link.
function tokenHtml(token) {
  const bar = token.indexOf("|");
  const target = bar === -1 ? token : token.slice(0, bar);
  const label = bar === -1 ? "" : unescapeSlack(token.slice(bar + 1));
  if (target.startsWith("@")) {
    const id = target.slice(1);
    const mine = id === viewerId() ? " me" : "";
    return `<span class="mention${mine}">@${escapeHtml(nameOf(id) || label)}</span>`;
  }
  if (target.startsWith("#")) {
    return `<span class="mention">#${escapeHtml(label || target.slice(1))}</span>`;
  }
  if (target.startsWith("!date^")) {
    // Slack formats the date in the reader's own time zone, as the page shows message times.
    const [, seconds, format] = target.split("^");
    const shown = seconds && format ? slackDate(seconds, format) : label;
    const title = seconds ? formatTime(seconds, true) : "";
    return `<time datetime="${escapeHtml(isoOf(seconds))}" title="${escapeHtml(title)}">${escapeHtml(shown)}</time>`;
  }
  if (target.startsWith("!subteam^")) return `<span class="mention">${escapeHtml(label)}</span>`;
  if (target.startsWith("!")) return `<span class="mention">@${escapeHtml(target.slice(1))}</span>`;
  const url = unescapeSlack(target);
  const permalink = url.match(/^https:\/\/[^/]+\.slack\.com\/archives\/[A-Z0-9]+\/p(\d+)(\d{6})/);
  if (permalink) {
    // A link to a message of this workspace scrolls to it, as Slack does.
    const anchor = `#m-${permalink[1]}-${permalink[2]}`;
    return `<a href="${escapeHtml(anchor)}">${escapeHtml(label || "message")}</a>`;
  }
  if (/^(https?:\/\/|mailto:)/i.test(url)) {
    return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener">${escapeHtml(label || url)}</a>`;
  }
  return escapeHtml(label || url);
}

// *bold*, _italic_ and ~strike~ apply only at word edges, as in Slack: snake_case stays as is.
function applyStyle(html, marker, tag) {
  const m = marker === "*" ? "\\*" : marker;
  const pattern = new RegExp(
    `(^|[\\s(\\u0002>*_~"'])${m}(?=[^\\s${m}])([^${m}\\n]*?[^\\s${m}])${m}(?=$|[\\s).,!?:;"'\\u0001<*_~-])`,
    "gm",
  );
  return html.replace(pattern, `$1<${tag}>$2</${tag}>`);
}

function mrkdwnHtml(text) {
  const held = [];
  const hold = (html) => `\u0001${held.push(html) - 1}\u0002`;
  let html = String(text || "");
  html = html.replace(/```([\s\S]*?)```/g, (_, code) => hold(`<pre>${escapeHtml(unescapeSlack(code))}</pre>`));
  html = html.replace(/`([^`\n]+)`/g, (_, code) => hold(`<code>${escapeHtml(unescapeSlack(code))}</code>`));
  html = html.replace(/<([^<>\n]+)>/g, (_, token) => hold(tokenHtml(token)));
  html = withEmoji(escapeHtml(unescapeSlack(html)));
  html = applyStyle(html, "*", "strong");
  html = applyStyle(html, "_", "em");
  html = applyStyle(html, "~", "del");
  html = html.replace(/^&gt; ?(.*)$/gm, "<blockquote>$1</blockquote>");
  html = html.replace(/\n/g, "<br>");
  return html.replace(/\u0001(\d+)\u0002/g, (_, index) => held[Number(index)]);
}

function textHtml(textObject) {
  if (!textObject) return "";
  if (textObject.type === "mrkdwn") return mrkdwnHtml(textObject.text);
  const plain = escapeHtml(textObject.text);
  return textObject.emoji === false ? plain : withEmoji(plain);
}

// ---- Building elements ----

function element(tag, className, html) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (html !== undefined) node.innerHTML = html;
  return node;
}

function buttonElement(button, onPress) {
  const node = element("button", `btn ${button.style || ""}`.trim(), textHtml(button.text));
  node.type = "button";
  node.dataset.actionId = button.action_id || "";
  if (button.url) {
    node.addEventListener("click", () => window.open(button.url, "_blank", "noopener"));
    return node;
  }
  node.addEventListener("click", async () => {
    if (button.confirm && !(await confirmDialog(button.confirm))) return;
    node.disabled = true;
    node.classList.add("busy");
    try {
      await onPress(button);
    } finally {
      node.disabled = false;
      node.classList.remove("busy");
    }
  });
  return node;
}

// `place` says where a button press goes: {ts, ephemeral} for messages, null in modals.
function blocksElement(blocks, place) {
  const container = element("div", "blocks");
  for (const block of blocks || []) container.appendChild(blockElement(block, place));
  return container;
}

function pressFor(place) {
  return (button) => post("/api/click", {
    ts: place.ts, ephemeral: place.ephemeral, action_id: button.action_id,
  });
}

function blockElement(block, place) {
  switch (block.type) {
    case "header":
      return element("div", "block header", textHtml(block.text));
    case "section": {
      const section = element("div", "block section");
      const body = element("div", "section-body");
      if (block.text) body.appendChild(element("div", "section-text", textHtml(block.text)));
      if (block.fields) {
        const fields = element("div", "fields");
        for (const field of block.fields) fields.appendChild(element("div", "field", textHtml(field)));
        body.appendChild(fields);
      }
      section.appendChild(body);
      if (block.accessory && block.accessory.type === "button" && place) {
        section.appendChild(buttonElement(block.accessory, pressFor(place)));
      }
      return section;
    }
    case "context": {
      const context = element("div", "block context");
      for (const part of block.elements || []) {
        const html = part.type === "image" ? escapeHtml(part.alt_text || "") : textHtml(part);
        context.appendChild(element("span", "context-part", html));
      }
      return context;
    }
    case "actions": {
      const actions = element("div", "block actions");
      for (const part of block.elements || []) {
        if (part.type === "button" && place) actions.appendChild(buttonElement(part, pressFor(place)));
        else actions.appendChild(element("span", "unsupported", escapeHtml(`[${part.type}]`)));
      }
      return actions;
    }
    case "divider":
      return element("hr", "block divider");
    case "input":
      return inputElement(block);
    case "image":
      return element("div", "block image", escapeHtml(`[image: ${block.alt_text || ""}]`));
    case "rich_text":
      return element("div", "block rich-text", richTextHtml(block));
    default:
      return element("div", "block unsupported", escapeHtml(`[${block.type} block]`));
  }
}

// What a person typed, as Slack sends it beside the text: its elements are not escaped.
function richTextHtml(block) {
  const parts = [];
  for (const section of block.elements || []) {
    for (const part of section.elements || []) {
      if (part.type === "text") parts.push(escapeHtml(part.text || ""));
      else if (part.type === "link") {
        parts.push(`<a href="${escapeHtml(part.url || "")}" target="_blank" rel="noopener">${escapeHtml(part.text || part.url || "")}</a>`);
      } else if (part.type === "user") {
        const mine = part.user_id === viewerId() ? " me" : "";
        parts.push(`<span class="mention${mine}">@${escapeHtml(nameOf(part.user_id) || part.user_id)}</span>`);
      } else if (part.type === "channel") parts.push(`<span class="mention">#${escapeHtml(part.channel_id || "")}</span>`);
      else if (part.type === "broadcast") parts.push(`<span class="mention">@${escapeHtml(part.range || "")}</span>`);
      else if (part.type === "emoji") parts.push(escapeHtml(part.unicode ? String.fromCodePoint(...part.unicode.split("-").map((hex) => parseInt(hex, 16))) : `:${part.name}:`));
    }
  }
  return parts.join("");
}

function inputElement(block) {
  const wrapper = element("div", "block input");
  const field = block.element || {};
  const id = `input-${block.block_id}-${field.action_id}`;
  const label = element("label", "input-label", textHtml(block.label));
  label.htmlFor = id;
  if (block.optional) label.appendChild(element("span", "optional", " (optional)"));
  const control = document.createElement(field.multiline ? "textarea" : "input");
  control.id = id;
  control.className = "input-control";
  control.dataset.blockId = block.block_id;
  control.dataset.actionId = field.action_id;
  control.dataset.required = block.optional ? "" : "yes";
  if (field.placeholder) control.placeholder = field.placeholder.text;
  if (field.max_length) control.maxLength = field.max_length;
  if (field.initial_value) control.value = field.initial_value;
  wrapper.append(label, control);
  if (block.hint) wrapper.appendChild(element("div", "hint", textHtml(block.hint)));
  const error = element("div", "input-error");
  error.dataset.errorFor = block.block_id;
  wrapper.appendChild(error);
  return wrapper;
}

function avatar(userId, fromApp) {
  const name = nameOf(userId);
  const node = element("div", `avatar${fromApp ? " app" : ""}`, escapeHtml(name.slice(0, 1).toUpperCase()));
  node.setAttribute("aria-hidden", "true");
  return node;
}

function metaLine(userId, fromApp, ts, extraHtml) {
  const meta = element("div", "meta");
  meta.appendChild(element("span", "author", escapeHtml(nameOf(userId))));
  if (fromApp) meta.appendChild(element("span", "app-badge", "APP"));
  meta.appendChild(element("time", "sent", escapeHtml(formatTime(ts))));
  if (extraHtml) meta.appendChild(element("span", "meta-extra", extraHtml));
  return meta;
}

function messageElement(entry, inThread) {
  if (entry.kind === "ephemeral") return ephemeralElement(entry);
  const node = element("article", "message");
  node.id = `m-${entry.ts.replace(".", "-")}`;
  node.dataset.ts = entry.ts;
  node.dataset.user = entry.user;
  node.appendChild(avatar(entry.user, entry.from_app));
  const body = element("div", "message-body");
  body.appendChild(metaLine(entry.user, entry.from_app, entry.ts, entry.edited ? "(edited)" : ""));
  if (entry.blocks && entry.blocks.length) {
    body.appendChild(blocksElement(entry.blocks, { ts: entry.ts, ephemeral: false }));
  } else {
    body.appendChild(element("div", "text", mrkdwnHtml(entry.text)));
  }
  if (entry.reactions && entry.reactions.length) {
    const reactions = element("div", "reactions");
    for (const name of entry.reactions) {
      const reaction = element("span", "reaction", `${escapeHtml(EMOJI[name] || `:${name}:`)} 1`);
      reaction.title = `:${name}:`;
      reaction.dataset.reaction = name;
      reactions.appendChild(reaction);
    }
    body.appendChild(reactions);
  }
  if (!inThread && entry.replies) body.appendChild(threadElement(entry));
  node.appendChild(body);
  return node;
}

function ephemeralElement(entry) {
  const node = element("article", "message ephemeral");
  node.dataset.ts = entry.ts;
  const botId = page.screen.bot_user_id;
  node.appendChild(avatar(botId, true));
  const body = element("div", "message-body");
  body.appendChild(metaLine(botId, true, entry.ts, "Only visible to you"));
  if (entry.blocks && entry.blocks.length) {
    body.appendChild(blocksElement(entry.blocks, { ts: entry.ts, ephemeral: true }));
  } else {
    body.appendChild(element("div", "text", mrkdwnHtml(entry.text)));
  }
  const dismiss = element("button", "link-button dismiss", "Dismiss message");
  dismiss.type = "button";
  dismiss.addEventListener("click", () => post("/api/dismiss", { ts: entry.ts }));
  body.appendChild(dismiss);
  node.appendChild(body);
  return node;
}

function threadElement(entry) {
  const thread = element("section", "thread");
  thread.dataset.threadTs = entry.ts;
  const replies = entry.replies.filter((reply) => reply.kind === "message");
  if (replies.length) {
    const people = replies.length === 1 ? "1 reply" : `${replies.length} replies`;
    thread.appendChild(element("div", "thread-count", escapeHtml(people)));
  }
  for (const reply of entry.replies) thread.appendChild(messageElement(reply, true));
  const form = element("form", "reply-form");
  const input = element("input", "reply-input");
  input.placeholder = "Reply in thread…";
  input.setAttribute("aria-label", "Reply in thread");
  input.dataset.keep = `reply:${entry.ts}`;
  const send = element("button", "btn small", "Reply");
  send.type = "submit";
  form.append(input, send);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    const answer = await post("/api/message", { text, thread_ts: entry.ts });
    if (answer.ok) input.value = "";
  });
  thread.appendChild(form);
  return thread;
}

// ---- Rendering the screen ----

// Re-rendering replaces the timeline; what the person is typing must survive it.
function keptInputs(root) {
  const kept = new Map();
  for (const input of root.querySelectorAll("[data-keep]")) {
    kept.set(input.dataset.keep, {
      value: input.value,
      focused: input === document.activeElement,
      start: input.selectionStart,
      end: input.selectionEnd,
    });
  }
  return kept;
}

function restoreInputs(root, kept) {
  for (const input of root.querySelectorAll("[data-keep]")) {
    const before = kept.get(input.dataset.keep);
    if (!before || input === document.activeElement) continue;
    input.value = before.value;
    if (before.focused) {
      input.focus();
      input.setSelectionRange(before.start, before.end);
    }
  }
}

function render(screen) {
  page.screen = screen;
  renderPeople(screen);
  renderTimeline(screen);
  renderDirectMessages(screen);
  renderHome(screen);
  renderModal(screen);
  // Says whose view is on screen, for people and for tests switching person.
  document.body.dataset.viewer = screen.viewer;
}

function renderPeople(screen) {
  const me = screen.people.find((p) => p.username === screen.viewer);
  document.getElementById("role").textContent = me ? me.role : "";
  if (page.peopleShown) return;
  page.peopleShown = true;
  const select = document.getElementById("person");
  for (const person of screen.people) {
    const option = new Option(person.username, person.username);
    select.appendChild(option);
  }
  select.value = page.viewer;
  const authors = document.getElementById("release-author");
  for (const author of screen.release_authors) authors.appendChild(new Option(author, author));
}

// Entries that did not change keep their elements, so a click or typing in progress is not
// disturbed by an update elsewhere in the channel.
function renderTimeline(screen) {
  const timeline = document.getElementById("timeline");
  const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
  const scrollTop = timeline.scrollTop;
  const kept = keptInputs(timeline);
  const previous = page.entryNodes;
  page.entryNodes = new Map();
  const nodes = screen.timeline.map((entry) => {
    const key = `${entry.kind}:${entry.ts}`;
    const json = `${screen.viewer}:${JSON.stringify(entry)}`;
    const before = previous.get(key);
    const node = before && before.json === json ? before.node : messageElement(entry, false);
    page.entryNodes.set(key, { json, node });
    return node;
  });
  if (!nodes.length) nodes.push(element("p", "empty", "No messages yet."));
  placeChildren(timeline, nodes);
  restoreInputs(timeline, kept);
  timeline.scrollTop = atBottom ? timeline.scrollHeight : scrollTop;
}

// Puts `nodes` in order under `parent`, moving only what is out of place.
function placeChildren(parent, nodes) {
  nodes.forEach((node, index) => {
    if (parent.children[index] !== node) parent.insertBefore(node, parent.children[index] || null);
  });
  while (parent.children.length > nodes.length) parent.lastElementChild.remove();
}

function renderDirectMessages(screen) {
  const section = document.getElementById("direct-messages");
  section.hidden = !screen.direct_messages.length;
  const list = document.getElementById("dm-list");
  list.replaceChildren(...screen.direct_messages.map((entry) => messageElement(entry, true)));
}

// ---- Modals ----

// The Home tab shows the view the bot last published for the viewer (views.publish).
function renderHome(screen) {
  if (!page.homeOpen) return;
  const home = document.getElementById("app-home");
  if (!screen.home) {
    home.replaceChildren(element("p", "empty", "Opening the app's Home tab…"));
    return;
  }
  home.replaceChildren(...screen.home.blocks.map((block) => blockElement(block, null)));
}

function showPane(homeOpen) {
  page.homeOpen = homeOpen;
  document.getElementById("app-pane").hidden = !homeOpen;
  document.getElementById("channel-pane").hidden = homeOpen;
  document.getElementById("open-home").classList.toggle("active", homeOpen);
  document.getElementById("open-channel").classList.toggle("active", !homeOpen);
  // Slack tells the app each time a person opens its Home tab; the bot publishes it afresh.
  if (homeOpen) post("/api/home/open", {});
  if (page.screen) render(page.screen);
}

function renderModal(screen) {
  const layer = document.getElementById("modal-layer");
  const modal = screen.modal;
  const key = modal ? `${modal.id}:${JSON.stringify(modal.view)}` : "";
  if (key === page.modalKey) return; // unchanged: leave what the person is typing alone
  page.modalKey = key;
  layer.replaceChildren();
  layer.hidden = !modal;
  if (modal) layer.appendChild(modalElement(modal));
}

function modalElement(modal) {
  const view = modal.view;
  const dialog = element("form", "modal");
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-labelledby", "modal-title");
  dialog.dataset.viewId = modal.id;
  const header = element("div", "modal-header");
  const title = element("h2", "", textHtml(view.title));
  title.id = "modal-title";
  header.appendChild(title);
  dialog.appendChild(header);
  dialog.appendChild(element("div", "modal-body")).appendChild(blocksElement(view.blocks, null));
  const footer = element("div", "modal-footer");
  const close = element("button", "btn", textHtml(view.close || { type: "plain_text", text: "Cancel" }));
  close.type = "button";
  close.addEventListener("click", () => post("/api/modal/close", { view_id: modal.id }));
  footer.appendChild(close);
  if (view.submit) {
    const submit = element("button", "btn primary", textHtml(view.submit));
    submit.type = "submit";
    footer.appendChild(submit);
  }
  dialog.appendChild(footer);
  dialog.addEventListener("submit", (event) => {
    event.preventDefault();
    submitModal(dialog, modal.id);
  });
  return dialog;
}

async function submitModal(dialog, viewId) {
  const values = {};
  const errors = {};
  for (const control of dialog.querySelectorAll(".input-control")) {
    const text = control.value;
    // Slack checks required inputs itself before the app sees the submission.
    if (control.dataset.required && !text.trim()) {
      errors[control.dataset.blockId] = "Please complete this required field.";
    }
    values[control.dataset.blockId] = { ...(values[control.dataset.blockId] || {}), [control.dataset.actionId]: text };
  }
  if (!Object.keys(errors).length) {
    const submit = dialog.querySelector("button[type=submit]");
    if (submit) submit.disabled = true;
    const answer = await post("/api/modal/submit", { view_id: viewId, values });
    if (submit) submit.disabled = false;
    if (answer.closed) {
      document.getElementById("modal-layer").hidden = true;
      return;
    }
    Object.assign(errors, answer.errors || {});
  }
  for (const slot of dialog.querySelectorAll(".input-error")) {
    slot.textContent = errors[slot.dataset.errorFor] || "";
  }
}

function confirmDialog(confirm) {
  const layer = document.getElementById("confirm-layer");
  return new Promise((resolve) => {
    const dialog = element("div", "modal confirm");
    dialog.setAttribute("role", "alertdialog");
    dialog.appendChild(element("div", "modal-header")).appendChild(element("h2", "", textHtml(confirm.title)));
    dialog.appendChild(element("div", "modal-body", textHtml(confirm.text)));
    const footer = element("div", "modal-footer");
    const deny = element("button", "btn", textHtml(confirm.deny || { type: "plain_text", text: "Cancel" }));
    const accept = element("button", `btn ${confirm.style || "primary"}`, textHtml(confirm.confirm || { type: "plain_text", text: "Yes" }));
    const finish = (answer) => {
      layer.hidden = true;
      layer.replaceChildren();
      resolve(answer);
    };
    deny.addEventListener("click", () => finish(false));
    accept.addEventListener("click", () => finish(true));
    footer.append(deny, accept);
    dialog.appendChild(footer);
    layer.replaceChildren(dialog);
    layer.hidden = false;
  });
}

// ---- The page's own controls ----

function showToast(text) {
  const toast = document.getElementById("toast");
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(toast.hideTimer);
  toast.hideTimer = setTimeout(() => { toast.hidden = true; }, 5000);
}

function switchPerson(username) {
  page.viewer = username;
  localStorage.setItem(PERSON_KEY, username);
  page.shownText = "";
  page.modalKey = "";
  delete document.body.dataset.viewer;
  const authors = document.getElementById("release-author");
  if ([...authors.options].some((option) => option.value === username)) authors.value = username;
  refreshSoon();
}

async function send(text) {
  if (text.startsWith("/")) return post("/api/command", { text });
  return post("/api/message", { text });
}

function wireControls() {
  localStorage.setItem(PERSON_KEY, page.viewer);
  document.getElementById("person").addEventListener("change", (event) => switchPerson(event.target.value));
  document.getElementById("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("composer-input");
    const text = input.value.trim();
    if (!text) return;
    const answer = await send(text);
    if (answer.ok) input.value = "";
  });
  for (const shortcut of document.querySelectorAll(".shortcut")) {
    shortcut.addEventListener("click", () => send(shortcut.dataset.command));
  }
  document.getElementById("open-home").addEventListener("click", () => showPane(true));
  document.getElementById("open-channel").addEventListener("click", () => showPane(false));
  document.getElementById("release-form").addEventListener("submit", (event) => {
    event.preventDefault();
    post("/api/release", {
      author: document.getElementById("release-author").value,
      kind: document.getElementById("release-kind").value,
    });
    page.pipelinesText = "";
  });
}

wireControls();
poll();
