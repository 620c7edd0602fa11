"""People, mailboxes, phone numbers, browsers and cards of the simulated world."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field

from riskengine.sim.geo import COUNTRIES
from riskengine.sim.rand import Rand, Weighted

# ---------------------------------------------------------------------------------------
# Names (lists alternate male/female so the index parity gives a gender where needed)
# ---------------------------------------------------------------------------------------

_EN_FIRST = ("James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara "
             "Richard Susan Joseph Jessica Thomas Sarah Chris Karen Daniel Emily Matthew Olivia Andrew "
             "Emma Ryan Sophia Tyler Ava Ethan Mia Noah Chloe Liam Grace Jacob Hannah Kevin Megan "
             "Brandon Ashley Jose Maria Luis Carmen Marcus Aaliyah").split()
_EN_LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Wilson Anderson "
            "Taylor Thomas Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker Hall Young "
            "King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips "
            "Evans Nguyen Patel Kim Lopez Gonzalez").split()
_GB_LAST = _EN_LAST[:30] + "Hughes Edwards Wood Murphy Price Cooper Ward Morris Khan Davies Shaw Bennett".split()

NAMES: dict[str, tuple[list[str], list[str]]] = {
    "US": (_EN_FIRST, _EN_LAST),
    "GB": (_EN_FIRST[:40] + "Oliver Amelia George Isla Harry Poppy".split(), _GB_LAST),
    "CA": (_EN_FIRST[:40] + "Etienne Genevieve Mathieu Chloe".split(),
           _EN_LAST[:36] + "Tremblay Gagnon Roy Cote".split()),
    "AU": (_EN_FIRST[:40] + "Jack Charlotte Lachlan Matilda".split(), _GB_LAST),
    "DE": ("Lukas Anna Leon Lena Finn Mia Jonas Hannah Paul Laura Felix Sophie Maximilian Julia Tobias "
           "Katharina Jan Lea Stefan Sabine Thomas Andrea Michael Claudia Florian Nina".split(),
           "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter "
           "Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hartmann Lange".split()),
    "FR": ("Lucas Emma Hugo Léa Louis Chloé Gabriel Manon Arthur Camille Jules Inès Nathan Sarah Thomas "
           "Julie Antoine Pauline Nicolas Claire Mathis Océane".split(),
           "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
           "Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier Girard Bonnet".split()),
    "IN": ("Aarav Priya Rahul Ananya Vikram Sneha Arjun Pooja Rohan Divya Amit Neha Karthik Lakshmi "
           "Sanjay Deepika Aditya Kavya Suresh Meera Vivek Swati".split(),
           "Sharma Patel Singh Kumar Gupta Reddy Nair Iyer Rao Das Joshi Mehta Verma Chatterjee "
           "Agarwal Pillai Menon Bhat Mishra Khan".split()),
    "BR": ("João Maria Pedro Ana Lucas Juliana Gabriel Fernanda Rafael Beatriz Matheus Larissa Gustavo "
           "Camila Felipe Mariana Bruno Letícia Thiago Aline".split(),
           "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro "
           "Martins Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa".split()),
    "JP": ("Haruto Yui Sota Hina Yuto Aoi Ren Sakura Takumi Yuna Kenta Misaki Daiki Riko Shota Nanami "
           "Hiroshi Yuki Kazuki Ayaka".split(),
           "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yoshida Yamada "
           "Sasaki Yamaguchi Matsumoto Inoue Kimura Hayashi Shimizu Mori".split()),
    "KR": ("Minjun Seoyeon Jiho Jiwoo Doyun Haeun Seojun Subin Hyunwoo Yuna Jimin Soyeon Junho Eunji "
           "Taeyang Hyejin Sungmin Dahye Jaehyun Minji".split(),
           "Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim Han Oh Seo Shin Kwon Hwang Ahn Song Yoo Hong".split()),
    "NG": ("Chinedu Ngozi Emeka Adaeze Oluwaseun Funmilayo Tunde Chiamaka Ibrahim Aisha Obinna Folake "
           "Kelechi Yetunde Musa Amaka Segun Bisola Uche Zainab".split(),
           "Okafor Adeyemi Okonkwo Balogun Eze Ogunleye Nwosu Bello Adebayo Chukwu Ibrahim Olawale Obi "
           "Afolabi Musa Nnamdi Oyelaran Abubakar Onyeka Fashola".split()),
    "ID": ("Budi Siti Agus Dewi Andi Putri Rizky Ayu Dedi Sri Hendra Nur Eko Wulan Fajar Intan Yoga "
           "Ratna Arif Indah".split(),
           "Santoso Wijaya Saputra Hidayat Kusuma Pratama Nugroho Setiawan Siregar Lubis Hasibuan "
           "Gunawan Halim Sihombing Purnomo Wibowo Susanto Rahmawati Putra Utami".split()),
    "PL": ("Jakub Julia Kacper Zuzanna Szymon Maja Filip Zofia Michał Aleksandra Bartosz Natalia Piotr "
           "Katarzyna Tomasz Agnieszka Paweł Magdalena Marcin Anna".split(),
           "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak "
           "Dąbrowski Kozłowski Jankowski Mazur Kwiatkowski Krawczyk Piotrowski Grabowski".split()),
    "NL": ("Daan Emma Sem Julia Lucas Tess Finn Sophie Levi Anna Thijs Sanne Bram Lotte Ruben Fleur "
           "Jesse Isa Lars Noor".split(),
           ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
            "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks",
            "van Leeuwen", "Dekker", "Brouwer"]),
    "SG": (["Wei", "Hui Min", "Jun Jie", "Jia Hui", "Zhi Hao", "Xin Yi", "Haziq", "Nurul", "Ravi",
            "Divya", "Ethan", "Chloe", "Ryan", "Rachel", "Marcus", "Farah"],
           "Tan Lim Lee Ng Ong Wong Goh Chua Koh Teo Rahman Abdullah Kumar Nair".split()),
    "RU": ("Alexander Maria Dmitry Anastasia Maxim Daria Ivan Ekaterina Sergey Olga Andrey Natalia "
           "Mikhail Elena Nikita Tatiana Artem Anna Pavel Irina".split(),
           "Ivanov Smirnov Kuznetsov Popov Vasiliev Petrov Sokolov Mikhailov Novikov Fedorov Morozov "
           "Volkov Alekseev Lebedev Semenov Egorov Pavlov Kozlov Stepanov Nikolaev".split()),
    "CN": ("Wei Fang Lei Jing Yang Li Jun Min Hao Xin Yu Ting Chen Yan Bo Lin Qiang Hui Tao Mei".split(),
           "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Gao Luo".split()),
    "IR": ("Mohammad Fatemeh Ali Zahra Hossein Maryam Reza Narges Mehdi Sara Amir Leila Hamid Niloufar "
           "Saeed Parisa".split(),
           "Hosseini Mohammadi Ahmadi Rezaei Moradi Karimi Jafari Rahimi Sadeghi Ghorbani Hashemi "
           "Kazemi Rostami Mousavi".split()),
    "KP": ("Chol Myong Song Kyong Kwang Hyang Hyok Sun Jong Ok".split(),
           "Kim Ri Pak Choe Jong Kang Han O".split()),
}

_HANDLES = ("sunny skywalker dragon tiger shadow pixel blue storm nova lucky ninja rocket coffee "
            "mango panda wolf phoenix cosmic silver gamer river maple falcon").split()


def fold(text: str) -> str:
    """ASCII-fold a name for an email local part (Müller -> mueller, Łukasz -> lukasz)."""
    text = text.lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae").replace("ß", "ss")
    text = text.replace("ł", "l").replace("ø", "o").replace("æ", "ae")
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch in " -")).replace(" ", "").replace("-", "")


@dataclass
class Person:
    first: str
    last: str
    origin: str
    female: bool

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


def person(rand: Rand, origin: str, last: str | None = None) -> Person:
    firsts, lasts = NAMES[origin]
    i = rand.integers(0, len(firsts))
    female = bool(i % 2)
    ln = last if last is not None else rand.choice(lasts)
    if origin == "RU" and female and last is None and ln.endswith(("ov", "ev", "in")):
        ln += "a"
    return Person(firsts[i], ln, origin, female)


def display_name(rand: Rand, p: Person) -> str:
    r = rand.random()
    if p.origin in ("CN", "KR", "JP", "KP") and r < 0.3:
        return f"{p.last} {p.first}"
    if r < 0.06:
        return p.first
    if r < 0.09:
        return p.full.lower()
    if r < 0.11:
        return f"{p.first} {p.last[0]}."
    return p.full


# ---------------------------------------------------------------------------------------
# Email
# ---------------------------------------------------------------------------------------

GLOBAL_FREE = (("gmail.com", 46.0), ("outlook.com", 8.0), ("hotmail.com", 7.0), ("yahoo.com", 7.0),
               ("icloud.com", 6.0), ("live.com", 1.5), ("aol.com", 1.0), ("proton.me", 1.5),
               ("protonmail.com", 0.5), ("mail.com", 0.3))
LOCAL_FREE: dict[str, tuple[tuple[str, float], ...]] = {
    "US": (("comcast.net", 1.5), ("att.net", 1.0), ("verizon.net", 0.5)),
    "GB": (("yahoo.co.uk", 3.0), ("btinternet.com", 2.0), ("hotmail.co.uk", 3.0), ("sky.com", 1.0)),
    "DE": (("gmx.de", 12.0), ("web.de", 12.0), ("t-online.de", 6.0), ("gmx.net", 3.0)),
    "FR": (("orange.fr", 7.0), ("free.fr", 4.0), ("laposte.net", 3.0), ("hotmail.fr", 5.0), ("sfr.fr", 2.0)),
    "IN": (("rediffmail.com", 3.0), ("yahoo.co.in", 4.0)),
    "BR": (("uol.com.br", 3.0), ("bol.com.br", 3.0), ("yahoo.com.br", 3.0)),
    "JP": (("yahoo.co.jp", 14.0), ("docomo.ne.jp", 4.0), ("ezweb.ne.jp", 2.0)),
    "KR": (("naver.com", 30.0), ("daum.net", 8.0), ("hanmail.net", 5.0)),
    "ID": (("yahoo.co.id", 6.0),),
    "CA": (("yahoo.ca", 3.0), ("rogers.com", 1.5), ("shaw.ca", 1.0)),
    "AU": (("bigpond.com", 4.0), ("optusnet.com.au", 2.0)),
    "PL": (("wp.pl", 12.0), ("onet.pl", 9.0), ("o2.pl", 6.0), ("interia.pl", 6.0)),
    "NL": (("ziggo.nl", 4.0), ("kpnmail.nl", 3.0), ("live.nl", 3.0)),
    "SG": (("singnet.com.sg", 2.0),),
    "RU": (("yandex.ru", 40.0), ("mail.ru", 40.0), ("rambler.ru", 6.0)),
    "CN": (("qq.com", 120.0), ("163.com", 70.0), ("126.com", 25.0), ("sina.com", 8.0)),
    "IR": (("chmail.ir", 4.0),),
}
_FREE_BY_COUNTRY = {cc: Weighted(list(GLOBAL_FREE) + list(LOCAL_FREE.get(cc, ()))) for cc in COUNTRIES}

# in disposable_email_domains' blocklist ...
DISPOSABLE_LISTED = ("mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com",
                     "sharklasers.com", "temp-mail.org", "trashmail.com", "getnada.com", "dispostable.com",
                     "maildrop.cc", "tempmail.plus", "1secmail.com", "grr.la", "throwawaymail.com",
                     "tmpmail.org", "mailpoof.com", "emailondeck.com", "tempr.email")
# ... and fresh throwaway domains that no list knows yet (real blocklists lag): a farm mints
# its own, so each campaign's are new to the engine and arrive in a burst.
_THROWAWAY_WORDS_A = "quick fast get drop temp inbox zmail now burn snap mint go".split()
_THROWAWAY_WORDS_B = "inbox mail box post drop letter msg".split()
_THROWAWAY_TLDS = (".xyz", ".top", ".click", ".online", ".site", ".shop", ".store", ".icu", ".cc", ".info")


def fresh_throwaway_domain(rand: Rand) -> str:
    """A farm's own domain: word-built ("quickinbox42.top", as FakeFilter's live providers
    mostly hand out) or machine-minted ("kq7vz3xw.icu")."""
    tld = rand.choice(_THROWAWAY_TLDS)
    if rand.random() < 0.6:
        sep = rand.choice(("", "", "-"))
        return f"{rand.choice(_THROWAWAY_WORDS_A)}{sep}{rand.choice(_THROWAWAY_WORDS_B)}{rand.integers(1, 1000)}{tld}"
    return rand.letters(rand.integers(6, 11), "bcdfghjklmnpqrstvwxz0123456789") + tld
COMPANY_WORDS_A = "north blue bright silver green red quantum apex delta nova cedar harbor iron summit swift".split()
COMPANY_WORDS_B = "path labs works forge systems logic media data analytics ventures cloud studio".split()
COMPANY_TLDS = {"US": ".com", "GB": ".co.uk", "DE": ".de", "FR": ".fr", "IN": ".in", "BR": ".com.br",
                "JP": ".co.jp", "KR": ".co.kr", "NG": ".com.ng", "ID": ".co.id", "CA": ".ca",
                "AU": ".com.au", "PL": ".pl", "NL": ".nl", "SG": ".sg", "RU": ".ru", "CN": ".cn",
                "IR": ".ir", "KP": ".kp"}


def local_part(rand: Rand, p: Person) -> str:
    first, last = fold(p.first), fold(p.last)
    yy = f"{rand.integers(62, 106) % 100:02d}"
    yyyy = str(1960 + rand.integers(0, 46))
    style = rand.random()
    if style < 0.18:
        return f"{first}.{last}"
    if style < 0.30:
        return f"{first}{last}"
    if style < 0.45:
        return f"{first}.{last}{yy}"
    if style < 0.55:
        return f"{first}{last}{yyyy}"
    if style < 0.63:
        return f"{first[0]}{last}"
    if style < 0.69:
        return f"{first}_{last}"
    if style < 0.77:
        return f"{first}{rand.integers(1, 1000)}"
    if style < 0.82:
        return f"{last}.{first}"
    if style < 0.87:
        return f"{first}.{last[0]}"
    if style < 0.92:
        return f"{first[0]}.{last}{yy}"
    return f"{rand.choice(_HANDLES)}{first}{rand.integers(1, 100)}"


def free_domain(rand: Rand, country: str) -> str:
    return _FREE_BY_COUNTRY[country].pick(rand)


def company_domain(rand: Rand, country: str) -> str:
    return rand.choice(COMPANY_WORDS_A) + rand.choice(COMPANY_WORDS_B) + COMPANY_TLDS.get(country, ".com")


def random_local(rand: Rand, n: int | None = None) -> str:
    n = n or rand.integers(7, 13)
    s = rand.letters(1) + rand.letters(n - 1, "abcdefghijklmnopqrstuvwxyz0123456789")
    return s


def gmail_dot_variant(rand: Rand, local: str) -> str:
    """Insert dots into a gmail local part (same mailbox for Gmail)."""
    base = local.replace(".", "")
    out = [base[0]]
    for ch in base[1:]:
        if rand.random() < 0.25 and out[-1] != ".":
            out.append(".")
        out.append(ch)
    s = "".join(out).strip(".")
    return s if s != local else base[:1] + "." + base[1:]


# ---------------------------------------------------------------------------------------
# Phones (E.164 patterns that phonenumbers 9.x accepts as valid for the region)
# ---------------------------------------------------------------------------------------

def _us_like(rand: Rand, codes: tuple[str, ...]) -> str:
    while True:
        exch = f"{rand.integers(2, 10)}{rand.digits(2)}"
        if exch[1:] != "11" and exch != "555":
            break
    return "+1" + rand.choice(codes) + exch + rand.digits(4)


# +44 7xxx ranges of the Crown Dependencies (Jersey, Guernsey, Isle of Man): not region GB
_CROWN_DEPENDENCY = ("7509", "7700", "7797", "7829", "7937", "7781", "7839", "7911", "7524", "7624", "7924")


def _gb_mobile(rand: Rand) -> str:
    while True:
        n = "+447" + rand.choice("4578") + rand.digits(8)
        if n[3:7] not in _CROWN_DEPENDENCY:
            return n


_US_CODES = tuple(a for c in COUNTRIES["US"].cities for a in c.area_codes)
_CA_CODES = tuple(a for c in COUNTRIES["CA"].cities for a in c.area_codes)

MOBILE_PATTERNS = {
    "GB": lambda r: _gb_mobile(r),
    "DE": lambda r: "+49" + r.choice(("151", "152", "157", "159", "176", "177", "178", "179")) + r.digits(8)
    if r.random() < 0.6 else "+49" + r.choice(("160", "170", "171", "172", "173", "174", "175")) + r.digits(7),
    "FR": lambda r: "+33" + r.choice(("60", "61", "62", "64", "65", "66", "67", "68", "73", "75", "76", "77",
                                      "78")) + r.digits(7),
    "IN": lambda r: "+91" + r.choice(("70", "90", "91", "93", "94", "95", "96", "97", "98", "99", "60",
                                      "69")) + r.digits(8),
    "JP": lambda r: "+81" + r.choice(("90", "80", "70")) + str(r.integers(2, 10)) + r.digits(7),
    "KR": lambda r: "+8210" + r.choice("2346789") + r.digits(7),
    "NG": lambda r: "+234" + r.choice(("803", "806", "813", "816", "703", "706", "810", "814", "903", "805",
                                       "807", "815", "705", "905", "802", "808", "812", "701", "708", "902",
                                       "809", "817", "818", "909", "908")) + str(r.integers(2, 10)) + r.digits(6),
    "ID": lambda r: "+62" + r.choice(("811", "812", "813", "821", "822", "852", "853", "815", "816", "855",
                                      "856", "857", "858", "817", "818", "819", "859", "877", "878", "895",
                                      "896", "897", "898", "899", "881", "882", "883")) + r.digits(r.choice((7, 8))),
    "AU": lambda r: "+614" + r.choice("0123") + r.digits(7),
    "PL": lambda r: "+48" + r.choice(("50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79",
                                      "88")) + r.digits(7),
    "NL": lambda r: "+316" + r.choice("12345") + r.digits(7),
    "SG": lambda r: "+65" + r.choice(("81", "82", "83", "84", "85", "86", "87", "88", "89", "90", "91", "92",
                                      "93", "94", "95", "96", "97", "98")) + r.digits(6),
    "RU": lambda r: "+79" + r.choice(("01", "02", "03", "04", "05", "06", "08", "09", "10", "11", "12", "13",
                                      "14", "15", "16", "17", "18", "19", "20", "21", "25", "26", "27", "28",
                                      "29", "50", "51", "52", "53", "60", "61", "62", "63", "64", "65", "77",
                                      "80", "81", "82", "83", "85", "91", "92", "93", "95", "96", "97", "98",
                                      "99")) + r.digits(7),
    "CN": lambda r: "+86" + r.choice(("130", "131", "132", "133", "135", "136", "137", "138", "139", "150",
                                      "151", "152", "155", "156", "157", "158", "159", "176", "177", "178",
                                      "180", "181", "182", "183", "185", "186", "187", "188", "189")) + r.digits(8),
    "IR": lambda r: "+989" + r.choice(("01", "02", "03", "10", "11", "12", "13", "14", "15", "16", "17", "18",
                                       "19", "30", "33", "35", "36", "37", "38", "39", "90", "91", "92")) + r.digits(7),
    "KP": lambda r: "+850191" + r.digits(7),
    "BR": lambda r: "+55" + r.choice(("11", "21", "61", "51", "85", "92")) + "9" + r.choice("6789") + r.digits(7),
    "US": lambda r: _us_like(r, _US_CODES),
    "CA": lambda r: _us_like(r, _CA_CODES),
}
LANDLINE_PATTERNS = {
    "DE": lambda r: "+4930" + str(r.integers(2, 10)) + r.digits(7),
    "GB": lambda r: "+44207" + r.digits(7),
    "FR": lambda r: "+331" + str(r.integers(4, 8)) + r.digits(7),
}
VOIP_PATTERNS = {  # regions where phonenumbers knows a VOIP range
    "GB": lambda r: "+4456" + r.digits(8),
    "NL": lambda r: "+3185" + r.digits(7),
    "FR": lambda r: "+339" + str(r.integers(5, 8)) + r.digits(7),
}


def mobile_number(rand: Rand, country: str, city_area_codes: tuple[str, ...] = ()) -> str:
    if city_area_codes and country in ("US", "CA") and rand.random() < 0.75:
        return _us_like(rand, city_area_codes)
    if city_area_codes and country == "BR" and rand.random() < 0.8:
        return "+55" + rand.choice(city_area_codes) + "9" + rand.choice("6789") + rand.digits(7)
    return MOBILE_PATTERNS[country](rand)


def landline_number(rand: Rand, country: str) -> str | None:
    f = LANDLINE_PATTERNS.get(country)
    return f(rand) if f else None


def voip_number(rand: Rand, country: str | None = None) -> str:
    cc = country if country in VOIP_PATTERNS else rand.choice(tuple(VOIP_PATTERNS))
    return VOIP_PATTERNS[cc](rand)


def national_format(e164: str) -> str:
    """How a user types the number at home (parsed later with account.country)."""
    import phonenumbers
    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL)


def present_phone(rand: Rand, e164: str, p_national: float = 0.12) -> str:
    r = rand.random()
    if r < p_national:
        return national_format(e164)
    if r < p_national + 0.04:  # "+49 151 2345 6789" style spacing
        return e164[:3] + " " + e164[3:6] + " " + e164[6:]
    return e164


# ---------------------------------------------------------------------------------------
# Browsers and devices
# ---------------------------------------------------------------------------------------

CHROME = Weighted([(153, 30), (152, 18), (154, 10), (151, 9), (150, 6), (149, 5), (148, 4), (146, 4),
                   (144, 3), (141, 3), (138, 2), (134, 1)])
FIREFOX = Weighted([(157, 35), (156, 20), (155, 10), (153, 15), (150, 5), (140, 8), (128, 3)])
SAFARI = Weighted([("26.4", 20), ("26.3", 10), ("27.0", 25), ("26.6", 15), ("18.6", 15), ("18.5", 8),
                   ("17.6", 7)])
SAMSUNG = Weighted([(28, 50), (27, 35), (26, 15)])

_WIN = "Windows NT 10.0; Win64; x64"
_MAC = "Macintosh; Intel Mac OS X 10_15_7"


def _ios_token(safari: str) -> str:
    major = int(safari.split(".")[0])
    if major >= 26:
        return "18_6"  # iOS 26+ freezes the OS version in the UA
    return safari.replace(".", "_")


def ua_for(kind: str, rand: Rand) -> tuple[str, str | None, str, str]:
    """(user_agent, platform, browser, os) for a browser kind."""
    v = CHROME.pick(rand)
    if kind == "win_chrome":
        return (f"Mozilla/5.0 ({_WIN}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
                "Win32", "Chrome", "Windows")
    if kind == "win_edge":
        return (f"Mozilla/5.0 ({_WIN}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 "
                f"Edg/{v}.0.0.0", "Win32", "Edge", "Windows")
    if kind == "win_firefox":
        f = FIREFOX.pick(rand)
        return (f"Mozilla/5.0 ({_WIN}; rv:{f}.0) Gecko/20100101 Firefox/{f}.0", "Win32", "Firefox", "Windows")
    if kind == "mac_chrome":
        return (f"Mozilla/5.0 ({_MAC}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
                "MacIntel", "Chrome", "Mac OS X")
    if kind == "mac_safari":
        s = SAFARI.pick(rand)
        return (f"Mozilla/5.0 ({_MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{s} Safari/605.1.15",
                "MacIntel", "Safari", "Mac OS X")
    if kind == "mac_firefox":
        f = FIREFOX.pick(rand)
        return (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{f}.0) Gecko/20100101 Firefox/{f}.0",
                "MacIntel", "Firefox", "Mac OS X")
    if kind == "linux_chrome":
        return (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
                "Safari/537.36", "Linux x86_64", "Chrome", "Linux")
    if kind == "linux_firefox":
        f = FIREFOX.pick(rand)
        return (f"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:{f}.0) Gecko/20100101 Firefox/{f}.0",
                "Linux x86_64", "Firefox", "Ubuntu")
    if kind == "iphone_safari":
        s = SAFARI.pick(rand)
        return (f"Mozilla/5.0 (iPhone; CPU iPhone OS {_ios_token(s)} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{s} Mobile/15E148 Safari/604.1", "iPhone", "Mobile Safari", "iOS")
    if kind == "iphone_chrome":
        s = SAFARI.pick(rand)
        return (f"Mozilla/5.0 (iPhone; CPU iPhone OS {_ios_token(s)} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) CriOS/{v}.0.0.0 Mobile/15E148 Safari/604.1", "iPhone", "Chrome Mobile iOS", "iOS")
    if kind == "ipad_safari":  # iPadOS requests the desktop site
        s = SAFARI.pick(rand)
        return (f"Mozilla/5.0 ({_MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{s} Safari/605.1.15",
                "MacIntel", "Safari", "Mac OS X")
    if kind == "android_chrome":
        return (f"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
                "Mobile Safari/537.36", "Linux armv81", "Chrome Mobile", "Android")
    if kind == "android_samsung":
        sb = SAMSUNG.pick(rand)
        return (f"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{sb}.0 "
                f"Chrome/{v - 3}.0.0.0 Mobile Safari/537.36", "Linux armv81", "Samsung Internet", "Android")
    if kind == "tor_browser":
        return ("Mozilla/5.0 (Windows NT 10.0; rv:140.0) Gecko/20100101 Firefox/140.0", "Win32", "Firefox", "Windows")
    if kind == "headless":
        if rand.random() < 0.7:
            return (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/{v}.0.0.0 "
                    "Safari/537.36", "Linux x86_64", "HeadlessChrome", "Linux")
        return (f"Mozilla/5.0 ({_WIN}) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/{v}.0.0.0 Safari/537.36",
                "Win32", "HeadlessChrome", "Windows")
    if kind == "script":
        return (rand.choice(SCRIPT_UAS), None, "script", "Other")
    raise ValueError(kind)


# What a script sends when its author does not set a user agent: each library's own default.
# No native-app stack here (okhttp, Dart, CFNetwork): those are apps people use (NATIVE_APP_UAS).
SCRIPT_UAS = ("python-requests/2.32.3", "python-requests/2.31.0", "python-requests/2.32.4", "curl/8.9.1",
              "curl/8.5.0", "curl/7.81.0", "Go-http-client/1.1", "Go-http-client/2.0", "axios/1.7.9",
              "Python-urllib/3.11", "python-httpx/0.28.1", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
              "Java-http-client/21.0.5", "node", "Deno/2.1.4", "Bun/1.1.42", "aiohttp/3.11.11",
              "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.5247",
              "Wget/1.21.4", "Ruby", "Faraday v2.12.2", "Scrapy/2.12.0 (+https://scrapy.org)")
DEV_SDK_UAS = ("python-requests/2.32.3", "python-httpx/0.28.1", "curl/8.9.1", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
               "axios/1.7.9", "Go-http-client/2.0")
# A native mobile app's HTTP stack (the service's own app, or one built on its API): sent by
# the people who use the app on their phones. signals.automation calls these native_app, not bots.
NATIVE_APP_UAS = {
    "android": Weighted([("okhttp/4.12.0", 55), ("okhttp/4.9.3", 15), ("okhttp/5.0.0-alpha.14", 5),
                         ("Dart/3.5 (dart:io)", 15), ("Dart/3.6 (dart:io)", 10)]),
    "iphone": Weighted([("Shop/5.12.1 CFNetwork/1568.100.1 Darwin/24.0.0", 40),
                        ("Shop/5.12.0 CFNetwork/1498.700.2 Darwin/23.6.0", 25),
                        ("Shop/5.11.4 CFNetwork/1496.0.7 Darwin/23.5.0", 10), ("Dart/3.5 (dart:io)", 25)]),
}

DESKTOP_SCREENS = Weighted([("1920x1080", 30), ("1366x768", 10), ("1536x864", 12), ("2560x1440", 8),
                            ("1440x900", 6), ("1280x720", 4), ("1600x900", 4), ("1680x1050", 2),
                            ("3840x2160", 2), ("2560x1080", 1)])
MAC_SCREENS = Weighted([("1512x982", 20), ("1728x1117", 10), ("1470x956", 15), ("1440x900", 15),
                        ("2560x1440", 8), ("1920x1080", 10), ("1280x800", 5)])
IPHONE_SCREENS = Weighted([("390x844", 25), ("393x852", 25), ("430x932", 15), ("402x874", 15),
                           ("375x667", 8), ("428x926", 7), ("440x956", 5)])
ANDROID_SCREENS = Weighted([("412x915", 25), ("360x800", 20), ("384x854", 10), ("393x873", 10),
                            ("412x892", 10), ("360x780", 8), ("411x914", 8), ("320x712", 4)])

# desktop browser mixes by OS; mobile by country (iPhone share)
IPHONE_SHARE = {"US": 0.55, "GB": 0.5, "CA": 0.5, "AU": 0.52, "JP": 0.65, "KR": 0.3, "DE": 0.35, "FR": 0.35,
                "NL": 0.4, "PL": 0.2, "SG": 0.45, "IN": 0.05, "ID": 0.1, "NG": 0.1, "BR": 0.15, "RU": 0.25,
                "CN": 0.25, "IR": 0.1, "KP": 0.0}
_WIN_BROWSERS = Weighted([("win_chrome", 68), ("win_edge", 20), ("win_firefox", 12)])
_MAC_BROWSERS = Weighted([("mac_chrome", 50), ("mac_safari", 40), ("mac_firefox", 10)])
_LINUX_BROWSERS = Weighted([("linux_chrome", 60), ("linux_firefox", 40)])


def hw_hash(label: str) -> str:
    """The components hash of a hardware class (same across worlds: same hardware, same hash)."""
    return hashlib.blake2b(label.encode(), digest_size=16).hexdigest()


# how many distinct hardware classes each platform has (iPhones collide a lot)
HW_CLASSES = {"iphone": 30, "ipad": 12, "mac": 120, "android": 2500, "windows": 6000, "linux": 800}


@dataclass
class SimDevice:
    id: str
    kind: str              # desktop | phone | tablet | script
    browser_kind: str      # ua_for kind
    user_agent: str
    platform: str | None
    browser: str
    os: str
    screen: str | None
    timezone: str | None
    languages: tuple[str, ...] | None
    webdriver: bool | None
    components_hash: str | None
    omit: frozenset = field(default_factory=frozenset)  # body fields the collector never reports
    nulls: frozenset = field(default_factory=frozenset)  # fields sent as explicit null
    headless: bool = False

    def body(self, timezone: str | None = None) -> dict:
        d = {
            "id": self.id,
            "user_agent": self.user_agent,
            "timezone": timezone if timezone is not None else self.timezone,
            "languages": list(self.languages) if self.languages is not None else None,
            "screen": self.screen,
            "platform": self.platform,
            "webdriver": self.webdriver,
            "components_hash": self.components_hash,
        }
        for k in self.omit:
            d.pop(k, None)
        for k in self.nulls:
            if k in d:
                d[k] = None
        return d

    def reset_id(self, rand: Rand) -> SimDevice:
        """Same hardware/browser with a fresh device id (cleared storage, reinstall)."""
        return SimDevice(new_device_id(rand), self.kind, self.browser_kind, self.user_agent, self.platform,
                         self.browser, self.os, self.screen, self.timezone, self.languages, self.webdriver,
                         self.components_hash, self.omit, self.nulls, self.headless)


def new_device_id(rand: Rand) -> str:
    return "dv_" + rand.hex(16)


def _collector_gaps(rand: Rand, kind: str) -> tuple[frozenset, frozenset]:
    omit, nulls = set(), set()
    if rand.random() < 0.05:
        omit.add("components_hash")
    if rand.random() < 0.03:
        nulls.add("components_hash")
    if rand.random() < 0.05:
        omit.add("screen")
    if rand.random() < 0.08:
        nulls.add("webdriver") if rand.random() < 0.5 else omit.add("webdriver")
    if rand.random() < 0.03:
        omit.add("timezone")
    if rand.random() < 0.04:
        omit.add("platform")
    if kind == "phone" and rand.random() < 0.04:
        omit.add("languages")
    return frozenset(omit), frozenset(nulls)


def browser_device(rand: Rand, kind: str, country: str, tz: str, languages: tuple[str, ...],
                   browser_kind: str | None = None, hw_label: str | None = None, hw_skew: float = 2.2) -> SimDevice:
    """A real person's browser on a desktop/phone/tablet."""
    if browser_kind is None:
        if kind == "phone":
            if rand.random() < IPHONE_SHARE.get(country, 0.3):
                browser_kind = "iphone_safari" if rand.random() < 0.85 else "iphone_chrome"
            else:
                browser_kind = "android_chrome" if rand.random() < 0.8 else "android_samsung"
        elif kind == "tablet":
            browser_kind = "ipad_safari" if rand.random() < 0.7 else "android_chrome"
        else:
            r = rand.random()
            browser_kind = (_WIN_BROWSERS if r < 0.68 else _MAC_BROWSERS if r < 0.95 else _LINUX_BROWSERS).pick(rand)
    ua, platform, browser, os_ = ua_for(browser_kind, rand)
    if browser_kind.startswith("iphone"):
        hw, screen = "iphone", IPHONE_SCREENS.pick(rand)
    elif browser_kind == "ipad_safari":
        hw, screen = "ipad", rand.choice(("820x1180", "834x1194", "1024x1366", "810x1080"))
    elif browser_kind.startswith("android"):
        hw, screen = ("android", ANDROID_SCREENS.pick(rand)) if kind != "tablet" else ("android", "800x1280")
    elif browser_kind.startswith("mac"):
        hw, screen = "mac", MAC_SCREENS.pick(rand)
    elif browser_kind.startswith("linux"):
        hw, screen = "linux", DESKTOP_SCREENS.pick(rand)
    else:
        hw, screen = "windows", DESKTOP_SCREENS.pick(rand)
    if hw_label is None:
        # popular hardware is shared by many people: skewed class index
        hw_label = f"{hw}:{rand.skewed_index(HW_CLASSES[hw], hw_skew)}"
    omit, nulls = _collector_gaps(rand, kind)
    return SimDevice(new_device_id(rand), kind, browser_kind, ua, platform, browser, os_, screen, tz,
                     tuple(languages), False, hw_hash(hw_label), omit, nulls)


