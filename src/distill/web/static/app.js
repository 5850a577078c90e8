// The page: one text, every served model side by side (POST /predict), and the logistic
// student run here in the browser on each keystroke (tfidf.js).
import { LogisticStudent } from "/static/tfidf.js";

const RAW_MESSAGE = `From: jdoe@astro.example.edu (Jane Doe)
Subject: Re: Shuttle launch slips again
Organization: Example University, Dept. of Astronomy
Lines: 12

In article <1993Apr5.120312.5678@nasa.example.gov> fred@nasa.example.gov writes:
> The launch slipped a week because of a faulty fuel sensor.

That sensor has failed on three orbiter flights now. NASA should replace
the whole hydrogen feed assembly before the next launch window, or the
lunar orbit mission slips again and the rocket stays on the pad.

--
Jane Doe                      "Per aspera ad astra"
Dept. of Astronomy, Example University`;

const PARAGRAPH = "The goalie stopped every shot in the third period and the team won the playoff game in overtime. ";
const EXAMPLES = [
  ["space", "The shuttle launch slipped a week: engineers found a leak near the orbiter's main engine."],
  ["graphics", "How do I render a textured polygon in OpenGL? The shader draws the image but the texture coordinates look wrong."],
  ["hockey", "Lemieux scored twice in the third period and the Penguins beat the Bruins 4-2 in the playoffs."],
  ["religion", "Is faith without evidence reasonable? The church fathers argued that belief in God needs no proof."],
  ["raw Usenet message", RAW_MESSAGE],
  ["long text (truncated)", PARAGRAPH.repeat(40)],
];

const $ = (id) => document.getElementById(id);
let served = [];
let student = null;
let answered = 0; // body[data-answered] counts finished submits, for tests to wait on

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function count(value) { // as the report writes a parameter count
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return String(value);
}

function ms(value) {
  return `${value < 1 ? value.toFixed(2) : value.toFixed(1)} ms`;
}

function bars(top) {
  const list = el("ul", "bars");
  for (const { label, prob } of top) {
    const item = el("li");
    const track = el("span", "track");
    const fill = el("span", "fill");
    fill.style.width = `${(100 * prob).toFixed(1)}%`;
    track.append(fill);
    item.append(el("span", "name", label), track, el("span", "prob", prob.toFixed(3)));
    item.title = `${label}: ${prob.toFixed(4)}`;
    list.append(item);
  }
  return list;
}

function card(result) {
  const info = served.find((model) => model.name === result.model) || {};
  const node = el("article", "card");
  node.dataset.model = result.model;
  const title = el("h2", "", result.model);
  title.append(el("span", "role", result.role));
  node.append(title, el("p", "label", result.label));
  node.append(el("p", "meta latency", `${result.runtime} · ${ms(result.latency_ms)}`));
  if (result.truncated) {
    node.append(el("p", "note truncated", `text truncated to ${result.max_length} tokens: the rest was not read`));
  }
  node.append(bars(result.top));
  const vs = result.vs_teacher;
  if (vs) {
    const line = el("p", "meta similarity", `vs teacher: cosine ${vs.cosine.toFixed(3)} · KL ${vs.kl.toFixed(3)} · `);
    line.append(el("span", vs.agrees ? "agree" : "disagree", vs.agrees ? "agrees ✓" : "disagrees ✗"));
    node.append(line);
  }
  const accuracy = info.test_acc == null ? "test acc n/a" : `test acc ${info.test_acc.toFixed(3)}`;
  const params = info.params == null ? "" : ` · ${count(info.params)} params`;
  node.append(el("p", "meta size", `${accuracy}${params} · ${info.size_mb.toFixed(2)} MB on disk`));
  return node;
}

function summarize(response) {
  const best = response.summary;
  if (!response.teacher) return "No teacher among these models: nothing to compare with.";
  if (!best) return "No model agrees with the teacher on this text.";
  if (best.model === response.teacher) return "";
  return `Fastest model agreeing with the teacher: ${best.model}, ${ms(best.latency_ms)}, ` +
    `${best.speedup.toFixed(0)}× faster than the teacher (${ms(best.teacher_latency_ms)}).`;
}

async function classify(event) {
  event.preventDefault();
  const button = $("submit");
  button.disabled = true;
  $("error").hidden = true;
  try {
    const reply = await fetch("/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: $("text").value }),
    });
    const body = await reply.json().catch(() => ({}));
    if (!reply.ok) throw new Error(body.detail || `HTTP ${reply.status}`);
    $("summary").textContent = summarize(body);
    $("results").replaceChildren(...body.results.map(card));
  } catch (error) {
    // the cards answered an earlier text: under this error they would pass for this text's answer
    $("summary").textContent = "";
    $("results").replaceChildren();
    $("error").textContent = error.message;
    $("error").hidden = false;
  } finally {
    button.disabled = false;
    document.body.dataset.answered = String(++answered);
  }
}

function inBrowser() {
  if (!student) return;
  const text = $("text").value;
  if (!text.trim()) {
    $("browser").textContent = `${student.name} is loaded in your browser: type to classify as you go.`;
    return;
  }
  const start = performance.now();
  const probs = student.predictProba(text);
  const elapsed = performance.now() - start;
  const best = probs.indexOf(Math.max(...probs));
  $("browser").replaceChildren("in your browser: ", el("strong", "", student.labels[best]),
    `, ${ms(elapsed)} (${student.name}, p=${probs[best].toFixed(3)})`);
}

async function start() {
  const reply = await fetch("/models");
  const info = await reply.json();
  served = info.models;
  $("served").textContent = `${served.length} models: ${served.map((model) => model.name).join(", ")}`;
  for (const [title, text] of EXAMPLES) {
    const button = el("button", "", title);
    button.type = "button";
    button.addEventListener("click", () => {
      $("text").value = text;
      inBrowser();
    });
    $("examples").append(button);
  }
  $("form").addEventListener("submit", classify);
  $("text").addEventListener("input", inBrowser);
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("form").requestSubmit();
  });
  if (info.browser_model) {
    student = new LogisticStudent(await (await fetch("/browser-model.json")).json());
    inBrowser();
  }
  document.body.dataset.ready = "true";
}

start();
