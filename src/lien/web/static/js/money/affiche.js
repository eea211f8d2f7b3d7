// The printed QR code of a counter or a market stall: the business's payment URL without an
// amount nor an expiry — the client types the amount on their phone.
import { $, currency, displayAccount, member, root } from "./common.js";
import { link } from "./encaisser-link.js";

const me = await member();
const name = me.profile?.trading_name || me.profile?.name || "";
const url = link({ to: me.account, currency }, name);
$("#qr").src = `/qr.svg?text=${encodeURIComponent(url)}`;
$("#poster-name").textContent = name;
$("#poster-account").textContent = displayAccount(me.account);
$("#print").addEventListener("click", () => window.print());
root.dataset.url = url;
root.dataset.ready = "true";
