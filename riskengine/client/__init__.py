"""The Python client for riskengine's HTTP API (contract v1.1, "Python client")."""
from riskengine.client.core import ApiError, RiskClient, Unavailable, failover_answer
from riskengine.client.integrations import assess_context, device_token, request_ip
from riskengine.forwarded import TrustedProxies

__all__ = ["ApiError", "RiskClient", "TrustedProxies", "Unavailable", "assess_context", "device_token",
           "failover_answer", "request_ip"]
