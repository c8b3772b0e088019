// weighbridge arena: hand-written, no build step, nothing loaded from another host.
// Model output is untrusted: it only ever reaches the page through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
// kind: what the arena compares (chat answers or pictures); boardKind: which votes the board counts.
const state = { mode: "play", kind: "chat", boardKind: "chat", models: [], runs: [], pair: null, prompt: "" };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

// The key is typed once and handed to the server, which answers with an HttpOnly session
// cookie: no script here can read the key back. The cookie alone does not change anything;
// every POST also echoes the session's CSRF token.
function headers(json) {
  const out = {};
  if (state.csrf) out["X-CSRF-Token"] = state.csrf;
  if (json) out["Content-Type"] = "application/json";
  return out;
}

async function api(path, body, method) {
  const init = body === undefined ? { method: method || "GET", headers: headers(false) }
    : { method: method || "POST", headers: headers(true), body: JSON.stringify(body) };
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  try { return await response.json(); } catch (e) { return null; }
}

// A refused request as an Error with the gateway's message (OpenAI's error shape) and status.
async function failure(response) {
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  const error = new Error((data && data.error && data.error.message) || response.statusText);
  error.status = response.status;
  return error;
}

// ---- a small, safe markdown subset: fenced code, inline code, paragraphs, lists ----------

function inline(parent, text) {
  const parts = text.split(/(`[^`\n]+`)/);
  for (const part of parts) {
    if (part.length > 2 && part.startsWith("`") && part.endsWith("`")) {
      parent.append(el("code", { text: part.slice(1, -1) }));
    } else if (part) {
      parent.append(document.createTextNode(part));
    }
  }
}

function renderMarkdown(target, text) {
  const out = document.createDocumentFragment();
  const lines = text.split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*```\s*([\w+-]*)/);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !/^\s*```/.test(lines[i])) { body.push(lines[i]); i += 1; }
      i += 1;
      const code = el("code", { text: body.join("\n") });
      if (fence[1]) code.setAttribute("data-lang", fence[1]);
      out.append(el("pre", {}, code));
      continue;
    }
    const bullet = /^\s*([-*+]|\d+[.)])\s+/;
    if (bullet.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = el(ordered ? "ol" : "ul");
      while (i < lines.length && bullet.test(lines[i])) {
        const item = el("li");
        inline(item, lines[i].replace(bullet, ""));
        list.append(item);
        i += 1;
      }
      out.append(list);
      continue;
    }
    if (!line.trim()) { i += 1; continue; }
    const para = [];
    while (i < lines.length && lines[i].trim() && !bullet.test(lines[i]) && !/^\s*```/.test(lines[i])) {
      para.push(lines[i]);
      i += 1;
    }
    const p = el("p");
    inline(p, para.join("\n"));
    out.append(p);
  }
  target.replaceChildren(out);
}

// ---- access ------------------------------------------------------------------------------

async function start() {
  try {
    const session = await api("/session");
    state.csrf = session.csrf;
    $("logout").hidden = !session.csrf;
    state.models = (await api("/arena/models")).models;
  } catch (error) {
    if (error.status === 401) { showLogin(""); return; }
    $("ask-status").textContent = "could not load the models: " + error.message;
  }
  $("login").hidden = true;
  for (const tab of document.querySelectorAll(".tab")) tab.disabled = false;
  renderModels();
  setMode(state.mode);
}

function showLogin(message) {
  for (const id of ["ask", "board"]) $(id).hidden = true;
  for (const tab of document.querySelectorAll(".tab")) tab.disabled = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("login-key").focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("login-key").value.trim();
  $("login-key").value = "";
  const response = await fetch("/session", { method: "POST", headers: { Authorization: "Bearer " + key } });
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).error.message; } catch (e) { /* keep the status */ }
    showLogin(message);
    return;
  }
  start();
});

$("logout").addEventListener("click", async () => {
  try { await api("/session", undefined, "DELETE"); } finally { location.reload(); }
});

// ---- modes -------------------------------------------------------------------------------

// Each mode's tab, the section it shows and what fills that section (browse.js adds its own).
const modes = {};

function addMode(name, tab, section, load) {
  modes[name] = { tab, section, load };
  $(tab).addEventListener("click", () => setMode(name));
}

