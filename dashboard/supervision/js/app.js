// The supervision pages: one page per tab, chosen by the URL hash.
import { getLang, h, setLang, t } from "./core.js";

const TABS = [
  ["compliance", () => import("./compliance.js")], ["plans", () => import("./plans.js")], ["ledger", () => import("./ledger.js")],
  ["scores", () => import("./scores.js")], ["spot_checks", () => import("./spotchecks.js")],
  ["notifications", () => import("./notifications.js")], ["reports", () => import("./reports.js")],
];

function nav(current) {
  const el = document.getElementById("tabs");
  el.replaceChildren(...TABS.map(([k]) => h("a", { href: `#${k}`, class: k === current ? "active" : "" }, t(`tab_${k}`))));
  document.getElementById("title").textContent = t("title");
  document.getElementById("back").textContent = t("back_to_wall");
  document.getElementById("signin-text").textContent = t("sign_in_first");
  document.getElementById("lang").textContent = getLang() === "zh" ? "English" : "中文";
  document.title = `${t("title")} · branchlive`;
}

async function route() {
  const current = (location.hash || "#compliance").slice(1);
  const tab = TABS.find(([k]) => k === current) || TABS[0];
  nav(tab[0]);
  const main = document.getElementById("main");
  main.replaceChildren();
  const mod = await tab[1]();
  await mod.render(main);
}

document.getElementById("lang").addEventListener("click", () => { setLang(getLang() === "zh" ? "en" : "zh"); route(); });
window.addEventListener("hashchange", route);
setLang(getLang());
route();
