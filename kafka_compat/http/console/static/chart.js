// A small line chart on a canvas: one series per topic, the last N samples.
const COLORS = ["#2557d6", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
  "#17becf", "#7f7f7f", "#bcbd22"];

export function color(i) { return COLORS[i % COLORS.length]; }

// series: [{name, values: [number|null]}]; every series has `slots` values, newest last.
export function draw(canvas, series, slots, unit) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * ratio || canvas.height !== h * ratio) {
    canvas.width = w * ratio;
    canvas.height = h * ratio;
  }
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  const left = 64, right = 10, top = 10, bottom = 22;
  const pw = w - left - right, ph = h - top - bottom;
  let max = 0;
  for (const s of series) for (const v of s.values) if (v != null && v > max) max = v;
  max = niceCeil(max || 1);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6b7280";
  g.strokeStyle = "#e5e7eb";
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + ph - (ph * i) / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(left + pw, y); g.stroke();
    g.textAlign = "right"; g.textBaseline = "middle";
    g.fillText(short((max * i) / 4) + unit, left - 6, y);
  }
  g.textAlign = "left"; g.textBaseline = "top";
  g.fillText(`${slots} samples`, left, top + ph + 6);
  const x = (i) => left + (pw * i) / Math.max(slots - 1, 1);
  series.forEach((s, n) => {
    g.strokeStyle = color(n);
    g.lineWidth = 2;
    g.beginPath();
    let started = false;
    s.values.forEach((v, i) => {
      if (v == null) { started = false; return; }
      const y = top + ph - (ph * v) / max;
      if (started) g.lineTo(x(i), y); else { g.moveTo(x(i), y); started = true; }
    });
    g.stroke();
    // Dots too: a series with one sample so far has no line yet.
    g.fillStyle = color(n);
    s.values.forEach((v, i) => {
      if (v == null) return;
      g.beginPath();
      g.arc(x(i), top + ph - (ph * v) / max, 2.5, 0, 2 * Math.PI);
      g.fill();
    });
  });
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function short(v) {
  if (v >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return v % 1 ? v.toFixed(1) : String(v);
}
