"use strict";
// composer studio page: sends the form, polls jobs, draws one card per variation. It only shows and sends.

const $ = (id) => document.getElementById(id);
const POST_HEADERS = { "x-composer-studio": "1" };
let options = null;

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json().catch(() => ({ error: `the server answered ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `the server answered ${r.status}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function fillSelect(select, values) {
  for (const v of values) select.append(el("option", { value: v }, v));
}

function showSeedKind() {
  const kind = $("seed-kind").value;
  for (const node of document.querySelectorAll("[data-kind]")) node.hidden = node.dataset.kind !== kind;
  $("seed-facts").textContent = "";
}

async function init() {
  try {
    options = await getJSON("/api/options");
  } catch (e) {
    showError(`cannot reach the studio server: ${e.message}`);
    return;
  }
  fillSelect($("seed-name"), options.seeds);
  $("seed-name").value = options.default_seed;
  fillSelect($("tune-type"), options.tune_types);
  fillSelect($("key"), options.keys);
  fillSelect($("meter"), options.meters);
  const d = options.defaults;
  $("temperature").value = d.temperature;
  $("n").value = d.n;
  $("bars").value = d.bars ?? "";
  if (!options.fluidsynth) {
    $("notice").textContent = options.fluidsynth_hint;
    $("notice").hidden = false;
  }
  $("seed-kind").addEventListener("change", showSeedKind);
  $("seed-file").addEventListener("change", () => { $("seed-kind").value = "upload"; showSeedKind(); checkSeed(); });
  $("seed-abc").addEventListener("input", () => { if ($("seed-kind").value !== "abc") { $("seed-kind").value = "abc"; showSeedKind(); } });
  $("seed-abc").addEventListener("change", checkSeed);
  $("form").addEventListener("submit", (ev) => { ev.preventDefault(); compose(formData()); });
  showSeedKind();
  loadHistory();
}

function formData() {
  const data = new FormData($("form"));
  const kind = $("seed-kind").value;
  if (kind !== "upload") data.delete("seed_file");
  if (kind !== "abc") data.delete("seed_abc");
  if (kind === "continue") data.set("continue_from", $("continue-label").dataset.path || "");
  if (!$("rng-lock").checked) data.set("rng_seed", "");
  return data;
}

async function checkSeed() {
  const kind = $("seed-kind").value;
  if (kind !== "upload" && kind !== "abc") return;
  const data = formData();
  try {
    const r = await post("/api/seed", data);
    showError("");
    $("seed-facts").textContent = `${r.title}: ${r.notes} notes, ${r.seconds} s` +
      (r.key ? `, ${r.key}` : "") + (r.meter ? `, ${r.meter}` : "") + (r.type ? `, ${r.type}` : "");
  } catch (e) {
    showError(e.message);
  }
}

async function post(url, data) {
  const r = await fetch(url, { method: "POST", body: data, headers: POST_HEADERS });
  const body = await r.json().catch(() => ({ error: `the server answered ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `the server answered ${r.status}`);
  return body;
}

async function compose(data) {
  let job;
  try {
    job = await post("/api/compose", data);
  } catch (e) {
    showError(e.message);
    return;
  }
  showError("");
  if (!$("rng-lock").checked) $("rng-seed").value = job.rng_seed;
  const line = el("p", { class: "job", "data-job": job.id }, "queued…");
  line.prepend(el("progress"));
  $("jobs").prepend(line);
  poll(job.id, line, data);
}

async function poll(id, line, data) {
  let status;
  try {
    status = await getJSON(`/api/jobs/${id}`);
  } catch (e) {
    line.remove();
    showError(e.message);
    return;
  }
  const text = {
    queued: `waiting (${status.ahead} ahead)`,
    composing: `composing from ${status.seed}… ${status.seconds} s`,
    rendering: `rendering ${status.rendered || 0}/${status.settings.n}… ${status.seconds} s`,
  }[status.stage];
  if (text) {
    line.lastChild.textContent = " " + text;
    setTimeout(() => poll(id, line, data), 400);
    return;
  }
  line.remove();
  if (status.stage === "failed") {
    showError(status.error);
    return;
  }
  $("results").prepend(runGroup(status.run, status.settings, status.seed, status.notes, data));
  loadHistory();
}

function runGroup(run, settings, seedLabel, notes, data) {
  const seed = settings ? settings.rng_seed : null;
  const head = el("h2", {}, `${run.folder} `,
    el("small", {}, `from ${seedLabel || "?"}` + (seed !== null && seed !== undefined ? ` · random seed ${seed}` : "")));
  const group = el("div", { class: "run" }, head);
  if (run.page) head.append(" ", el("a", { href: run.page, target: "_blank" }, "listening page"));
  for (const note of notes || []) group.append(el("p", { class: "note" }, note));
  run.variations.forEach((v, i) => group.append(card(v, i, run, seed, data)));
  return group;
}

function card(v, i, run, seed, data) {
  const node = el("article", { class: "variation", "data-name": v.name });
  const seedText = seed !== null && seed !== undefined ? `random seed ${seed} (variation ${i + 1} of ${run.variations.length})` : "random seed not recorded";
  node.append(el("h3", {}, v.name, " ", el("small", { class: "rng" }, seedText)));
  if (v.files.wav) node.append(el("audio", { controls: "", preload: "none", src: v.files.wav }));
  if (v.files.png) node.append(el("img", { src: v.files.png, alt: `piano roll of ${v.name}`, loading: "lazy" }));
  const notation = el("div", { class: "notation" });
  node.append(notation);
  if (window.ABCJS && v.abc) ABCJS.renderAbc(notation, v.abc, { responsive: "resize", scale: 0.8 });
  const links = el("p", { class: "links" });
  for (const kind of ["mid", "abc", "musicxml", "wav"]) {
    if (v.files[kind]) links.append(el("a", { class: `download-${kind}`, href: v.files[kind], download: "" }, `.${kind}`), " ");
  }
  links.append(el("button", { class: "continue", type: "button", onclick: () => continueFrom(v, run) }, "continue from this"), " ");
  if (data) links.append(el("button", { class: "again", type: "button", onclick: () => again(data) }, "again"));
  node.append(links);
  return node;
}

function continueFrom(v, run) {
  const label = $("continue-label");
  label.dataset.path = v.midi_path;
  label.textContent = `continuing ${run.folder}/${v.name}`;
  $("seed-kind").querySelector('option[value="continue"]').disabled = false;
  $("seed-kind").value = "continue";
  showSeedKind();
  compose(formData());
}

function again(data) {
  const copy = new FormData();
  for (const [k, v] of data.entries()) copy.append(k, v);
  copy.set("rng_seed", "");
  compose(copy);
}

async function loadHistory() {
  let runs;
  try {
    runs = await getJSON("/api/history");
  } catch (e) {
    return;
  }
  const list = $("history");
  list.replaceChildren();
  for (const r of runs) {
    const when = new Date(r.when * 1000).toLocaleString();
    const text = `${r.folder} — ${r.variations} variation(s), ${when}` + (r.seed ? `, from ${r.seed}` : "") +
      (r.rng_seed !== null && r.rng_seed !== undefined ? `, random seed ${r.rng_seed}` : "");
    list.append(el("li", {}, text, " ", el("button", { type: "button", onclick: () => showRun(r.folder) }, "show")));
  }
}

async function showRun(name) {
  try {
    const run = await getJSON(`/api/runs/${encodeURIComponent(name)}`);
    $("results").prepend(runGroup(run, run.settings, run.seed, [], null));
  } catch (e) {
    showError(e.message);
  }
}

document.addEventListener("DOMContentLoaded", init);
