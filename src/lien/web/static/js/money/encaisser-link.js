// The till's payment URL (payload.js, docs/protocol.md §16) made from this page's origin.
import { paymentUrl } from "../payload.js";

// The payment URL of payload.js, with the business's name when it fits a link's name.
export function link(request, name) {
  const base = { base: location.origin, name: null, ...request };
  if (name) {
    try {
      return paymentUrl({ ...base, name: name.normalize("NFC").slice(0, 60) });
    } catch {
      // a name a link cannot carry: the payer's wallet shows the directory's name
    }
  }
  return paymentUrl(base);
}