def script_device(rand: Rand, ua: str | None = None, with_id: bool = True) -> SimDevice:
    """An HTTP library: no collector beyond the UA header."""
    ua = ua or rand.choice(SCRIPT_UAS)
    return SimDevice(new_device_id(rand) if with_id else "", "script", "script", ua, None, "script", "Other",
                     None, None, None, None, None,
                     omit=frozenset({"timezone", "languages", "screen", "platform", "webdriver", "components_hash"}))


def app_device(rand: Rand, country: str, tz: str, languages: tuple[str, ...]) -> SimDevice:
    """A person's phone running a native app: the app's HTTP stack sends its own user agent
    and the SDK's install id, time zone and languages; no browser fingerprint."""
    hw = "iphone" if rand.random() < IPHONE_SHARE.get(country, 0.3) else "android"
    ua = NATIVE_APP_UAS[hw].pick(rand)
    screen = (IPHONE_SCREENS if hw == "iphone" else ANDROID_SCREENS).pick(rand)
    os_ = "iOS" if hw == "iphone" else "Android"
    return SimDevice(new_device_id(rand), "phone", "native_app", ua, None, "native_app", os_, screen, tz,
                     tuple(languages), False, hw_hash(f"{hw}:{rand.skewed_index(HW_CLASSES[hw], 2.2)}"),
                     omit=frozenset({"platform", "webdriver", "components_hash"}))


