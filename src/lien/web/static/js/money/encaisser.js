// *Encaisser*: the business types an amount (and maybe a reference), shows a QR code valid a
// few minutes, and the screen turns *Payé* as soon as the payment executes — pushed by the
// node's event stream of the account, without reload.
import { referenceHash } from "../memo.js";
import {
  $, AmountError, displayAccount, findInHistory, formatAmount, member, msg, names,
  parseAmount, root, show, watch, currency,
} from "./common.js";
import { link } from "./encaisser-link.js";

const validityMs = Number(root.dataset.validityS) * 1000;
let expected = null; // {amount, referenceHash, expires}
let timer = null;

// A short reference (6 characters, no look-alikes) when the business gave none: it is what
// tells this payment from another of the same amount.
function shortReference() {
  const alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ";
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

const duration = (ms) => {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

function tick() {
  if (!expected) return;
  const left = expected.expires - Date.now();
  if (left <= 0) {
    $("#countdown").textContent = msg("expired");
    $("#qr").classList.add("expired");
    clearInterval(timer);
    return;
  }
  $("#countdown").textContent = msg("expires-in", { time: duration(left) });
}

function reset() {
  expected = null;
  clearInterval(timer);
  show($("#qr-panel"), false);
  show($("#paid-panel"), false);
  show($("#till-form"));
  $("#amount").value = "";
  $("#reference").value = "";
  $("#amount").focus();
}

async function start(me) {
  const form = $("#till-form");
  const error = $("#amount-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    let amount;
    try {
      amount = parseAmount($("#amount").value);
    } catch (e) {
      if (!(e instanceof AmountError)) throw e;
      error.textContent = e.message;
      $("#amount").setAttribute("aria-invalid", "true");
      return;
    }
    $("#amount").removeAttribute("aria-invalid");
    const reference = $("#reference").value.trim().normalize("NFC") || shortReference();
    const expires = Date.now() + validityMs;
    expected = { amount, reference, referenceHash: await referenceHash(me.account, reference), expires };
    const name = me.profile?.trading_name || me.profile?.name || "";
    const url = link({ to: me.account, currency, amount_minor: amount, reference, expires_ms: expires }, name);
    $("#qr").src = `/qr.svg?text=${encodeURIComponent(url)}`;
    $("#qr").classList.remove("expired");
    $("#qr-link").href = url;
    $("#qr-amount").textContent = formatAmount(amount);
    $("#qr-reference").textContent = reference;
    show(form, false);
    show($("#qr-panel"));
    tick();
    clearInterval(timer);
    timer = setInterval(tick, 1000);
  });
  $("#cancel").addEventListener("click", reset);
  $("#again").addEventListener("click", reset);
}

async function paid(payer, amount) {
  clearInterval(timer);
  expected = null;
  $("#paid-amount").textContent = formatAmount(amount);
  $("#paid-by").textContent = msg("paid-by", { payer: displayAccount(payer) });
  show($("#qr-panel"), false);
  show($("#paid-panel"));
  const known = await names([payer]);
  if (known[payer]) $("#paid-by").textContent = msg("paid-by", { payer: known[payer] });
}

async function onTransaction(me, event) {
  if (!expected || event.type !== "transfer" || event.result?.code !== "ok") return;
  const wanted = expected;
  const item = await findInHistory(me.account, event.id);
  const body = item?.tx?.body;
  if (!body || expected !== wanted) return;
  if (body.to === me.account && body.reference === wanted.referenceHash && body.amount === wanted.amount) {
    await paid(body.from, body.amount);
  }
}

const me = await member();
// The stream opens before the first QR code is shown: no payment can execute unseen.
await new Promise((resolve) => {
  watch(me.account, (event) => onTransaction(me, event), resolve);
});
await start(me);
root.dataset.ready = "true";
