// One topic: partitions (leader, replicas, ISR, size, offsets), a message browser with
// live tail, producing a message, configs (alter), delete.
import { api, bytes, enc, errorText, html, num, pairs, raw, render, show, time } from "../util.js";
import { cluster } from "../app.js";

const TAIL_MS = 1000;
const MAX_ROWS = 500;

export async function mount(el, [name], ctx) {
  const path = `/topics/${enc(name)}`;
  let topic = await api("GET", path);
  const writes = cluster.writes.allowed ? "" : "disabled";
  const options = () => topic.partitions.map((p) => html`<option value="${p.partition}">${p.partition}</option>`);
  render(el, html`
    <h1>Topic <span id="topic-name">${name}</span> ${topic.internal ? raw('<span class="tag">internal</span>') : ""}</h1>
    <div class="row"><span class="muted">id ${topic.topic_id ?? "–"}</span>
      <button class="danger" id="delete" ${raw(writes)}>Delete topic</button></div>
    <div id="delete-result"></div>
    <h2>Partitions</h2><div id="partitions"></div>
    <h2>Messages</h2>
    <div class="card">
      <form id="browse" class="inline">
        <label>Partition <select name="partition">${options()}</select></label>
        <label>From <select name="from">
          <option value="end">the end (last N)</option><option value="beginning">the beginning</option>
          <option value="offset">an offset</option><option value="timestamp">a time</option></select></label>
        <label>Offset <input name="offset" type="number" min="0" value="0"></label>
        <label>Time <input name="time" type="datetime-local" step="1"></label>
        <label>N <input name="limit" type="number" min="1" max="500" value="50"></label>
        <label>Show values as <select name="format"><option value="auto">auto</option><option value="text">text</option>
          <option value="json">JSON</option><option value="hex">hex</option></select></label>
        <button type="submit">Load</button>
        <label style="flex-direction:row;gap:.3rem"><input type="checkbox" name="tail" id="tail"> live tail</label>
      </form>
      <div id="browse-status" class="muted"></div>
      <div id="messages"></div>
    </div>
    <div class="grid2">
      <div>
        <h2>Produce a message</h2>
        <div class="card">
          <form id="produce">
            <div class="row">
              <label>Partition <select name="partition">${options()}</select></label>
              <label>Acks <select name="acks"><option value="-1">all (-1)</option><option value="1">leader (1)</option></select></label>
              <label>Key <input name="key" placeholder="(none)"></label>
            </div>
            <label>Value <textarea name="value" rows="4"></textarea></label>
            <label>Headers (name=value per line) <textarea name="headers" rows="2"></textarea></label>
            <p><button type="submit" ${raw(writes)}>Produce</button></p>
          </form>
          <div id="produce-result"></div>
        </div>
      </div>
      <div>
        <h2>Configs</h2>
        <div class="card">
          <form id="alter" class="inline">
            <label>Name <input name="name" list="config-names" required></label>
            <label>Value <input name="value"></label>
            <button type="submit" ${raw(writes)}>Set</button>
            <button type="button" class="secondary" id="unset" ${raw(writes)}>Remove override</button>
          </form>
          <div id="alter-result"></div>
          <div id="configs"></div>
        </div>
      </div>
    </div>`);

  const partitionsEl = el.querySelector("#partitions");
  const drawPartitions = () => render(partitionsEl, html`
    <table id="partition-table"><thead><tr><th class="num">Partition</th><th>Leader</th><th>Replicas</th><th>ISR</th>
      <th>Under-replicated</th><th class="num">Size (here)</th><th class="num">Log start</th><th class="num">Log end</th><th class="num">High watermark</th></tr></thead>
    <tbody>${topic.partitions.map((p) => html`<tr class="${p.under_replicated || p.leader < 0 ? "bad" : ""}" data-partition="${p.partition}">
      <td class="num">${p.partition}</td>
      <td>${p.leader < 0 ? raw('<span class="tag bad">none</span>') : p.leader}${p.leader === topic.node_id ? raw(' <span class="tag">here</span>') : ""}</td>
      <td>${p.replicas.join(", ")}${p.offline_replicas.length ? raw(` <span class="tag bad">offline ${p.offline_replicas.join(", ")}</span>`) : ""}</td>
      <td>${p.isr.join(", ")}</td>
      <td>${raw(p.under_replicated ? '<span class="tag bad">yes</span>' : '<span class="tag good">no</span>')}</td>
      ${p.local && !p.local.offline ? html`<td class="num">${bytes(p.local.size)}</td><td class="num">${num(p.local.log_start_offset)}</td>
        <td class="num">${num(p.local.log_end_offset)}</td><td class="num">${num(p.local.high_watermark)}</td>`
        : html`<td colspan="4" class="muted">${p.local ? "replica offline here" : "no replica on this broker"}</td>`}
    </tr>`)}</tbody></table>`);
  const drawConfigs = () => render(el.querySelector("#configs"), html`
    <datalist id="config-names">${topic.configs.map((c) => html`<option value="${c.name}">`)}</datalist>
    <table id="config-table"><thead><tr><th>Name</th><th>Value</th><th>Source</th></tr></thead>
    <tbody>${topic.configs.map((c) => html`<tr data-config="${c.name}"><td>${c.name}</td><td>${c.value ?? "(sensitive)"}</td>
      <td>${raw(c.source === "topic" ? '<span class="tag warn">topic override</span>' : `<span class="muted">${c.source}</span>`)}</td></tr>`)}</tbody></table>`);
  drawPartitions();
  drawConfigs();
  ctx.every(3000, async () => {
    topic = await api("GET", path);
    drawPartitions();
  });

  // ---- the message browser ----
  const browse = el.querySelector("#browse");
  const status = el.querySelector("#browse-status");
  const list = el.querySelector("#messages");
  let shown = []; // the records in the table
  let next = null; // where the live tail goes on
  let tailing = false;
  let tailLoop = false; // the polling loop, started on the first check
  const drawMessages = () => {
    const format = browse.elements.format.value;
    render(list, html`<table id="message-table"><thead><tr><th class="num">Offset</th><th>Timestamp</th><th>Key</th><th>Value</th><th>Headers</th></tr></thead>
      <tbody>${shown.map((m) => {
        const [value, used] = show(m.value, format, m.value_size);
        const [key] = show(m.key, format === "hex" ? "hex" : "text", m.key_size);
        return html`<tr data-offset="${m.offset}"><td class="num">${m.offset}</td>
          <td title="${m.timestamp_type}">${time(m.timestamp)}</td>
          <td><pre class="value">${m.key == null ? raw('<span class="muted">null</span>') : key}</pre></td>
          <td><pre class="value" data-format="${used}">${m.value == null ? raw('<span class="muted">null</span>') : value}</pre></td>
          <td>${m.headers.map(([k, v]) => html`<div><b>${k}</b>: ${v == null ? "null" : show(v, "text")[0]}</div>`)}</td></tr>`;
      })}</tbody></table>${shown.length ? "" : raw('<p class="muted">No messages in this range.</p>')}`);
  };
  const query = (from) => {
    const f = browse.elements;
    const q = new URLSearchParams({ from, limit: f.limit.value || "50" });
    if (from === "offset") q.set("offset", f.offset.value || "0");
    if (from === "timestamp") {
      const t = f.time.value ? new Date(f.time.value).getTime() : Date.now();
      q.set("timestamp", String(t));
    }
    return `${path}/partitions/${f.partition.value}/messages?${q}`;
  };
  const load = async () => {
    try {
      const data = await api("GET", query(browse.elements.from.value));
      shown = data.messages;
      next = data.next_offset;
      status.textContent = `Partition ${data.partition} (${data.replica} replica): offsets ${num(data.log_start_offset)}–${num(data.high_watermark)}; `
        + `showing ${shown.length} from offset ${num(data.start_offset)}.`;
      drawMessages();
    } catch (err) {
      shown = [];
      list.innerHTML = "";
      status.innerHTML = html`<span class="error">${errorText(err)}</span>`.__raw;
    }
  };
  browse.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  browse.elements.format.addEventListener("change", drawMessages);
  browse.elements.partition.addEventListener("change", load);
  el.querySelector("#tail").addEventListener("change", (e) => {
    tailing = e.target.checked;
    if (!tailing || tailLoop) return;
    tailLoop = true;
    ctx.every(TAIL_MS, async () => {
      if (!tailing || next == null) return;
      const f = browse.elements;
      const data = await api("GET", `${path}/partitions/${f.partition.value}/messages?from=offset&offset=${next}&limit=${MAX_ROWS}`);
      if (data.messages.length) {
        shown = shown.concat(data.messages).slice(-MAX_ROWS);
        drawMessages();
      }
      next = data.next_offset;
      status.textContent = `Live tail of partition ${data.partition}: high watermark ${num(data.high_watermark)}, ${shown.length} shown.`;
    });
  });
  await load();

  // ---- produce ----
  el.querySelector("#produce").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const out = el.querySelector("#produce-result");
    try {
      const done = await api("POST", `${path}/messages`, {
        partition: Number(f.get("partition")),
        acks: Number(f.get("acks")),
        key: f.get("key") === "" ? null : f.get("key"),
        value: f.get("value"),
        headers: pairs(f.get("headers")),
      });
      render(out, html`<p class="ok" id="produced">Written to partition ${done.partition} at offset ${done.offset}.</p>`);
    } catch (err) {
      render(out, html`<p class="error">${errorText(err)}</p>`);
    }
  });

  // ---- configs ----
  const alter = async (body) => {
    const out = el.querySelector("#alter-result");
    try {
      topic.configs = (await api("PATCH", `${path}/configs`, body)).configs;
      drawConfigs();
      render(out, html`<p class="ok">Configs changed.</p>`);
    } catch (err) {
      render(out, html`<p class="error">${errorText(err)}</p>`);
    }
  };
  const alterForm = el.querySelector("#alter");
  alterForm.addEventListener("submit", (e) => {
    e.preventDefault();
    alter({ set: { [alterForm.elements.name.value]: alterForm.elements.value.value } });
  });
  el.querySelector("#unset").addEventListener("click", () => alter({ delete: [alterForm.elements.name.value] }));

  // ---- delete ----
  el.querySelector("#delete").addEventListener("click", async () => {
    if (!confirm(`Delete topic ${name} and all its messages?`)) return;
    const out = el.querySelector("#delete-result");
    try {
      await api("DELETE", path);
      location.hash = "#/topics";
    } catch (err) {
      render(out, html`<p class="error">${errorText(err)}</p>`);
    }
  });
}
