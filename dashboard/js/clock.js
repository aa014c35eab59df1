// The header clock (a plain script, not inline: the hub's CSP allows scripts from the hub only).
// It ticks on the second boundary, like the wall's own per-second work
// (util.js everySecond), so that both land in one frame, not two.
(function tick() {
  var d = new Date(), p = function (n) { return n < 10 ? "0" + n : n; };
  var c = document.getElementById("clock");
  if (c) c.textContent = d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
})();
