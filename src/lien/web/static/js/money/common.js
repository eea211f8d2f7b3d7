// What the pages that move money share: amounts as integers of minor units (never a float),
// account ids checked as they are typed, the member of the session and the key of this device,
// the node's API, and a signed transaction submitted once however often it is retried.
import { signBody, txId } from "../protocol.js";
import {
  BackupError, PinError, deriveSecrets, importSeed, loadDeviceKey, openBackup, saveDeviceKey,
  unlockDeviceKey,
} from "../keys.js";
import { memoKeyFromSeed } from "../memo.js";

// ---- the page: its data-* attributes (rendered by the server in the page's language) ----
export const root = document.querySelector("[data-page]");
export const lang = document.documentElement.lang === "en" ? "en" : "fr";
export const chainId = root.dataset.chain;
export const currency = root.dataset.currency;
const reasons = JSON.parse(root.dataset.reasons || "{}");

// The message `name` of the page (data-msg-name="..."), with {placeholders} filled in.
export function msg(name, values = {}) {
  const key = "msg" + name.replace(/(^|-)([a-z])/g, (_m, _d, c) => c.toUpperCase());
  const text = root.dataset[key] ?? name;
  return text.replace(/\{(\w+)\}/g, (_m, k) => String(values[k] ?? ""));
}

export const $ = (selector, scope = document) => scope.querySelector(selector);

export function show(element, visible = true) {
  element.hidden = !visible;
}

// ---- amounts: what a person types → integer minor units (section 5 of docs/protocol.md) ----
export class AmountError extends Error {}

// "12,50", "12.5", "1 234,56", "1,234.56", "1.234,56" → 1250, 1250, 123456...; a single mark
// followed by exactly three digits ("1,234") is ambiguous and refused, never guessed.
export function parseAmount(text) {
  const cleaned = String(text).trim().replace(/[\s\u00a0\u202f]/g, "");
  if (cleaned === "") throw new AmountError(msg("amount-empty"));
  if (!/^[0-9.,]+$/.test(cleaned)) throw new AmountError(msg("amount-invalid"));
  const commas = cleaned.split(",").length - 1;
  const dots = cleaned.split(".").length - 1;
  let major = cleaned;
  let minor = "";
  let group = null;
  if (commas && dots) {
    const decimal = cleaned.lastIndexOf(",") > cleaned.lastIndexOf(".") ? "," : ".";
    group = decimal === "," ? "." : ",";
    [major, minor] = splitLast(cleaned, decimal);
  } else if (commas + dots === 1) {
    const mark = commas ? "," : ".";
    [major, minor] = splitLast(cleaned, mark);
    if (minor.length === 3) throw new AmountError(msg("amount-ambiguous"));
  } else if (commas + dots > 1) {
    group = commas ? "," : ".";
  }
  if (group !== null) {
    const groups = major.split(group);
    if (!/^[0-9]{1,3}$/.test(groups[0]) || groups.slice(1).some((g) => !/^[0-9]{3}$/.test(g))) {
      throw new AmountError(msg("amount-invalid"));
    }
    major = groups.join("");
  }
  if (!/^[0-9]*$/.test(major) || !/^[0-9]*$/.test(minor) || (major === "" && minor === "")) {
    throw new AmountError(msg("amount-invalid"));
  }
  if (minor.length > 2) throw new AmountError(msg("amount-decimals"));
  if (major.replace(/^0+/, "").length > 12) throw new AmountError(msg("amount-too-large"));
  const value = Number(major || "0") * 100 + Number((minor || "0").padEnd(2, "0"));
  if (value <= 0) throw new AmountError(msg("amount-zero"));
  if (value > 100000000000) throw new AmountError(msg("amount-too-large"));
  return value;
}

function splitLast(text, mark) {
  const at = text.lastIndexOf(mark);
  return [text.slice(0, at), text.slice(at + 1)];
}

// 123456 → "1 234,56 LIEN" (narrow no-break spaces, French) or "1,234.56 LIEN" (English).
export function formatAmount(minor, code = currency) {
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  const major = String(Math.floor(abs / 100));
  const cents = String(abs % 100).padStart(2, "0");
  const [group, decimal] = lang === "fr" ? ["\u202f", ","] : [",", "."];
  const digits = major.replace(/\B(?=(\d{3})+(?!\d))/g, group);
  return `${sign}${digits}${decimal}${cents}${code ? " " + code : ""}`;
}

