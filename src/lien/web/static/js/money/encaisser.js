// *Encaisser*: the business types an amount (and maybe a reference), shows a QR code valid a
// few minutes, and the screen turns *Payé* as soon as the payment executes — pushed by the
// node's event stream of the account, without reload.
//
// The reverse flow, *Scanner le compte du client*: the till reads the client's account QR code
// with the camera (scan.js) or the business types the account number; the till signs a
// `request_payment` (docs/protocol.md §7) to that account, valid a few minutes, its reference
// hashed as in the QR flow. The client confirms on their own phone (the request shows live on
// their account page, on whichever node of the federation they use), and this screen turns
// *Payé* when the transfer naming the request executes, or *Refusé* when the client declines.
import { referenceHash } from "../memo.js";
import {
  $, AmountError, Submission, body, displayAccount, findInHistory, formatAmount, member,
  membership, msg, names, parseAmount, readAccount, root, show, unlockedKey, watch, currency,
} from "./common.js";
import { link } from "./encaisser-link.js";

const validityMs = Number(root.dataset.validityS) * 1000;
let expected = null; // {amount, referenceHash, expires}
let asked = null; // the request sent to a client: {id, client, name, amount, expires}
let timer = null;
let scanner = null;
let order = null; // the reverse flow: {amount, reference} while the client's account is read
let sending = false;

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
  if (asked) return tickRequest();
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

function tickRequest() {
  const left = asked.expires - Date.now();
  if (left <= 0) {
    $("#waiting-countdown").textContent = msg("request-expired");
    clearInterval(timer);
    return;
  }
  $("#waiting-countdown").textContent = msg("expires-in", { time: duration(left) });
}

function stopScanner() {
  scanner?.stop();
  scanner = null;
  show($("#camera"), false);
}

function reset() {
  expected = null;
  asked = null;
  clearInterval(timer);
  stopScanner();
  order = null;
  for (const id of ["#qr-panel", "#paid-panel", "#client-panel", "#waiting-panel", "#declined-panel"]) {
    show($(id), false);
  }
  delete root.dataset.request;
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
    if (event.submitter?.id === "scan-client") {
      await askClient(me, amount, reference);
      return;
    }
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
  for (const id of ["#client-cancel", "#waiting-cancel", "#declined-again"]) {
    $(id).addEventListener("click", reset);
  }
}

// ---- the reverse flow: the client's account → a payment request the client confirms ----

async function askClient(me, amount, reference) {
  order = { amount, reference };
  $("#client-amount").textContent = formatAmount(amount);
  $("#client-account").value = "";
  for (const id of ["#client-error", "#scan-error", "#request-problem"]) $(id).textContent = "";
  show($("#till-form"), false);
  show($("#client-panel"));
  await startCamera(me);
}

async function startCamera(me) {
  const video = $("#camera");
  if (scanner) return;
  try {
    const { startScanner } = await import("../scan.js");
    show(video);
    scanner = await startScanner(video, {
      onLink: (found) => {
        scanner = null;
        show(video, false);
        if (found.kind !== "account") {
          $("#scan-error").textContent = msg("not-an-account");
          startCamera(me);
          return;
        }
        $("#client-account").value = displayAccount(found.account);
        sendRequest(me, found.account, true);
      },
      onRefused: () => {
        $("#scan-error").textContent = msg("bad-link");
      },
    });
    if (!order) stopScanner(); // cancelled while the camera was starting
  } catch {
    scanner = null;
    show(video, false);
    $("#scan-error").textContent = msg("scan-unavailable");
  }
}

// Signs and submits the request to `client` (once: a second tap while it runs is ignored).
// A client read by the camera that cannot be asked: the camera reads on.
async function sendRequest(me, client, scanned = false) {
  if (sending || !order) return;
  const current = order;
  const problem = $("#request-problem");
  problem.textContent = "";
  $("#client-error").textContent = "";
  const wrong = (text) => {
    $("#client-error").textContent = text;
    if (scanned) startCamera(me);
  };
  if (client === me.account) return wrong(msg("yourself"));
  sending = true;
  $("#send-request").disabled = true;
  try {
    const [found, known] = await Promise.all([membership(client), names([client])]);
    if (!found?.m) return wrong(msg("unknown-client"));
    stopScanner();
    const key = await unlockedKey(me);
    if (order !== current) return; // cancelled while unlocking
    const { amount, reference } = current;
    const expires = Date.now() + validityMs;
    const fields = {
      from: client, to: me.account, currency, amount,
      reference: await referenceHash(me.account, reference),
    };
    const submission = new Submission(body("request_payment", fields, expires), key);
    const id = await submission.id();
    // known before it is sent: the client's answer cannot execute unseen
    asked = { id, client, name: known[client] || "", amount, expires };
    const outcome = await submission.submit();
    if (!outcome.ok) {
      asked = null;
      problem.textContent = outcome.text;
      return;
    }
    root.dataset.request = id;
    order = null;
    $("#waiting-amount").textContent = formatAmount(amount);
    $("#waiting-client").textContent = msg("client-account", { client: asked.name || displayAccount(client) });
    $("#waiting-reference").textContent = reference;
    show($("#client-panel"), false);
    show($("#waiting-panel"));
    tick();
    clearInterval(timer);
    timer = setInterval(tick, 1000);
  } finally {
    sending = false;
    $("#send-request").disabled = false;
  }
}

function declined(request) {
  clearInterval(timer);
  asked = null;
  $("#declined-amount").textContent = formatAmount(request.amount);
  $("#declined-by").textContent = msg("declined-by", {
    client: request.name || displayAccount(request.client),
  });
  show($("#waiting-panel"), false);
  show($("#declined-panel"));
}

function wireClientForm(me) {
  const input = $("#client-account");
  input.addEventListener("input", () => {
    const { problem } = readAccount(input.value);
    $("#client-error").textContent = input.value.replace(/[-\s]/g, "").length >= 12 ? problem : "";
  });
  $("#client-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const { id, problem } = readAccount(input.value);
    if (!id) {
      $("#client-error").textContent = problem || msg("account-short");
      return;
    }
    sendRequest(me, id);
  });
}

async function paid(payer, amount) {
  clearInterval(timer);
  expected = null;
  $("#paid-amount").textContent = formatAmount(amount);
  $("#paid-by").textContent = msg("paid-by", { payer: displayAccount(payer) });
  show($("#qr-panel"), false);
  show($("#waiting-panel"), false);
  show($("#paid-panel"));
  const known = await names([payer]);
  if (known[payer]) $("#paid-by").textContent = msg("paid-by", { payer: known[payer] });
}

async function onRequestAnswer(me, event) {
  const wanted = asked;
  const item = await findInHistory(me.account, event.id);
  const answer = item?.tx?.body;
  if (!answer || asked !== wanted || answer.request !== wanted.id || answer.from !== wanted.client) return;
  if (event.type === "decline_request") {
    declined(wanted);
  } else if (answer.to === me.account && answer.amount === wanted.amount) {
    asked = null;
    await paid(answer.from, answer.amount);
  }
}

async function onTransaction(me, event) {
  if (event.result?.code !== "ok") return;
  if (asked && (event.type === "transfer" || event.type === "decline_request")) {
    await onRequestAnswer(me, event);
    return;
  }
  if (!expected || event.type !== "transfer") return;
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
wireClientForm(me);
root.dataset.ready = "true";
