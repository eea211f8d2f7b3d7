"""What a valid sign-up, login or password change is: every field checked alone, each refusal a
``FieldError`` naming the field and a message key (French words in ``MESSAGES``).

Checks are small functions of one value each; ``signup_form`` lists them in one place. Nothing
here reads the database or the chain.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from ..ledger import TxError, is_account_id, parse_account_id
from ..wallet.backup import BACKUP_PREFIX, KdfParams, nonce_bytes, salt_bytes, seed_bytes

KINDS = ("personal", "business")


def N_(message: str) -> str:  # noqa: N802  (gettext's marker: the pages translate the labels)
    return message


#: the directory's categories: key (stored in profiles) -> English label, a gettext message
#: that the pages translate (French first)
CATEGORIES: dict[str, str] = {
    "alimentation": N_("Food and groceries"),
    "restauration": N_("Restaurants and cafés"),
    "commerce": N_("Shops"),
    "artisanat": N_("Crafts and makers"),
    "culture": N_("Culture and bookshops"),
    "loisirs": N_("Leisure and sport"),
    "sante": N_("Health and well-being"),
    "services": N_("Services"),
    "mobilite": N_("Mobility and bicycles"),
    "habitat": N_("Housing and energy"),
    "agriculture": N_("Farming and producers"),
    "association": N_("Associations"),
    "autre": N_("Other"),
}

email_chars_max = 254
name_chars_min = 2
name_chars_max = 100
town_chars_max = 100
address_chars_max = 300
description_chars_max = 1000
contact_label_chars_max = 100
#: argon2id parameters a browser may choose: at least the default, at most what a phone bears
_DEFAULT_KDF = KdfParams("0" * 2 * salt_bytes)
kdf_memory_kib_min = _DEFAULT_KDF.memory_kib
kdf_memory_kib_max = 262_144
kdf_time_cost_min = _DEFAULT_KDF.time_cost
kdf_time_cost_max = 10
kdf_parallelism_max = 4
#: La Poste's establishments share its SIREN, and their SIRETs do not follow Luhn: their digit
#: sum is a multiple of 5 (INSEE's rule)
LA_POSTE_SIREN = "356000000"

MESSAGES: dict[str, str] = {
    "email_invalid": "Cette adresse e-mail n'est pas valide.",
    "kind_invalid": "Choisissez particulier ou professionnel.",
    "name_length": f"Le nom doit compter de {name_chars_min} à {name_chars_max} caractères.",
    "trading_name_length": (f"L'enseigne doit compter de {name_chars_min} à {name_chars_max} "
                            "caractères."),
    "siret_format": "Le numéro SIRET compte 14 chiffres.",
    "siret_checksum": "Ce numéro SIRET n'existe pas (sa clé de contrôle est fausse).",
    "category_invalid": "Choisissez une catégorie de la liste.",
    "town_length": f"La commune doit compter de 1 à {town_chars_max} caractères.",
    "address_length": f"L'adresse compte au plus {address_chars_max} caractères.",
    "description_length": f"La description compte au plus {description_chars_max} caractères.",
    "directory_invalid": "Indiquez si vous voulez figurer dans l'annuaire.",
    "login_secret_invalid": "Le secret de connexion n'est pas valide.",
    "kdf_invalid": "Les paramètres de dérivation du mot de passe ne sont pas valides.",
    "backup_invalid": "La sauvegarde de la clé n'est pas valide.",
    "account_invalid": "Ce numéro de compte n'est pas valide.",
    "public_key_invalid": "La clé publique n'est pas valide.",
    "open_tx_invalid": "La demande d'ouverture de compte ne correspond pas au formulaire.",
    "profile_invalid": "Le profil est incomplet.",
    "label_length": f"Le nom du contact compte de 1 à {contact_label_chars_max} caractères.",
    "contacts_full": "Votre carnet de contacts est plein.",
    "password_wrong": "L'ancien mot de passe n'est pas le bon.",
    "malformed": "La requête n'est pas valide.",
}

_EMAIL_RE = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_HEX_SALT_RE = re.compile(rf"^[0-9a-f]{{{2 * salt_bytes}}}$")


class FieldError(ValueError):
    """A field that is not valid: ``field`` (its name in the form), ``key`` (a key of
    ``MESSAGES``)."""

    def __init__(self, field: str, key: str) -> None:
        super().__init__(f"{field}: {key}")
        self.field = field
        self.key = key

    @property
    def message(self) -> str:
        return MESSAGES.get(self.key, self.key)


def normalise_email(value: Any, field: str = "email") -> str:
    """Trimmed, lower case (a mailbox's local part is case-sensitive in theory, never in
    practice), an ordinary address with a dotted domain; ASCII only."""
    if not isinstance(value, str):
        raise FieldError(field, "email_invalid")
    email = value.strip().lower()
    if len(email) > email_chars_max or not email.isascii() or not _EMAIL_RE.match(email):
        raise FieldError(field, "email_invalid")
    return email


def text(value: Any, field: str, key: str, chars_min: int, chars_max: int) -> str:
    """A line or paragraph of text, NFC, trimmed, without control characters (but newlines in
    a description)."""
    if not isinstance(value, str):
        raise FieldError(field, key)
    cleaned = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(c) == "Cc" and c != "\n" for c in cleaned):
        raise FieldError(field, key)
    if not chars_min <= len(cleaned) <= chars_max:
        raise FieldError(field, key)
    return cleaned


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def check_siret(value: Any, field: str = "siret") -> str:
    """14 digits (spaces allowed between groups) whose Luhn key is right — or La Poste's."""
    if not isinstance(value, str):
        raise FieldError(field, "siret_format")
    siret = value.replace(" ", "").replace("\u00a0", "")
    if len(siret) != 14 or not siret.isascii() or not siret.isdigit():
        raise FieldError(field, "siret_format")
    la_poste = siret.startswith(LA_POSTE_SIREN) and sum(int(d) for d in siret) % 5 == 0
    if not (luhn_ok(siret) or la_poste):
        raise FieldError(field, "siret_checksum")
    return siret


