"""Indonesia's 38 provinces and their time zones (WIB, WITA, WIT), with common aliases.

Used to infer a debtor's time zone from the address province (SEOJK 19/2023: the calling window
follows the borrower's address time zone).
"""

from __future__ import annotations

import functools
import re

WIB, WITA, WIT = "Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"

# official name, ISO 3166-2:ID code, zone, aliases
PROVINCES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("Aceh", "AC", WIB, ("nanggroe aceh darussalam", "nad")),
    ("Sumatera Utara", "SU", WIB, ("sumut", "north sumatra", "north sumatera")),
    ("Sumatera Barat", "SB", WIB, ("sumbar", "west sumatra", "west sumatera")),
    ("Riau", "RI", WIB, ()),
    ("Kepulauan Riau", "KR", WIB, ("kepri", "riau islands")),
    ("Jambi", "JA", WIB, ()),
    ("Sumatera Selatan", "SS", WIB, ("sumsel", "south sumatra", "south sumatera")),
    ("Kepulauan Bangka Belitung", "BB", WIB, ("babel", "bangka belitung",
                                             "bangka belitung islands")),
    ("Bengkulu", "BE", WIB, ()),
    ("Lampung", "LA", WIB, ()),
    ("DKI Jakarta", "JK", WIB, ("jakarta", "dki", "daerah khusus ibukota jakarta",
                                "daerah khusus jakarta")),
    ("Banten", "BT", WIB, ()),
    ("Jawa Barat", "JB", WIB, ("jabar", "west java")),
    ("Jawa Tengah", "JT", WIB, ("jateng", "central java")),
    ("DI Yogyakarta", "YO", WIB, ("yogyakarta", "diy", "jogja", "daerah istimewa yogyakarta")),
    ("Jawa Timur", "JI", WIB, ("jatim", "east java")),
    ("Kalimantan Barat", "KB", WIB, ("kalbar", "west kalimantan")),
    ("Kalimantan Tengah", "KT", WIB, ("kalteng", "central kalimantan")),
    ("Bali", "BA", WITA, ()),
    ("Nusa Tenggara Barat", "NB", WITA, ("ntb", "west nusa tenggara")),
    ("Nusa Tenggara Timur", "NT", WITA, ("ntt", "east nusa tenggara")),
    ("Kalimantan Selatan", "KS", WITA, ("kalsel", "south kalimantan")),
    ("Kalimantan Timur", "KI", WITA, ("kaltim", "east kalimantan")),
    ("Kalimantan Utara", "KU", WITA, ("kaltara", "north kalimantan")),
    ("Sulawesi Utara", "SA", WITA, ("sulut", "north sulawesi")),
    ("Gorontalo", "GO", WITA, ()),
    ("Sulawesi Tengah", "ST", WITA, ("sulteng", "central sulawesi")),
    ("Sulawesi Barat", "SR", WITA, ("sulbar", "west sulawesi")),
    ("Sulawesi Selatan", "SN", WITA, ("sulsel", "south sulawesi")),
    ("Sulawesi Tenggara", "SG", WITA, ("sultra", "southeast sulawesi")),
    ("Maluku", "MA", WIT, ()),
    ("Maluku Utara", "MU", WIT, ("malut", "north maluku")),
    ("Papua", "PA", WIT, ()),
    ("Papua Barat", "PB", WIT, ("west papua",)),
    ("Papua Barat Daya", "PD", WIT, ("southwest papua",)),
    ("Papua Selatan", "PS", WIT, ("south papua",)),
    ("Papua Tengah", "PT", WIT, ("central papua",)),
    ("Papua Pegunungan", "PE", WIT, ("highland papua",)),
)

_NOISE = re.compile(r"[^a-z0-9 ]+")


def _key(text: str) -> str:
    words = _NOISE.sub(" ", text.lower().replace("id-", "")).split()
    if words and words[0] in ("provinsi", "province", "prov"):
        words = words[1:]
    return " ".join(words)


_INDEX: dict[str, str] = {}
for _name, _code, _zone, _aliases in PROVINCES:
    for _alias in (_name, _code, *_aliases):
        _INDEX[_key(_alias)] = _zone


@functools.lru_cache(maxsize=1024)
def province_zone(province: str) -> str | None:
    """The IANA zone of an Indonesian province (name, alias or ISO code), or None if unknown."""
    return _INDEX.get(_key(province))
