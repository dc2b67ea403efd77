// nlpsvc playground: plain JS, no build step, no third-party code, same-origin requests only.
// Everything the API or the URL gives is put in the page as text (textContent), never as HTML.
"use strict";

const TABS = ["score", "similar", "classify", "chat"];
const TOKEN_KEY = "nlpsvc.token";
const MODEL_KEY = "nlpsvc.model";
const DEEP_LINK_FIELD = { score: "text", similar: "word", classify: "text", chat: "message" };
const state = { sets: {}, model: null, history: [] };

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmt = (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));

// --- API -----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, error) {
    super(error.message || "request failed");
    this.status = status;
    this.code = error.code || "http_error";
    this.field = error.field || null;
  }
}

async function api(path, body) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const payload = Object.assign({}, body);
  if (state.model) payload.model = state.model;
  let response;
  try {
    response = await fetch(path, { method: "POST", headers, body: JSON.stringify(payload) });
  } catch (e) {
    throw new ApiError(0, { code: "network_error", message: String(e.message || e) });
  }
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    const error = data && data.error ? data.error : { message: response.statusText };
    throw new ApiError(response.status, error);
  }
  return data;
}

function showError(tab, error) {
  const box = $(tab + "-error");
  box.replaceChildren();
  if (!error) { box.hidden = true; return; }
  if (error instanceof ApiError) {
    box.append(el("strong", { text: (error.status ? error.status + " " : "") + error.code }),
      ": " + error.message);
    if (error.field) box.append(el("span", { class: "field", text: " (field: " + error.field + ")" }));
    if (error.status === 401) box.append(el("span", { class: "hint", text: " Enter an API token above." }));
  } else {
    box.append(el("strong", { text: "error" }), ": " + String(error.message || error));
  }
  box.hidden = false;
}

async function run(tab, result, work) {
  const panel = $("panel-" + tab);
  panel.setAttribute("aria-busy", "true");
  showError(tab, null);
  try {
    await work();
  } catch (e) {
    if (result) result.replaceChildren();
    showError(tab, e);
  } finally {
    panel.removeAttribute("aria-busy");
  }
}

// --- model sets ----------------------------------------------------------------------------------

async function loadModels() {
  const select = $("model-set");
  let data;
  try {
    const response = await fetch("/models", { headers: { Accept: "application/json" } });
    data = await response.json();
    if (!response.ok) throw new ApiError(response.status, data.error || {});
  } catch (e) {
    const box = $("global-error");
    box.textContent = "Could not list the models: " + (e.message || e);
    box.hidden = false;
    return;
  }
  state.sets = {};
  for (const m of data.models) (state.sets[m.model] = state.sets[m.model] || {})[m.kind] = m;
  const names = Object.keys(state.sets).sort();
  select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  const saved = sessionStorage.getItem(MODEL_KEY);
  state.model = names.includes(saved) ? saved : (data.default || names[0] || null);
  if (state.model) select.value = state.model;
  select.disabled = names.length < 2;
  describeSet();
}

function describeSet() {
  const kinds = state.sets[state.model] || {};
  const parts = Object.values(kinds).map((m) => m.kind + " " + m.version);
  $("model-kinds").textContent = parts.length ? "Serving: " + parts.join(" · ") : "No model loaded.";
  const kind = $("score-kind");
  const previous = kind.value;
  const options = [el("option", { value: "ngram", text: "n-gram" })];
  if (kinds.lstm) {
    options.push(el("option", { value: "lstm", text: "LSTM" }),
      el("option", { value: "mix", text: "mix (LSTM + n-gram)" }),
      el("option", { value: "compare", text: "compare side by side" }));
  }
  kind.replaceChildren(...options);
  const values = options.map((o) => o.value);
  kind.value = values.includes(previous) && previous !== "ngram" ? previous
    : (kinds.lstm ? "compare" : "ngram");
}

// --- tabs and deep links -------------------------------------------------------------------------

