import json
import socket
import threading
import time

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from riskengine.signals.email import check_deliverability, email_signals, looks_random


def test_gmail_dots_and_tag_fold_to_one_mailbox():
    s = email_signals("Jane.Doe+ai@GMail.com")
    assert s.valid is True
    assert s.domain == "gmail.com"
    assert s.free_provider is True
    assert s.disposable is False
    assert s.alias_folded is True
    assert s.mailbox == "janedoe@gmail.com"
    # local_* describe the folded local part "janedoe"
    assert (s.local_length, s.local_digits, s.local_digit_ratio) == (7, 0, 0.0)
    assert s.local_entropy == pytest.approx(2.5216, abs=1e-4)
    assert s.local_random is False


@pytest.mark.parametrize("address", [
    "janedoe@gmail.com", "jane.doe@gmail.com", "J.A.N.E.D.O.E@gmail.com",
    "janedoe+shop@gmail.com", "jane.doe+x+y@googlemail.com", "JaneDoe@googlemail.com",
])
def test_gmail_variants_share_the_mailbox(address):
    assert email_signals(address).mailbox == "janedoe@gmail.com"


@pytest.mark.parametrize("address, mailbox, folded", [
    ("JANE@gmail.com", "jane@gmail.com", False),             # case is not aliasing
    ("jane@googlemail.com", "jane@gmail.com", False),        # canonical domain is not aliasing
    ("Bob+news@Outlook.com", "bob@outlook.com", True),
    ("bob+a@hotmail.co.uk", "bob@hotmail.co.uk", True),
    ("bob.smith@hotmail.com", "bob.smith@hotmail.com", False),  # Microsoft keeps dots
    ("bob-shopping@yahoo.com", "bob-@yahoo.com", True),      # Yahoo disposable: the base name is no Yahoo ID
    ("bob+x@yahoo.com", "bob+x@yahoo.com", False),           # Yahoo has no +tags
    ("tim+apps@me.com", "tim@icloud.com", True),
    ("tim@mac.com", "tim@icloud.com", False),
    ("j.o-h_n+z@pm.me", "john@proton.me", True),             # Proton ignores . _ -
    ("john@protonmail.com", "john@proton.me", False),
    ("ivan.petrov@ya.ru", "ivan-petrov@yandex.ru", False),   # Yandex: '.' == '-'
    ("ivan.petrov+x@yandex.com", "ivan-petrov@yandex.ru", True),
    ("john.smith+x@acme-corp.com", "john.smith+x@acme-corp.com", False),  # unknown rules: keep
    ("+tag@gmail.com", "+tag@gmail.com", False),             # never fold to an empty mailbox
])
def test_provider_folding(address, mailbox, folded):
    s = email_signals(address)
    assert s.valid
    assert (s.mailbox, s.alias_folded) == (mailbox, folded)


def test_free_provider_list():
    assert email_signals("a@qq.com").free_provider is True
    assert email_signals("a@163.com").free_provider is True
    assert email_signals("a@gmx.de").free_provider is True
    assert email_signals("a@acme-corp.com").free_provider is False
    assert email_signals("a@mail.gmail.com").free_provider is False  # exact domains only


def test_disposable_domain_and_its_subdomains():
    assert email_signals("x@mailinator.com").disposable is True
    assert email_signals("x@inbox.mailinator.com").disposable is True
    assert email_signals("x@gmail.com").disposable is False
    assert email_signals("x@mailinator.com.example.org").disposable is False


def test_unicode_domain_is_reported_in_ascii():
    s = email_signals("jöhn@bücher.de")
    assert s.valid and s.domain == "xn--bcher-kva.de"
    assert s.mailbox == "jöhn@xn--bcher-kva.de"


def test_digits_in_local_part():
    s = email_signals("john1985@gmail.com")
    assert (s.local_length, s.local_digits, s.local_digit_ratio) == (8, 4, 0.5)
    assert s.local_random is False


