// Memos only payer and payee can read, and invoice references the chain holds only as hashes
// (docs/protocol.md §15; the same bytes as src/lien/wallet/memo.py).
//
// Each side's X25519 key comes from its Ed25519 key: the private one from the seed
// (SHA-512(seed)[0:32], clamped, as libsodium's crypto_sign_ed25519_sk_to_curve25519), the
// peer's public one from its Edwards y (u = (1 + y) / (1 − y) mod 2^255 − 19). The AES-256-GCM
// key is HKDF-SHA256(X25519(mine, theirs), salt = both Ed25519 public keys sorted byte-wise,
// info "LIEN/memo/v1"); the box is "m1." + base64url(nonce(12) ‖ ciphertext ‖ tag(16)).
import { fromHex, hex } from "./protocol.js";
import { base64url, concat, fromBase64url } from "./encoding.js";

const enc = new TextEncoder();
const MEMO_PREFIX = "m1.";
const MEMO_INFO = enc.encode("LIEN/memo/v1");
const REFERENCE_TAG = enc.encode("LIEN/reference/v1\0");
const X25519_PKCS8 = fromHex("302e020100300506032b656e04220420");
const P = 2n ** 255n - 19n;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
// The longest memo (UTF-8 bytes) whose box fits the transfer's memo field (256 bytes).
export const MEMO_TEXT_BYTES_MAX = 161;

export class MemoError extends Error {
  constructor(message) {
    super(message);
    this.name = "MemoError";
  }
}

export const isMemoBox = (memo) => typeof memo === "string" && memo.startsWith(MEMO_PREFIX);

// The X25519 private key of an Ed25519 seed, non-extractable, for deriveBits only.
export async function memoKeyFromSeed(seed /* Uint8Array(32) */) {
  const scalar = new Uint8Array(await crypto.subtle.digest("SHA-512", seed)).slice(0, 32);
  scalar[0] &= 248;
  scalar[31] &= 127;
  scalar[31] |= 64;
  const key = await crypto.subtle.importKey(
    "pkcs8", concat(X25519_PKCS8, scalar), { name: "X25519" }, false, ["deriveBits"]);
  scalar.fill(0);
  return key;
}

const modPow = (base, exponent) => {
  let result = 1n;
  for (base %= P; exponent > 0n; exponent >>= 1n, base = (base * base) % P) {
    if (exponent & 1n) result = (result * base) % P;
  }
  return result;
};

// The X25519 public key (32 bytes, little-endian u) of an Ed25519 public key (64 hex).
function montgomery(publicKeyHex) {
  if (typeof publicKeyHex !== "string" || !/^[0-9a-f]{64}$/.test(publicKeyHex)) {
    throw new MemoError("not an Ed25519 public key");
  }
  const bytes = fromHex(publicKeyHex);
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(bytes[i]);
  y &= (1n << 255n) - 1n; // the top bit is the sign of x
  if (y >= P || y === 1n) throw new MemoError("not an Ed25519 public key");
  let u = ((1n + y) * modPow((1n - y + P) % P, P - 2n)) % P;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, u >>= 8n) out[i] = Number(u & 255n);
  return out;
}

const compareBytes = (a, b) => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
};

async function boxKey(memoKey, myPublicKeyHex, theirPublicKeyHex) {
  const theirs = await crypto.subtle.importKey(
    "raw", montgomery(theirPublicKeyHex), { name: "X25519" }, false, []);
  let shared;
  try {
    shared = await crypto.subtle.deriveBits({ name: "X25519", public: theirs }, memoKey, 256);
  } catch {
    throw new MemoError("a key of small order has no shared secret");
  }
  const salt = concat(...[fromHex(myPublicKeyHex), fromHex(theirPublicKeyHex)].sort(compareBytes));
  const base = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt, info: MEMO_INFO }, base,
    { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

// The memo box of text (NFC) from me to them; throws a MemoError past MEMO_TEXT_BYTES_MAX.
// nonce: only for test vectors (random otherwise).
export async function encryptMemo(text, memoKey, myPublicKeyHex, theirPublicKeyHex,
  nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES))) {
  const plain = enc.encode(text.normalize("NFC"));
  if (plain.length > MEMO_TEXT_BYTES_MAX) {
    throw new MemoError(`a memo holds at most ${MEMO_TEXT_BYTES_MAX} bytes of UTF-8 text ` +
      `once encrypted; this one has ${plain.length}`);
  }
  const key = await boxKey(memoKey, myPublicKeyHex, theirPublicKeyHex);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, plain);
  return MEMO_PREFIX + base64url(concat(nonce, new Uint8Array(sealed)));
}

// The text of a memo box between me and them; a MemoError when it does not open.
export async function decryptMemo(box, memoKey, myPublicKeyHex, theirPublicKeyHex) {
  if (!isMemoBox(box)) throw new MemoError("not a LIEN memo box");
  let raw;
  try {
    raw = fromBase64url(box.slice(MEMO_PREFIX.length));
  } catch {
    throw new MemoError("not a LIEN memo box");
  }
  if (raw.length < NONCE_BYTES + TAG_BYTES) throw new MemoError("not a LIEN memo box");
  const key = await boxKey(memoKey, myPublicKeyHex, theirPublicKeyHex);
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: raw.slice(0, NONCE_BYTES) }, key, raw.slice(NONCE_BYTES));
    return new TextDecoder("utf-8", { fatal: true }).decode(plain);
  } catch {
    throw new MemoError("this memo is not for these keys (or was changed)");
  }
}

// What a transfer carries for an invoice reference to payeeAccount: 64 hex digits.
export async function referenceHash(payeeAccount, reference) {
  const data = concat(REFERENCE_TAG, enc.encode(payeeAccount), new Uint8Array([0]),
    enc.encode(reference.normalize("NFC")));
  return hex(await crypto.subtle.digest("SHA-256", data));
}