// ---- account ids (section 4): check digits verified as the member types ----
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// What a person typed → the canonical id, or null with the reason in `problem`.
export function readAccount(text) {
  const cleaned = String(text).trim().toUpperCase().replace(/[-\s]/g, "")
    .replace(/[IL]/g, "1").replace(/O/g, "0");
  if (cleaned === "") return { id: null, problem: "" };
  if (cleaned.length < 12) return { id: null, problem: msg("account-short") };
  if (cleaned.length > 12) return { id: null, problem: msg("account-long") };
  const body = cleaned.slice(0, 10);
  const check = cleaned.slice(10);
  if (![...body].every((c) => CROCKFORD.includes(c)) || !/^[0-9]{2}$/.test(check)) {
    return { id: null, problem: msg("account-chars") };
  }
  let value = 0n;
  for (const c of body) value = value * 32n + BigInt(CROCKFORD.indexOf(c));
  if ((value * 100n + BigInt(check)) % 97n !== 1n) {
    return { id: null, problem: msg("account-checksum") };
  }
  return { id: cleaned, problem: "" };
}

export const displayAccount = (id) => id.replace(/(.{4})(?=.)/g, "$1-");

// ---- the node's API ----
export async function api(path, { method = "GET", body, csrf } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = null;
  try {
    json = await response.json();
  } catch {
    json = null;
  }
  return { status: response.status, json };
}

// The member of this session ({account, public_key, kind, email, profile, csrf}); a visitor
// without one goes to the login page, and comes back here after it.
export async function member() {
  const { status, json } = await api("/wallet/api/me");
  if (status === 401) {
    const next = encodeURIComponent(location.pathname + location.search);
    location.assign(`/connexion?next=${next}`);
    throw new Error("not logged in");
  }
  if (status !== 200) throw new Error(msg("network"));
  return json;
}

// The membership of `account` in the node's currency (balances, floor, ceiling), or null.
export async function membership(account) {
  const { status, json } = await api(`/api/v1/accounts/${account}`);
  if (status !== 200) return null;
  return { account: json, m: json.currencies.find((c) => c.currency === currency) ?? null };
}

// Names this member may see ({account: name}: the directory and the member's contacts).
export async function names(accounts) {
  const wanted = [...new Set(accounts.filter(Boolean))];
  if (!wanted.length) return {};
  const { status, json } = await api(`/wallet/api/names?accounts=${wanted.join(",")}`);
  return status === 200 && json ? json : {};
}

// ---- the default split (docs/protocol.md §7 `transfer`): positive credit first, then nantie,
// then credit down to the floor. null when it is impossible.
// The field naming the other member of a payment, a request or an order: an account number
// typed (its check digits verified as it is typed, its owner's name shown when the member may
// see it), or picked from the directory and the saved contacts. ``onChange(chosen)`` hears every
// change: {id, name, key} of an existing member other than ``me``, or null.
export function accountPicker(me, { input, status, select, unknown, onChange = () => {} }) {
  let chosen = null;
  let lookup = 0;
  const set = (value) => {
    chosen = value;
    onChange(value);
  };
  async function choose(text) {
    status.className = "";
    set(null);
    const { id, problem } = readAccount(text);
    if (!id) {
      status.textContent = text.replace(/[-\s]/g, "").length >= 12 || problem !== msg("account-short") ? problem : "";
      if (status.textContent) status.className = "field-error";
      return;
    }
    if (id === me.account) {
      status.textContent = msg("yourself");
      status.className = "field-error";
      return;
    }
    const ticket = ++lookup;
    const [found, known] = await Promise.all([membership(id), names([id])]);
    if (ticket !== lookup) return;
    if (!found || !found.m) {
      status.textContent = msg(unknown);
      status.className = "field-error";
      return;
    }
    set({ id, name: known[id] ?? "", key: found.account.keys[0] });
    status.textContent = known[id] ? `${known[id]} — ${displayAccount(id)}` : msg("account-ok", { account: displayAccount(id) });
    status.className = "ok";
  }
  async function fillKnown() {
    const [directory, contacts] = await Promise.all([api("/wallet/api/directory"), api("/wallet/api/contacts")]);
    const entries = [];
    for (const b of directory.status === 200 && Array.isArray(directory.json) ? directory.json : []) {
      entries.push([b.account, `${b.trading_name} (${b.town ?? ""})`]);
    }
    const list = contacts.status === 200 ? contacts.json?.contacts : [];
    for (const c of Array.isArray(list) ? list : []) entries.push([c.account, c.label]);
    for (const [account, label] of entries) {
      if (account === me.account) continue;
      const option = document.createElement("option");
      option.value = account;
      option.textContent = label;
      select.append(option);
    }
    select.addEventListener("change", () => {
      if (!select.value) return;
      input.value = displayAccount(select.value);
      choose(select.value);
    });
  }
  input.addEventListener("input", () => choose(input.value));
  return { choose, fillKnown };
}

