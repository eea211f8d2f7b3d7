// /profil: password change (both secrets re-derived, the key's backup re-sealed here, so the
// node never sees the key nor the key-encryption key), log out, log out everywhere.
import { clearErrors, csrfToken, getJson, message, newKdf, onSubmitOnce, postJson, say, showErrors } from "./forms.js";

const form = document.getElementById("password");
const button = document.getElementById("submit");
const status = document.getElementById("status");
const account = form.dataset.account;
let me = null;

getJson("/wallet/api/me").then((data) => {
  me = data;
  if (me) document.getElementById("me-email").textContent = me.email || "";
}).catch(() => {});

function value(name) { return String(form.elements.namedItem(name).value || ""); }

function check() {
  const errors = {};
  for (const name of ["old_password", "password", "password2"]) if (!value(name)) errors[name] = message(form, "required");
  const min = Number(form.dataset.passwordMin);
  if (value("password") && value("password").length < min) errors.password = message(form, "password-short");
  if (value("password") && value("password2") && value("password") !== value("password2")) {
    errors.password2 = message(form, "password-mismatch");
  }
  return errors;
}

function refused(answer) {
  if (answer.status === 429) return message(form, "rate-limited", { s: answer.retryAfter });
  if (answer.status === 401) return message(form, "failed");
  return message(form, "error");
}

function valid() {
  clearErrors(form);
  say(status, "");
  return showErrors(form, check());
}

async function changePassword() {
  // The current backup and its KDF come with /wallet/api/me (fresh: a change elsewhere
  // re-sealed it); the node checks the old login secret with the change itself.
  me = await getJson("/wallet/api/me");
  if (!me || !me.backup || !me.kdf) { say(status, message(form, "error")); return; }
  say(status, message(form, "working"));
  try {
    const { deriveSecrets, openBackup, sealBackup } = await import("./keys.js");
    const old = await deriveSecrets(value("old_password"), me.kdf);
    const seed = await openBackup(me.backup, old.kek, account);
    const newParams = newKdf();
    const fresh = await deriveSecrets(value("password"), newParams);
    const backup = await sealBackup(seed, fresh.kek, account);
    seed.fill(0);
    const changed = await postJson("/wallet/api/password", {
      old_login_secret: old.loginSecretHex, login_secret: fresh.loginSecretHex, kdf: newParams, backup,
    }, me.csrf || csrfToken());
    if (!changed.ok) {
      const error = (changed.data && changed.data.error) || {};
      say(status, error.field === "old_login_secret" ? message(form, "failed") : refused(changed));
      return;
    }
    form.reset();
    say(status, message(form, "done"));
  } catch (error) {
    say(status, error && error.name === "BackupError" ? message(form, "failed") : message(form, "error"));
  }
}

onSubmitOnce(form, button, valid, changePassword);

async function leave(url) {
  await postJson(url, {});
  if ("caches" in globalThis) {
    for (const name of await caches.keys()) await caches.delete(name);
  }
  await import("./keys.js").then((keys) => keys.forgetDeviceKey(account)).catch(() => {});
  location.assign("/connexion");
}

document.getElementById("logout").addEventListener("click", () => leave("/wallet/api/logout"));
document.getElementById("logout-everywhere").addEventListener("click", () => leave("/wallet/api/logout-everywhere"));
