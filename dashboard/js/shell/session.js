// Sign-in, the forced change of a given password, who is signed in (`me`),
// and sign-out. The forms are in index.html (#login-form, #pw-form).
import { api, ApiError } from "./api.js";
import { errorText, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
let me = null;
let hooks = { signedIn: () => {}, signedOut: () => {} };

export function currentUser() { return me; }

function showForm(which) {
  $("login-form").hidden = which !== "login";
  $("pw-form").hidden = which !== "password";
  // a message belongs to the form it answered: none is carried to the other one
  $("login-msg").textContent = "";
  $("pw-msg").textContent = "";
}

async function signedIn(op) {
  if (op.must_change_password) {
    // A generated or reset password: the hub answers nothing else until it is changed.
    me = null;
    hooks.signedOut({ keepForm: true });
    showForm("password");
    $("pw-current").focus();
    return;
  }
  showForm("login");
  me = op;
  await hooks.signedIn(op);
}

/** The session is gone (signed out here, expired, or revoked): back to the sign-in form. */
export function sessionLost() {
  if (!me) return;
  me = null;
  showForm("login");
  hooks.signedOut({});
  $("login-user").focus();
}

export async function signOut() {
  try { await api.post("/api/v1/auth/logout"); } catch { /* gone anyway */ }
  sessionLost();
}

function loginError(err) {
  if (err instanceof ApiError && err.status === 401) return t("login_bad");
  if (err instanceof ApiError && err.status === 429) return t("login_limited");
  return t("login_failed", { detail: errorText(err) });
}

export function start(h) {
  hooks = h;
  // The buttons stay disabled in index.html until here: a form sent before its script
  // has loaded would go to the server as a plain GET, password in the URL.
  for (const b of document.querySelectorAll("#login-form button[type=submit], #pw-form button[type=submit]")) b.disabled = false;
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("login-msg");
    msg.textContent = "";
    const empty = [["login-user", "username"], ["login-pass", "password"]].find(([id]) => !$(id).value.trim());
    if (empty) { msg.textContent = t("field_required", { field: t(empty[1]) }); $(empty[0]).focus(); return; }
    try {
      const res = await api.post("/api/v1/auth/login", { username: $("login-user").value.trim(), password: $("login-pass").value });
      $("login-pass").value = "";
      await signedIn(res.operator);
    } catch (err) {
      msg.textContent = loginError(err);
    }
  });
  $("pw-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("pw-msg");
    msg.textContent = "";
    try {
      await api.post("/api/v1/auth/password", { current_password: $("pw-current").value, new_password: $("pw-new").value });
      $("pw-current").value = "";
      $("pw-new").value = "";
      await signedIn(await api.get("/api/v1/auth/me"));
    } catch (err) {
      msg.textContent = err instanceof ApiError && err.code === "wrong_password" ? t("pw_wrong") : t("pw_failed", { detail: errorText(err) });
    }
  });
}

/** At page load: resume the session the cookie holds, or show the sign-in form. */
export async function resume() {
  let op = null;
  try { op = await api.get("/api/v1/auth/me"); } catch { op = null; }
  if (me || !$("pw-form").hidden) return;  // signed in (or asked for a new password) through the form meanwhile
  if (op) await signedIn(op);
  else { showForm("login"); hooks.signedOut({}); $("login-user").focus(); }
}
