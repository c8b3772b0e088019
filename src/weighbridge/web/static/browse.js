// weighbridge Browse tabs: compare runs and their reports, the inference log, spend and budgets,
// and the evidence each model has per task.
// Every request goes through app.js's api(), so it carries the page's credentials. Log texts
// are untrusted: they only ever reach the page through textContent. Amounts are printed as the
// server formats them (each record's "shown"), so the page says what `weighbridge spend` says;
// so are the evidence's figures, so the page says what `weighbridge evidence` says.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const browse = { logNext: null, evidenceAsked: 0 };

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const dash = (value) => (value == null || value === "" ? "–" : String(value));
const count = (value) => (value == null ? "–" : Number(value).toLocaleString("en-US"));
const when = (stamp) => stamp.slice(0, 19).replace("T", " ");

// columns: [{ head, cell(row) -> text or node, num }]; text columns are left-aligned.
function fillTable(table, columns, rows, total) {
  const cells = (row, tag) => columns.map((c) => {
    const value = c.cell(row);
    const node = el(tag, c.num ? {} : { class: "name" });
    node.append(value instanceof Node ? value : dash(value));
    return node;
  });
  table.replaceChildren(el("thead", {}, el("tr", {},
    ...columns.map((c) => el("th", { scope: "col", class: c.num ? "" : "name", text: c.head })))));
  table.append(el("tbody", {}, ...rows.map((row) => el("tr", {}, ...cells(row, "td")))));
  if (total) table.append(el("tfoot", {}, el("tr", {}, ...cells(total, "td"))));
}

// ---- compare runs ------------------------------------------------------------------------

async function loadRuns() {
  $("runs-status").textContent = "loading…";
  let data;
  try { data = await api("/arena/runs"); } catch (error) {
    $("runs-status").textContent = error.message;
    $("runs-table").replaceChildren();
    return;
  }
  $("runs-status").textContent = data.runs.length ? data.runs.length + " runs, newest first"
    : "No compare runs yet: 'weighbridge compare FILE' makes one.";
  fillTable($("runs-table"), [
    { head: "Run", cell: (r) => el("code", { text: r.id }) },
    { head: "Created (UTC)", cell: (r) => when(r.created_at) },
    { head: "Status", cell: (r) => r.status },
    { head: "File", cell: (r) => el("span", { title: r.source, text: r.file }) },
    { head: "Models", cell: (r) => r.models.join(", ") },
    { head: "Prompts", num: true, cell: (r) => count(r.prompts) },
    { head: "Answers", num: true, cell: (r) => count(r.answers) },
    { head: "Errors", num: true, cell: (r) => count(r.errors) },
    { head: "Report", cell: reportButton },
  ], data.runs);
}

function reportButton(run) {
  const button = el("button", { type: "button", class: "link", "aria-controls": "report", text: "View" });
  button.addEventListener("click", () => {
    $("report-title").textContent = "Report: " + run.id;
    $("report-open").href = run.report;
    $("report-frame").src = run.report;
    $("report").hidden = false;
    $("report").scrollIntoView();
  });
  return button;
}

// ---- the inference log -------------------------------------------------------------------

const LOG_FILTERS = ["model", "route", "status"];

async function loadLog(older) {
  const params = new URLSearchParams();
  for (const name of LOG_FILTERS) if ($("log-" + name).value) params.set(name, $("log-" + name).value);
  if (older) params.set("before", browse.logNext);
  let data;
  try { data = await api("/arena/log?" + params); } catch (error) {
    $("log-summary").textContent = error.message;
    return;
  }
  const table = $("log-table");
  if (!older) {
    for (const [name, values] of [["model", data.facets.models], ["route", data.facets.routes]]) {
      const select = $("log-" + name);
      const current = select.value;
      select.replaceChildren(el("option", { value: "", text: "Any" }),
        ...values.map((v) => el("option", { value: v, text: v })));
      select.value = current;
    }
    const head = ["Time (UTC)", "Route", "Model", "Provider", "Key", "In", "Out", "Cost", "Latency", "Status", "Texts"];
    const numeric = new Set(["In", "Out", "Cost", "Latency"]);
    table.replaceChildren(el("thead", {}, el("tr", {},
      ...head.map((h) => el("th", { scope: "col", class: numeric.has(h) ? "" : "name", text: h })))), el("tbody"));
  }
  table.tBodies[0].append(...data.records.map(logRow));
  browse.logNext = data.next;
  $("log-more").hidden = !data.next;
  const shown = table.tBodies[0].querySelectorAll("tr.record").length;
  $("log-summary").textContent = shown ? shown + " records, newest first" + (data.next ? " (more below)" : "")
    : "No records" + (params.toString() ? " match these filters." : " yet.");
}