function setMode(mode) {
  state.mode = mode;
  for (const [name, other] of Object.entries(modes)) {
    $(other.tab).setAttribute("aria-pressed", String(name === mode));
    $(other.section).hidden = other.section !== modes[mode].section;
  }
  $("task-row").hidden = mode !== "arena";
  $("kind-row").hidden = mode !== "arena";
  $("models-legend").textContent = mode === "arena" ? "Arena pool (two are drawn, names hidden)" : "Models (2 to 4)";
  showKind();
  if (modes[mode].load) modes[mode].load();
  else { $("columns").replaceChildren(); $("vote").hidden = true; }
}

addMode("play", "tab-play", "ask");
addMode("arena", "tab-arena", "ask");
addMode("board", "tab-board", "board", loadBoard);

// The playground is for chat; the arena compares chat answers or pictures, as its switch says.
function currentKind() { return state.mode === "arena" ? state.kind : "chat"; }

// A Chat/Image switch: two buttons, the one pressed says which kind is shown.
function kindSwitch(prefix, pick) {
  for (const kind of ["chat", "image"]) {
    $(prefix + kind).addEventListener("click", () => {
      for (const other of ["chat", "image"]) $(prefix + other).setAttribute("aria-pressed", String(other === kind));
      pick(kind);
    });
  }
}

function showKind() {
  const kind = currentKind();
  $("chat-only").hidden = $("chat-options").hidden = kind !== "chat";
  $("image-options").hidden = kind !== "image";
  if (state.shownKind !== kind) renderModels();
}

kindSwitch("kind-", (kind) => {
  state.kind = kind;
  $("columns").replaceChildren();
  $("vote").hidden = true;
  showKind();
});
kindSwitch("board-kind-", (kind) => { state.boardKind = kind; loadBoard(); });

function renderModels() {
  const box = $("models");
  box.replaceChildren();
  state.shownKind = currentKind();
  let checked = 0;
  const missing = el("ul");
  for (const model of state.models.filter((m) => m.modality === state.shownKind)) {
    if (!model.runnable) {
      missing.append(el("li", {}, el("b", { text: model.id }), " " + model.reason));
      continue;
    }
    const input = el("input", { type: "checkbox", value: model.id, id: "model-" + model.id });
    if (checked < 2) { input.checked = true; checked += 1; }
    box.append(el("label", { for: input.id }, input, el("span", { text: model.id })));
  }
  const why = $("unavailable");
  why.hidden = missing.children.length === 0;
  why.querySelector("summary").textContent = missing.children.length + " more models cannot run here (why)";
  why.querySelector("ul").replaceWith(missing);
}

function chosen() {
  return [...document.querySelectorAll("#models input:checked")].map((input) => input.value);
}

// ---- streaming columns -------------------------------------------------------------------

// The figures a column shows: a chat answer's as it streams, a picture's from the log.
const FIGURES = {
  chat: { ttft: "TTFT", tps: "tok/s", latency: "latency", tokens: "tokens", cost: "cost" },
  image: { latency: "latency / image", cost: "cost / image" },
};

function column(title, kind) {
  const figures = el("p", { class: "figures" });
  const labels = FIGURES[kind];
  const names = Object.keys(labels);
  const cells = {};
  for (const name of names) {
    cells[name] = el("b", { text: "–" });
    figures.append(el("span", { "data-figure": name }, labels[name] + " ", cells[name]));
  }
  const heading = el("h3", { text: title });
  const status = el("span", { class: "state", text: "waiting" });
  const answer = el("div", { class: "answer" });
  const node = el("article", { class: "column" }, heading, status, figures, answer);
  $("columns").append(node);
  return { node, heading, status, answer, cells };
}

function setFigures(run) {
  const now = run.end || performance.now();
  const c = run.col.cells;
  if (run.first) c.ttft.textContent = ((run.first - run.start) / 1000).toFixed(2) + " s";
  const tokens = run.usage ? run.usage.completion_tokens : run.pieces;
  c.tokens.textContent = String(tokens);
  if (run.first && now > run.first && tokens > 1) {
    c.tps.textContent = ((tokens - 1) / ((now - run.first) / 1000)).toFixed(1);
  }
  c.latency.textContent = ((now - run.start) / 1000).toFixed(2) + " s";
}

function finish(run, label, kind) {
  run.end = run.end || performance.now();
  run.col.status.textContent = label;
  run.col.status.className = "state " + kind;
  if (run.kind === "chat") setFigures(run);
}