def headless_device(rand: Rand, tz: str = "UTC", languages: tuple[str, ...] = ("en-US",),
                    hw_label: str | None = None) -> SimDevice:
    ua, platform, browser, os_ = ua_for("headless", rand)
    return SimDevice(new_device_id(rand), "desktop", "headless", ua, platform, browser, os_,
                     rand.choice(("800x600", "1280x720", "1920x1080")), tz, tuple(languages), True,
                     hw_hash(hw_label or f"headless:{rand.integers(0, 4)}"), headless=True)


def tor_device(rand: Rand) -> SimDevice:
    ua, platform, browser, os_ = ua_for("tor_browser", rand)
    # Tor Browser resists fingerprinting: UTC, en-US, letterboxed screen, one shared hash
    return SimDevice(new_device_id(rand), "desktop", "tor_browser", ua, platform, browser, os_,
                     rand.choice(("1400x900", "1000x900", "1200x800")), "UTC", ("en-US", "en"), False,
                     hw_hash("torbrowser:140"))


# ---------------------------------------------------------------------------------------
# Cards
# ---------------------------------------------------------------------------------------

def _bins_for(country: str) -> list[str]:
    h = hashlib.blake2b(f"bins:{country}".encode(), digest_size=32).digest()
    out = []
    for i in range(8):
        v = int.from_bytes(h[i * 4:(i + 1) * 4], "big")
        lead = ("4", "4", "4", "51", "52", "53", "54", "55")[v % 8]
        out.append((lead + str(v)[-6:])[:6])
    if country == "US":
        out.append("37" + str(int.from_bytes(h[:3], "big"))[-4:])
    return out


