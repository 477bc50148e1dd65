"""``driftline config-schema`` (registered in :mod:`utils.cli`): the JSON Schema of the configs.

Example
-------
.. code-block:: console

    $ driftline config-schema run > run.schema.json   # one kind to stdout
    $ driftline config-schema --write                 # every kind into configs/
    $ driftline config-schema --check                 # exit 1 when a committed one is stale
"""

from __future__ import annotations

import argparse
import sys

from driftline.configs import CONFIG_DIR
from driftline.configs.schema import SCHEMAS, schema_text, stale_schemas, write_schemas

__all__ = ["config_schema_arguments", "config_schema_main"]


def config_schema_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``driftline config-schema``."""
    parser.add_argument("kind", nargs="?", choices=sorted(SCHEMAS),
                        help="print the schema of this config kind (run, train, evaluate, event)")
    parser.add_argument("--write", action="store_true",
                        help="write <kind>.schema.json of every kind into --dir")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a schema file in --dir is missing or stale")
    parser.add_argument("--dir", default=str(CONFIG_DIR),
                        help=f"directory of the schema files (default: {CONFIG_DIR})")


def config_schema_main(args: argparse.Namespace) -> int:
    """Print, write or check the schemas; returns the exit status."""
    if sum((args.kind is not None, args.write, args.check)) != 1:
        print("driftline config-schema: give exactly one of KIND, --write, --check",
              file=sys.stderr)
        return 2
    if args.kind is not None:
        sys.stdout.write(schema_text(args.kind))
    elif args.write:
        for path in write_schemas(args.dir):
            print(f"wrote {path}")
    else:
        stale = stale_schemas(args.dir)
        for path in stale:
            print(f"driftline config-schema: {path} is stale; run `driftline config-schema "
                  f"--write --dir {args.dir}`", file=sys.stderr)
        return 1 if stale else 0
    return 0
