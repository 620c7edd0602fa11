"""What one running riskengine holds: database, GeoIP readers, model, policy, hash key.
Built by create_app (never at import time) and by the command-line jobs."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine as DbEngine

from riskengine import storage
from riskengine.config import Config, ConfigError, models_dir
from riskengine.hashing import Hasher, load_hash_key
from riskengine.policystore import PolicySource
from riskengine.scoring.model import RiskModel, newest_model_dir
from riskengine.scoring.policy import Policy, PolicyError
from riskengine.signals import device_token
from riskengine.signals.ip import EXPECTED_TYPES, GeoIPReaders
from riskengine.storage import migrate
from riskengine.usage.links import LinkFolder

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: Config
    db: DbEngine
    hasher: Hasher
    policy: Policy
    model: RiskModel | None
    readers: GeoIPReaders | None
    problems: list[str] = field(default_factory=list)   # what keeps /readyz from saying ready
    geoip_error: str | None = None     # set when a configured GeoIP file failed to open
    folder: LinkFolder = field(init=False)    # folds usage links into entitylink
    token_key: bytes = field(init=False, repr=False)    # signs and verifies device tokens
    policies: PolicySource = field(init=False)  # the newest published policy version (policystore)

    def __post_init__(self):
        self.folder = LinkFolder(self.db, self.hasher, budget_s=self.config.usage_timeout_ms / 1000)
        self.token_key = self.hasher.derive(device_token.KEY_LABEL)
        self.policies = PolicySource(self.db, self.policy, self.config.policy_path, self._use_policy)

    def _use_policy(self, policy: Policy) -> None:
        self.policy = policy      # one attribute swap: a request reads runtime.policy once

    @classmethod
    def build(cls, config: Config, check_schema: bool = True) -> Runtime:
        """Everything the config names, loaded. What the config names explicitly must load
        (PolicyError, ModelError, ConfigError otherwise); what it leaves to be found (no model
        under models/) or what breaks while serving (a GeoIP file) only degrades /readyz."""
        db = storage.make_engine(config.database_url, config.db_timeout_ms)
        if check_schema:
            migrate.require_current(db)
        policy = load_policy(config.policy_path)
        model, problems = _assess_model(config)
        hasher = _hasher(config)
        readers, geoip_error = _geoip(config)
        problems += [geoip_error] if geoip_error else []
        for p in problems:
            log.error(p)
        runtime = cls(config=config, db=db, hasher=hasher, policy=policy, model=model, readers=readers,
                      problems=problems, geoip_error=geoip_error)
        if check_schema:
            runtime.policies.refresh()          # a version published from the console wins over the file
        return runtime

    def close(self) -> None:
        self.policies.close()
        if self.readers is not None:
            self.readers.close()
        self.db.dispose()


class ModelError(ConfigError):
    """A model directory a setting names (or the newest one found for it) cannot be loaded."""


def load_model(path: str | Path, variable: str, nthread: int = 1) -> RiskModel:
    try:
        return RiskModel.load(path, nthread=nthread)
    except (OSError, ValueError, KeyError, TypeError) as e:
        # XGBoost's message runs on with a C++ stack trace: its first line, less the time and
        # source file it starts with, says what broke.
        said = re.sub(r"^\[[\d:]+\] \S+: ", "", (str(e).strip().splitlines() or [""])[0])
        raise ModelError(variable, f"the model {path} cannot be loaded: {type(e).__name__}: {said}") from e


def load_policy(path: str | None) -> Policy:
    try:
        return Policy.load(path)
    except PolicyError as e:
        if path is None:        # the bundled policy: a broken install, no setting to fix
            raise
        raise PolicyError(f"RISKENGINE_POLICY: {e}") from e


def _hasher(config: Config) -> Hasher:
    try:
        return Hasher(load_hash_key(config.hash_key, config.hash_key_file))
    except (OSError, ValueError) as e:      # an unreadable or too short key file
        raise ConfigError("RISKENGINE_HASH_KEY_FILE", f"{config.hash_key_file}: {e}") from e


def _assess_model(config: Config) -> tuple[RiskModel | None, list[str]]:
    if config.model_path:       # named explicitly: it must load
        return load_model(config.model_path, "RISKENGINE_MODEL"), []
    found = newest_model_dir(models_dir())
    if found is None:
        return None, [f"no model: none under {models_dir()} and RISKENGINE_MODEL is not set"]
    try:
        return load_model(found, "RISKENGINE_MODEL"), []
    except ModelError as e:
        return None, [str(e)]


def _geoip(config: Config) -> tuple[GeoIPReaders | None, str | None]:
    # Config checked that the files exist; one that is corrupt must not stop logins: decisions
    # are marked degraded and /readyz says why.
    try:
        readers = GeoIPReaders.open(config.geoip_city, config.geoip_asn, config.geoip_anonymous,
                                    config.geoip_connection_type, config.geoip_enterprise)
    except Exception as e:
        return None, f"GeoIP database could not be opened: {e}"
    wrong = readers.wrong_types()
    if wrong:
        readers.close()
        reader, found = wrong[0]
        setting = {"connection_type": "RISKENGINE_GEOIP_CONNECTION_TYPE", "enterprise": "RISKENGINE_GEOIP_ENTERPRISE"}
        return None, f"{setting[reader]}: the file is a {found} database, not {EXPECTED_TYPES[reader]}"
    return readers, None