ISSUER_BINS = {cc: _bins_for(cc) for cc in COUNTRIES}
PREPAID_BINS = {"US": ["403784", "423223", "517805"], "GB": ["535522", "465901"], "NG": ["506099"],
                "ID": ["460012"], "IN": ["608001"], "BR": ["650485"], "DE": ["533317"], "RU": ["220070"]}
VIRTUAL_BINS = [("US", "prepaid", "485953"), ("US", "debit", "428837"), ("GB", "prepaid", "531993"),
                ("GB", "debit", "459665"), ("SG", "prepaid", "489504")]


def card(rand: Rand, country: str, funding: str | None = None, billing_country: str | None = None,
         bin_: str | None = None) -> dict:
    if funding is None:
        r = rand.random()
        funding = "credit" if r < 0.55 else "debit" if r < 0.97 else "prepaid"
    if bin_ is None:
        if funding == "prepaid" and country in PREPAID_BINS:
            bin_ = rand.choice(PREPAID_BINS[country])
        else:
            bin_ = rand.choice(ISSUER_BINS.get(country) or ISSUER_BINS["US"])
    return {
        "fingerprint": "fp_" + rand.b62(14),
        "bin": bin_,
        "last4": rand.digits(4),
        "country": country,
        "funding": funding,
        "billing_country": billing_country or country,
    }