export function defaultSplit(amount, m) {
  const fromPositive = Math.min(amount, Math.max(m.credit_minor, 0));
  const nantie = Math.min(amount - fromPositive, m.nantie_minor);
  const credit = amount - nantie;
  if (m.credit_minor - credit < m.floor_minor) return null;
  return { nantie, credit };
}

// The most this membership can pay (nantie + credit down to the floor).
export const spendable = (m) => m.nantie_minor + Math.max(m.credit_minor - m.floor_minor, 0);

// ---- the key of this device: unlocked (behind its PIN if the member set one), or restored
// from the node's encrypted backup with the password.

// Restores the key of `me` on this device from its backup: the password gives the login
// secret (sent) and the key-encryption key (never sent); the seed is wiped once imported.
export async function restoreKey(me, password) {
  const kdf = await api("/wallet/api/kdf", { method: "POST", body: { email: me.email }, csrf: me.csrf });
  if (kdf.status !== 200) throw new Error(msg("network"));
  const { loginSecretHex, kek } = await deriveSecrets(password, kdf.json.kdf);
  const login = await api("/wallet/api/login", {
    method: "POST", body: { email: me.email, login_secret: loginSecretHex }, csrf: me.csrf,
  });
  if (login.status === 401) throw new Error(msg("wrong-password"));
  if (login.status === 429) throw new Error(msg("rate-limited"));
  if (login.status !== 200) throw new Error(msg("network"));
  if (login.json.csrf) me.csrf = login.json.csrf;
  let seed;
  try {
    seed = await openBackup(login.json.backup, kek, me.account);
  } catch (e) {
    if (e instanceof BackupError) throw new Error(msg("wrong-password"));
    throw e;
  }
  try {
    const { privateKey, publicKeyHex } = await importSeed(seed);
    const memoKey = await memoKeyFromSeed(seed);
    const key = { privateKey, memoKey, publicKeyHex };
    await saveDeviceKey(me.account, key);
    return key;
  } finally {
    seed.fill(0);
  }
}

// The key of `me` on this device, asking (form #unlock) for its PIN or, when this device has
// none, for the password that restores it; resolves once the key can sign.
export async function unlockedKey(me) {
  let key = await loadDeviceKey(me.account);
  if (key?.privateKey) return key;
  const form = $("#unlock");
  const error = $("#unlock-error");
  const usePin = (pin) => {
    show($("#unlock-pin-label"), pin);
    show($("#unlock-password-label"), !pin);
    show($("#unlock-pin-text"), pin);
    show($("#unlock-password-text"), !pin);
  };
  usePin(Boolean(key?.hasPin));
  show(form);
  (key?.hasPin ? $("#unlock-pin") : $("#unlock-password")).focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = $("button", form);
      button.disabled = true;
      error.textContent = "";
      try {
        if (key?.hasPin) {
          try {
            const unlocked = await unlockDeviceKey(me.account, $("#unlock-pin").value);
            show(form, false);
            resolve(unlocked);
          } catch (e) {
            if (!(e instanceof PinError)) throw e;
            if (e.attemptsLeft === 0) {
              key = null; // forgotten after too many wrong PINs: the password restores it
              usePin(false);
            }
            error.textContent = msg("wrong-pin", { left: e.attemptsLeft ?? 0 });
          } finally {
            $("#unlock-pin").value = "";
          }
          return;
        }
        const restored = await restoreKey(me, $("#unlock-password").value);
        $("#unlock-password").value = "";
        show(form, false);
        resolve(restored);
      } catch (e) {
        error.textContent = e.message;
      } finally {
        button.disabled = false;
      }
    });
  });
}