function selectTab(name, focus) {
  for (const tab of TABS) {
    const button = $("tab-" + tab);
    const active = tab === name;
    button.setAttribute("aria-selected", String(active));
    button.tabIndex = active ? 0 : -1;
    $("panel-" + tab).hidden = !active;
    if (active && focus) button.focus();
  }
}

function setLink(tab, value) {
  const field = DEEP_LINK_FIELD[tab];
  const hash = "#" + tab + (value ? "?" + new URLSearchParams({ [field]: value }).toString() : "");
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

function route() {
  const raw = location.hash.slice(1);
  const q = raw.indexOf("?");
  const tab = (q < 0 ? raw : raw.slice(0, q)).toLowerCase();
  if (!TABS.includes(tab)) { selectTab("score", false); return; }
  selectTab(tab, false);
  if (q < 0) return;
  const params = new URLSearchParams(raw.slice(q + 1));  // invalid escapes become U+FFFD
  const value = params.get(DEEP_LINK_FIELD[tab]);
  if (value === null) return;
  // The value only ever becomes a form field's value and a JSON string: the API validates it.
  if (tab === "score") { $("score-text").value = value; scoreRun(); }
  if (tab === "similar") { $("similar-word").value = value; similarRun(); }
  if (tab === "classify") { $("classify-text").value = value; classifyRun(); }
  if (tab === "chat") { $("chat-message").value = value; chatRun(); }
}

// --- Score ---------------------------------------------------------------------------------------

function tokenColour(lp) {
  if (lp === null || lp === undefined) return "hsl(0, 0%, 80%)";
  const x = Math.max(0, Math.min(1, 1 + lp / 5));  // log10 p in [-5, 0] -> [0, 1]
  return "hsl(" + Math.round(120 * x) + ", 70%, " + Math.round(82 - 8 * x) + "%)";
}

function scoreCard(data) {
  const r = data.results[0];
  const tokens = el("p", { class: "tokens" });
  for (const t of r.per_token || []) {
    let tip = "log10 p = " + fmt(t.log10_prob);
    if (data.kind !== "lstm" && t.ngram_order !== undefined) tip += " · n-gram order " + t.ngram_order;
    if (t.oov) tip += " · not in the vocabulary";
    const span = el("span", { class: "tok" + (t.oov ? " oov" : ""), title: tip, tabindex: 0,
      "aria-label": t.token + ": " + tip, text: t.token });
    span.style.backgroundColor = tokenColour(t.log10_prob);
    tokens.append(span, " ");
  }
  const rows = (r.per_token || []).map((t) => el("tr", {},
    el("td", { text: t.token }), el("td", { class: "num", text: fmt(t.log10_prob) }),
    el("td", { class: "num", text: data.kind === "lstm" ? "–" : (t.ngram_order ?? "–") }),
    el("td", { text: t.oov ? "yes" : "" })));
  const table = el("details", {}, el("summary", { text: "Per-token table" }),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "token" }),
      el("th", { text: "log10 p" }), el("th", { text: "order" }), el("th", { text: "OOV" }))),
    el("tbody", {}, ...rows)));
  return el("article", { class: "card", "data-kind": data.kind },
    el("h3", {}, data.kind, el("span", { class: "version", text: data.version })),
    el("dl", { class: "totals" },
      el("dt", { text: "log10 P" }), el("dd", { class: "total", text: fmt(r.log10_prob) }),
      el("dt", { text: "perplexity" }), el("dd", { class: "ppl", text: fmt(r.perplexity, 1) }),
      el("dt", { text: "tokens" }), el("dd", { text: r.tokens }),
      el("dt", { text: "OOV" }), el("dd", { text: r.oov })),
    tokens, table);
}