function logRow(r) {
  const name = (text) => el("td", { class: "name", text: dash(text) });
  const num = (text) => el("td", { text: dash(text) });
  const route = name(r.route);
  if (r.route_reason) route.append(el("small", { text: r.route_reason }));
  const status = name(r.status);
  if (r.error) status.append(el("small", { class: "error", text: r.error }));
  const toggle = el("button", { type: "button", class: "link", "aria-expanded": "false", text: "Show" });
  const row = el("tr", { class: "record" }, name(when(r.created_at)), route, name(r.model), name(r.provider),
    name(r.key_name), num(count(r.prompt_tokens)), num(count(r.completion_tokens)), num(r.shown.cost_usd),
    num(r.latency_ms == null ? null : (r.latency_ms / 1000).toFixed(2) + " s"), status, el("td", { class: "name" }, toggle));
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") === "true";
    if (open) row.nextElementSibling.remove();
    else row.after(el("tr", { class: "detail" }, el("td", { class: "name", colspan: String(row.cells.length) }, logTexts(r))));
    toggle.setAttribute("aria-expanded", String(!open));
    toggle.textContent = open ? "Show" : "Hide";
  });
  return row;
}

function logTexts(r) {
  const facts = el("dl");
  for (const [term, value] of [["id", r.id], ["source", r.source], ["upstream model", r.upstream_model],
    ["weights", r.weight_sha256], ["finish", r.finish_reason], ["cost basis", r.cost_basis],
    ["first token", r.ttft_ms == null ? null : (r.ttft_ms / 1000).toFixed(2) + " s"], ["retention", r.retention]]) {
    facts.append(el("dt", { text: term }), el("dd", { text: dash(value) }));
  }
  return el("div", { class: "texts" }, facts,
    el("h4", { text: "Prompt" }), kept(r.retention, r.request, promptText),
    el("h4", { text: "Answer" }), kept(r.retention, r.response, (text) => el("pre", { text })));
}

// What the store holds: the text (retention full), its digest (hash) or nothing (none).
function kept(retention, stored, show) {
  if (stored == null) {
    return el("p", { class: "muted", text: retention === "full" ? "nothing recorded" : "not kept (log retention: " + retention + ")" });
  }
  if (retention === "hash") return el("p", {}, "hashed (log retention: hash): ", el("code", { text: stored }));
  return show(stored);
}

function promptText(stored) {
  let request = null;
  try { request = JSON.parse(stored); } catch (error) { return el("pre", { text: stored }); }
  if (!request || !Array.isArray(request.messages)) return el("pre", { text: JSON.stringify(request, null, 2) });
  const out = el("div");
  for (const message of request.messages) {
    const content = typeof message.content === "string" ? message.content : JSON.stringify(message.content, null, 2);
    out.append(el("div", { class: "message" }, el("b", { text: dash(message.role) }), el("pre", { text: dash(content) })));
  }
  return out;
}

// ---- spend and budgets -------------------------------------------------------------------

const SPEND_BY = [["model", "By model"], ["key", "By key"], ["route", "By route"], ["day", "By day (UTC)"]];
const SPEND_COLUMNS = [
  { head: "Requests", num: true, cell: (l) => count(l.requests) },
  { head: "OK", num: true, cell: (l) => count(l.ok) },
  { head: "Incomplete", num: true, cell: (l) => count(l.incomplete) },
  { head: "Errors", num: true, cell: (l) => count(l.errors) },
  { head: "In tokens", num: true, cell: (l) => count(l.prompt_tokens) },
  { head: "Out tokens", num: true, cell: (l) => count(l.completion_tokens) },
  { head: "Images", num: true, cell: (l) => count(l.images) },
  { head: "Cost", num: true, cell: (l) => l.shown.cost_usd },
];