// ---- transactions ----
export function randomNonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// A body of `type` for this chain, expiring at `expires` (ms) or in a few minutes.
export function body(type, fields, expires = Date.now() + 10 * 60 * 1000) {
  return { chain: chainId, type, expires, nonce: randomNonce(), ...fields };
}

// One signed transaction, submitted as many times as needed: the same body (same nonce, same
// expiry) is the same id, which the ledger executes at most once — a double tap pays once.
export class Submission {
  constructor(txBody, key) {
    this.body = txBody;
    this.key = key;
    this.envelope = null;
    this.pending = null;
  }

  async id() {
    return txId(this.body);
  }

  // {ok, code, text, result, status} once the node answered; a click while it runs gets the
  // same promise (the button is disabled too).
  submit() {
    if (this.pending) return this.pending;
    this.pending = this.run().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  async run() {
    if (!this.envelope) {
      const signature = await signBody(this.body, this.key.privateKey, this.key.publicKeyHex);
      this.envelope = { body: this.body, signatures: [signature] };
    }
    let answer;
    try {
      answer = await api("/api/v1/transactions?wait=executed", { method: "POST", body: this.envelope });
    } catch {
      return { ok: false, code: "network", text: msg("network"), retry: true };
    }
    const { status, json } = answer;
    if (status === 200) {
      const code = json.result.code;
      return { ok: code === "ok", code, result: json.result, id: json.id, text: explain(code) };
    }
    if (status === 202) return { ok: false, code: "accepted", text: msg("pending"), retry: true, id: json.id };
    const code = json?.error?.code ?? "internal";
    const retry = status === 429 || status === 503;
    return { ok: false, code, text: explain(code), retry };
  }
}

// An action on one item of a list (revoke an order, decline a request) behind its button: the
// item's transaction is signed once and resubmitted as it is on a retry (a double tap, a lost
// answer), so it acts once; it is forgotten only when refused for good, so that the next tap
// signs anew. `makeBody()` gives the transaction's body; `problem` shows the outcome.
export function oncePerItem({ me, problem, doneText, after }) {
  const submissions = new Map(); // item id → its one Submission
  return async function act(id, button, makeBody) {
    if (button.disabled) return;
    button.disabled = true;
    problem.textContent = "";
    try {
      const key = await unlockedKey(me);
      if (!submissions.has(id)) submissions.set(id, new Submission(makeBody(), key));
      const outcome = await submissions.get(id).submit();
      if (!outcome.ok) {
        problem.textContent = outcome.text;
        if (!outcome.retry) submissions.delete(id);
        return;
      }
      problem.textContent = doneText;
      await after();
    } finally {
      button.disabled = false;
    }
  };
}

// `load` run for every call but never twice at once: a call during a run is served by one more
// run after it (an event that arrives while the list is being read is never lost), and the
// calls meanwhile share that run's promise.
export function coalesced(load) {
  let running = null;
  let again = false;
  return function run() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await load();
      } while (again);
    })().finally(() => {
      running = null;
    });
    return running;
  };
}

// A refusal's code in the page's words: "Refusé : fonds insuffisants".
export function explain(code) {
  if (code in reasons) return msg("refused", { reason: reasons[code] });
  return msg(code === "rate_limited" ? "rate-limited" : "network");
}

// Subscribes to the executed transactions of `account` (SSE); `onTx(event)` for each.
export function watch(account, onTx, onOpen = () => {}) {
  const source = new EventSource(`/api/v1/accounts/${account}/events`);
  source.addEventListener("open", onOpen);
  source.addEventListener("transaction", (event) => onTx(JSON.parse(event.data)));
  return source;
}

// The envelope of the transaction `id` from `account`'s latest history (the event carries its
// result, not its body).
export async function findInHistory(account, id) {
  const { status, json } = await api(`/api/v1/accounts/${account}/history?limit=20`);
  if (status !== 200) return null;
  return json.items.find((item) => item.id === id) ?? null;
}
