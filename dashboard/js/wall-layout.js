// Sizing the dense wall (全览): township panels of equal width, k per row,
// each a grid of c columns of tiles tw x th, the largest tiles for which
// every panel fits the area. Pure functions: the numbers here are the ones
// css/views.css lays out (.wall.dense), so a fit here is a fit on screen.

export const DENSE = {
  gap: 3,          // px between tiles
  pad: 4,          // panel padding
  border: 1,       // panel border
  panelGap: 6,     // px between panels
  head: 20,        // panel header height
  aspect: 0.66,    // tile height / width, at least
  maxAspect: 0.9,  // at most, when there is height to spare
  minW: 56,        // smallest tile the dense layout will draw
  autoMinW: 96,    // "auto" picks dense only when tiles are at least this wide
  maxW: 320,
  thumbMin: 36,    // px of picture height worth showing
};

/** Font size (px) of a dense tile `tw` wide. */
export function denseFont(tw) { return Math.max(11, Math.min(16, Math.round(tw / 10))); }

/** Height of one panel holding `n` tiles in `c` columns. */
function panelHeight(n, c, th, headed) {
  const rows = Math.max(1, Math.ceil(n / c));
  return 2 * (DENSE.pad + DENSE.border) + (headed ? DENSE.head + DENSE.gap : 0) + rows * (th + DENSE.gap) - DENSE.gap;
}

/** Total height of the panels for `counts` (tiles per group) laid out k per row. */
export function denseHeight(counts, k, c, th, headed) {
  let total = 0;
  for (let i = 0; i < counts.length; i += k) {
    let row = 0;
    for (let j = i; j < Math.min(i + k, counts.length); j++) row = Math.max(row, panelHeight(counts[j], c, th, headed));
    total += row + (i ? DENSE.panelGap : 0);
  }
  return total;
}

/** Tiles taller than the aspect asks for (up to square-ish) where the
 * panels would leave the bottom of the screen empty: more picture. */
function stretch(counts, k, c, th, tw, h, headed) {
  let rows = 0;
  let panelRows = 0;
  for (let i = 0; i < counts.length; i += k) {
    let r = 0;
    for (let j = i; j < Math.min(i + k, counts.length); j++) r = Math.max(r, Math.max(1, Math.ceil(counts[j] / c)));
    rows += r;
    panelRows += 1;
  }
  const chrome = 2 * (DENSE.pad + DENSE.border) + (headed ? DENSE.head + DENSE.gap : 0);
  const room = Math.floor((h - panelRows * (chrome - DENSE.gap) - (panelRows - 1) * DENSE.panelGap) / rows) - DENSE.gap;
  const taller = Math.min(room, Math.round(tw * DENSE.maxAspect));
  return Math.max(th, taller);
}

/** The largest tiles that fit `counts` into w x h: {tw, th, c, k, fits}. */
export function fitDense(counts, w, h, headed) {
  const groups = Math.max(1, counts.length);
  const list = counts.length ? counts : [0];
  const inner = 2 * (DENSE.pad + DENSE.border);
  let last = null;
  for (let tw = DENSE.maxW; tw >= DENSE.minW; tw -= 2) {
    const th = Math.round(tw * DENSE.aspect);
    let best = null;
    // Of the panel arrangements that fit, the one leaving the tallest tiles.
    for (let k = 1; k <= groups; k++) {
      const pw = Math.floor((w - (k - 1) * DENSE.panelGap) / k);
      const c = Math.floor((pw - inner + DENSE.gap) / (tw + DENSE.gap));
      if (c < 1) break;
      const need = denseHeight(list, k, c, th, headed);
      if (need > h) { last = { tw, th, c, k, fits: false }; continue; }
      const tall = stretch(list, k, c, th, tw, h, headed);
      if (!best || tall > best.th) best = { tw, th: tall, c, k, fits: true };
    }
    if (best) return best;
  }
  return last || { tw: DENSE.minW, th: Math.round(DENSE.minW * DENSE.aspect), c: 1, k: 1, fits: false, height: Infinity };
}

/** "auto": the grouped layout while its tiles all fit on the screen, or
 * while dense tiles would be too small to read; dense otherwise. */
export function chooseMode(counts, area, fit) {
  const tileW = area.tileW;
  const tileH = tileW * 9 / 16 + 80;      // picture + three lines of text (.tile in app.css)
  const cols = Math.max(1, Math.floor((area.w + 6) / (tileW + 6)));
  let need = 0;
  for (const n of counts) need += 36 + Math.ceil(n / cols) * (tileH + 6);
  if (need <= area.h) return "grouped";
  return fit.fits && fit.tw >= DENSE.autoMinW ? "dense" : "grouped";
}
