// The console of trainguard local: polls the platform once a second. Every request carries the
// token serve printed in the console's URL (#token=...), kept for this tab only.
"use strict";

const TOKEN_HEADER = "x-trainguard-console-token";
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) {
  sessionStorage.setItem("token", fromHash);
  history.replaceState(null, "", location.pathname);
}
const token = sessionStorage.getItem("token") ?? "";
let selected = sessionStorage.getItem("job");

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
};
const time = (s) => (s ? new Date(s * 1000).toLocaleTimeString() : "");
const ms = (n) => (n >= 10000 ? `${(n / 1000).toFixed(0)} s` : n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`);

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { [TOKEN_HEADER]: token } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.message ?? res.statusText);
  return body;
}

function renderList(jobs) {
  const rows = jobs.map((j) => {
    const tr = el("tr", { "data-job": j.name }, el("td", {}, j.name), el("td", { class: `status ${j.status}` }, j.status), el("td", {}, j.secondaryStatus), el("td", {}, new Date(j.created).toLocaleString()), el("td", {}, ms(j.durationMs)), el("td", {}, String(j.hosts)));
    if (j.name === selected) tr.classList.add("selected");
    tr.addEventListener("click", () => {
      selected = j.name;
      sessionStorage.setItem("job", selected);
      void refresh();
    });
    return tr;
  });
  $("#jobs tbody").replaceChildren(...rows);
}

function renderBudget(budget) {
  const box = $("#budget");
  box.hidden = budget === null;
  if (budget === null) return;
  const width = (n) => `${Math.max(0, Math.min(100, (n / budget.timeoutMs) * 100))}%`;
  const bar = box.querySelector(".bar");
  const parts = [];
  let at = 0;
  for (const p of budget.phases) {
    if (p.from > at) {
      const gap = el("div", { class: "phase gap" });
      gap.style.width = width(p.from - at);
      parts.push(gap);
    }
    const seg = el("div", { class: `phase ${p.name}`, title: `${p.name}: ${ms(p.to - p.from)}` });
    seg.style.width = width(p.to - p.from);
    parts.push(seg);
    at = p.to;
  }
  bar.replaceChildren(...parts);
  const used = budget.phases.at(-1)?.to ?? 0;
  const names = { save: "algorithm's save", package: "packaging", exit: "exit", upload: "upload" };
  box.querySelector(".legend").replaceChildren(
    el("span", {}, `SIGTERM at 0, SIGKILL at ${ms(budget.timeoutMs)}: used ${ms(used)} (${((used / budget.timeoutMs) * 100).toFixed(1)}%)`),
    ...budget.phases.map((p) => el("span", { "data-phase": p.name }, el("i", { class: p.name }), `${names[p.name]} ${ms(p.to - p.from)}`)),
  );
}

function renderDetail(d) {
  const job = d.describe;
  $("#detail").hidden = false;
  $("#job-name").textContent = job.TrainingJobName;
  const status = $("#job-status");
  status.textContent = `${job.TrainingJobStatus} / ${job.SecondaryStatus}`;
  status.className = `status ${job.TrainingJobStatus}`;
  $("#stop").hidden = job.TrainingJobStatus !== "InProgress";
  $("#failure").hidden = !job.FailureReason;
  $("#failure").textContent = job.FailureReason ?? "";
  renderBudget(d.budget);
  $("#timeline").replaceChildren(...job.SecondaryStatusTransitions.map((t) => el("li", { "data-status": t.Status }, el("b", {}, t.Status), el("span", {}, `${time(t.StartTime)}${t.EndTime ? ` - ${time(t.EndTime)} (${ms((t.EndTime - t.StartTime) * 1000)})` : " ..."}`), el("span", {}, t.StatusMessage))));
  const a = d.artifact;
  const verified = a === null ? "" : a.verified === undefined ? "checking..." : a.verified ? "verified against trainguard's manifest" : `not verified: ${(a.problems ?? []).join("; ")}`;
  $("#artifact").replaceChildren(...(a === null ? [el("dt", {}, "S3 URI"), el("dd", {}, "(none yet)")] : [el("dt", {}, "S3 URI"), el("dd", {}, a.uri), el("dt", {}, "Size"), el("dd", {}, `${a.bytes} bytes`), el("dt", {}, "sha256"), el("dd", {}, a.sha256), el("dt", {}, "Verified"), el("dd", { id: "verified" }, verified)]));
  $("#hps tbody").replaceChildren(...Object.entries(job.HyperParameters ?? {}).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v))));
  $("#logs").replaceChildren(...d.logs.map((l) => el("div", { class: "log", "data-host": l.host }, el("h4", {}, l.host), el("pre", {}, l.lines.join("")))));
  // A tail is read from its end.
  for (const pre of document.querySelectorAll("#logs pre")) pre.scrollTop = pre.scrollHeight;
}

async function refresh() {
  try {
    const { jobs } = await api("/console/jobs");
    renderList(jobs);
    if (selected && jobs.some((j) => j.name === selected)) renderDetail(await api(`/console/jobs/${encodeURIComponent(selected)}`));
    $("#conn").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("#conn").textContent = `cannot reach serve: ${err.message}`;
  }
}

$("#stop").addEventListener("click", async () => {
  $("#stop").hidden = true;
  try {
    await api(`/console/jobs/${encodeURIComponent(selected)}/stop`, { method: "POST" });
  } catch (err) {
    $("#conn").textContent = `stop refused: ${err.message}`;
  }
  void refresh();
});

void refresh();
setInterval(refresh, 1000);
