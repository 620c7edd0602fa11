"""Email address signals: syntax, provider class, alias folding and local-part shape.

Everything here is offline and pure; `check_deliverability` is the only function that
touches the network and it is opt-in.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import pairwise

from email_validator import EmailNotValidError, validate_email

from riskengine.signals import disposable_lists
from riskengine.signals.mailbox import fold

# No address is longer than 64 + 1 + 253 chars; longer input is invalid without parsing
# and is cut to this length so garbage costs no more than a real address.
_MAX_ADDRESS = 320
_ASCII_HOST = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_VOWELS = frozenset("aeiouy")
_RARE_LETTERS = frozenset("jqvxz")
# Second levels under a country code where registrants take the third label ("co.uk").
_SECOND_LEVELS = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go", "gen", "ltd", "biz"})

@dataclass(frozen=True, slots=True)
class EmailSignals:
    """local_* fields describe the folded local part (tags and gmail dots removed), so a
    "+promo" tag does not make an address look longer or more random than its mailbox."""

    valid: bool
    domain: str | None
    disposable: bool
    free_provider: bool
    alias_folded: bool
    mailbox: str | None
    local_length: int
    local_digits: int
    local_digit_ratio: float
    local_entropy: float
    local_random: bool
    domain_random: bool = False      # the registrable label looks machine-minted

    def as_dict(self) -> dict:
        d = {f: getattr(self, f) for f in self.__slots__}   # flat: not asdict's deep copy of each value
        del d["mailbox"]  # a linking key: personal data, never leaves the engine
        return d


@lru_cache(maxsize=1)
def _free_providers() -> frozenset[str]:
    text = resources.files("riskengine").joinpath("data", "free_email_providers.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


@lru_cache(maxsize=1)
def disposable_domains() -> frozenset[str]:
    """The union of the maintained disposable lists (disposable_lists.py), less the reviewed
    allowlist of real providers (data/disposable_allowlist.txt)."""
    return disposable_lists.union() - disposable_lists.allowlist()


def is_disposable(domain: str) -> bool:
    """The domain or any parent of it is on a disposable list (the lists hold registrable
    domains only, so "x.mailinator.com" must be checked as "mailinator.com" too), and
    neither is a reviewed real provider ("mail.sify.com" is Sify's, whatever a list says)."""
    allowed = disposable_lists.allowlist()
    listed = disposable_domains()
    for suffix in _suffixes(domain):
        if suffix in allowed:
            return False
        if suffix in listed:
            return True
    return False


def _suffixes(domain: str) -> list[str]:
    """"a.b.example.com" -> ["a.b.example.com", "b.example.com", "example.com"] (never a bare TLD)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def registrable_label(domain: str) -> str:
    """The label a registrant chose: "mail.x7kq.co.uk" -> "x7kq", "tmxttvmail.com" ->
    "tmxttvmail". Country second levels ("co.uk", "com.br") are skipped without the Public
    Suffix List: close enough for a shape check, and it needs no data."""
    labels = domain.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVELS:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else labels[0]


def domain_looks_random(domain: str) -> bool:
    """A machine-minted registrable label ("dsddgtt.cc", "r3r313w2.store"): `looks_random`
    on the label with its hyphens dropped. Punycode labels ("xn--...") are never judged: their
    ASCII form is an encoding, not the name. Measured by scripts/corpus_disposable.py."""
    label = registrable_label(domain)
    if label.startswith("xn--"):
        return False
    return looks_random(label.replace("-", ""))


def _best_effort_domain(raw: str) -> str | None:
    """Lowercased ASCII form of whatever follows the last '@' of an invalid address, when
    it still looks like a host name (so disposable/free checks work on near-misses)."""
    if "@" not in raw:
        return None
    host = raw.rsplit("@", 1)[1].strip().rstrip(".").lower()
    if not host or len(host) > 253:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _ASCII_HOST.match(host) else None


def _entropy(s: str) -> float:
    if not s:
        return 0.0
    n = len(s)
    return sum(c / n * math.log2(n / c) for c in Counter(s).values())


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"  # str.isdigit() also accepts '²', '٣', ...


def _max_consonant_run(s: str) -> int:
    best = run = 0
    for ch in s:
        if "a" <= ch <= "z" and ch not in _VOWELS:
            run += 1
            best = max(best, run)
        else:
            run = 0
    return best


def looks_random(local: str) -> bool:
    """Heuristic for machine-generated local parts (bot farms mint random strings).

    Judged on the folded local part, lowercased. Random when ANY strong indicator holds:
      - >= 5 ASCII letters and no vowel (a e i o u y) at all ("xkcdwrt", "qzrt7plm");
      - a run of >= 7 consonants ("kdjfhskw"; even glued names stay below: "johnschmidt" 6);
      - >= 4 switches between letters and digits ("a8d7f6g", "k3j4h5x"); names with a year
        or a counter switch once or twice;
    or at least TWO weak ones:
      - a run of 5-6 consonants ("deutschland" has one, but nothing else below);
      - >= 4 digits that are not one trailing block ("ab12cd3456"; "john1985" is fine);
      - >= 10 chars, digits not only at the end, entropy >= 3.3 bits/char (few repeats);
      - >= 8 letters of which >= 25% are j q v x z (uniform random letters: 19%, names:
        a few percent).
    Measured on uniform random [a-z0-9]{8,16}: 79% flagged; random [a-z]{8,16}: 44%
    (pronounceable-by-chance strings pass); name + 4-7 random digits and first/last name
    combinations with or without a year: 0%. Known false positives: consonant-only
    initials ("jcmrtnz"), "r2d2c3po". All-digit local parts are never random: QQ ids and
    phone numbers are real mailboxes.
    """
    s = local.lower()
    letters = [c for c in s if "a" <= c <= "z"]
    if len(letters) < 3:
        return False
    vowels = sum(c in _VOWELS for c in letters)
    if len(letters) >= 5 and vowels == 0:
        return True
    run = _max_consonant_run(s)
    if run >= 7:
        return True
    switches = sum(1 for a, b in pairwise(s) if _is_digit(a) != _is_digit(b) and (a + b).isalnum())
    if switches >= 4:
        return True
    digits = sum(map(_is_digit, s))
    trailing = len(s) - len(s.rstrip("0123456789"))
    weak = (
        (run >= 5)
        + (digits >= 4 and trailing < digits)
        + (len(s) >= 10 and trailing < digits and _entropy(s) >= 3.3)
        + (len(letters) >= 8 and sum(c in _RARE_LETTERS for c in letters) / len(letters) >= 0.25)
    )
    return weak >= 2


def email_signals(address: str | None) -> EmailSignals | None:
    if not address:
        return None
    raw = address.strip()
    if not raw:
        return None
    domain: str | None
    try:
        if len(raw) > _MAX_ADDRESS:
            # Cannot be an address; also bounds the work done on hostile input below.
            raw = raw[:_MAX_ADDRESS]
            raise EmailNotValidError("too long")
        v = validate_email(raw, check_deliverability=False)
        valid, local, domain = True, v.local_part, v.ascii_domain.lower()
    except EmailNotValidError:
        valid = False
        local = raw.rsplit("@", 1)[0] if "@" in raw else raw
        domain = _best_effort_domain(raw)

    free = domain is not None and domain in _free_providers()
    if valid and domain is not None:        # (a valid address always has its domain)
        box = fold(local, domain)
        folded_local, mailbox, aliased = box.local, box.address, box.aliased
    else:
        # Never link accounts on an address that cannot receive mail.
        folded_local, mailbox, aliased = local.lower(), None, False

    length = len(folded_local)
    digits = sum(map(_is_digit, folded_local))
    return EmailSignals(
        valid=valid,
        domain=domain,
        disposable=domain is not None and is_disposable(domain),
        free_provider=free,
        alias_folded=aliased,
        mailbox=mailbox,
        local_length=length,
        local_digits=digits,
        local_digit_ratio=round(digits / length, 4) if length else 0.0,
        local_entropy=round(_entropy(folded_local), 4),
        local_random=looks_random(folded_local),
        domain_random=domain is not None and not free and domain_looks_random(domain),
    )


def check_deliverability(
    address: str, timeout: float, *, nameservers: Sequence[str] | None = None, port: int = 53
) -> bool | None:
    """Does the address's domain accept mail (MX, else A/AAAA)? Network I/O: opt-in only.

    True/False when DNS answered; None when it could not answer within `timeout` seconds
    in total (email_validator makes up to four queries; each gets only what is left of the
    budget, so the call never takes much longer than `timeout`). `nameservers`/`port`
    override the system resolver (tests, or a dedicated resolver).
    """
    try:
        v = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    import dns.resolver  # dnspython, email_validator's own dependency
    from email_validator import EmailUndeliverableError

    deadline = time.monotonic() + timeout

    class _DeadlineResolver(dns.resolver.Resolver):
        def resolve(self, *args, **kwargs):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise dns.resolver.LifetimeTimeout(timeout=timeout, errors=[])
            kwargs["lifetime"] = remaining
            return super().resolve(*args, **kwargs)

    try:
        resolver = _DeadlineResolver(configure=nameservers is None)
    except dns.resolver.NoResolverConfiguration:
        return None
    if nameservers is not None:
        resolver.port = port  # before nameservers: dnspython binds the port when they are set
        resolver.nameservers = list(nameservers)
    resolver.timeout = resolver.lifetime = timeout
    try:
        checked = validate_email(v.normalized, check_deliverability=True, dns_resolver=resolver)
    except EmailUndeliverableError:
        return False
    # email_validator swallows timeouts / dead resolvers and just leaves `mx` unset.
    return True if getattr(checked, "mx", None) else None
