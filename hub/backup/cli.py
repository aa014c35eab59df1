"""`branchlive backup` and `branchlive restore`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hub.config import ConfigError, Settings, load_settings


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="the hub's TOML settings file (the same as for `branchlive hub`)")
    p.add_argument("--data-dir", help="data directory (default: from the settings, ./data)")
    p.add_argument("--database-url", help="SQLAlchemy URL (default: from the settings, embedded SQLite)")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in {"data_dir": args.data_dir, "database_url": args.database_url}.items() if v}
    return load_settings(args.config, **overrides)


def backup_main(argv: list[str]) -> int:
    from hub.backup.snapshot import BackupError, create_backup, list_backups, prune

    p = argparse.ArgumentParser(prog="branchlive backup", description=(
        "Write a consistent backup of the hub (database, recordings, keys, settings file) "
        "into a new directory under OUT. Safe while the hub runs."))
    p.add_argument("out", type=Path, help="directory that receives branchlive-backup-<time>/")
    _common(p)
    p.add_argument("--recordings", choices=["copy", "reference"], default="copy",
                   help="copy recordings (default; unchanged ones hard-linked to the previous backup in OUT) "
                        "or only list them")
    p.add_argument("--keep", type=int, help="then delete all but the newest KEEP backups in OUT")
    args = p.parse_args(argv)
    try:
        settings = _settings(args)
        previous = list_backups(args.out)
        result = create_backup(settings, args.out, recordings=args.recordings,
                               config_file=Path(args.config) if args.config else None,
                               link_dest=previous[-1] if previous else None)
        removed = prune(args.out, args.keep) if args.keep else []
    except (ConfigError, BackupError, OSError) as exc:
        print(f"branchlive backup: {exc}", file=sys.stderr)
        return 2
    print(f"backup written to {result.path}: {result.files} files, {result.bytes / 1e6:.1f} MB "
          f"({result.linked} unchanged recordings linked, {result.referenced} referenced)")
    if result.missing:
        print(f"  {len(result.missing)} files were deleted while the backup ran (retention): "
              + ", ".join(result.missing[:5]))
    for path in removed:
        print(f"  removed old backup {path}")
    return 0


def restore_main(argv: list[str]) -> int:
    from hub.backup.snapshot import BackupError, restore_backup

    p = argparse.ArgumentParser(prog="branchlive restore", description=(
        "Restore a backup into a fresh hub (stopped; empty data directory and database), "
        "then start it with `branchlive hub` as usual."))
    p.add_argument("backup", type=Path, help="a branchlive-backup-<time>/ directory")
    _common(p)
    p.add_argument("--config-out", type=Path, help="also write the backed-up settings file here")
    p.add_argument("--force", action="store_true", help="overwrite an existing database and data directory")
    args = p.parse_args(argv)
    try:
        settings = _settings(args)
        result = restore_backup(args.backup, settings, force=args.force, config_out=args.config_out)
    except (ConfigError, BackupError, OSError) as exc:
        print(f"branchlive restore: {exc}", file=sys.stderr)
        return 2
    print(f"restored {args.backup} into {settings.data_dir} ({result.files} files)")
    if result.config is not None:
        print(f"  settings file written to {result.config}")
    if result.missing_recordings:
        print(f"  {len(result.missing_recordings)} recordings were backed up by reference and are not in "
              f"{settings.data_dir}: copy the recordings directory back from its own backup before starting the hub")
        return 1
    print("start the hub with `branchlive hub` (it migrates an older backup's schema at start-up)")
    return 0
