// *Payer*: what a phone's camera opens from a till's QR code (/payer/v1?to=&cur=&amount=...),
// and the in-app way to it (scanner, or an account number typed). It shows who is paid (the
// directory's name, else the QR's own, marked as such), the amount and how it is split between
// the two units, then *Confirmer* signs here and submits once, however often it is tapped.
import { referenceHash } from "../memo.js";
import {
  $, AmountError, Submission, api, body, chainId, currency, defaultSplit, displayAccount, formatAmount,
  member, membership, msg, names, parseAmount, readAccount, root, show, spendable, unlockedKey,
} from "./common.js";
import { parsePaymentUrl, paymentUrl } from "../payload.js";

const duration = (ms) => {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

function chooser() {
  show($("#choose"));
  const form = $("#to-form");
  const input = $("#to-typed");
  const error = $("#to-typed-error");
  input.addEventListener("input", () => {
    const { problem } = readAccount(input.value);
    error.textContent = input.value.replace(/[-\s]/g, "").length >= 12 ? problem : "";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { id, problem } = readAccount(input.value);
    if (!id) {
      error.textContent = problem || msg("account-short");
      return;
    }
    location.assign(`/payer/v1?to=${id}&cur=${currency}`);
  });
  let scanner = null;
  $("#scan").addEventListener("click", async () => {
    const video = $("#camera");
    $("#scan-error").textContent = "";
    if (scanner) return;
    try {
      const { startScanner } = await import("../scan.js");
      show(video);
      scanner = await startScanner(video, {
        // any LIEN link, from this node or another: the link holds everything to pay it here
        onLink: (link) => {
          scanner = null;
          show(video, false);
          const target = link.kind === "payment"
            ? paymentUrl({ ...link, base: location.origin })
            : `${location.origin}/payer/v1?to=${link.account}&cur=${currency}`;
          location.assign(target.slice(location.origin.length));
        },
        onRefused: (error) => {
          $("#scan-error").textContent = msg(error.code === "expired" ? "expired" : "bad-link");
        },
      });
    } catch {
      scanner = null;
      show(video, false);
      $("#scan-error").textContent = msg("scan-unavailable");
    }
  });
}

async function payment(me, request) {
  const problem = $("#problem");
  const confirm = $("#confirm");
  show($("#request"));
  const to = readAccount(request.to).id;
  if (!to) {
    problem.textContent = msg("bad-link");
    confirm.disabled = true;
    return;
  }
  $("#payee-account").textContent = displayAccount(to);
  const [payee, mine, known] = await Promise.all([membership(to), membership(me.account), names([to])]);
  if (known[to]) {
    $("#payee-name").textContent = known[to];
  } else if (request.name) {
    $("#payee-given").textContent = msg("given-by-qr", { name: request.name });
  }
  const refuse = (text) => {
    problem.textContent = text;
    confirm.disabled = true;
  };
  if (request.currency !== currency) return refuse(msg("other-currency", { cur: request.currency }));
  if (!payee || !payee.m) return refuse(msg("unknown-payee"));
  if (to === me.account) return refuse(msg("yourself"));

  const fixed = request.amount !== null;
  if (fixed) {
    $("#fixed-amount").textContent = formatAmount(request.amount);
  } else {
    show($("#amount-label"));
  }
  if (request.id) {
    show($("#reference-term"), false); // a request carries only the hash of its reference
  } else if (request.reference) {
    $("#reference-text").textContent = request.reference;
  } else if (fixed) {
    show($("#reference-term"), false);
  } else {
    show($("#reference-label"));
  }
  const amountNow = () => (fixed ? request.amount : parseAmount($("#amount").value));
  const showSplit = () => {
    $("#amount-error").textContent = "";
    problem.textContent = "";
    let amount;
    try {
      amount = amountNow();
    } catch (e) {
      if (!(e instanceof AmountError)) throw e;
      $("#split").textContent = "";
      return null;
    }
    const split = mine?.m ? defaultSplit(amount, mine.m) : null;
    if (!split) {
      $("#split").textContent = "";
      problem.textContent = msg("cannot-pay", { max: formatAmount(mine?.m ? spendable(mine.m) : 0) });
      return null;
    }
    $("#split").textContent = msg("split", { nantie: formatAmount(split.nantie), credit: formatAmount(split.credit) });
    return amount;
  };
  showSplit();
  $("#amount").addEventListener("input", () => {
    submission = null;
    showSplit();
  });
  $("#reference").addEventListener("input", () => {
    submission = null;
  });

  let timer = null;
  if (request.expires) {
    const tick = () => {
      const left = request.expires - Date.now();
      if (left <= 0) {
        clearInterval(timer);
        refuse(msg("expired"));
        $("#expiry").textContent = msg("expired");
        return;
      }
      $("#expiry").textContent = msg("expires-in", { time: duration(left) });
    };
    tick();
    timer = setInterval(tick, 1000);
  } else {
    show($("#expiry-term"), false);
  }

  // One body per payment: a second tap, a retry after a network failure, resubmit the same
  // signed transaction (same nonce, same id), which the ledger executes at most once.
  let submission = null;
  let busy = false;
  confirm.addEventListener("click", async () => {
    if (busy) return;
    busy = true;
    confirm.disabled = true;
    problem.textContent = "";
    try {
      let amount;
      try {
        amount = amountNow();
      } catch (e) {
        if (!(e instanceof AmountError)) throw e;
        $("#amount-error").textContent = e.message;
        return;
      }
      if (showSplit() === null) return;
      const key = await unlockedKey(me);
      if (!submission && request.id) {
        submission = new Submission(requestPayment(me, request), key);
        root.dataset.txId = await submission.id();
      }
      if (!submission) {
        const reference = fixed ? request.reference : $("#reference").value.trim();
        const fields = { from: me.account, to, currency, amount };
        if (reference) fields.reference = await referenceHash(to, reference);
        // the QR's expiry, within the ledger's window (expiry_window_ms_max = 24 h)
        const expires = Math.min(request.expires ?? Date.now() + 10 * 60 * 1000,
          Date.now() + 23 * 60 * 60 * 1000);
        submission = new Submission(body("transfer", fields, expires), key);
        root.dataset.txId = await submission.id();
      }
      const outcome = await submission.submit();
      if (outcome.ok) {
        clearInterval(timer);
        const payee = known[to] || request.name || displayAccount(to);
        $("#result-text").textContent = msg("done", { amount: formatAmount(amount), payee });
        show($("#request"), false);
        show($("#result"));
        root.dataset.paid = outcome.id;
        return;
      }
      problem.textContent = outcome.text;
      if (!outcome.retry) submission = null; // refused: a new attempt is a new payment
    } finally {
      busy = false;
      if (!root.dataset.paid && !(request.expires && request.expires <= Date.now())) confirm.disabled = false;
    }
  });
}

// The transfer that pays the request `request` (docs/protocol.md §7, "Payment requests"): the
// same body on every device and every tap (nonce = the request's id, expiry = the request's),
// so that it is paid once; after refused attempts (e.g. for lack of funds) a new nonce.
function requestPayment(me, request) {
  const fields = { from: me.account, to: request.to, currency: request.currency, amount: request.amount, request: request.id };
  if (request.referenceHash) fields.reference = request.referenceHash;
  const nonce = request.refused ? `${request.id.slice(0, 60)}.${request.refused}` : request.id;
  return { chain: chainId, type: "transfer", expires: request.expires, nonce, ...fields };
}

// The open request `id` this member is asked to pay, as /payer's payment, or null.
async function askedRequest(me, id) {
  const { status, json } = await api(`/api/v1/accounts/${me.account}/requests`);
  if (status !== 200) return null;
  const r = json.requests.find((x) => x.id === id && x.role === "payer");
  if (!r) return null;
  if (r.status !== "open") return { closed: r.status };
  return {
    id: r.id, to: r.to, currency: r.currency, amount: r.amount_minor, reference: "",
    referenceHash: r.reference, expires: r.expires_ms, name: "", refused: r.refused_payments,
  };
}

const me = await member();
const asked = new URLSearchParams(location.search).get("demande");
if (location.pathname === "/payer" && asked) {
  const request = /^[0-9a-f]{64}$/.test(asked) ? await askedRequest(me, asked) : null;
  if (!request || request.closed) {
    show($("#request"));
    $("#problem").textContent = msg(request ? `request-${request.closed}` : "bad-link");
    $("#confirm").disabled = true;
  } else {
    await payment(me, request);
  }
} else if (location.pathname === "/payer/v1") {
  let request = null;
  try {
    const r = parsePaymentUrl(location.href, { nowMs: null });
    request = {
      to: r.to, currency: r.currency, amount: r.amount_minor, reference: r.reference ?? "",
      expires: r.expires_ms, name: r.name ?? "",
    };
  } catch {
    show($("#request"));
    $("#problem").textContent = msg("bad-link");
    $("#confirm").disabled = true;
  }
  if (request) await payment(me, request);
} else {
  chooser();
}
root.dataset.ready = "true";
