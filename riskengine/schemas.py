"""Request and response bodies of contract v1, defined once: they validate requests and
generate /openapi.json. Unknown extra fields are ignored so callers can send more."""
from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Country = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)]
Short = Annotated[str, StringConstraints(max_length=256)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value):
        # PostgreSQL text cannot hold NUL; no real identifier contains one.
        if isinstance(value, str) and "\x00" in value or (
                isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value)):
            raise ValueError("must not contain NUL (\\u0000) characters")
        return value


class AccountIn(Body):
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None
    name: Short | None = None
    country: Country | None = None
    org_type: Literal["individual", "startup", "education", "enterprise", "research"] | None = None


class DeviceIn(Body):
    id: Short | None = None
    user_agent: Annotated[str, StringConstraints(max_length=2048)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    languages: Annotated[list[Annotated[str, StringConstraints(max_length=35)]], Field(max_length=32)] | None = None
    screen: Annotated[str, StringConstraints(max_length=32)] | None = None
    platform: Annotated[str, StringConstraints(max_length=64)] | None = None
    webdriver: bool | None = None
    components_hash: Short | None = None
    # The browser collector's signed token (POST /v1/device). Verified, never an error: a
    # malformed or over-long one is simply `invalid` (signals.device_token).
    token: str | None = Field(None, description="The browser collector's signed device token (POST /v1/device): "
                              "signals.device.token says valid, invalid or expired; never an error")

    @field_validator("token", mode="before")
    @classmethod
    def _token_never_an_error(cls, value):
        # NUL, which no other field may carry, only spoils the token's signature: invalid, not 422.
        return value.replace("\x00", "") if isinstance(value, str) else value


class BotVerdictIn(Body):
    detected: bool
    kind: Annotated[str, StringConstraints(max_length=64)] | None = None


class CollectRequest(Body):
    """POST /v1/device: what the browser collector gathered (clients/browser/)."""
    visitor_id: Short | None = None
    components_hash: Short | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    languages: Annotated[list[Annotated[str, StringConstraints(max_length=35)]], Field(max_length=32)] | None = None
    screen: Annotated[str, StringConstraints(max_length=32)] | None = None
    platform: Annotated[str, StringConstraints(max_length=64)] | None = None
    webdriver: bool | None = None
    bot: BotVerdictIn | None = None
    user_agent: Annotated[str, StringConstraints(max_length=2048)] | None = None


class CollectResponse(BaseModel):
    device_token: str
    expires_at: str


class PaymentIn(Body):
    fingerprint: Short | None = None
    bin: Annotated[str, StringConstraints(max_length=12)] | None = None
    last4: Annotated[str, StringConstraints(max_length=4)] | None = None
    country: Country | None = None
    funding: Literal["credit", "debit", "prepaid", "unknown"] | None = None
    billing_country: Country | None = None


class LoginIn(Body):
    outcome: Literal["success", "failure"]
    method: Literal["password", "sso", "passkey", "magic_link", "api_key"] | None = None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("must carry a time zone (RFC 3339, e.g. 2026-11-28T10:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside years 0001-9999 in UTC") from None


@lru_cache(maxsize=65536)
def canonical_ip(value: str) -> str:
    """The canonical form, so one address is one address in every count: no IPv6 zone
    id, and an IPv4-mapped IPv6 address is its IPv4 address."""
    try:
        # Dotted-quad IPv4, the common case, in C; anything else through ipaddress.
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, value))
    except (OSError, ValueError):
        pass
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("is not an IPv4 or IPv6 address") from None
    if addr.version == 6:
        addr = ipaddress.IPv6Address(int(addr))
        addr = addr.ipv4_mapped or addr
    return str(addr)


class AssessRequest(Body):
    event: Literal["signup", "login"]
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    occurred_at: datetime | None = None
    account: AccountIn
    ip: str
    device: DeviceIn | None = None
    payment: PaymentIn | None = None
    login: LoginIn | None = None

    _ip = field_validator("ip")(lambda cls, v: canonical_ip(v))

    _tz = field_validator("occurred_at")(lambda cls, v: _utc(v))


class UsageAccepted(BaseModel):
    accepted: int
    # present when the batch was sent with a batch_id; duplicate: answered from the first call
    batch_id: str | None = None
    duplicate: bool | None = None


class Reason(BaseModel):
    code: str
    message: str
    weight: float


class AssessResponse(BaseModel):
    assessment_id: str
    event: str
    account_id: str
    decision: Literal["allow", "challenge", "block"]
    score: float | None = Field(description="calibrated probability that the account is fraudulent")
    reasons: list[Reason]
    challenge: list[str] | None = None
    signals: dict
    model_version: str | None
    policy_version: str
    decided_by: str
    monitored_decision: Literal["allow", "challenge", "block"] | None = None
    degraded: bool


class LabelRequest(Body):
    account_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    label: Literal["fraud", "legit"]
    source: Literal["analyst", "chargeback", "abuse_report", "tos_violation"]
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class LabelResponse(BaseModel):
    id: int
    account_id: str
    label: str
    source: str
    note: str | None
    created_at: str


class ChallengeRequest(Body):
    outcome: Literal["passed", "failed", "abandoned"]


class AssessmentSummary(BaseModel):
    assessment_id: str
    event: str
    decision: str
    score: float | None
    at: str
    degraded: bool = False


class Link(BaseModel):
    account_id: str
    via: list[str]


class Cluster(BaseModel):
    id: str
    size: int


class AccountResponse(BaseModel):
    account_id: str
    decision: str | None
    score: float | None
    reasons: list[Reason]
    updated_at: str
    assessments: list[AssessmentSummary]
    labels: list[LabelResponse]
    links: list[Link]
    cluster: Cluster | None


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
