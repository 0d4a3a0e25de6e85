#!/usr/bin/env python3
"""Generate countries.tsv: country names in en, fr, es, ar, ru -> ISO 3166-1 alpha-2.

Run from anywhere (Python 3.11+):

    pip install pycountry==26.2.16
    python3 connectors/rules/gen_countries.py

It reads pycountry's ISO 3166-1 data and its gettext catalogues (domain
`iso3166-1`, locales fr, es, ar, ru), merges the hand-written
`country_aliases.tsv` that sits beside this script, and writes
`countries.tsv` beside it. Both TSV files are committed; the Rust
`connectors` crate embeds countries.tsv and never runs this script. Re-run it
only after editing the aliases or bumping pycountry, and commit the result.
The output is sorted and byte-for-byte deterministic for a given pycountry
version and alias file.

Output columns (tab-separated, one header line):
    alpha2  alpha3  lang  name  ambiguous
`ambiguous` is 1 when a place-name matcher should warn on a match (Congo,
Guinea, Niger/Nigeria, Georgia, Jordan, Chad, Turkey, Dominica, ...). The
alias file sets it; a name that resolves to more than one alpha2 in the same
language is also marked 1. Names keep natural case and diacritics; the Rust
side folds case and diacritics itself.
"""

from __future__ import annotations

import gettext
import re
import sys
import unicodedata
from pathlib import Path

import pycountry

HERE = Path(__file__).resolve().parent
ALIASES = HERE / "country_aliases.tsv"
OUTPUT = HERE / "countries.tsv"

LANGS = ("en", "fr", "es", "ar", "ru")
FIELDS = ("name", "common_name", "official_name")
HEADER = ("alpha2", "alpha3", "lang", "name", "ambiguous")

# Codes the alias file may use that ISO 3166-1 (and so pycountry) lacks.
# XK: Kosovo, user-assigned code used by IFRC GO, the EU and the UN agencies.
EXTRA_CODES = {"XK": "XKX"}

# Names from pycountry that are dropped: first of all a common word in their
# language, so matching them would mostly produce false positives, or plain
# errors in the iso-codes catalogues. The alias file supplies usable forms.
DROP = {
    ("TG", "ru", "Того"),  # Togo; "того" is one of the commonest Russian words
    ("RE", "fr", "Réunion"),  # "réunion" = meeting
    ("RE", "fr", "La Réunion"),  # "la réunion" = the meeting
    ("RE", "es", "Reunión"),  # "reunión" = meeting
    ("RE", "es", "La Reunión"),
    ("RE", "en", "Réunion"),  # names match in every language: "reunion" is the es/fr word for meeting
    ("MD", "ar", "المالديف"),  # catalogue error: this is the Maldives, not Moldova
}

# Two-letter words common in one of the five languages (case-folded). An
# alias of two letters must not be one of these; pycountry names shorter than
# three characters are dropped outright.
COMMON_SHORT_WORDS = {
    # en
    "am", "an", "as", "at", "be", "by", "do", "go", "he", "if", "in", "is",
    "it", "me", "my", "no", "of", "oh", "ok", "on", "or", "so", "to", "up",
    "us", "we",
    # fr
    "au", "ce", "ça", "de", "du", "en", "es", "et", "il", "je", "la", "le",
    "ma", "mi", "ne", "ni", "nu", "ou", "où", "sa", "se", "si", "ta", "te",
    "tu", "un", "va", "vu", "y",
    # es
    "al", "da", "di", "el", "ha", "he", "lo", "mí", "ni", "os", "sé", "sí",
    "su", "tú", "ve", "ya", "yo",
    # ar
    "أن", "إن", "أو", "في", "من", "عن", "ما", "لا", "لم", "لن", "هو", "هي",
    "قد", "كل", "مع", "ثم", "بل", "يا",
    # ru
    "бы", "во", "вы", "да", "до", "же", "за", "из", "им", "их", "ко",
    "ли", "мы", "на", "не", "ни", "но", "ну", "об", "он", "от", "по", "со",
    "то", "уж", "я",
}

ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\u00ad\ufeff]")
APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})


def clean(name: str, lang: str) -> str:
    """Normalise a name to the form people type, without changing case."""
    name = INVISIBLE.sub("", name).translate(APOSTROPHES)
    name = unicodedata.normalize("NFD", name)
    if lang == "ru":
        name = name.replace("\u0301", "")  # stress marks (Респу́блика)
    name = unicodedata.normalize("NFC", name)
    if lang == "ar":
        name = ARABIC_MARKS.sub("", name)  # harakat, shadda, tatweel
    return " ".join(name.replace("\u00a0", " ").split())


def tidy(name: str, lang: str) -> str:
    """Turn an iso-codes label into running-text form (pycountry names only).

    Drops parenthesised notes ("Saint Martin (French part)", "Falkland
    Islands (Malvinas)"), a leading article ("the State of Palestine",
    "L'État de Palestine") and, in Arabic, the space iso-codes leaves after
    the conjunction wa ("البوسنة و الهرسك" is written "البوسنة والهرسك").
    """
    name = re.sub(r"\s*\([^()]*\)", "", name)
    if lang == "en":
        name = re.sub(r"^[Tt]he ", "", name)
    elif lang == "fr":
        name = re.sub(r"^L'", "", name)
    elif lang == "ar":
        name = name.replace(" و ", " و")
    return " ".join(name.split())


