"""What one running riskengine holds: database, GeoIP readers, model, policy, hash key.
Built by create_app (never at import time) and by the command-line jobs."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine as DbEngine

from riskengine.storage import migrate
from riskengine import storage
from riskengine.config import Config, models_dir
from riskengine.hashing import Hasher, load_hash_key
from riskengine.scoring.model import RiskModel, newest_model_dir
from riskengine.scoring.policy import Policy
from riskengine.signals.ip import GeoIPReaders
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

    def __post_init__(self):
        self.folder = LinkFolder(self.db, self.hasher)

    @classmethod
    def build(cls, config: Config, check_schema: bool = True) -> "Runtime":
        db = storage.make_engine(config.database_url, config.db_timeout_ms)
        if check_schema:
            migrate.require_current(db)
        problems: list[str] = []
        model = None
        model_dir = config.model_path or newest_model_dir(models_dir())
        if model_dir is None:
            problems.append(f"no model: none under {models_dir()} and RISKENGINE_MODEL is not set")
        else:
            try:
                model = RiskModel.load(model_dir)
            except (OSError, ValueError, KeyError) as e:
                problems.append(f"model {model_dir} could not be loaded: {e}")
        readers, geoip_error = None, None
        try:
            readers = GeoIPReaders.open(config.geoip_city, config.geoip_asn, config.geoip_anonymous)
        except Exception as e:   # a broken file must not stop logins: decisions are marked degraded
            geoip_error = f"GeoIP database could not be opened: {e}"
            problems.append(geoip_error)
        for p in problems:
            log.error(p)
        return cls(config=config, db=db, hasher=Hasher(load_hash_key(config.hash_key, config.hash_key_file)),
                   policy=Policy.load(config.policy_path), model=model, readers=readers, problems=problems,
                   geoip_error=geoip_error)

    def close(self) -> None:
        if self.readers is not None:
            self.readers.close()
        self.db.dispose()