async function stream(run, body, signal) {
  run.start = performance.now();
  run.col.status.textContent = "streaming";
  const response = await fetch("/v1/chat/completions", {
    method: "POST", headers: headers(true), body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") { run.complete = true; continue; }
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message || "the stream failed");
        if (chunk.id) run.id = chunk.id;
        if (chunk.usage) run.usage = chunk.usage;
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) {
          if (!run.first) run.first = performance.now();
          run.text += delta.content;
          run.pieces += 1;
          renderMarkdown(run.col.answer, run.text);
        }
      }
    }
    setFigures(run);
  }
  if (!run.complete) throw new Error("the stream ended early");
}

// One picture, shown from the bytes the answer carried: an <img> from a data: URL, no markup.
async function picture(run, prompt, signal) {
  run.start = performance.now();
  run.col.status.textContent = "drawing";
  const body = { model: run.model, prompt, n: 1, response_format: "b64_json" };
  if ($("quality").value) body.quality = $("quality").value;  // auto: each model's own default
  const response = await fetch("/v1/images/generations", {
    method: "POST", headers: headers(true), body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw await failure(response);
  run.id = response.headers.get("x-weighbridge-id");
  const answer = await response.json();
  const img = el("img", { alt: "Picture from " + run.col.heading.textContent });
  img.src = "data:image/" + (answer.output_format || "png") + ";base64," + answer.data[0].b64_json;
  await img.decode();
  run.col.answer.replaceChildren(img);
}

// The log's figures for a finished run: its cost (and, for pictures, its latency) per image.
async function loggedFigures(run) {
  for (let attempt = 0; attempt < 5 && run.id; attempt += 1) {
    let record;
    try { record = await api("/arena/inference/" + encodeURIComponent(run.id)); } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    const per = run.kind === "image" ? Math.max(record.pictures, 1) : 1;
    const cells = run.col.cells;
    if (record.cost_usd != null) {
      cells.cost.textContent = "$" + (record.cost_usd / per).toFixed(6);
      cells.cost.title = record.cost_basis || "";
    } else cells.cost.textContent = "n/a";
    if (run.kind === "image" && record.latency_ms != null) {
      cells.latency.textContent = (record.latency_ms / per / 1000).toFixed(2) + " s";
    }
    return;
  }
}

async function runAll(models, titles, blind) {
  const kind = currentKind();
  const controller = new AbortController();
  state.controller = controller;
  $("columns").replaceChildren();
  $("run").disabled = true;
  $("stop").disabled = false;
  const prompt = $("prompt").value;
  const messages = [];
  const system = $("system").value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push({ role: "user", content: prompt });
  state.runs = models.map((model, index) => ({
    model, kind, text: "", pieces: 0, col: column(titles[index], kind), start: 0, first: 0, end: 0,
  }));
  $("ask-status").textContent = "running " + models.length + " models";
  const ask = async (run) => {
    const body = {
      model: run.model, messages, stream: true, stream_options: { include_usage: true },
      temperature: Number($("temperature").value), max_tokens: Number($("max-tokens").value),
    };
    try {
      if (kind === "image") await picture(run, prompt, controller.signal);
      else await stream(run, body, controller.signal);
      finish(run, "done", "done");
      if (!blind) await loggedFigures(run);  // a blind answer's cost would hint at its model
    } catch (error) {
      if (error.name === "AbortError") finish(run, "stopped", "error");
      else {
        finish(run, "error", "error");
        run.col.answer.replaceChildren(el("p", { class: "error", text: error.message }));
        run.failed = true;
      }
    }
  };
  // Pictures one after the other: two pipelines drawing at once on one machine would slow
  // each other, and the latency per image the vote reveals would be the contention's.
  if (kind === "image") for (const run of state.runs) await ask(run);
  else await Promise.all(state.runs.map(ask));
  $("run").disabled = false;
  $("stop").disabled = true;
  $("ask-status").textContent = controller.signal.aborted ? "stopped" : "finished";
  return !controller.signal.aborted;
}

$("stop").addEventListener("click", () => { if (state.controller) state.controller.abort(); });

$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const models = chosen();
  if (state.mode === "play") {
    if (models.length < 2 || models.length > 4) { $("ask-status").textContent = "choose 2 to 4 models"; return; }
    await runAll(models, models);
    return;
  }
  if (models.length < 2) { $("ask-status").textContent = "choose at least 2 models for the pool"; return; }
  $("vote").hidden = true;
  $("vote-result").textContent = "";
  let pair;
  try { pair = await api("/arena/pair", { pool: models, mode: state.kind }); } catch (error) {
    $("ask-status").textContent = error.message; return;
  }
  state.pair = pair;
  state.prompt = $("prompt").value;
  const finished = await runAll([pair.a, pair.b], ["Model A", "Model B"], true);
  if (finished) {
    $("vote-title").textContent = state.kind === "image" ? "Which picture is better?" : "Which answer is better?";
    $("vote").hidden = false;
    for (const button of document.querySelectorAll("#vote button")) button.disabled = false;
    document.querySelector("#vote button").focus();
  }
});

