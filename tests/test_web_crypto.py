"""The web wallet's cryptography (docs/protocol.md §15): the same bytes in Python and in real
Chromium, from the document's vectors.

Python: ``lien.wallet.backup`` and ``lien.wallet.memo`` against the vectors, with independent
computations of what the document describes (HKDF, the reference hash). Chromium (Playwright,
headless): the browser's own modules (``static/js/keys.js``, ``memo.js``, ``protocol.js``),
served from the source tree, give the same secrets, backup, memo boxes and hashes, open what
Python sealed and the other way round, and keep their keys non-extractable.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from playwright.sync_api import Page
from test_protocol_vectors import DOC, vectors

from lien.ledger import limits
from lien.wallet import backup, memo


STATIC = Path(__file__).resolve().parents[1] / "src" / "lien" / "web" / "static"
VENDOR = STATIC / "vendor" / "hash-wasm"
PROTOCOL_EXPORTS = ("export { hex, fromHex, canonicalBytes, txId, blockHash, chainId, signBody, "
                    "verifyBlockSignature, accountId, keyFromSeed };\n")


def v() -> dict[str, Any]:
    return vectors()["web_wallet"]


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """RFC 5869 for 32 bytes (one block), written from the RFC, not from the library."""
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def public_key(seed_hex: str) -> str:
    return bytes(nacl.signing.SigningKey(bytes.fromhex(seed_hex)).verify_key).hex()


# -- the files ----------------------------------------------------------------------------------------
def test_protocol_js_is_the_documents_section_3_code_and_its_exports() -> None:
    snippets = re.findall(r"^```js\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.M | re.S)
    module = (STATIC / "js" / "protocol.js").read_text(encoding="utf-8")
    assert module == snippets[0] + "\n" + PROTOCOL_EXPORTS


def test_hash_wasm_is_the_pinned_file_with_its_licence() -> None:
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((VENDOR / "argon2.umd.min.js").read_bytes()).hexdigest()
    assert f"sha256 `{digest}`" in readme
    assert "hash-wasm 4.13.0" in readme and "sha512-" in readme
    assert "MIT License" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert sorted(p.name for p in VENDOR.iterdir()) == ["LICENSE", "README.md",
                                                        "argon2.umd.min.js"]


# -- Python against the vectors ------------------------------------------------------------------
def test_backup_vector() -> None:
    b = v()["backup"]
    params = backup.KdfParams(b["kdf"]["salt"])
    assert params.to_json() == b["kdf"]
    assert b["password"] != unicodedata.normalize("NFC", b["password"])  # the NFC step matters
    assert unicodedata.normalize("NFC", b["password"]).encode().hex() == b["password_nfc_utf8_hex"]
    master = backup.argon2_master(b["password"], params)
    assert master.hex() == b["master_hex"]
    secrets = backup.derive(unicodedata.normalize("NFC", b["password"]), params)
    assert secrets.login_secret == hkdf(master, b"", b"LIEN/login/v1")
    assert secrets.login_secret.hex() == b["login_secret_hex"]
    assert secrets.kek == hkdf(master, b"", b"LIEN/backup/v1") == bytes.fromhex(b["kek_hex"])
    seed = bytes.fromhex(b["seed"])
    sealed = backup.seal(seed, secrets.kek, b["account"], bytes.fromhex(b["nonce_hex"]))
    assert sealed == b["backup"] and len(sealed) == 83
    assert backup.unseal(sealed, secrets.kek, b["account"]) == seed
    wrong = backup.derive(b["password"] + " ", params).kek
    for kek, account in ((wrong, b["account"]), (secrets.kek, "GGVXS38A6148")):
        with pytest.raises(backup.BackupError):
            backup.unseal(sealed, kek, account)


def test_memo_vector() -> None:
    m = v()["memo"]
    payer, payee = m["payer"], m["payee"]
    for side in (payer, payee):
        assert public_key(side["seed"]) == side["public_key"]
        seed = bytes.fromhex(side["seed"])
        assert memo.memo_secret(seed).hex() == side["x25519_secret_hex"]
        scalar = bytearray(hashlib.sha512(seed).digest()[:32])  # the document's words
        scalar[0] &= 248
        scalar[31] = (scalar[31] & 127) | 64
        assert scalar.hex() == side["x25519_secret_hex"]
        assert memo.montgomery(side["public_key"]).hex() == side["x25519_public_hex"]
        assert _u_as_documented(side["public_key"]) == side["x25519_public_hex"]
    payer_seed, payee_seed = bytes.fromhex(payer["seed"]), bytes.fromhex(payee["seed"])
    shared = memo.shared_secret(payer_seed, payee["public_key"])
    assert shared == memo.shared_secret(payee_seed, payer["public_key"])
    assert shared.hex() == m["shared_hex"]
    salt = b"".join(sorted(bytes.fromhex(s["public_key"]) for s in (payer, payee)))
    assert salt.hex() == m["hkdf_salt_hex"]
    assert hkdf(shared, salt, b"LIEN/memo/v1").hex() == m["key_hex"]
    assert memo.memo_key(payer_seed, payee["public_key"]).hex() == m["key_hex"]
    nonce = bytes.fromhex(m["nonce_hex"])
    assert memo.encrypt(m["text"], payer_seed, payee["public_key"], nonce) == m["box"]
    assert memo.decrypt(m["box"], payee_seed, payer["public_key"]) == m["text"]
    assert memo.decrypt(m["box"], payer_seed, payee["public_key"]) == m["text"]


def _u_as_documented(public_key_hex: str) -> str:
    p = 2**255 - 19
    y = int.from_bytes(bytes.fromhex(public_key_hex), "little") & ((1 << 255) - 1)
    return ((1 + y) * pow(1 - y, p - 2, p) % p).to_bytes(32, "little").hex()


def test_the_longest_memo_fits_the_memo_field_and_one_byte_more_is_refused() -> None:
    m = v()["memo"]
    seed, to = bytes.fromhex(m["payer"]["seed"]), m["payee"]["public_key"]
    assert m["text_bytes_max"] == memo.text_bytes_max == 161
    assert len(m["longest_text"].encode()) == 161
    assert memo.encrypt(m["longest_text"], seed, to, bytes.fromhex(m["nonce_hex"])) \
        == m["longest_box"]
    assert len(m["longest_box"]) <= limits.memo_bytes_max
    assert len(memo.encrypt("a" * 161, seed, to)) == 255
    with pytest.raises(memo.MemoTooLong, match="at most 161 bytes.*has 162"):
        memo.encrypt("é" * 81, seed, to)


def test_a_memo_opens_for_its_two_parties_only_and_not_once_changed() -> None:
    m = v()["memo"]
    payer, payee = bytes.fromhex(m["payer"]["seed"]), bytes.fromhex(m["payee"]["seed"])
    other = bytes(range(200, 232))
    box = memo.encrypt("loyer de mars", payer, m["payee"]["public_key"])
    assert box != memo.encrypt("loyer de mars", payer, m["payee"]["public_key"])  # fresh nonce
    assert "loyer" not in box
    with pytest.raises(memo.MemoError):
        memo.decrypt(box, other, m["payer"]["public_key"])
    changed = box[:-2] + ("A" if box[-2] != "A" else "B") + box[-1]
    with pytest.raises(memo.MemoError):
        memo.decrypt(changed, payee, m["payer"]["public_key"])
    for not_a_box in ("loyer", "m1.", "m1.!!!!", "m1.AAAA"):
        with pytest.raises(memo.MemoError):
            memo.decrypt(not_a_box, payee, m["payer"]["public_key"])
    with pytest.raises(memo.MemoError):
        memo.encrypt("x", payer, "00" * 32)  # not a point's encoding libsodium accepts
    assert memo.decrypt_any(box, payee, ["ab" * 32, m["payer"]["public_key"]]) == "loyer de mars"
    with pytest.raises(memo.MemoError):
        memo.decrypt_any(box, payee, [m["payee"]["public_key"]])


def test_reference_vector() -> None:
    r = v()["reference"]
    data = (b"LIEN/reference/v1\x00" + r["payee_account"].encode() + b"\x00"
            + unicodedata.normalize("NFC", r["reference"]).encode())
    assert hashlib.sha256(data).hexdigest() == r["hash"]
    assert memo.reference_hash(r["payee_account"], r["reference"]) == r["hash"]
    assert memo.reference_hash(r["payee_account"], unicodedata.normalize("NFC", r["reference"])) \
        == r["hash"]
    assert len(r["hash"]) == limits.reference_bytes_max
    assert memo.reference_hash("R1KB0J21ZE03", r["reference"]) != r["hash"]


# -- the browser's modules, in Chromium ---------------------------------------------------------
def run(page: Page, script: str, arg: Any = None) -> Any:
    """``script`` is the body of an async function of ``arg`` with ``keys``, ``memo``,
    ``protocol`` (the modules) and ``h`` (hex → bytes) in scope."""
    return page.evaluate(
        "async (arg) => { const keys = await import('/js/keys.js');"
        " const memo = await import('/js/memo.js');"
        " const protocol = await import('/js/protocol.js'); const h = protocol.fromHex;"
        f" {script} }}", arg)


def test_chromium_derives_the_same_secrets_and_backup(static_page: Page) -> None:
    b = v()["backup"]
    out = run(static_page, """
        const s = await keys.deriveSecrets(arg.password, arg.kdf);
        const nfc = await keys.deriveSecrets(arg.password.normalize('NFC'), arg.kdf);
        const imported = await keys.importSeed(h(arg.seed));
        const sealed = await keys.sealBackup(h(arg.seed), s.kek, arg.account, h(arg.nonce_hex));
        const opened = protocol.hex(await keys.openBackup(arg.backup, s.kek, arg.account));
        const random = await keys.sealBackup(h(arg.seed), s.kek, arg.account);
        const failures = [];
        const wrong = (await keys.deriveSecrets(arg.password + ' ', arg.kdf)).kek;
        for (const [kek, account, text] of [[wrong, arg.account, arg.backup],
            [s.kek, 'GGVXS38A6148', arg.backup], [s.kek, arg.account, 'b1.AAAA'],
            [s.kek, arg.account, 'x' + arg.backup]]) {
          try { await keys.openBackup(text, kek, account); failures.push(null); }
          catch (e) { failures.push(e.name); }
        }
        let refused = null;
        try { await crypto.subtle.exportKey('raw', s.kek); } catch (e) { refused = e.name; }
        return {login: s.loginSecretHex, nfc: nfc.loginSecretHex, sealed, opened, random,
                account: imported.account, key: imported.publicKeyHex, failures, refused,
                kek: [s.kek.extractable, s.kek.algorithm.name, s.kek.algorithm.length]};
    """, b)
    assert out["login"] == out["nfc"] == b["login_secret_hex"]
    assert out["sealed"] == b["backup"]
    assert out["opened"] == b["seed"]
    assert out["account"] == b["account"] and out["key"] == public_key(b["seed"])
    assert out["failures"] == ["BackupError"] * 4
    assert out["refused"] == "InvalidAccessError" and out["kek"] == [False, "AES-GCM", 256]
    # a backup sealed in the browser with a random nonce opens in Python
    kek = bytes.fromhex(b["kek_hex"])
    assert out["random"] != b["backup"]
    assert backup.unseal(out["random"], kek, b["account"]).hex() == b["seed"]


def test_chromium_keys_are_not_extractable_and_sign_as_python(static_page: Page) -> None:
    seed = bytes(range(32))
    out = run(static_page, """
        const seed = keys.generateSeed();
        const k = await keys.importSeed(h(arg));
        const refusals = [];
        for (const [format, key] of [['pkcs8', k.privateKey], ['jwk', k.privateKey],
                                     ['pkcs8', k.memoKey], ['jwk', k.memoKey]]) {
          try { await crypto.subtle.exportKey(format, key); refusals.push(null); }
          catch (e) { refusals.push(e.name); }
        }
        const body = {type: 'transfer', memo: 'é'};
        const signature = await protocol.signBody(body, k.privateKey, k.publicKeyHex);
        return {refusals, signature, length: seed.length, distinct: protocol.hex(seed) !== arg,
                extractable: [k.privateKey.extractable, k.memoKey.extractable]};
    """, seed.hex())
    assert out["refusals"] == ["InvalidAccessError"] * 4
    assert out["extractable"] == [False, False]
    assert out["length"] == 32 and out["distinct"]
    key = nacl.signing.SigningKey(seed)
    assert out["signature"]["key"] == bytes(key.verify_key).hex()
    assert out["signature"]["sig"] == key.sign(
        b"LIEN/tx/v1\x00" + '{"memo":"é","type":"transfer"}'.encode()).signature.hex()


def test_chromium_memos_match_the_vectors_and_python(static_page: Page) -> None:
    m = v()["memo"]
    payer, payee = m["payer"], m["payee"]
    from_python = memo.encrypt("rendez-vous jeudi ✓", bytes.fromhex(payee["seed"]),
                               payer["public_key"])
    out = run(static_page, """
        const payer = await memo.memoKeyFromSeed(h(arg.m.payer.seed));
        const payee = await memo.memoKeyFromSeed(h(arg.m.payee.seed));
        const [P, Q] = [arg.m.payer.public_key, arg.m.payee.public_key];
        const box = await memo.encryptMemo(arg.m.text, payer, P, Q, h(arg.m.nonce_hex));
        const longest = await memo.encryptMemo(arg.m.longest_text, payer, P, Q, h(arg.m.nonce_hex));
        let tooLong = null;
        try { await memo.encryptMemo(arg.m.longest_text + 'x', payer, P, Q); }
        catch (e) { tooLong = [e.name, e.message]; }
        const other = await memo.memoKeyFromSeed(new Uint8Array(32).fill(7));
        let stranger = null;
        try { await memo.decryptMemo(arg.m.box, other, P, Q); } catch (e) { stranger = e.name; }
        return {
          box, longest, tooLong, stranger, max: memo.MEMO_TEXT_BYTES_MAX,
          byPayee: await memo.decryptMemo(arg.m.box, payee, Q, P),
          byPayer: await memo.decryptMemo(arg.m.box, payer, P, Q),
          fromPython: await memo.decryptMemo(arg.python, payer, P, Q),
          toPython: await memo.encryptMemo('facture réglée', payer, P, Q),
          isBox: [memo.isMemoBox(arg.m.box), memo.isMemoBox('pain')],
        };
    """, {"m": m, "python": from_python})
    assert out["box"] == m["box"] and out["longest"] == m["longest_box"]
    assert out["max"] == memo.text_bytes_max
    assert out["tooLong"][0] == "MemoError" and "at most 161 bytes" in out["tooLong"][1]
    assert out["stranger"] == "MemoError"
    assert out["byPayee"] == out["byPayer"] == m["text"]
    assert out["fromPython"] == "rendez-vous jeudi ✓"
    assert out["isBox"] == [True, False]
    for seed, other in ((payee["seed"], payer["public_key"]), (payer["seed"], payee["public_key"])):
        assert memo.decrypt(out["toPython"], bytes.fromhex(seed), other) == "facture réglée"


def test_chromium_reference_hash(static_page: Page) -> None:
    r = v()["reference"]
    out = run(static_page, "return memo.referenceHash(arg.payee_account, arg.reference);", r)
    assert out == r["hash"]


def test_chromium_keeps_the_device_key_in_indexeddb(static_page: Page) -> None:
    seed = bytes(range(32))
    saved = run(static_page, """
        const k = await keys.importSeed(h(arg));
        await keys.saveDeviceKey(k.account, k);
        let refused = null;
        try {
          const readable = await crypto.subtle.importKey('pkcs8',
            protocol.fromHex('302e020100300506032b657004220420' + arg), 'Ed25519', true, ['sign']);
          await keys.saveDeviceKey('OTHER', {...k, privateKey: readable});
        } catch (e) { refused = e.name; }
        return {account: k.account, refused};
    """, seed.hex())
    assert saved["refused"] == "TypeError"  # an extractable key is never kept
    static_page.reload()  # a new page of the same device: only IndexedDB remains
    out = run(static_page, """
        const k = await keys.loadDeviceKey(arg.account);
        const sig = await protocol.signBody({n: 1}, k.privateKey, k.publicKeyHex);
        let refused = null;
        try { await crypto.subtle.exportKey('pkcs8', k.privateKey); } catch (e) { refused = e.name; }
        const box = await memo.encryptMemo('ok', k.memoKey, k.publicKeyHex, k.publicKeyHex);
        const none = await keys.loadDeviceKey('OTHER');
        await keys.forgetDeviceKey(arg.account);
        return {sig, refused, hasPin: k.hasPin, none, box,
                forgotten: await keys.loadDeviceKey(arg.account)};
    """, saved)
    key = nacl.signing.SigningKey(seed)
    assert out["sig"]["sig"] == key.sign(b'LIEN/tx/v1\x00{"n":1}').signature.hex()
    assert out["refused"] == "InvalidAccessError" and out["hasPin"] is False
    assert memo.decrypt(out["box"], seed, bytes(key.verify_key).hex()) == "ok"
    assert out["none"] is None and out["forgotten"] is None


def test_chromium_pin_gate_forgets_the_key_after_too_many_wrong_pins(static_page: Page) -> None:
    out = run(static_page, """
        const k = await keys.importSeed(h(arg));
        await keys.saveDeviceKey(k.account, k);
        await keys.setDevicePin(k.account, '2468');
        const gated = await keys.loadDeviceKey(k.account);
        const good = await keys.unlockDeviceKey(k.account, '2468');
        const left = [];
        for (let i = 0; i < keys.PIN_ATTEMPTS_MAX; i++) {
          try { await keys.unlockDeviceKey(k.account, '1357'); left.push('unlocked'); }
          catch (e) { left.push(e.attemptsLeft); }
        }
        let after = null;
        try { await keys.unlockDeviceKey(k.account, '2468'); } catch (e) { after = e.name; }
        return {gated, good: good.publicKeyHex === k.publicKeyHex, left, after,
                gone: await keys.loadDeviceKey(k.account), max: keys.PIN_ATTEMPTS_MAX};
    """, bytes(range(32)).hex())
    assert out["gated"] == {"publicKeyHex": public_key(bytes(range(32)).hex()), "hasPin": True}
    assert out["good"] is True
    assert out["left"] == list(range(out["max"] - 1, -1, -1))
    assert out["after"] == "PinError" and out["gone"] is None


def test_chromium_refuses_a_kdf_that_would_take_all_the_memory(static_page: Page) -> None:
    kdf = dict(v()["backup"]["kdf"])
    out = run(static_page, """
        const names = [];
        for (const kdf of arg) {
          try { await keys.deriveSecrets('x', kdf); names.push(null); }
          catch (e) { names.push(e.name); }
        }
        return names;
    """, [{**kdf, "memory_kib": 4_194_304}, {**kdf, "time_cost": 100},
          {**kdf, "salt": "00"}, {**kdf, "name": "scrypt"}])
    assert out == ["RangeError", "RangeError", "TypeError", "TypeError"]

