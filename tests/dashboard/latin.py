"""No English in the Chinese UI: `assert_no_english(page)` scans what a
person sees on a zh-CN page (visible text, placeholders, the options of
visible selects, button labels, the document title) for Latin-letter words.

Allowed: words inside elements marked as not for translation (`translate="no"`:
user names, meeting ids), in another language (`lang="en"`: the English
switch), in `<code>`/`<kbd>` (keys, seeds, hashes); tokens that contain a
digit (codes such as 2024-Q1, MP4); units; a short list of file formats and
acronyms that Chinese UIs use as they are; single letters (keyboard keys);
and any words the caller names (`allow`: the test's own Latin data)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

UNITS = {"s", "ms", "min", "h", "px", "kb", "mb", "gb", "tb", "kbps", "mbps", "fps", "hz", "khz", "db", "k", "p"}
ACRONYMS = {"CSV", "XLSX", "XLS", "Excel", "MP4", "PDF", "QR", "ID", "IP", "URL", "JPEG", "PNG", "USB", "4K", "PC", "UTC", "IT"}

# Collects (text, where) pairs from everything visible. Runs in the page.
_COLLECT = r"""() => {
  const SKIP = "script,style,noscript,template,code,kbd,[translate=no],[lang]:not([lang^=zh])";
  const seen = [];
  const visible = (el) => el && el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true }) && !el.closest("[hidden]");
  const where = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) {
      parts.unshift(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.classList.length ? "." + [...e.classList].join(".") : ""));
    }
    return parts.join(" > ");
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.nodeValue.trim() || !el || el.closest(SKIP)) continue;
    if (el.closest("option")) continue;  // options: below, from their select
    if (el.closest("svg") ? !visible(el.closest("svg")) : !visible(el)) continue;
    seen.push([n.nodeValue, where(el)]);
  }
  for (const el of document.querySelectorAll("input, textarea, select, button")) {
    if (!visible(el) || el.closest(SKIP)) continue;
    if (el.placeholder) seen.push([el.placeholder, where(el) + "[placeholder]"]);
    if (el.tagName === "SELECT") for (const o of el.options) seen.push([o.text, where(el) + " option"]);
    if (el.tagName === "INPUT" && ["button", "submit", "reset"].includes(el.type) && el.value) seen.push([el.value, where(el)]);
  }
  seen.push([document.title, "title"]);
  return { lang: document.documentElement.lang, texts: seen };
}"""

_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")


def latin_words(text: str, allow: Iterable[str] = ()) -> list[str]:
    """The Latin-letter words of `text` that would be English to a reader."""
    allowed = {a.lower() for a in allow}
    out = []
    for token in re.split(r"[\s，。、；：！？（）【】《》“”‘’·…,.;:!?()\[\]{}<>/\\|\"=+*#@&~^$%—–-]+", text):
        if not token or any(ch.isdigit() for ch in token):
            continue
        for word in _WORD.findall(token):
            if len(word) == 1 or word.lower() in UNITS or word in ACRONYMS or word.lower() in allowed:
                continue
            out.append(word)
    return out


def english_on(page: Any, allow: Iterable[str] = ()) -> list[tuple[str, str, str]]:
    """(word, text, where) for every English word visible on the page."""
    got = page.evaluate(_COLLECT)
    allow = list(allow)
    return [(w, text.strip()[:120], where) for text, where in got["texts"] for w in latin_words(text, allow)]


def assert_no_english(page: Any, allow: Iterable[str] = ()) -> None:
    """Fail, listing each word and where it is, if English shows on this zh-CN page."""
    lang = page.evaluate("document.documentElement.lang")
    assert lang == "zh-CN", f"the page is in {lang!r}, not zh-CN"
    found = english_on(page, allow)
    assert not found, "English on a zh-CN page:\n" + "\n".join(f"  {w!r} in {t!r} at {where}" for w, t, where in found[:30])
