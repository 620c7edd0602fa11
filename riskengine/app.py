"""`riskengine.app:create_app` for WSGI servers that were pointed at it: the factory lives in
`riskengine.web`."""
from riskengine.web.app import create_app

__all__ = ["create_app"]
