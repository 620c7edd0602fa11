"""Identity signals measured on public corpora: alias folding, phone numbers, special IP ranges.

    .venv/bin/python scripts/corpus_identity.py
    PYTHONPATH=/path/to/other/checkout .venv/bin/python scripts/corpus_identity.py   # a baseline

The corpora are read from this checkout (so a baseline is measured against the same cases);
the functions measured are whichever `riskengine` is imported:
  - alias cases: tests/data/identity/alias_cases.tsv, documented provider behaviours (each case
    names its rule in riskengine/data/email_providers.toml), written for riskengine (Apache-2.0);
  - phone: libphonenumber's own example numbers, `phonenumbers.example_number_for_type` for
    every region and type, from the installed `phonenumbers` package (Apache-2.0);
  - IP: the IANA special-purpose address registries, riskengine/data/iana-*-special-registry.csv
    (see riskengine/data/README.md), and MaxMind's test databases in tests/data/maxmind
    (Apache-2.0 / MIT) for the location of addresses that carry an IPv4.
"""

from __future__ import annotations

import csv
import ipaddress
import sys
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from riskengine.signals.email import email_signals
from riskengine.signals.ip import GeoIPReaders, ip_signals, subnet_of
from riskengine.signals.phone import phone_signals

ROOT = Path(__file__).resolve().parents[1]
ALIAS_CASES = ROOT / "tests" / "data" / "identity" / "alias_cases.tsv"
REGISTRIES = [ROOT / "riskengine" / "data" / f"iana-ipv{v}-special-registry.csv" for v in (4, 6)]
CITY = ROOT / "tests" / "data" / "maxmind" / "GeoIP2-City-Test.mmdb"
# Contract examples use documentation addresses as ordinary clients: an engine decision, counted
# apart from the registry's verdict.
DOCUMENTATION = [ipaddress.ip_network(n) for n in
                 ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")]
# Calling-from regions whose own international prefix is not "00" (or is "00" plus a carrier).
DIALLING_FROM = ("US", "AU", "RU", "JP", "HK", "BR", "KR", "GB")


def _ratio(ok: int, total: int) -> str:
    return f"{ok}/{total} ({100 * ok / total:.1f}%)" if total else "0/0"


def alias_report() -> None:
    with ALIAS_CASES.open(encoding="utf-8") as f:
        rows = list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))
    by_kind: dict[str, list[tuple[dict, object]]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append((row, email_signals(row["address"])))
    alias = by_kind["alias"]
    folded = [r for r, s in alias if s.mailbox == r["mailbox"] and s.alias_folded]
    wrong = [(r["address"], s.mailbox) for r, s in alias if s.alias_folded and s.mailbox != r["mailbox"]]
    keep = by_kind["keep"]
    false_folds = [(r["address"], s.mailbox) for r, s in keep if s.alias_folded or s.mailbox != r["mailbox"]]
    canonical = by_kind["canonical"]
    canon_ok = sum(s.mailbox == r["mailbox"] and not s.alias_folded for r, s in canonical)
    print("== Alias folding (documented cases, tests/data/identity/alias_cases.tsv)")
    print(f"documented aliasing cases folded:   {_ratio(len(folded), len(alias))}")
    print(f"  missed: {', '.join(r['address'] for r, s in alias if r not in folded) or '-'}")
    print(f"  folded to another mailbox than documented: {wrong or '-'}")
    print(f"canonical spellings, same mailbox:  {_ratio(canon_ok, len(canonical))}")
    print(f"false folds in the no-fold set:     {len(false_folds)}/{len(keep)} {false_folds or ''}")


def _example_numbers():
    types = [v for k, v in vars(PhoneNumberType).items() if k.isupper() and k != "UNKNOWN"]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in types:
            num = phonenumbers.example_number_for_type(region, kind)
            if num is not None:
                yield region, num


def phone_report() -> None:
    examples = list(_example_numbers())
    print("\n== Phone (libphonenumber example numbers, phonenumbers", phonenumbers.__version__ + ")")
    national = [(r, phone_signals(phonenumbers.format_number(n, PhoneNumberFormat.NATIONAL), r)) for r, n in examples]
    wrong: dict[str, int] = {}
    for r, s in national:
        if s.country != r:
            wrong[r] = wrong.get(r, 0) + 1
    right = len(examples) - sum(wrong.values())
    print(f"national format, region declared: country correct {_ratio(right, len(examples))}")
    print(f"  regions with a wrong country: {len(wrong)}: {', '.join(f'{r} {n}' for r, n in sorted(wrong.items()))}")
    e164 = [phonenumbers.format_number(n, PhoneNumberFormat.E164) for _, n in examples]
    ok = sum(phone_signals("00" + e[1:], None).e164 == e for e in e164)
    print(f"'00' + number, no region declared: E.164 key correct {_ratio(ok, len(e164))}")
    for frm in DIALLING_FROM:
        total = good = 0
        for (_, num), e in zip(examples, e164, strict=True):
            if num.country_code == phonenumbers.country_code_for_region(frm):
                continue          # a domestic number is dialled nationally, not through the prefix
            for written in (phonenumbers.format_out_of_country_calling_number(num, frm), "00" + e[1:]):
                total += 1
                s = phone_signals(written, frm)
                good += s is not None and s.e164 == e
        print(f"dialled from {frm} (its own international prefix, and '00'), {frm} declared: "
              f"E.164 key correct {_ratio(good, total)}")
    print("issue cases:")
    for raw, region, want in [
        ("(800) 212-3456", "CA", "CA"), ("041 2345678", "AX", "AX"), ("07924 123456", "IM", "IM"),
        ("8 (800) 123-45-67", "KZ", "KZ"), ("312 345 6789", "VA", "VA"),
        ("0044 20 7946 0958", None, "+442079460958"), ("0061412345678", "AU", "+61412345678"),
        ("00 852 2123 4567", "HK", "+85221234567"),
    ]:
        s = phone_signals(raw, region)
        got = (s.country if not want.startswith("+") else s.e164) if s else None
        print(f"  {raw!r:22} declared {region or '-':4} -> {got}  ({'ok' if got == want else 'WRONG, want ' + want})")


def _registry_rows():
    for path in REGISTRIES:
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                yield ipaddress.ip_network(row["Address Block"]), row["Name"], row["Globally Reachable"].strip()


def _verdict(addr, rows) -> str | None:
    """The registry's Globally Reachable for addr: the most specific block with a verdict."""
    holding = [(net.prefixlen, g) for net, _, g in rows if g and net.version == addr.version and addr in net]
    return max(holding)[1] if holding else None


def _carried_ipv4(addr):
    """The IPv4 an IPv6 address carries (6to4, Teredo client, NAT64 well-known prefix)."""
    if addr.version == 4:
        return None
    if addr.sixtofour or addr.teredo:
        return addr.sixtofour or addr.teredo[1]
    if addr in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def ip_report() -> None:
    rows = list(_registry_rows())
    print("\n== IP (IANA special-purpose address registries, riskengine/data/iana-*-special-registry.csv)")
    agree = total = 0
    disagree, overridden = [], []
    for net, name, _ in rows:
        for addr in {net.network_address, net[net.num_addresses // 2], net.broadcast_address}:
            if addr.version == 6 and addr.ipv4_mapped is not None:
                continue              # ::ffff:a.b.c.d is the IPv4 client itself, judged as IPv4
            verdict = _verdict(addr, rows)
            if verdict is None:
                continue
            inner = _carried_ipv4(addr)
            if inner is not None and _verdict(inner, rows) == "False":
                verdict = "False"     # carries an IPv4 that is not reachable (0.0.0.0, 10/8, ...)
            private = ip_signals(str(addr), None).private
            if any(addr in d for d in DOCUMENTATION if d.version == addr.version):
                overridden.append(str(addr))
                continue
            total += 1
            if private == (verdict == "False"):
                agree += 1
            else:
                disagree.append(f"{addr} ({name}: reachable={verdict}, private={private})")
    print("addresses of special blocks (first, middle, last) classified as the registry says (for the address"
          f" and the IPv4 it carries): {_ratio(agree, total)}")
    for line in disagree:
        print("  disagrees:", line)
    print(f"  documentation addresses treated as public by engine decision: {len(overridden)}")
    readers = GeoIPReaders.open(str(CITY), None, None)
    try:
        carriers = [("::ffff:81.2.69.142", "81.2.69.142", "IPv4-mapped"),
                    ("2002:5102:458e::1", "81.2.69.142", "6to4"),
                    ("2002:d8a0:5338::1", "216.160.83.56", "6to4"),
                    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45", "Teredo"),
                    ("2001:0:4136:e378:8000:63bf:a65f:eb8f", "89.160.20.112", "Teredo"),
                    ("64:ff9b::5102:458e", "81.2.69.142", "NAT64"),
                    ("64:ff9b::d8a0:5338", "216.160.83.56", "NAT64")]
        good = 0
        print("addresses that carry an IPv4 (subnet and geo are the IPv4's):")
        for v6, v4, kind in carriers:
            s6, s4 = ip_signals(v6, readers), ip_signals(v4, readers)
            same = s6.subnet == s4.subnet == subnet_of(v6) and s6.country == s4.country
            good += same
            print(f"  {kind:11} {v6:38} subnet {s6.subnet:20} country {s6.country}  "
                  f"({'as its IPv4' if same else f'IPv4: {s4.subnet} {s4.country}'})")
        print(f"embedded IPv4 used for subnet and geo: {_ratio(good, len(carriers))}")
        teredo = {subnet_of(f"2001:0:4136:e378:8000:63bf:{0xffff - i:x}:fdd2") for i in range(16)}
        print(f"16 Teredo clients behind one server: {len(teredo)} distinct linking subnets")
    finally:
        readers.close()


def main() -> int:
    alias_report()
    phone_report()
    ip_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