def check_kind(value: Any) -> str:
    if value not in KINDS:
        raise FieldError("kind", "kind_invalid")
    return str(value)


def check_category(value: Any) -> str:
    if not isinstance(value, str) or value not in CATEGORIES:
        raise FieldError("category", "category_invalid")
    return value


def check_secret(value: Any, field: str = "login_secret") -> str:
    """A login secret: 32 bytes as 64 lower-case hex digits."""
    if not isinstance(value, str) or not _HEX64_RE.match(value):
        raise FieldError(field, "login_secret_invalid")
    return value


def check_kdf(value: Any, field: str = "kdf") -> dict[str, Any]:
    """argon2id parameters as ``KdfParams.to_json()`` gives them, within the bounds above."""
    if not isinstance(value, dict) or set(value) != {"name", "salt", "memory_kib", "time_cost",
                                                     "parallelism"}:
        raise FieldError(field, "kdf_invalid")
    numbers = [value["memory_kib"], value["time_cost"], value["parallelism"]]
    if (value["name"] != "argon2id" or not isinstance(value["salt"], str)
            or not _HEX_SALT_RE.match(value["salt"])
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers)
            or not kdf_memory_kib_min <= value["memory_kib"] <= kdf_memory_kib_max
            or not kdf_time_cost_min <= value["time_cost"] <= kdf_time_cost_max
            or not 1 <= value["parallelism"] <= kdf_parallelism_max):
        raise FieldError(field, "kdf_invalid")
    return KdfParams(value["salt"], value["memory_kib"], value["time_cost"],
                     value["parallelism"]).to_json()


