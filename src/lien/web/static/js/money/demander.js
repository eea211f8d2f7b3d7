// *Demander un paiement*: the member asks an account (typed, its check digits verified as it is
// typed; from the directory or a contact) to pay an amount. The request is a `request_payment`
// signed here (docs/protocol.md §7): its note sealed for the two members only, its reference
// hashed, its validity its `expires`. The payer pays or refuses it from its own account page.
import { encryptMemo, referenceHash } from "../memo.js";
import {
  $, AmountError, accountPicker, Submission, body, currency, displayAccount, formatAmount, member,
  msg, parseAmount, root, show, unlockedKey,
} from "./common.js";

const HOUR_MS = 60 * 60 * 1000;

const me = await member();
let payer = null; // {id, name, key}
let submission = null;
const picker = accountPicker(me, {
  input: $("#from"), status: $("#from-status"), select: $("#known"), unknown: "unknown-payer",
  onChange: (chosen) => {
    payer = chosen;
    submission = null;
  },
});

// The amount in minor units, or null with the field's message shown.
function readAmount() {
  $("#amount-error").textContent = "";
  try {
    return parseAmount($("#amount").value);
  } catch (e) {
    if (!(e instanceof AmountError)) throw e;
    $("#amount-error").textContent = e.message;
    return null;
  }
}

async function send(key, amount) {
  const problem = $("#problem");
  if (!submission) {
    const fields = { from: payer.id, to: me.account, currency, amount };
    const reference = $("#reference").value.trim();
    if (reference) fields.reference = await referenceHash(me.account, reference);
    const memo = $("#memo").value.trim();
    if (memo) {
      try {
        fields.memo = await encryptMemo(memo, key.memoKey, key.publicKeyHex, payer.key);
      } catch {
        problem.textContent = msg("memo-long");
        return;
      }
    }
    const hours = Number($("#validity").value) || 1;
    submission = new Submission(body("request_payment", fields, Date.now() + hours * HOUR_MS), key);
    root.dataset.txId = await submission.id();
  }
  const outcome = await submission.submit();
  if (outcome.ok) {
    $("#result-text").textContent = msg("sent", {
      amount: formatAmount(amount), payer: payer.name || displayAccount(payer.id),
    });
    show($("#request-form"), false);
    show($("#result"));
    root.dataset.sent = outcome.id;
    return;
  }
  problem.textContent = outcome.text;
  if (!outcome.retry) submission = null;
}

let busy = false;
$("#request-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (busy) return;
  busy = true;
  $("#send").disabled = true;
  $("#problem").textContent = "";
  try {
    const amount = readAmount();
    if (!payer) {
      $("#problem").textContent = msg("no-payer");
      return;
    }
    if (amount === null) return;
    await send(await unlockedKey(me), amount);
  } finally {
    busy = false;
    $("#send").disabled = false;
  }
});
for (const id of ["amount", "reference", "memo", "validity"]) {
  $("#" + id).addEventListener("input", () => { submission = null; });
}
await picker.fillKnown();
const preset = new URLSearchParams(location.search).get("from");
if (preset) {
  $("#from").value = preset;
  await picker.choose(preset);
}
root.dataset.ready = "true";
