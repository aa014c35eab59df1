// Charts drawn as inline SVG, legible at any count: columns while the labels
// fit under them, horizontal bars with full labels beside them once there
// are many (30 townships) or long ones. A series names its own colour so
// that colours mean what they say (合格 green, 未直播录像 red). Hand-written
// rather than a vendored library: SVG text stays in the page, readable by
// people, screen readers and the tests (which check that labels never
// overlap), and the whole thing is smaller than any library's configuration.
const NS = "http://www.w3.org/2000/svg";
export const COLORS = { ok: "#3fb950", warn: "#d29922", bad: "#f85149", grave: "#a40e26", muted: "#8b949e",
  blue: "#58a6ff", purple: "#bc8cff", gold: "#e3b341" };
const CYCLE = [COLORS.blue, COLORS.gold, COLORS.purple, COLORS.ok, COLORS.bad, COLORS.muted];
const FONT = 13;

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A round top for the axis; counts (integers) get at least 4 so that the quarter ticks are whole numbers. */
function topOf(series, max) {
  if (max !== undefined) return max;
  const values = series.flatMap((x) => x.values.map((v) => v ?? 0));
  const top = niceMax(Math.max(0, ...values));
  return values.every(Number.isInteger) ? Math.max(4, Math.ceil(top / 4) * 4) : top;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

/** Width of a label in px at FONT size: CJK characters are square, others about half. */
function textWidth(str) {
  let w = 0;
  for (const ch of String(str)) w += /[\u2e80-\uffff]/.test(ch) ? FONT : FONT * 0.6;
  return w;
}

const color = (ser, k) => ser.color || CYCLE[k % CYCLE.length];

function frame(width, height, title) {
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart", role: "img", "aria-label": title || "" });
  if (title) svg.append(s("text", { x: 4, y: 16, class: "chart-title" }, title));
  return svg;
}

/** Legend rows that wrap inside `width`; returns the height used. */
function legend(svg, series, x, y, width) {
  let cx = x;
  let cy = y;
  series.forEach((ser, k) => {
    const w = 14 + textWidth(ser.name) + 18;
    if (cx + w > width && cx > x) { cx = x; cy += FONT + 8; }
    svg.append(s("rect", { x: cx, y: cy - 10, width: 11, height: 11, fill: color(ser, k), class: "legend-key" }));
    svg.append(s("text", { x: cx + 15, y: cy, class: "axis legend" }, ser.name));
    cx += w;
  });
  return cy - y + FONT + 8;
}

/** series: [{name, values: [..], color?}], labels: [..]. */
export function barChart({ labels, series, title, format = (v) => String(v), max, horizontal }) {
  const many = labels.length > 8 || labels.some((l) => textWidth(l) > 80);
  return (horizontal ?? many) ? hbars({ labels, series, title, format, max }) : columns({ labels, series, title, format, max });
}

function columns({ labels, series, title, format, max }) {
  const group = Math.max(18 * series.length + 16, ...labels.map((l) => textWidth(l) + 10));
  const width = Math.max(420, labels.length * group + 60);
  const pad = { l: 48, r: 10, t: 30, b: 30 };
  const legendH = legendHeight(series, width - pad.l);
  const height = 220 + pad.t + pad.b + legendH;
  const top = topOf(series, max);
  const svg = frame(width, height, title);
  const ih = 220;
  const iw = width - pad.l - pad.r;
  grid(svg, (i) => pad.t + ih - (ih * i) / 4, (y) => [pad.l, width - pad.r, y, y], (y, i) => [pad.l - 4, y + 4, "end", format((top * i) / 4)]);
  const gw = iw / Math.max(1, labels.length);
  const bw = Math.max(4, Math.min(22, (gw - 8) / series.length));
  labels.forEach((label, i) => {
    const x0 = pad.l + i * gw + (gw - bw * series.length) / 2;
    series.forEach((ser, k) => bar(svg, ser, k, label, format, x0 + k * bw, pad.t + ih - (ih * (ser.values[i] ?? 0)) / top, bw - 1,
      (ih * (ser.values[i] ?? 0)) / top, ser.values[i]));
    svg.append(s("text", { x: pad.l + i * gw + gw / 2, y: pad.t + ih + 18, class: "axis label", "text-anchor": "middle" }, label));
  });
  legend(svg, series, pad.l, pad.t + ih + pad.b + 12, width);
  return svg;
}

function hbars({ labels, series, title, format, max }) {
  const labelW = Math.min(220, Math.max(...labels.map(textWidth), 40)) + 10;
  const barH = series.length > 1 ? 9 : 14;
  const rowH = Math.max(FONT + 6, series.length * barH + 6);
  const width = Math.max(520, labelW + 420);
  const pad = { l: labelW, r: 50, t: 30, b: 24 };
  const legendH = legendHeight(series, width - 8);
  const ih = labels.length * rowH;
  const height = pad.t + ih + pad.b + legendH;
  const iw = width - pad.l - pad.r;
  const top = topOf(series, max);
  const svg = frame(width, height, title);
  grid(svg, (i) => pad.l + (iw * i) / 4, (x) => [x, x, pad.t, pad.t + ih], (x, i) => [x, pad.t + ih + 14, "middle", format((top * i) / 4)]);
  labels.forEach((label, i) => {
    const y0 = pad.t + i * rowH + (rowH - series.length * barH) / 2;
    svg.append(s("text", { x: pad.l - 6, y: pad.t + i * rowH + rowH / 2 + FONT / 2 - 2, class: "axis label", "text-anchor": "end" }, label));
    series.forEach((ser, k) => {
      const v = ser.values[i] ?? 0;
      bar(svg, ser, k, label, format, pad.l, y0 + k * barH, (iw * v) / top, barH - 1, ser.values[i]);
    });
  });
  legend(svg, series, 4, pad.t + ih + pad.b + 12, width);
  return svg;
}

function legendHeight(series, width) {
  let cx = 0;
  let rows = 1;
  for (const ser of series) {
    const w = 14 + textWidth(ser.name) + 18;
    if (cx + w > width && cx > 0) { rows += 1; cx = 0; }
    cx += w;
  }
  return rows * (FONT + 8) + 8;
}

function grid(svg, pos, line, tick) {
  for (let i = 0; i <= 4; i++) {
    const p = pos(i);
    const [x1, x2, y1, y2] = line(p);
    svg.append(s("line", { x1, x2, y1, y2, class: "grid-line" }));
    const [x, y, anchor, text] = tick(p, i);
    svg.append(s("text", { x, y, class: "axis tick", "text-anchor": anchor }, text));
  }
}

function bar(svg, ser, k, label, format, x, y, w, hgt, value) {
  const rect = s("rect", { x, y, width: Math.max(0, w), height: Math.max(0, hgt), fill: color(ser, k) });
  rect.append(s("title", {}, `${ser.name} · ${label}: ${format(value ?? 0)}`));
  svg.append(rect);
}

export function lineChart({ labels, series, title, format = (v) => String(v), max }) {
  const step = Math.max(48, ...labels.map((l) => textWidth(l) + 12));
  const width = Math.max(420, labels.length * step + 70);
  const pad = { l: 48, r: 16, t: 30, b: 30 };
  const legendH = legendHeight(series, width - pad.l);
  const ih = 180;
  const height = pad.t + ih + pad.b + legendH;
  const top = topOf(series, max);
  const svg = frame(width, height, title);
  const iw = width - pad.l - pad.r;
  const X = (i) => pad.l + (labels.length < 2 ? iw / 2 : (iw * i) / (labels.length - 1));
  const Y = (v) => pad.t + ih - (ih * (v ?? 0)) / top;
  grid(svg, (i) => pad.t + ih - (ih * i) / 4, (y) => [pad.l, width - pad.r, y, y], (y, i) => [pad.l - 4, y + 4, "end", format((top * i) / 4)]);
  series.forEach((ser, k) => {
    svg.append(s("polyline", { points: ser.values.map((v, i) => `${X(i)},${Y(v)}`).join(" "), fill: "none", stroke: color(ser, k), "stroke-width": 2 }));
    ser.values.forEach((v, i) => {
      const c = s("circle", { cx: X(i), cy: Y(v), r: 3, fill: color(ser, k) });
      c.append(s("title", {}, `${ser.name} · ${labels[i]}: ${format(v ?? 0)}`));
      svg.append(c);
    });
  });
  labels.forEach((l, i) => svg.append(s("text", { x: X(i), y: pad.t + ih + 18, class: "axis label", "text-anchor": "middle" }, l)));
  legend(svg, series, pad.l, pad.t + ih + pad.b + 12, width);
  return svg;
}
