"""riskengine: account-identity risk engine."""

__version__ = "0.1.0"
