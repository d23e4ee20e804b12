// Overview: the cluster (brokers, racks, controller, which broker is alive) and a live
// chart of messages and bytes per second per topic from the broker's own counters.
import { api, html, raw, render } from "../util.js";
import { color, draw } from "../chart.js";

const SLOTS = 60; // samples kept (at POLL_MS: two minutes)
const POLL_MS = 2000;
const METRICS = {
  msgs_in: ["Messages in /s", ""],
  msgs_out: ["Messages out /s (estimated)", ""],
  bytes_in: ["Bytes in /s", "B"],
  bytes_out: ["Bytes out /s", "B"],
};
// Module state: the samples survive a visit to another page.
const samples = []; // [{t, topics: {name: [messages_in, bytes_in, bytes_out]}}]
let metric = "msgs_in";

export async function mount(el, _params, ctx) {
  const info = await api("GET", "/cluster");
  render(el, html`
    <h1>Overview</h1>
    <div class="card">
      <dl class="kv">
        <dt>Cluster id</dt><dd>${info.cluster_id || "–"}</dd>
        <dt>Mode</dt><dd>${info.mode}</dd>
        <dt>Controller</dt><dd id="controller">broker ${info.controller_id}</dd>
        <dt>This broker</dt><dd>${info.node_id}</dd>
        <dt>Console writes</dt><dd>${info.writes.allowed ? "allowed" : "off: " + info.writes.reason}</dd>
      </dl>
    </div>
    <h2>Brokers</h2>
    <table id="brokers"><thead><tr><th>Id</th><th>Address</th><th>Rack</th><th>State</th><th>Role</th></tr></thead>
    <tbody>${info.brokers.map((b) => html`<tr class="${b.alive ? "" : "bad"}">
      <td>${b.id}${b.self ? raw(' <span class="tag">this broker</span>') : ""}</td>
      <td>${b.host ? `${b.host}:${b.port}` : "unknown"}</td><td>${b.rack ?? "–"}</td>
      <td>${raw(b.alive ? '<span class="tag good">alive</span>' : '<span class="tag bad">not alive</span>')}</td>
      <td>${b.controller ? "controller" : ""}</td></tr>`)}</tbody></table>
    <h2>Throughput per topic</h2>
    <div class="card">
      <div class="row">
        <label>Show <select id="metric">${Object.entries(METRICS).map(([k, [name]]) =>
          html`<option value="${k}" ${raw(k === metric ? "selected" : "")}>${name}</option>`)}</select></label>
        <span class="muted">every ${POLL_MS / 1000} s, from the broker's BrokerTopicMetrics counters;
        messages out are estimated from bytes out and the topic's bytes per message in</span>
      </div>
      <canvas id="chart" data-testid="chart"></canvas>
      <div id="legend" class="legend"></div>
    </div>`);
  el.querySelector("#metric").addEventListener("change", (e) => { metric = e.target.value; redraw(el); });
  ctx.every(POLL_MS, async () => {
    const stats = await api("GET", "/stats");
    samples.push({ t: stats.time_ms, topics: stats.topics });
    if (samples.length > SLOTS + 1) samples.shift();
    redraw(el);
  });
}

function rate(prev, cur, name) {
  const a = prev.topics[name], b = cur.topics[name];
  if (!a || !b) return null;
  const dt = (cur.t - prev.t) / 1000;
  if (dt <= 0) return null;
  const [mIn, bIn, bOut] = [0, 1, 2].map((i) => Math.max(b[i] - a[i], 0) / dt);
  if (metric === "msgs_in") return mIn;
  if (metric === "bytes_in") return bIn;
  if (metric === "bytes_out") return bOut;
  return b[1] > 0 ? (bOut * b[0]) / b[1] : 0; // bytes out / (bytes per message in)
}

function redraw(el) {
  const canvas = el.querySelector("#chart");
  if (!canvas) return;
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.topics)))].sort();
  const series = names.map((name) => {
    const values = [];
    for (let i = 1; i < samples.length; i++) values.push(rate(samples[i - 1], samples[i], name));
    while (values.length < SLOTS) values.unshift(null);
    return { name, values };
  });
  draw(canvas, series, SLOTS, METRICS[metric][1]);
  const last = (s) => s.values[s.values.length - 1];
  render(el.querySelector("#legend"), html`${series.map((s, i) =>
    html`<span style="--c:${color(i)}" data-topic="${s.name}">${s.name}: ${last(s) == null ? "–" : last(s).toFixed(1)}</span>`)}`);
}