async function scoreRun() {
  const result = $("score-result");
  const text = $("score-text").value;
  setLink("score", text);
  await run("score", result, async () => {
    const choice = $("score-kind").value;
    const kinds = choice === "compare" ? ["ngram", "lstm", "mix"] : [choice];
    const answers = await Promise.all(kinds.map((kind) =>
      api("/score", { text, kind, per_token: true })));
    result.replaceChildren(el("div", { class: "cards" }, ...answers.map(scoreCard)));
  });
}

// --- Similar -------------------------------------------------------------------------------------

function words(value) {
  return value.split(",").map((w) => w.trim()).filter((w) => w);
}

function neighbourList(title, data) {
  const list = el("ol", { class: "bars" });
  for (const r of data.results) {
    const bar = el("span", { class: "bar" });
    bar.style.width = Math.max(0, r.score) * 100 + "%";
    list.append(el("li", {}, el("span", { class: "label", text: r.word }),
      el("span", { class: "track" }, bar), el("span", { class: "num", text: fmt(r.score) })));
  }
  return el("div", { class: "card" }, el("h3", { text: title }),
    data.oov ? el("p", { class: "hint", text: "Built from subwords: a word unseen in training." }) : null,
    list);
}

async function similarRun() {
  const result = $("similar-result");
  const word = $("similar-word").value;
  setLink("similar", word);
  await run("similar", result, async () => {
    const topn = Number($("similar-topn").value) || 10;
    const data = await api("/similar", { word, topn });
    result.replaceChildren(neighbourList("Nearest to “" + word + "”", data));
  });
}

async function analogyRun() {
  const result = $("similar-result");
  await run("similar", result, async () => {
    const positive = words($("analogy-positive").value);
    const negative = words($("analogy-negative").value);
    const data = await api("/similar", { positive, negative, topn: 10 });
    result.replaceChildren(neighbourList(positive.join(" + ") +
      (negative.length ? " − " + negative.join(" − ") : ""), data));
  });
}

async function pairRun() {
  const result = $("similar-result");
  await run("similar", result, async () => {
    const data = await api("/similar", { pairs: [[$("pair-a").value, $("pair-b").value]] });
    const r = data.results[0];
    result.replaceChildren(el("div", { class: "card" }, el("h3", { text: "Pair similarity" }),
      el("p", { class: "pair" }, r.words[0] + " ~ " + r.words[1] + ": ",
        el("strong", { class: "num", text: fmt(r.score) })),
      r.oov ? el("p", { class: "hint", text: "Built from subwords: a word unseen in training." }) : null));
  });
}

// --- Classify ------------------------------------------------------------------------------------

async function classifyRun() {
  const result = $("classify-result");
  const text = $("classify-text").value;
  setLink("classify", text);
  await run("classify", result, async () => {
    const body = { text, top_k: Number($("classify-topk").value) || 1 };
    const variant = document.querySelector("input[name=variant]:checked").value;
    if (variant) body.variant = variant;
    const data = await api("/classify", body);
    const r = data.results[0];
    const list = el("ol", { class: "bars" });
    for (const l of r.labels) {
      const bar = el("span", { class: "bar" });
      bar.style.width = l.prob * 100 + "%";
      list.append(el("li", {}, el("span", { class: "label", text: l.label }),
        el("span", { class: "track", role: "img", "aria-label": (l.prob * 100).toFixed(1) + "%" }, bar),
        el("span", { class: "num", text: (l.prob * 100).toFixed(1) + "%" })));
    }
    result.replaceChildren(el("div", { class: "card" },
      el("h3", {}, "Labels", el("span", { class: "version", text: "variant: " + data.variant })),
      r.empty ? el("p", { class: "hint", text: "No token left after tokenisation: the class prior." }) : null,
      list));
  });
}

// --- Chat ----------------------------------------------------------------------------------------

