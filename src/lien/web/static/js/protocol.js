// LIEN protocol v2 in a browser: canonical JSON, transaction ids and signatures, account ids,
// chain ids.
const enc = new TextEncoder();
const hex = (bytes) =>
  Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
const concat = (a, b) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};
const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));

const TX_DOMAIN = enc.encode("LIEN/tx/v1\0");
const BLOCK_DOMAIN = enc.encode("LIEN/block/v1\0");
const ACCOUNT_DOMAIN = enc.encode("LIEN/account/v1\0");

// Canonical JSON: sort the keys of every object (deeply), then JSON.stringify (no spaces).
function sortKeysDeep(value) {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === "object") {
    const sorted = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeysDeep(value[key]);
    return sorted;
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw new RangeError("numbers are integers within ±(2^53 - 1)");
  }
  return value;
}
const canonicalBytes = (value) => enc.encode(JSON.stringify(sortKeysDeep(value)));

// The transaction id: SHA-256 of the canonical body. The block hash: same, of the header.
const txId = async (body) => hex(await sha256(canonicalBytes(body)));
const blockHash = async (header) => hex(await sha256(canonicalBytes(header)));

// The chain id of a genesis document (section 10.2): its name, "-", then the first 32 hex
// digits of the SHA-256 of the canonical document without chain_id. A wallet checks the id a
// node announces (GET /api/v1/chain) against the genesis it trusts before signing for it.
async function chainId(genesis) {
  const { chain_id: _announced, ...content } = genesis;
  return `${genesis.name}-${hex(await sha256(canonicalBytes(content))).slice(0, 32)}`;
}

// One signature of the envelope: Ed25519 over the domain tag then the canonical body.
async function signBody(body, privateKey, publicKeyHex) {
  const message = concat(TX_DOMAIN, canonicalBytes(body));
  return { key: publicKeyHex, sig: hex(await crypto.subtle.sign("Ed25519", privateKey, message)) };
}

// A validator's signature on a block: Ed25519 over the domain tag then the raw 32-byte hash.
async function verifyBlockSignature(hashHex, keyHex, sigHex) {
  const key = await crypto.subtle.importKey("raw", fromHex(keyHex), "Ed25519", false, ["verify"]);
  return crypto.subtle.verify("Ed25519", key, fromHex(sigHex), concat(BLOCK_DOMAIN, fromHex(hashHex)));
}

// The account id of an opening key: the first 50 bits of SHA-256(tag || key) as 10 Crockford
// base32 characters, then the two ISO 7064 MOD 97-10 check digits of that 50-bit number.
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
async function accountId(publicKey /* Uint8Array(32) */) {
  const digest = await sha256(concat(ACCOUNT_DOMAIN, publicKey));
  let value = 0n;
  for (const byte of digest.slice(0, 8)) value = (value << 8n) | BigInt(byte);
  value >>= 14n; // keep the first 50 of 64 bits
  let id = "";
  for (let i = 0n; i < 10n; i++) id = CROCKFORD[Number((value >> (5n * i)) & 31n)] + id;
  return id + String(98n - ((value * 100n) % 97n)).padStart(2, "0");
}

// The vectors give 32-byte seeds; WebCrypto imports a seed as PKCS#8 (a fixed 16-byte prefix).
// A real wallet calls crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"]) instead.
async function keyFromSeed(seed /* Uint8Array(32) */) {
  const prefix = fromHex("302e020100300506032b657004220420");
  const privateKey = await crypto.subtle.importKey(
    "pkcs8", concat(prefix, seed), "Ed25519", true, ["sign"]);
  const { x } = await crypto.subtle.exportKey("jwk", privateKey);
  const publicKey = Uint8Array.from(atob(x.replace(/-/g, "+").replace(/_/g, "/")),
    (c) => c.charCodeAt(0));
  return { privateKey, publicKey };
}

export { hex, fromHex, canonicalBytes, txId, blockHash, chainId, signBody, verifyBlockSignature, accountId, keyFromSeed };
