// The till's payment URL, until H4's payload.js (makePaymentUrl / parsePaymentUrl) replaces
// this file: {origin}/payer/v1?to=&cur=&amount=&ref=&exp=&name= — everything needed to pay, so
// that any LIEN wallet pays it and a phone's camera opens it. A counter's printed QR has no
// amount, reference nor expiry: the client types the amount.
export function makePaymentUrl({ origin, to, currency, amount, reference, expires, name }) {
  const query = new URLSearchParams({ to, cur: currency });
  if (amount !== undefined && amount !== null) query.set("amount", String(amount));
  if (reference) query.set("ref", reference);
  if (expires) query.set("exp", String(expires));
  if (name) query.set("name", name);
  return `${origin}/payer/v1?${query}`;
}

// The request of a payment URL (or of its query), or throws an Error naming the bad field.
export function parsePaymentUrl(text) {
  const url = new URL(text, location.origin);
  if (url.pathname !== "/payer/v1") throw new Error("path");
  const q = url.searchParams;
  const integer = (name) => {
    const value = q.get(name);
    if (value === null || value === "") return null;
    if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new Error(name);
    return Number(value);
  };
  const to = q.get("to") ?? "";
  const currency = q.get("cur") ?? "";
  if (!to) throw new Error("to");
  if (!/^[A-Z][A-Z0-9]{1,11}$/.test(currency)) throw new Error("cur");
  const amount = integer("amount");
  if (amount !== null && (amount < 1 || amount > 100000000000)) throw new Error("amount");
  return {
    to, currency, amount, reference: q.get("ref") ?? "", expires: integer("exp"),
    name: (q.get("name") ?? "").slice(0, 80),
  };
}
