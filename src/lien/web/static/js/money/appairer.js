// The pairing page of a till's device: it makes the till's own key (never leaves the device,
// not even to its owner), shows its public half for the business to add, waits on the
// business's event stream until the delegation executes, then pays from the business's account
// within the caps (beyond them the ledger refuses: delegation_cap).
import {
  $, AmountError, Submission, body, currency, displayAccount, formatAmount, membership, msg,
  parseAmount, readAccount, root, show, watch,
} from "./common.js";
import { setBusiness, tillKey } from "./till-key.js";

let key = await tillKey();
$("#till-code").textContent = key.publicKeyHex.replace(/(.{8})(?=.)/g, "$1 ");
$("#till-link").href = `/caisses?till=${key.publicKeyHex}`;
root.dataset.tillKey = key.publicKeyHex;
let stream = null;

async function status() {
  const found = await membership(key.business);
  const delegation = found?.account.delegations.find((d) => d.key === key.publicKeyHex && d.currency === currency);
  if (!delegation) {
    $("#till-status").textContent = msg("waiting");
    show($("#till-pay"), false);
    root.dataset.active = "false";
    return;
  }
  $("#till-status").textContent = msg("active", {
    cap: formatAmount(delegation.cap_per_payment_minor),
    left: formatAmount(delegation.cap_total_minor - delegation.spent_minor),
    total: formatAmount(delegation.cap_total_minor),
  });
  show($("#till-pay"));
  root.dataset.active = "true";
}

async function follow(business) {
  key = await setBusiness(business);
  $("#business").value = displayAccount(business);
  if (stream) stream.close();
  await new Promise((resolve) => {
    stream = watch(business, () => status(), resolve);
  });
  await status();
}

$("#business-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const { id, problem } = readAccount($("#business").value);
  $("#business-error").textContent = id ? "" : problem || msg("account-short");
  if (id) await follow(id);
});

let busy = false;
$("#till-pay").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (busy) return;
  busy = true;
  $("#confirm").disabled = true;
  for (const id of ["to-error", "amount-error", "problem", "done"]) $("#" + id).textContent = "";
  try {
    const to = readAccount($("#to").value);
    if (!to.id) {
      $("#to-error").textContent = to.problem || msg("account-short");
      return;
    }
    let amount;
    try {
      amount = parseAmount($("#amount").value);
    } catch (e) {
      if (!(e instanceof AmountError)) throw e;
      $("#amount-error").textContent = e.message;
      return;
    }
    const fields = { from: key.business, to: to.id, currency, amount };
    const outcome = await new Submission(body("transfer", fields), key).submit();
    if (outcome.ok) {
      $("#done").textContent = msg("done", { amount: formatAmount(amount), payee: displayAccount(to.id) });
      $("#amount").value = "";
    } else {
      $("#problem").textContent = outcome.text;
    }
    await status();
  } finally {
    busy = false;
    $("#confirm").disabled = false;
  }
});

if (key.business) await follow(key.business);
root.dataset.ready = "true";