async function loadSpend() {
  const params = new URLSearchParams();
  if ($("spend-since").value) params.set("since", $("spend-since").value);
  if ($("spend-until").value) params.set("until", $("spend-until").value);
  let reports;
  try {
    reports = await Promise.all(SPEND_BY.map(([by]) => api("/arena/spend?" + new URLSearchParams([...params, ["by", by]]))));
  } catch (error) {
    $("spend-summary").textContent = error.message;
    $("spend-groups").replaceChildren();
    return;
  }
  const total = reports[0].total;
  const span = (reports[0].since || "the start") + " to " + (reports[0].until || "now");
  $("spend-summary").textContent = "Total " + total.shown.cost_usd + " for " + count(total.requests) +
    " requests, " + span + " (UTC days)." + (total.unpriced ? " " + total.unpriced +
    " answered requests went to models without a price in the catalog: not in these totals." : "");
  $("spend-groups").replaceChildren(...reports.map((report, index) => spendGroup(report, SPEND_BY[index][1])));
  loadBudgets();
}

function spendGroup(report, title) {
  const id = "spend-by-" + report.by;
  const table = el("table", { "aria-labelledby": id });
  fillTable(table, [{ head: report.by, cell: (l) => l.group }, ...SPEND_COLUMNS], report.groups, report.total);
  const label = title + ": cost; the table below has the figures";
  const chart = !report.groups.length ? el("p", { class: "muted", text: "No requests." })
    : report.by === "day" ? dayChart(report.groups, label) : barChart(report.groups, label);
  return el("section", { class: "spend-group", id, "aria-label": title },
    el("h3", { text: title }), chart, el("div", { class: "scroll" }, table));
}