function chatRequest(message) {
  const body = { message, history: state.history.slice(),
    n_best: Number($("chat-nbest").value) || 1, max_len: Number($("chat-maxlen").value) || 20 };
  if ($("chat-sampling").checked) {
    body.sampling = { temperature: Number($("chat-temperature").value) || 1,
      top_k: Number($("chat-topk").value) || 0, top_p: Number($("chat-topp").value) || 1 };
  } else {
    body.beam = Number($("chat-beam").value) || 1;
    body.n_best = Math.min(body.n_best, body.beam);
  }
  return body;
}

async function chatRun() {
  const log = $("chat-log");
  const input = $("chat-message");
  const message = input.value;
  setLink("chat", message);
  await run("chat", null, async () => {
    const data = await api("/reply", chatRequest(message));
    log.append(el("li", { class: "turn user" }, el("span", { class: "who", text: "You" }), message));
    const alternatives = el("ol", { class: "alternatives" });
    for (const a of data.alternatives) {
      alternatives.append(el("li", {}, a.text, el("span", { class: "num", text: " " + fmt(a.score, 2) })));
    }
    log.append(el("li", { class: "turn bot" }, el("span", { class: "who", text: "Bot" }), data.reply,
      data.truncated ? el("p", { class: "hint", text: data.notice }) : null,
      data.alternatives.length > 1
        ? el("details", { open: true }, el("summary", { text: data.alternatives.length + " alternatives" }),
          alternatives)
        : null));
    for (const older of log.querySelectorAll("details[open]")) {
      if (older !== log.lastElementChild.querySelector("details")) older.open = false;
    }
    state.history.push(message, data.reply);
    input.value = "";
    input.focus();
  });
}

function clearChat() {
  state.history = [];
  $("chat-log").replaceChildren();
  showError("chat", null);
}

// --- wiring --------------------------------------------------------------------------------------

function onSubmit(id, handler) {
  $(id).addEventListener("submit", (event) => { event.preventDefault(); handler(); });
}

function init() {
  const token = $("token");
  token.value = sessionStorage.getItem(TOKEN_KEY) || "";
  token.addEventListener("input", () => {
    if (token.value) sessionStorage.setItem(TOKEN_KEY, token.value.trim());
    else sessionStorage.removeItem(TOKEN_KEY);
  });
  $("model-set").addEventListener("change", (event) => {
    state.model = event.target.value;
    sessionStorage.setItem(MODEL_KEY, state.model);
    describeSet();
    clearChat();  // a conversation is with one set's chatbot
  });
  const sampling = $("chat-sampling");
  const samplingChanged = () => {
    $("chat-beam").disabled = sampling.checked;  // sampling draws n-best, no beam
    for (const id of ["chat-temperature", "chat-topk", "chat-topp"]) $(id).disabled = !sampling.checked;
  };
  sampling.addEventListener("change", samplingChanged);
  samplingChanged();
  const tablist = document.querySelector("[role=tablist]");
  tablist.addEventListener("click", (event) => {
    const tab = event.target.closest("[role=tab]");
    if (!tab) return;
    selectTab(tab.dataset.tab, true);
    history.replaceState(null, "", "#" + tab.dataset.tab);
  });
  tablist.addEventListener("keydown", (event) => {
    const i = TABS.indexOf(document.activeElement.dataset.tab);
    if (i < 0) return;
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    const tab = TABS[(next + TABS.length) % TABS.length];
    selectTab(tab, true);
    history.replaceState(null, "", "#" + tab);
  });
  onSubmit("score-form", scoreRun);
  onSubmit("similar-form", similarRun);
  onSubmit("analogy-form", analogyRun);
  onSubmit("pair-form", pairRun);
  onSubmit("classify-form", classifyRun);
  onSubmit("chat-form", chatRun);
  $("chat-clear").addEventListener("click", clearChat);
  for (const area of document.querySelectorAll("textarea")) {
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        area.form.requestSubmit();
      }
    });
  }
  window.addEventListener("hashchange", route);
  document.body.dataset.ready = "models";
  return loadModels().then(() => { route(); document.body.dataset.ready = "true"; });
}

document.addEventListener("DOMContentLoaded", init);
