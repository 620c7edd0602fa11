"""Measure the locale signal (time zone and languages vs the IP's country) on cases built from
public reference data: Unicode CLDR as Babel ships it (territory languages, metazones,
Windows zones; Unicode License v3) and the IANA tz database table shipped in
riskengine/data/timezones.tsv (public domain). Every territory CLDR knows is judged.

    .venv/bin/python scripts/corpus_locale.py                       # this checkout
    PYTHONPATH=/work/wt-base .venv/bin/python scripts/corpus_locale.py   # a checkout before
                                                                         # signals.locale
"""
from __future__ import annotations

import zoneinfo
from datetime import datetime

from babel.core import get_global

try:
    from riskengine.signals.locale import _zone_countries, language_matches
    from riskengine.signals.locale import timezone_judgement as judge_timezone
    SOURCE = "riskengine.signals.locale"
except ImportError:  # before the locale module existed
    from riskengine.signals.device import _timezone as judge_timezone  # type: ignore[attr-defined,no-redef]
    from riskengine.signals.device import _zone_countries, language_matches  # type: ignore[attr-defined,no-redef]
    SOURCE = "riskengine.signals.device"

OFFICIAL = {"official", "de_facto_official", "official_regional"}
# The named examples: a Windows region setting that is not the PC's country.
NAMED = [("AT", "Europe/Berlin"), ("IT", "Europe/Berlin"), ("CH", "Europe/Berlin"),
         ("BE", "Europe/Paris"), ("DK", "Europe/Paris"), ("ES", "Europe/Paris"),
         ("HK", "Asia/Shanghai"), ("CA", "America/New_York")]


def matches(tz: str, country: str) -> bool:
    return judge_timezone(tz, country)[1] is True


def territory_zones() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for zone, countries in _zone_countries().items():
        for c in countries:
            out.setdefault(c, set()).add(zone)
    return out


def windows_region_cases() -> list[tuple[str, str]]:
    """(territory, Windows default zone) where the default zone is another territory's but
    shares a CLDR metazone with one of the territory's own zones: what a PC whose Windows
    region is that zone's reports. Independent of the rule the engine applies."""
    meta = get_global("meta_zones")
    table = _zone_countries()
    defaults = {z for z in get_global("windows_zone_mapping").values() if table.get(z)}
    cases = set()
    for country, zones in territory_zones().items():
        metas = {meta.get(z) for z in zones} - {None}
        for w in defaults:
            if country not in table[w] and meta.get(w) in metas:
                cases.add((country, w))
    return sorted(cases)


def _utc_offsets(zone: str) -> tuple[object, object]:
    info = zoneinfo.ZoneInfo(zone)
    return tuple(datetime(2026, m, 15, 12, tzinfo=info).utcoffset() for m in (1, 7))  # type: ignore[return-value]


def report_timezones() -> None:
    cases = windows_region_cases()
    wrong = [c for c in cases if not matches(c[1], c[0])]
    print(f"windows-region cases (metazone corpus): {len(wrong)} of {len(cases)} judged mismatch")
    zones_of = territory_zones()
    same = [c for c in wrong if _utc_offsets(c[1]) in {_utc_offsets(z) for z in zones_of[c[0]]}]
    print(f"  of those mismatches, same January/July UTC offsets as a zone of the country: {len(same)}"
          " (all in another continent; the rest differ in DST rules, which Windows keeps as separate zones)")
    named_wrong = [c for c in NAMED if not matches(c[1], c[0])]
    print(f"  the issue's named cases: {len(named_wrong)} of {len(NAMED)} judged mismatch {named_wrong}")
    print(f"XK with Europe/Belgrade: {'match' if matches('Europe/Belgrade', 'XK') else 'MISMATCH'}")
    names = [z for z, c in _zone_countries().items() if c]
    for label, f in (("lower", str.lower), ("upper", str.upper)):
        bad = sum(1 for z in names if judge_timezone(f(z), next(iter(_zone_countries()[z])))[0] is not True)
        print(f"zone names in {label} case judged invalid: {bad} of {len(names)}")
    # False-negative side: zones of another continent (no zone of the country in that area)
    # must stay mismatches.
    foreign = [(c, z) for c, own in zones_of.items() for z in names
               if z.split("/")[0] not in {o.split("/")[0] for o in own}]
    leaked = sum(1 for c, z in foreign if matches(z, c))
    print(f"zone of another continent judged match: {leaked} of {len(foreign)}")
    same_area = [(c, z) for c, own in zones_of.items() for z in names
                 if c not in _zone_countries()[z] and z.split("/")[0] in {o.split("/")[0] for o in own}]
    print(f"other country's zone, same continent, judged match: "
          f"{sum(1 for c, z in same_area if matches(z, c))} of {len(same_area)}")


def report_languages() -> None:
    territories = get_global("territory_languages")
    en_wrong = sorted((c, langs.get("en", {}).get("population_percent") or 0.0)
                      for c, langs in territories.items() if language_matches(["en-US", "en"], c) is False)
    widely = [(c, p) for c, p in en_wrong if p >= 20]
    print(f"'en-US, en' judged mismatch in {len(en_wrong)} of {len(territories)} territories; "
          f"{len(widely)} where CLDR says >= 20% speak English:")
    print("  " + ", ".join(f"{c} {p:g}%" for c, p in sorted(widely, key=lambda x: -x[1])))
    official = [(c, lang.split("_")[0]) for c, langs in territories.items()
                for lang, info in langs.items() if info.get("official_status") in OFFICIAL]
    off_wrong = sorted({(c, lang) for c, lang in official if language_matches([lang], c) is not True})
    print(f"official languages judged no match (mismatch or unjudged): {len(off_wrong)} of {len(official)}")
    print("  " + ", ".join(f"{lang}/{c}" for c, lang in off_wrong[:40]) + (" ..." if len(off_wrong) > 40 else ""))
    print(f"XK with sq: {language_matches(['sq'], 'XK')}")
    # False-negative side: a language CLDR lists for the territory below 5% and not official
    # (or not at all), sent without a region, should stay a mismatch.
    known = {lang.split("_")[0] for langs in territories.values() for lang in langs}
    rare = [(c, lang) for c, langs in territories.items() for lang in sorted(known)
            if not _spoken_or_official(langs, lang, 5.0)]
    leaked = sum(1 for c, lang in rare if language_matches([lang], c) is True)
    print(f"language spoken by < 5% and not official judged match: {leaked} of {len(rare)}")
    en_rare = [c for c, langs in territories.items() if not _spoken_or_official(langs, "en", 10.0)]
    print(f"'en-US, en' where < 10% speak English and it is not official, judged match: "
          f"{sum(1 for c in en_rare if language_matches(['en-US', 'en'], c) is True)} of {len(en_rare)}")


def _spoken_or_official(langs: dict, lang: str, percent: float) -> bool:
    infos = [i for k, i in langs.items() if k.split("_")[0] == lang]
    return any(i.get("official_status") in OFFICIAL or (i.get("population_percent") or 0) >= percent
               for i in infos)


def main() -> None:
    print(f"functions from {SOURCE}; CLDR {get_global('cldr')['version']} (Babel)")
    report_timezones()
    report_languages()


if __name__ == "__main__":
    main()