// One bar per group, longest for the costliest.
function barChart(lines, label) {
  const width = 420, row = 24, left = 130, right = 90;
  const max = Math.max(...lines.map((l) => Number(l.cost_usd)));
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${lines.length * row + 4}`, role: "img", "aria-label": label });
  lines.forEach((line, index) => {
    const middle = 2 + index * row + row / 2;
    const size = max > 0 ? (Number(line.cost_usd) / max) * (width - left - right) : 0;
    const name = line.group.length > 20 ? line.group.slice(0, 19) + "…" : line.group;
    chart.append(svg("g", {},
      svg("title", { text: line.group + ": " + line.shown.cost_usd }),
      svg("text", { class: "label", x: left - 6, y: middle, "text-anchor": "end", "dominant-baseline": "middle", text: name }),
      svg("rect", { class: "fill", x: left, y: middle - row / 2 + 4, width: size, height: row - 8 }),
      svg("text", { class: "value", x: left + size + 4, y: middle, "dominant-baseline": "middle", text: line.shown.cost_usd })));
  });
  return chart;
}

// A column per UTC day from the first to the last, days without requests included.
function dayChart(lines, label) {
  const byDay = new Map(lines.map((l) => [l.group, l]));
  const days = [];
  const last = Date.parse(lines[lines.length - 1].group + "T00:00:00Z");
  for (let t = Date.parse(lines[0].group + "T00:00:00Z"); t <= last; t += 86400000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  const width = 420, height = 170, top = 20, bottom = 22, step = (width - 16) / days.length;
  const costliest = lines.reduce((a, b) => (Number(b.cost_usd) > Number(a.cost_usd) ? b : a));
  const max = Number(costliest.cost_usd);
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label },
    svg("text", { class: "tick", x: 8, y: 12, text: "highest day " + costliest.shown.cost_usd }),
    svg("line", { class: "baseline", x1: 8, x2: width - 8, y1: height - bottom, y2: height - bottom }));
  const every = Math.ceil(days.length / 6);
  days.forEach((day, index) => {
    const line = byDay.get(day);
    const size = line && max > 0 ? (Number(line.cost_usd) / max) * (height - top - bottom) : 0;
    const x = 8 + index * step;
    const wide = Math.min(step * 0.8, 36);
    chart.append(svg("g", {},
      svg("title", { text: day + ": " + (line ? line.shown.cost_usd + ", " + line.requests + " requests" : "no requests") }),
      svg("rect", { class: "fill", x: x + (step - wide) / 2, y: height - bottom - size, width: wide, height: size })));
    if (index % every === 0 || index === days.length - 1) {
      chart.append(svg("text", { class: "tick", x: x + step / 2, y: height - 6, "text-anchor": "middle", text: day.slice(5) }));
    }
  });
  return chart;
}

async function loadBudgets() {
  let budgets;
  try { budgets = (await api("/arena/budgets")).budgets; } catch (error) {
    $("budgets-note").textContent = error.message;
    $("budgets-table").replaceChildren();
    return;
  }
  $("budgets-note").textContent = budgets.length ? "Burn rate: the last 7 days, or since the budget began."
    : "No budgets: 'weighbridge keys create --budget-usd' sets one.";
  fillTable($("budgets-table"), [
    { head: "Kind", cell: (b) => b.kind },
    { head: "Name", cell: (b) => b.name },
    { head: "Budget", num: true, cell: (b) => b.shown.budget_usd },
    { head: "Spent", num: true, cell: (b) => b.shown.spent_usd },
    { head: "Reserved", num: true, cell: (b) => b.shown.reserved_usd },
    { head: "Remaining", num: true, cell: (b) => b.shown.remaining_usd },
    { head: "Burn / day", num: true, cell: (b) => b.shown.burn_usd_per_day },
    { head: "Runs out", cell: (b) => b.runs_out },
  ], budgets);
}

// ---- evidence ----------------------------------------------------------------------------

const EVIDENCE_COLUMNS = [
  { head: "Task", cell: (r) => r.task },
  { head: "Model", cell: (r) => r.model },
  { head: "Weights", cell: (r) => el("span", { title: r.weights || "" }, r.shown.weights,
    r.shown.stale ? el("span", { class: "muted", text: " " + r.shown.stale }) : null) },
  { head: "Quality [95% CI]", num: true, cell: (r) => r.shown.quality },
  { head: "n", num: true, cell: (r) => r.shown.n },
  { head: "From", cell: (r) => r.shown.source },
  { head: "Arena [95% CI]", num: true, cell: (r) => r.shown.arena },
  { head: "Votes", num: true, cell: (r) => r.shown.votes },
  { head: "Latency p50", num: true, cell: (r) => r.shown.latency_p50_s },
  { head: "Cost / call", num: true, cell: (r) => r.shown.cost_per_call_usd },
];

async function loadEvidence() {
  const params = new URLSearchParams();
  const task = $("evidence-task").value;
  if (task) params.set("task", task);
  if ($("evidence-stale").checked) params.set("all", "1");
  const asked = ++browse.evidenceAsked;  // a slow answer to an older filter is dropped
  let data;
  try { data = await api("/arena/evidence?" + params); } catch (error) {
    if (asked !== browse.evidenceAsked) return;
    $("evidence-summary").textContent = error.message;
    $("evidence-table").replaceChildren();
    return;
  }
  if (asked !== browse.evidenceAsked) return;
  // The chosen task stays listed even where no row now names it (stale rows hidden, say).
  const tasks = task && !data.tasks.includes(task) ? [...data.tasks, task] : data.tasks;
  $("evidence-task").replaceChildren(el("option", { value: "", text: "All tasks" }),
    ...tasks.map((t) => el("option", { value: t, text: t })));
  $("evidence-task").value = task;
  const count = data.rows.length;
  $("evidence-summary").textContent = count
    ? (count === 1 ? "1 row" : count + " rows") + ", by task and then best quality first" : data.empty;
  if (data.rows.length) fillTable($("evidence-table"), EVIDENCE_COLUMNS, data.rows);
  else $("evidence-table").replaceChildren();
}

// ---- wiring ------------------------------------------------------------------------------

addMode("runs", "tab-runs", "runs", loadRuns);
addMode("log", "tab-log", "log", () => loadLog(false));
addMode("spend", "tab-spend", "spend", loadSpend);
addMode("evidence", "tab-evidence", "evidence", loadEvidence);
$("runs-refresh").addEventListener("click", loadRuns);
$("log-filter").addEventListener("submit", (event) => { event.preventDefault(); loadLog(false); });
for (const name of LOG_FILTERS) $("log-" + name).addEventListener("change", () => loadLog(false));
$("log-more").addEventListener("click", () => loadLog(true));
$("spend-filter").addEventListener("submit", (event) => { event.preventDefault(); loadSpend(); });
$("evidence-filter").addEventListener("submit", (event) => { event.preventDefault(); loadEvidence(); });
$("evidence-task").addEventListener("change", loadEvidence);
$("evidence-stale").addEventListener("change", loadEvidence);
