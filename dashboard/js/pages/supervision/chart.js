// Charts drawn as inline SVG: bars (grouped) and a line. No libraries.
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#c0392b", "#2e86c1", "#27ae60", "#e67e22", "#8e44ad", "#16a085", "#7f8c8d", "#d35400"];

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

// series: [{name, values: [..]}], labels: [..]
export function barChart({ labels, series, title, height = 240, format = (v) => String(v), max }) {
  const width = Math.max(360, labels.length * (18 * series.length + 16) + 70);
  const pad = { l: 44, r: 10, t: 28, b: 46 };
  const top = max ?? niceMax(Math.max(0, ...series.flatMap((x) => x.values.map((v) => v ?? 0))));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title || "" });
  if (title) svg.append(s("text", { x: pad.l, y: 16, class: "chart-title" }, title));
  const ih = height - pad.t - pad.b;
  const iw = width - pad.l - pad.r;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + ih - (ih * i) / 4;
    svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: "grid-line" }));
    svg.append(s("text", { x: pad.l - 4, y: y + 4, class: "axis", "text-anchor": "end" }, format((top * i) / 4)));
  }
  const group = iw / Math.max(1, labels.length);
  const bw = Math.max(4, Math.min(22, (group - 8) / series.length));
  labels.forEach((label, i) => {
    const x0 = pad.l + i * group + (group - bw * series.length) / 2;
    series.forEach((ser, k) => {
      const v = ser.values[i] ?? 0;
      const bh = (ih * v) / top;
      const rect = s("rect", { x: x0 + k * bw, y: pad.t + ih - bh, width: bw - 1, height: Math.max(0, bh), fill: COLORS[k % COLORS.length] });
      rect.append(s("title", {}, `${ser.name} · ${label}: ${format(v)}`));
      svg.append(rect);
    });
    svg.append(s("text", { x: pad.l + i * group + group / 2, y: height - pad.b + 14, class: "axis", "text-anchor": "middle" },
      String(label).length > 6 ? `${String(label).slice(0, 6)}…` : label));
  });
  legend(svg, series.map((x) => x.name), pad.l, height - 12);
  return svg;
}

export function lineChart({ labels, series, title, height = 220, format = (v) => String(v), max }) {
  const width = Math.max(360, labels.length * 48 + 70);
  const pad = { l: 44, r: 14, t: 28, b: 46 };
  const top = max ?? niceMax(Math.max(0, ...series.flatMap((x) => x.values.map((v) => v ?? 0))));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title || "" });
  if (title) svg.append(s("text", { x: pad.l, y: 16, class: "chart-title" }, title));
  const ih = height - pad.t - pad.b;
  const iw = width - pad.l - pad.r;
  const X = (i) => pad.l + (labels.length < 2 ? iw / 2 : (iw * i) / (labels.length - 1));
  const Y = (v) => pad.t + ih - (ih * (v ?? 0)) / top;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + ih - (ih * i) / 4;
    svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: "grid-line" }));
    svg.append(s("text", { x: pad.l - 4, y: y + 4, class: "axis", "text-anchor": "end" }, format((top * i) / 4)));
  }
  series.forEach((ser, k) => {
    const pts = ser.values.map((v, i) => `${X(i)},${Y(v)}`).join(" ");
    svg.append(s("polyline", { points: pts, fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 2 }));
    ser.values.forEach((v, i) => {
      const c = s("circle", { cx: X(i), cy: Y(v), r: 3, fill: COLORS[k % COLORS.length] });
      c.append(s("title", {}, `${ser.name} · ${labels[i]}: ${format(v)}`));
      svg.append(c);
    });
  });
  labels.forEach((l, i) => svg.append(s("text", { x: X(i), y: height - pad.b + 14, class: "axis", "text-anchor": "middle" }, l)));
  legend(svg, series.map((x) => x.name), pad.l, height - 12);
  return svg;
}

function legend(svg, names, x, y) {
  let cx = x;
  names.forEach((n, k) => {
    svg.append(s("rect", { x: cx, y: y - 9, width: 10, height: 10, fill: COLORS[k % COLORS.length] }));
    svg.append(s("text", { x: cx + 14, y, class: "axis" }, n));
    cx += 24 + n.length * 12;
  });
}
