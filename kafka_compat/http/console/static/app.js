// The console's router: #/ (overview), #/topics, #/topics/<name>, #/groups,
// #/groups/<id>. Each view is a module with mount(el, params, ctx); ctx.every()
// polls while the view is shown and the tab is visible, and stops on navigation.
import { api, errorText } from "./util.js";
import * as overview from "./views/overview.js";
import * as topics from "./views/topics.js";
import * as topic from "./views/topic.js";
import * as groups from "./views/groups.js";
import * as group from "./views/group.js";

const ROUTES = [
  [/^\/?$/, overview, "overview"],
  [/^\/topics\/?$/, topics, "topics"],
  [/^\/topics\/([^/]+)\/?$/, topic, "topics"],
  [/^\/groups\/?$/, groups, "groups"],
  [/^\/groups\/([^/]+)\/?$/, group, "groups"],
];

let current = null; // the shown view's context

class ViewContext {
  constructor() { this.timers = []; this.alive = true; }
  // Run fn now and every ms while this view is shown (skipped while the tab is hidden).
  every(ms, fn) {
    const tick = async () => {
      if (!this.alive) return;
      if (!document.hidden) {
        try { await fn(); } catch (err) { console.error(err); }
      }
      if (this.alive) this.timers.push(setTimeout(tick, ms));
    };
    tick();
  }
  stop() { this.alive = false; this.timers.forEach(clearTimeout); }
}

export let cluster = null; // /api/cluster, loaded once per page

async function show() {
  const path = decodeURIComponent(location.hash.replace(/^#/, "").split("?")[0]);
  const el = document.getElementById("view");
  if (current) current.stop();
  current = new ViewContext();
  for (const [pattern, view, nav] of ROUTES) {
    const m = path.match(pattern);
    if (!m) continue;
    document.querySelectorAll("[data-nav]").forEach((a) =>
      a.classList.toggle("active", a.dataset.nav === nav));
    try {
      await view.mount(el, m.slice(1), current);
    } catch (err) {
      el.innerHTML = "";
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = errorText(err);
      el.append(p);
    }
    return;
  }
  el.textContent = "No such page.";
}

async function start() {
  try {
    cluster = await api("GET", "/cluster");
    document.getElementById("broker-label").textContent =
      `broker ${cluster.node_id} · ${cluster.mode}` + (cluster.cluster_id ? ` · cluster ${cluster.cluster_id}` : "");
    if (!cluster.writes.allowed) {
      const banner = document.getElementById("banner");
      banner.textContent = cluster.writes.reason;
      banner.hidden = false;
    }
  } catch (err) {
    document.getElementById("view").textContent = `The broker does not answer: ${errorText(err)}`;
    return;
  }
  window.addEventListener("hashchange", show);
  await show();
  document.body.dataset.ready = "true";
}

start();
