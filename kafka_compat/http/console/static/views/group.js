// One consumer group: state, protocol, members and their assignments, committed
// offset, log end offset and lag per partition; reset offsets; delete.
import { api, enc, errorText, html, num, raw, render } from "../util.js";
import { cluster } from "../app.js";
import { state } from "./groups.js";

export async function mount(el, [id], ctx) {
  const path = `/groups/${enc(id)}`;
  const writes = cluster.writes.allowed ? "" : "disabled";
  render(el, html`
    <h1>Consumer group <span id="group-name">${id}</span></h1>
    <div id="summary"></div>
    <h2>Offsets and lag</h2><div id="offsets"></div>
    <h2>Members</h2><div id="members"></div>
    <h2>Reset offsets</h2>
    <div class="card">
      <p class="muted">Kafka resets a group's offsets only while it has no members (state Empty): stop its consumers first.</p>
      <form id="reset" class="inline">
        <label>To <select name="to"><option value="earliest">earliest</option><option value="latest">latest</option>
          <option value="offset">an offset</option><option value="timestamp">a time</option></select></label>
        <label>Topic <select name="topic"><option value="">every committed partition</option></select></label>
        <label>Offset <input name="offset" type="number" min="0" value="0"></label>
        <label>Time <input name="time" type="datetime-local" step="1"></label>
        <button type="button" class="secondary" id="preview">Preview</button>
        <button type="submit" ${raw(writes)}>Reset offsets</button>
      </form>
      <div id="reset-result"></div>
    </div>
    <p><button class="danger" id="delete" ${raw(writes)}>Delete group</button></p>
    <div id="delete-result"></div>`);
  let topics = [];
  const refresh = async () => {
    const g = await api("GET", path);
    render(el.querySelector("#summary"), html`<div class="card"><dl class="kv">
      <dt>State</dt><dd id="group-state">${state(g.state)}</dd>
      <dt>Protocol type</dt><dd>${g.protocol_type || "–"}</dd>
      <dt>Protocol</dt><dd>${g.protocol || "–"}</dd>
      <dt>Coordinator</dt><dd>broker ${g.coordinator}</dd>
      <dt>Total lag</dt><dd id="total-lag">${num(g.total_lag)}</dd></dl></div>`);
    render(el.querySelector("#offsets"), html`<table id="offset-table"><thead><tr><th>Topic</th><th class="num">Partition</th>
      <th class="num">Committed</th><th class="num">Log end</th><th class="num">Lag</th><th>Member</th></tr></thead>
      <tbody>${g.partitions.map((p) => html`<tr data-tp="${p.topic}-${p.partition}"><td><a href="#/topics/${enc(p.topic)}">${p.topic}</a></td>
        <td class="num">${p.partition}</td><td class="num">${num(p.committed)}</td><td class="num">${num(p.log_end_offset)}</td>
        <td class="num lag">${num(p.lag)}</td><td>${p.member_id ?? "–"}</td></tr>`)}</tbody></table>`);
    render(el.querySelector("#members"), g.members.length ? html`<table id="member-table"><thead><tr><th>Member</th><th>Client id</th>
      <th>Host</th><th>Assignment</th></tr></thead><tbody>${g.members.map((m) => html`<tr><td>${m.member_id}
        ${m.group_instance_id ? raw(`<span class="tag">static</span>`) : ""}</td><td>${m.client_id}</td><td>${m.host}</td>
        <td>${m.assignment.map((a) => html`<div>${a.topic}: ${a.partitions.join(", ")}</div>`)}</td></tr>`)}</tbody></table>`
      : html`<p class="muted">No members.</p>`);
    const names = [...new Set(g.partitions.map((p) => p.topic))].sort();
    if (names.join() !== topics.join()) {
      topics = names;
      const select = el.querySelector("#reset").elements.topic;
      const chosen = select.value;
      render(select, html`<option value="">every committed partition</option>${names.map((t) => html`<option value="${t}">${t}</option>`)}`);
      select.value = chosen;
    }
  };
  ctx.every(2000, refresh);

  const form = el.querySelector("#reset");
  const reset = async (dryRun) => {
    const f = form.elements;
    const body = { to: f.to.value, dry_run: dryRun };
    if (f.topic.value) body.topic = f.topic.value;
    if (f.to.value === "offset") body.offset = Number(f.offset.value || 0);
    if (f.to.value === "timestamp") body.timestamp = f.time.value ? new Date(f.time.value).getTime() : Date.now();
    const out = el.querySelector("#reset-result");
    try {
      const done = await api("POST", `${path}/reset-offsets`, body);
      render(out, html`<p class="ok">${done.committed ? "Offsets reset:" : "Would reset to:"}</p>
        <table><tbody>${done.offsets.map((o) => html`<tr><td>${o.topic}</td><td class="num">${o.partition}</td><td class="num">${num(o.offset)}</td></tr>`)}</tbody></table>`);
      if (done.committed) refresh();
    } catch (err) {
      render(out, html`<p class="error" id="reset-error">${errorText(err)}</p>`);
    }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); reset(false); });
  el.querySelector("#preview").addEventListener("click", () => reset(true));
  el.querySelector("#delete").addEventListener("click", async () => {
    if (!confirm(`Delete group ${id} and its committed offsets?`)) return;
    try {
      await api("DELETE", path);
      location.hash = "#/groups";
    } catch (err) {
      render(el.querySelector("#delete-result"), html`<p class="error">${errorText(err)}</p>`);
    }
  });
}
