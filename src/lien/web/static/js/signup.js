// Créer un compte: the key is made here, the password becomes a login secret and a
// key-encryption key here; the node receives the public key, the signed opening, the login
// secret and the sealed backup — never the private key nor the key-encryption key.
// The cryptography (keys.js, protocol.js and argon2id's WebAssembly) is loaded when
// the form is sent, not before: the form and its checks work at once.
import { EMAIL, clearErrors, message, newKdf, onSubmitOnce, postJson, randomHex, say, showErrors, siretValid } from "./forms.js";

const OPENING_EXPIRY_MS = 10 * 60 * 1000;
const form = document.getElementById("signup");
const button = document.getElementById("submit");
const status = document.getElementById("status");
const business = document.getElementById("business");

function kind() { return form.elements.namedItem("kind").value; }
function value(name) { return String(form.elements.namedItem(name).value || "").trim(); }

function showKind() {
  const isBusiness = kind() === "business";
  business.hidden = !isBusiness;
  for (const el of business.querySelectorAll("input, select, textarea")) el.disabled = !isBusiness;
}
for (const radio of form.querySelectorAll('input[name="kind"]')) radio.addEventListener("change", showKind);
showKind();

function check() {
  const errors = {};
  const need = ["name", "email", "password", "password2"];
  if (kind() === "business") need.push("trading_name", "siret", "category", "town");
  for (const name of need) if (!value(name)) errors[name] = message(form, "required");
  if (value("email") && !EMAIL.test(value("email"))) errors.email = message(form, "email");
  const password = form.elements.namedItem("password").value;
  const min = Number(form.dataset.passwordMin);
  if (password && password.length < min) errors.password = message(form, "password-short");
  if (password && value("password2") && password !== form.elements.namedItem("password2").value) {
    errors.password2 = message(form, "password-mismatch");
  }
  if (kind() === "business" && value("siret") && !siretValid(value("siret").replace(/\s/g, ""))) {
    errors.siret = message(form, "siret");
  }
  return errors;
}

function profile() {
  const data = { name: value("name") };
  if (kind() === "business") {
    Object.assign(data, {
      trading_name: value("trading_name"), siret: value("siret").replace(/\s/g, ""),
      category: value("category"), town: value("town"), address: value("address"),
      description: value("description"), directory: form.elements.namedItem("directory").checked,
    });
  }
  return data;
}

function valid() {
  clearErrors(form);
  say(status, "");
  return showErrors(form, check());
}

async function openAccount() {
  if (!globalThis.crypto || !crypto.subtle) { say(status, message(form, "unsupported")); return; }
  say(status, message(form, "working"));
  const [{ deriveSecrets, generateSeed, importSeed, saveDeviceKey, sealBackup }, { signBody }] =
    await Promise.all([import("./keys.js"), import("./protocol.js")]);
  const seed = generateSeed();
  const key = await importSeed(seed);
  const body = {
    chain: form.dataset.chain, type: "open_account", expires: Date.now() + OPENING_EXPIRY_MS,
    nonce: randomHex(16), account: key.account, key: key.publicKeyHex, kind: kind(),
    currency: form.dataset.currency,
  };
  const openTx = { body, signatures: [await signBody(body, key.privateKey, key.publicKeyHex)] };
  const kdf = newKdf();
  const password = form.elements.namedItem("password").value;
  const secrets = await deriveSecrets(password, kdf);
  const backup = await sealBackup(seed, secrets.kek, key.account);
  const answer = await postJson("/wallet/api/signup", {
    email: value("email"), kind: kind(), login_secret: secrets.loginSecretHex, kdf, backup,
    account: key.account, public_key: key.publicKeyHex, open_tx: openTx, profile: profile(),
  });
  if (answer.ok) {
    await saveDeviceKey(key.account, { privateKey: key.privateKey, memoKey: key.memoKey, publicKeyHex: key.publicKeyHex });
    seed.fill(0);
    form.hidden = true;
    const done = document.getElementById("done");
    done.hidden = false;
    done.focus();
    return;
  }
  seed.fill(0);
  const error = (answer.data && answer.data.error) || {};
  if (answer.status === 429) { say(status, message(form, "rate-limited", { s: answer.retryAfter })); return; }
  if (error.field && form.elements.namedItem(error.field)) {
    say(status, "");
    showErrors(form, { [error.field]: error.detail || message(form, "failed") });
    return;
  }
  say(status, message(form, "failed"));
}

onSubmitOnce(form, button, valid, () => openAccount().catch(() => say(status, message(form, "failed"))));