def fold(name: str) -> str:
    """Roughly what the Rust side compares: no case, no diacritics."""
    decomposed = unicodedata.normalize("NFD", name.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def script_ok(name: str, lang: str) -> bool:
    """Reject untranslated English leaking into the ar/ru catalogues."""
    if lang == "ar":
        return any("\u0600" <= ch <= "\u06ff" for ch in name)
    if lang == "ru":
        return any("\u0400" <= ch <= "\u04ff" for ch in name)
    return True


def pycountry_rows() -> list[tuple[str, str, str, str, int]]:
    catalogs = {
        lang: gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        for lang in LANGS
        if lang != "en"
    }
    rows = []
    for country in pycountry.countries:
        for field in FIELDS:
            msgid = getattr(country, field, None)
            if not msgid:
                continue
            for lang in LANGS:
                if lang == "en":
                    text = msgid
                else:
                    # _catalog lookup: gettext() would silently hand back the
                    # English msgid for an untranslated entry.
                    text = catalogs[lang]._catalog.get(msgid)
                    if not text:
                        continue
                text = tidy(clean(text, lang), lang)
                if len(text) < 3 or not script_ok(text, lang):
                    continue
                if (country.alpha_2, lang, text) in DROP:
                    continue
                rows.append((country.alpha_2, country.alpha_3, lang, text, 0))
    return rows


def alias_rows() -> list[tuple[str, str, str, str, int]]:
    rows = []
    with ALIASES.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if tuple(cols) == HEADER:
                continue
            where = f"{ALIASES.name}:{lineno}"
            if len(cols) != 5:
                sys.exit(f"{where}: expected 5 tab-separated columns, got {len(cols)}")
            alpha2, alpha3, lang, name, ambiguous = cols
            country = pycountry.countries.get(alpha_2=alpha2)
            expected3 = country.alpha_3 if country else EXTRA_CODES.get(alpha2)
            if expected3 is None:
                sys.exit(f"{where}: unknown alpha2 {alpha2!r}")
            if alpha3 != expected3:
                sys.exit(f"{where}: {alpha2} has alpha3 {expected3}, not {alpha3!r}")
            if lang not in LANGS:
                sys.exit(f"{where}: unknown lang {lang!r}")
            if ambiguous not in ("0", "1"):
                sys.exit(f"{where}: ambiguous must be 0 or 1")
            text = clean(name, lang)
            if text != name:
                sys.exit(f"{where}: write the name as {text!r}")
            if not script_ok(text, lang):
                sys.exit(f"{where}: {text!r} is not in the script of {lang}")
            if len(text) < 2 or text.casefold() in COMMON_SHORT_WORDS:
                sys.exit(f"{where}: {text!r} is too short or a common word")
            if (alpha2, lang, text) in DROP:
                sys.exit(f"{where}: {text!r} is in the DROP list")
            rows.append((alpha2, alpha3, lang, text, int(ambiguous)))
    return rows


def main() -> None:
    merged: dict[tuple[str, str, str], list] = {}
    for alpha2, alpha3, lang, name, amb in pycountry_rows() + alias_rows():
        key = (alpha2, lang, name)
        if key in merged:
            # Emitted once; an alias row repeating a pycountry name only
            # contributes its ambiguity flag.
            merged[key][4] |= amb
        else:
            merged[key] = [alpha2, alpha3, lang, name, amb]

    # The same name for two countries in one language can't be resolved
    # safely: flag every copy.
    owners: dict[tuple[str, str], set[str]] = {}
    for alpha2, lang, name in merged:
        owners.setdefault((lang, fold(name)), set()).add(alpha2)
    for (lang, folded), codes in sorted(owners.items()):
        if len(codes) > 1:
            print(f"note: {lang} {folded!r} names {sorted(codes)}; marked ambiguous",
                  file=sys.stderr)
            for row in merged.values():
                if row[2] == lang and fold(row[3]) == folded:
                    row[4] = 1

    missing = {c.alpha_2 for c in pycountry.countries} - {
        a2 for a2, lang, _ in merged if lang == "en"
    }
    if missing:
        sys.exit(f"no English name for {sorted(missing)}")

    lines = ["\t".join(HEADER)]
    for row in sorted(merged.values(), key=lambda r: (r[0], r[2], r[3])):
        lines.append("\t".join(map(str, row)))
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")

    counts = {lang: sum(1 for r in merged.values() if r[2] == lang) for lang in LANGS}
    print(f"wrote {OUTPUT.name}: {len(merged)} rows {counts} "
          f"(pycountry {pycountry_version()})", file=sys.stderr)


def pycountry_version() -> str:
    from importlib.metadata import version

    return version("pycountry")


if __name__ == "__main__":
    main()
