// Consumer groups: the list with state, members and total lag.
import { api, enc, html, num, raw, render } from "../util.js";

export async function mount(el, _params, ctx) {
  render(el, html`<h1>Consumer groups</h1><div id="list"><p class="muted">Loading…</p></div>`);
  ctx.every(2000, async () => {
    const data = await api("GET", "/groups");
    render(el.querySelector("#list"), html`
      ${data.loading ? raw('<p class="muted">The coordinator is still loading groups.</p>') : ""}
      <table id="groups"><thead><tr><th>Group</th><th>State</th><th>Protocol type</th><th>Type</th>
        <th class="num">Members</th><th class="num">Lag</th></tr></thead>
      <tbody>${data.groups.map((g) => html`<tr data-group="${g.group_id}">
        <td><a href="#/groups/${enc(g.group_id)}">${g.group_id || "(empty id)"}</a></td><td>${state(g.state)}</td>
        <td>${g.protocol_type || "–"}</td><td>${g.type}</td><td class="num">${g.members}</td>
        <td class="num lag">${num(g.lag)}${g.lag_complete ? "" : "+"}</td></tr>`)}</tbody></table>
      ${data.groups.length ? "" : raw('<p class="muted">No groups coordinated by this broker.</p>')}`);
  });
}

export function state(s) {
  const kind = s === "Stable" ? "good" : s === "Empty" || s === "Dead" ? "" : "warn";
  return html`<span class="tag ${kind}">${s}</span>`;
}