def check_backup(value: Any, field: str = "backup") -> str:
    """``b1.`` + base64url of nonce, sealed seed and tag: the shape only (the node cannot open
    it, which is the point)."""
    if not isinstance(value, str) or not value.startswith(BACKUP_PREFIX) or len(value) > 200:
        raise FieldError(field, "backup_invalid")
    body = value.removeprefix(BACKUP_PREFIX)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", body):
        raise FieldError(field, "backup_invalid")
    try:
        box = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        raise FieldError(field, "backup_invalid") from None
    if len(box) != nonce_bytes + seed_bytes + 16:
        raise FieldError(field, "backup_invalid")
    return value


def check_account(value: Any, field: str = "account") -> str:
    if not isinstance(value, str):
        raise FieldError(field, "account_invalid")
    try:
        account = parse_account_id(value)
    except TxError:
        raise FieldError(field, "account_invalid") from None
    if not is_account_id(account):
        raise FieldError(field, "account_invalid")
    return account


def check_public_key(value: Any) -> str:
    if not isinstance(value, str) or not _HEX64_RE.match(value):
        raise FieldError("public_key", "public_key_invalid")
    return value


def check_flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(field, "directory_invalid")
    return value


@dataclass(frozen=True, slots=True)
class ProfileForm:
    """A sign-up's profile, checked: ``name`` for everyone, the rest for a business."""

    name: str
    trading_name: str | None = None
    siret: str | None = None
    category: str | None = None
    town: str | None = None
    address: str | None = None
    description: str | None = None
    directory: bool = False


@dataclass(frozen=True, slots=True)
class SignupForm:
    """A sign-up, every field checked (the open_account envelope is checked against it by
    ``lien.members.service.check_opening``)."""

    email: str
    kind: str
    login_secret: str
    kdf: dict[str, Any]
    backup: str
    account: str
    public_key: str
    profile: ProfileForm
    open_tx: Any  # the envelope as sent (JSON), decoded by the caller


def profile_form(kind: str, value: Any) -> ProfileForm:
    if not isinstance(value, dict):
        raise FieldError("profile", "profile_invalid")
    name = text(value.get("name"), "name", "name_length", name_chars_min, name_chars_max)
    if kind == "personal":
        extra = set(value) - {"name"}
        if extra:
            raise FieldError(sorted(extra)[0], "malformed")
        return ProfileForm(name)
    allowed = {"name", "trading_name", "siret", "category", "town", "address", "description",
               "directory"}
    extra = set(value) - allowed
    if extra:
        raise FieldError(sorted(extra)[0], "malformed")
    return ProfileForm(
        name,
        trading_name=text(value.get("trading_name"), "trading_name", "trading_name_length",
                          name_chars_min, name_chars_max),
        siret=check_siret(value.get("siret")),
        category=check_category(value.get("category")),
        town=text(value.get("town"), "town", "town_length", 1, town_chars_max),
        address=text(value.get("address", ""), "address", "address_length", 0,
                     address_chars_max) or None,
        description=text(value.get("description", ""), "description", "description_length", 0,
                         description_chars_max) or None,
        directory=check_flag(value.get("directory", False), "directory"),
    )


SIGNUP_FIELDS = {"email", "kind", "login_secret", "kdf", "backup", "account", "public_key",
                 "open_tx", "profile"}


def signup_form(data: Any) -> SignupForm:
    """Every field of a sign-up, in the form's order (the first bad one is named)."""
    if not isinstance(data, dict):
        raise FieldError("", "malformed")
    extra = set(data) - SIGNUP_FIELDS
    if extra:
        raise FieldError(sorted(extra)[0], "malformed")
    email = normalise_email(data.get("email"))
    kind = check_kind(data.get("kind"))
    profile = profile_form(kind, data.get("profile"))
    if "open_tx" not in data or not isinstance(data["open_tx"], dict):
        raise FieldError("open_tx", "open_tx_invalid")
    return SignupForm(
        email=email, kind=kind, profile=profile,
        login_secret=check_secret(data.get("login_secret")),
        kdf=check_kdf(data.get("kdf")),
        backup=check_backup(data.get("backup")),
        account=check_account(data.get("account")),
        public_key=check_public_key(data.get("public_key")),
        open_tx=data["open_tx"],
    )