@pytest.mark.parametrize("address", [
    "not an email", "a@@b", "x" * 300, "y" * 1000 + "@gmail.com", "@", "a@", "jöhn@@",
    "a\x00b@gmail.com", "ü" * 500 + "@x.com", "foo@bar", "user@localhost", '"q"@gmail.com',
    "a@" + "b" * 300 + ".com", "\u202e@\u202e.com",
])
def test_garbage_is_invalid_and_never_raises(address):
    s = email_signals(address)
    assert s.valid is False
    assert s.mailbox is None
    assert s.alias_folded is False
    json.dumps(s.as_dict())


def test_invalid_address_keeps_best_effort_domain():
    s = email_signals("foo..bar@Sub.Mailinator.com")
    assert s.valid is False
    assert s.domain == "sub.mailinator.com"
    assert s.disposable is True
    assert email_signals("a@@b").domain == "b"
    assert email_signals("not an email").domain is None
    assert email_signals("x@bad host.com").domain is None


@pytest.mark.parametrize("address", [None, "", "   "])
def test_absent_address(address):
    assert email_signals(address) is None


def test_as_dict_never_contains_the_mailbox():
    d = email_signals("Jane.Doe+ai@gmail.com").as_dict()
    assert set(d) == {"valid", "domain", "disposable", "free_provider", "alias_folded", "local_length",
                      "local_digits", "local_digit_ratio", "local_entropy", "local_random", "domain_random"}
    assert "janedoe" not in json.dumps(d)


@pytest.mark.parametrize("local", [
    "xkcdwrtpl", "qzrt7plm", "kdjfhskwq", "a8d7f6g5", "k3j4h5x", "ab12cd3456", "qv8zx29jk0w",
])
def test_random_looking_local_parts(local):
    assert looks_random(local) is True


@pytest.mark.parametrize("local", [
    "jane.doe", "janedoe", "john1985", "christopher.johnson", "wojciechkowalski1990",
    "johnschmidt", "deutschland", "brzezinski", "13812345678", "123456789", "zhangwei88",
    "agent007", "kate_w_1990", "info",
])
def test_name_like_local_parts_are_not_random(local):
    assert looks_random(local) is False


def test_random_flag_in_signals():
    assert email_signals("k3j4h5x9q@gmail.com").local_random is True
    assert email_signals("x.k.c.d.w.r.t@gmail.com").local_random is True  # judged after folding


# --- check_deliverability against a local fake DNS server (no network) ---

@pytest.fixture
def dns_server():
    """Yields a function mode -> port of a UDP DNS server on 127.0.0.1 that answers MX
    queries with a record ('mx'), NXDOMAIN ('nxdomain') or never ('silent')."""
    socks, stop = [], threading.Event()

    def start(mode):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.05)
        socks.append(sock)

        def serve():
            while not stop.is_set():
                try:
                    data, peer = sock.recvfrom(4096)
                except (TimeoutError, OSError):
                    continue
                if mode == "silent":
                    continue
                query = dns.message.from_wire(data)
                resp = dns.message.make_response(query)
                q = query.question[0]
                if mode == "nxdomain":
                    resp.set_rcode(dns.rcode.NXDOMAIN)
                elif q.rdtype == dns.rdatatype.MX:
                    resp.answer.append(dns.rrset.from_text(q.name, 300, "IN", "MX", "10 mx.example.net."))
                sock.sendto(resp.to_wire(), peer)

        threading.Thread(target=serve, daemon=True).start()
        return sock.getsockname()[1]

    yield start
    stop.set()
    for s in socks:
        s.close()


def test_deliverable_when_mx_exists(dns_server):
    port = dns_server("mx")
    assert check_deliverability("jane@acme-corp.com", 2.0, nameservers=["127.0.0.1"], port=port) is True


def test_undeliverable_when_domain_does_not_exist(dns_server):
    port = dns_server("nxdomain")
    assert check_deliverability("jane@acme-corp.com", 2.0, nameservers=["127.0.0.1"], port=port) is False


def test_unknown_within_hard_timeout_when_dns_is_silent(dns_server):
    port = dns_server("silent")
    start = time.monotonic()
    assert check_deliverability("jane@acme-corp.com", 0.3, nameservers=["127.0.0.1"], port=port) is None
    assert time.monotonic() - start < 1.0


def test_invalid_syntax_is_undeliverable_without_dns():
    assert check_deliverability("not an email", 0.1, nameservers=["127.0.0.1"], port=9) is False
