// Se connecter: the password's login secret proves who you are; its key-encryption key opens
// the backup of your key here, and the key is kept on this device (IndexedDB, non-extractable).
import { EMAIL, clearErrors, message, onSubmitOnce, postJson, say, showErrors } from "./forms.js";

const form = document.getElementById("login");
const button = document.getElementById("submit");
const status = document.getElementById("status");
const progress = document.getElementById("progress");

function value(name) { return String(form.elements.namedItem(name).value || ""); }

function refused(answer) {
  if (answer.status === 429) return message(form, "rate-limited", { s: answer.retryAfter });
  if (answer.status === 401 || answer.status === 400) return message(form, "failed");
  return message(form, "error");
}

// Where to go once logged in: the page that asked for a session (?next=, a path of this node
// only), else the wallet.
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return /^\/(?![/\\])/.test(next) ? next : "/compte";
}

function valid() {
  clearErrors(form);
  say(status, "");
  const errors = {};
  if (!value("email").trim()) errors.email = message(form, "required");
  if (!value("password")) errors.password = message(form, "required");
  return showErrors(form, errors);
}

async function logIn() {
  const email = value("email").trim();
  if (!EMAIL.test(email)) { say(status, message(form, "failed")); return; }
  if (!globalThis.crypto || !crypto.subtle) { say(status, message(form, "unsupported")); return; }
  say(progress, message(form, "working"));
  try {
    const { deriveSecrets, importSeed, openBackup, saveDeviceKey } = await import("./keys.js");
    const kdf = await postJson("/wallet/api/kdf", { email });
    if (!kdf.ok) { say(status, refused(kdf)); return; }
    const secrets = await deriveSecrets(value("password"), kdf.data.kdf);
    const login = await postJson("/wallet/api/login", { email, login_secret: secrets.loginSecretHex });
    if (!login.ok) { say(status, refused(login)); return; }
    const { account, public_key: publicKey, backup } = login.data;
    const seed = await openBackup(backup, secrets.kek, account);
    const key = await importSeed(seed);
    seed.fill(0);
    if (key.account !== account || key.publicKeyHex !== publicKey) { say(status, message(form, "error")); return; }
    await saveDeviceKey(account, { privateKey: key.privateKey, memoKey: key.memoKey, publicKeyHex: key.publicKeyHex });
    location.assign(nextPage());
  } catch (error) {
    say(status, error && error.name === "BackupError" ? message(form, "failed") : message(form, "error"));
  } finally {
    say(progress, "");
  }
}

onSubmitOnce(form, button, valid, logIn);
