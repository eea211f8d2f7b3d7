// The tills of a business: a till is an employee's device holding its own key, which the
// business delegates (a `delegate` transaction signed by the business's key) with a limit per
// payment and a total limit; listed with what it spent, revocable (`revoke_delegation`).
import {
  $, AmountError, Submission, body, currency, displayAccount, formatAmount, member, membership,
  msg, parseAmount, root, unlockedKey,
} from "./common.js";

const me = await member();
$("#business").textContent = displayAccount(me.account);

async function list() {
  const found = await membership(me.account);
  const rows = (found?.account.delegations ?? []).filter((d) => d.currency === currency);
  const tbody = $("#tills");
  tbody.replaceChildren();
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 5;
    td.textContent = msg("none");
    tr.append(td);
    tbody.append(tr);
  }
  for (const d of rows) {
    const tr = document.createElement("tr");
    tr.dataset.key = d.key;
    const cells = [d.key.slice(0, 8) + "…", formatAmount(d.cap_per_payment_minor),
      formatAmount(d.cap_total_minor), formatAmount(d.spent_minor)];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    const td = document.createElement("td");
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "secondary";
    revoke.textContent = msg("revoke");
    revoke.addEventListener("click", () => submit(revoke, "revoke_delegation", { account: me.account, key: d.key }, msg("revoked")));
    td.append(revoke);
    tr.append(td);
    tbody.append(tr);
  }
}

async function submit(button, type, fields, done) {
  if (button.disabled) return;
  button.disabled = true;
  $("#problem").textContent = "";
  $("#done").textContent = "";
  try {
    const key = await unlockedKey(me);
    const outcome = await new Submission(body(type, fields), key).submit();
    if (outcome.ok) {
      $("#done").textContent = done;
      await list();
      return true;
    }
    $("#problem").textContent = outcome.text;
    return false;
  } finally {
    button.disabled = false;
  }
}

function amountField(id) {
  const input = $("#" + id);
  const error = $(`#${id}-error`);
  error.textContent = "";
  try {
    return parseAmount(input.value);
  } catch (e) {
    if (!(e instanceof AmountError)) throw e;
    error.textContent = e.message;
    return null;
  }
}

$("#add-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("#till-key").value.trim().toLowerCase().replace(/\s/g, "");
  $("#till-key-error").textContent = /^[0-9a-f]{64}$/.test(key) ? "" : msg("bad-key");
  const perPayment = amountField("cap-payment");
  const total = amountField("cap-total");
  if ($("#till-key-error").textContent || perPayment === null || total === null) return;
  if (perPayment > total) {
    $("#cap-payment-error").textContent = msg("caps");
    return;
  }
  const ok = await submit($("#add"), "delegate", {
    account: me.account, currency, key, cap_per_payment_minor: perPayment, cap_total_minor: total,
  }, msg("added"));
  if (ok) for (const id of ["till-key", "cap-payment", "cap-total"]) $("#" + id).value = "";
});

const preset = new URLSearchParams(location.search).get("till");
if (preset) $("#till-key").value = preset;
await list();
root.dataset.ready = "true";
