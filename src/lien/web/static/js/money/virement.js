// *Virement*: to an account number (its check digits verified as it is typed, its owner's name
// shown when the member may see it), to a business of the directory or a saved contact; the
// default split shown, or the euro-backed part chosen; a reference (hashed), the invoice's euro
// value, a note encrypted for payer and payee only; a second confirmation for large amounts.
import { encryptMemo, referenceHash } from "../memo.js";
import {
  $, AmountError, accountPicker, Submission, body, currency, defaultSplit, displayAccount,
  formatAmount, member, membership, msg, parseAmount, root, show, spendable, unlockedKey,
} from "./common.js";

const LARGE = 100000; // 1 000,00: asks for a second confirmation

const me = await member();
const mine = await membership(me.account);
let payee = null; // {id, name, key}
let submission = null;
const picker = accountPicker(me, {
  input: $("#to"), status: $("#to-status"), select: $("#known"), unknown: "unknown-payee",
  onChange: (chosen) => {
    payee = chosen;
    submission = null;
  },
});


const chosen = () => document.querySelector("input[name=units]:checked").value === "choose";

// The amount and its split, or null with the field's message shown.
function read() {
  for (const id of ["amount-error", "nantie-error", "invoice-error"]) $("#" + id).textContent = "";
  $("#split").textContent = "";
  let amount;
  try {
    amount = parseAmount($("#amount").value);
  } catch (e) {
    if (!(e instanceof AmountError)) throw e;
    if ($("#amount").value.trim()) $("#amount-error").textContent = e.message;
    return null;
  }
  let split;
  if (chosen()) {
    let nantie = 0;
    if ($("#nantie").value.trim() && !/^0+([.,]0*)?$/.test($("#nantie").value.trim())) {
      try {
        nantie = parseAmount($("#nantie").value);
      } catch (e) {
        if (!(e instanceof AmountError)) throw e;
        $("#nantie-error").textContent = e.message;
        return null;
      }
    }
    if (nantie > amount) {
      $("#nantie-error").textContent = msg("nantie-too-much");
      return null;
    }
    split = { nantie, credit: amount - nantie, chosen: true };
  } else {
    split = mine?.m ? defaultSplit(amount, mine.m) : null;
    if (!split) {
      $("#amount-error").textContent = msg("cannot-pay", { max: formatAmount(mine?.m ? spendable(mine.m) : 0) });
      return null;
    }
  }
  $("#split").textContent = msg("split", { nantie: formatAmount(split.nantie), credit: formatAmount(split.credit) });
  return { amount, split };
}

const splitText = (s) => msg("split", { nantie: formatAmount(s.nantie), credit: formatAmount(s.credit) });

async function pay(key, amount, split) {
  const problem = $("#problem");
  if (!submission) {
    const fields = { from: me.account, to: payee.id, currency, amount };
    if (split.chosen) fields.nantie = split.nantie;
    const reference = $("#reference").value.trim();
    if (reference) fields.reference = await referenceHash(payee.id, reference);
    if ($("#invoice").value.trim()) {
      try {
        fields.invoice_minor = parseAmount($("#invoice").value);
      } catch (e) {
        if (!(e instanceof AmountError)) throw e;
        $("#invoice-error").textContent = e.message;
        return;
      }
    }
    const memo = $("#memo").value.trim();
    if (memo) {
      try {
        fields.memo = await encryptMemo(memo, key.memoKey, key.publicKeyHex, payee.key);
      } catch {
        problem.textContent = msg("memo-long");
        return;
      }
    }
    submission = new Submission(body("transfer", fields), key);
    root.dataset.txId = await submission.id();
  }
  const outcome = await submission.submit();
  if (outcome.ok) {
    const done = { nantie: outcome.result.nantie, credit: outcome.result.credit };
    $("#result-text").textContent = msg("done", {
      amount: formatAmount(amount), payee: payee.name || displayAccount(payee.id), split: splitText(done),
    });
    show($("#transfer-form"), false);
    show($("#result"));
    root.dataset.paid = outcome.id;
    return;
  }
  problem.textContent = outcome.text;
  if (!outcome.retry) submission = null;
}

let busy = false;
async function confirmed(large) {
  if (busy) return;
  busy = true;
  $("#confirm").disabled = true;
  $("#confirm-large").disabled = true;
  $("#problem").textContent = "";
  try {
    if (!payee) {
      $("#problem").textContent = msg("no-payee");
      return;
    }
    const read_ = read();
    if (!read_) return;
    if (read_.amount >= LARGE && !large) {
      $("#second-text").textContent = msg("large", {
        amount: formatAmount(read_.amount), payee: payee.name || displayAccount(payee.id),
      });
      show($("#second"));
      $("#confirm-large").focus();
      return;
    }
    show($("#second"), false);
    const key = await unlockedKey(me);
    await pay(key, read_.amount, read_.split);
  } finally {
    busy = false;
    $("#confirm").disabled = false;
    $("#confirm-large").disabled = false;
  }
}

for (const id of ["amount", "nantie"]) {
  $("#" + id).addEventListener("input", () => {
    submission = null;
    show($("#second"), false);
    read();
  });
}
for (const id of ["reference", "invoice", "memo"]) $("#" + id).addEventListener("input", () => { submission = null; });
for (const radio of document.querySelectorAll("input[name=units]")) {
  radio.addEventListener("change", () => {
    submission = null;
    show($("#nantie-label"), chosen());
    read();
  });
}
$("#transfer-form").addEventListener("submit", (event) => {
  event.preventDefault();
  confirmed(false);
});
$("#confirm-large").addEventListener("click", () => confirmed(true));
$("#cancel-large").addEventListener("click", () => show($("#second"), false));
await picker.fillKnown();
const preset = new URLSearchParams(location.search).get("to");
if (preset) {
  $("#to").value = preset;
  await picker.choose(preset);
}
root.dataset.ready = "true";