for (const button of document.querySelectorAll("#vote button")) {
  button.addEventListener("click", async () => {
    const [a, b] = state.runs;
    for (const other of document.querySelectorAll("#vote button")) other.disabled = true;
    try {
      const vote = await api("/arena/vote", {
        pair: state.pair.pair, outcome: button.dataset.outcome, task: $("task").value,
        prompt: state.prompt, inference_a: a.id || null, inference_b: b.id || null,
      });
      a.col.heading.textContent = "Model A: " + vote.a;
      b.col.heading.textContent = "Model B: " + vote.b;
      $("vote-result").textContent = "Vote saved (" + vote.task + "): A was " + vote.a + ", B was " + vote.b + ".";
      await Promise.all([a, b].map(loggedFigures));
    } catch (error) {
      $("vote-result").textContent = "the vote was not saved: " + error.message;
      for (const other of document.querySelectorAll("#vote button")) other.disabled = false;
    }
  });
}

// ---- leaderboard -------------------------------------------------------------------------

function fmt(value, digits) { return value == null ? "–" : Number(value).toFixed(digits); }

async function loadBoard() {
  const task = $("board-task").value;
  const query = new URLSearchParams({ mode: state.boardKind });
  if (task) query.set("task", task);
  let board;
  try { board = await api("/arena/leaderboard?" + query); }
  catch (error) { $("board-summary").textContent = error.message; return; }
  const select = $("board-task");
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: "All tasks" }),
    ...board.tasks.map((t) => el("option", { value: t, text: t })));
  select.value = current;
  $("board-summary").textContent = board.votes + " votes" +
    (board.votes ? " (" + Object.entries(board.outcomes).map(([k, v]) => k + " " + v).join(", ") + ")" : "");
  // a picture's figures are per image (a call may make several), an answer's per call
  const image = board.modality === "image";
  const latency = image ? "median_latency_per_image_ms" : "median_latency_ms";
  const cost = image ? "cost_per_image_usd" : "cost_per_1k_prompts_usd";
  const head = ["#", "Model", "Rating", "95% CI", "Votes", "Win %",
    image ? "Median latency / image" : "Median latency", image ? "$ / image" : "$ / 1k prompts"];
  const table = $("board-table");
  table.replaceChildren(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h, class: h === "Model" ? "name" : "" })))));
  const body = el("tbody");
  for (const row of board.models) {
    body.append(el("tr", {},
      el("td", { text: String(row.rank) }), el("td", { class: "name", text: row.model }),
      el("td", { text: fmt(row.rating, 0) }), el("td", { text: fmt(row.low, 0) + "–" + fmt(row.high, 0) }),
      el("td", { text: String(row.votes) }), el("td", { text: fmt(100 * row.wins / row.votes, 0) }),
      el("td", { text: row[latency] == null ? "–" : fmt(row[latency] / 1000, 2) + " s" }),
      el("td", { text: row[cost] == null ? "–" : "$" + fmt(row[cost], image ? 6 : 4) })));
  }
  table.append(body);
  const names = board.models.map((row) => row.model);
  const matrix = $("board-matrix");
  matrix.replaceChildren(el("thead", {}, el("tr", {}, el("th", { text: "" }),
    ...names.map((n) => el("th", { scope: "col", text: n })))));
  const mbody = el("tbody");
  for (const rowName of names) {
    const cells = names.map((col) => {
      const cell = (board.matrix[rowName] || {})[col];
      return el("td", { text: cell ? fmt(100 * cell.win_rate, 0) + "% (" + cell.games + ")" : "–" });
    });
    mbody.append(el("tr", {}, el("th", { scope: "row", text: rowName }), ...cells));
  }
  matrix.append(mbody);
}

$("board-task").addEventListener("change", loadBoard);
$("board-refresh").addEventListener("click", loadBoard);

start();
