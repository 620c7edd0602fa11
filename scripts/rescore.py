#!/usr/bin/env python3
"""The re-scoring job for a scheduler (cron, Kubernetes CronJob): the same as
`riskengine rescore`, with the same options, e.g. `scripts/rescore.py --since 7d --changes out.jsonl`."""
import sys

from riskengine.cli import main

if __name__ == "__main__":
    sys.exit(main(["rescore", *sys.argv[1:]], standalone_mode=True))
