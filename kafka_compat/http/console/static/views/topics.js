// Topics: the list (partitions, replication, under-replicated, size) and creating one.
import { api, bytes, enc, errorText, html, num, pairs, raw, render } from "../util.js";
import { cluster } from "../app.js";

let showInternal = false;

export async function mount(el, _params, ctx) {
  render(el, html`
    <h1>Topics</h1>
    <div class="card">
      <form id="create" class="inline">
        <label>Name <input name="name" required placeholder="my-topic"></label>
        <label>Partitions <input name="partitions" type="number" min="1" placeholder="default"></label>
        <label>Replication factor <input name="replication_factor" type="number" min="1" placeholder="default"></label>
        <label>Configs (name=value per line) <textarea name="configs" rows="1" placeholder="retention.ms=86400000"></textarea></label>
        <button type="submit" ${raw(cluster.writes.allowed ? "" : "disabled")}>Create topic</button>
      </form>
      <div id="create-result"></div>
    </div>
    <label style="flex-direction:row;gap:.3rem"><input type="checkbox" id="internal" ${raw(showInternal ? "checked" : "")}> show internal topics</label>
    <div id="list"><p class="muted">Loading…</p></div>`);
  el.querySelector("#internal").addEventListener("change", (e) => { showInternal = e.target.checked; refresh(); });
  el.querySelector("#create").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const out = el.querySelector("#create-result");
    const body = { name: f.get("name").trim(), configs: Object.fromEntries(pairs(f.get("configs"))) };
    if (f.get("partitions")) body.partitions = Number(f.get("partitions"));
    if (f.get("replication_factor")) body.replication_factor = Number(f.get("replication_factor"));
    try {
      const made = await api("POST", "/topics", body);
      render(out, html`<p class="ok">Created <a href="#/topics/${enc(made.name)}">${made.name}</a> with ${made.partitions} partitions.</p>`);
      e.target.reset();
      refresh();
    } catch (err) {
      render(out, html`<p class="error">${errorText(err)}</p>`);
    }
  });
  const refresh = async () => {
    const data = await api("GET", "/topics");
    const rows = data.topics.filter((t) => showInternal || !t.internal);
    render(el.querySelector("#list"), html`
      <table id="topics"><thead><tr><th>Topic</th><th class="num">Partitions</th><th class="num">Replication</th>
        <th>Under-replicated</th><th class="num">Size${data.cluster ? " (here)" : ""}</th><th class="num">Messages</th></tr></thead>
      <tbody>${rows.map((t) => html`<tr data-topic="${t.name}" class="${t.under_replicated || t.offline ? "bad" : ""}">
        <td><a href="#/topics/${enc(t.name)}">${t.name}</a>${t.internal ? raw(' <span class="tag">internal</span>') : ""}</td>
        <td class="num">${t.partitions}</td><td class="num">${t.replication_factor}</td>
        <td>${raw(t.under_replicated ? `<span class="tag bad">${t.under_replicated} under-replicated</span>` : '<span class="tag good">no</span>')}
            ${raw(t.offline ? `<span class="tag bad">${t.offline} offline</span>` : "")}</td>
        <td class="num">${bytes(t.size)}</td><td class="num">${num(t.messages)}</td></tr>`)}</tbody></table>
      ${rows.length ? "" : raw('<p class="muted">No topics yet.</p>')}`);
  };
  ctx.every(3000, refresh);
}
