"""Command line: `python -m core.datasets status | download [--group G] | import FOLDER`.

Exits 0 on success, 1 with a one-line `error:` message when a file cannot be fetched, copied or verified.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.datasets.download import Progress, Report, datasets_dir, download, import_folder, status
from core.datasets.errors import DatasetError
from core.datasets.manifest import GROUPS


def _size(n: int) -> str:
    return f"{n / 1024:.1f} kB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


class _Printer:
    """Progress lines on stdout; a live percentage on the terminal for files still arriving."""

    def __init__(self) -> None:
        self.live = sys.stdout.isatty()

    def __call__(self, event: Progress) -> None:
        head = f"[{event.index:>{len(str(event.count))}}/{event.count}]"
        if event.state == "downloading":
            if self.live and event.total:
                pct = min(100, event.done * 100 // event.total)
                print(f"\r{head} {pct:3d}% {event.path}", end="", flush=True)
            return
        if event.state == "copying":
            return
        end = "\n"
        prefix = "\r" if self.live else ""
        print(f"{prefix}{head} {event.state:<9} {event.path} ({_size(event.total)})", end=end, flush=True)


def _summary(report: Report, verb: str) -> None:
    print(f"{verb} {len(report.fetched)} file(s); {len(report.present)} already present and verified.")
    if report.missing:
        print(f"{len(report.missing)} file(s) not in the folder, e.g. {report.missing[0]}")


def _status(dest: Path) -> int:
    print(f"Datasets folder: {dest}")
    for group in status(dest):
        line = f"  {group.label:<40} {group.state:<8} {group.ok}/{group.files} files, {_size(group.bytes)}"
        print(line)
        for path in group.corrupt[:5]:
            print(f"    checksum mismatch: {path}")
    return 0


def _http_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected an http(s) URL, got {text!r}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.datasets", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    parser.add_argument("--dest", type=Path, help="datasets folder (default: data/datasets)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="show which datasets are present, missing or corrupt", allow_abbrev=False)
    get = sub.add_parser(
        "download", help="fetch the official files from their upstream URLs", allow_abbrev=False
    )
    get.add_argument("--group", action="append", choices=list(GROUPS), help="only this dataset (repeatable)")
    get.add_argument(
        "--base-url", type=_http_url, help="fetch <base-url>/<path> instead of the upstream URLs (a mirror)"
    )
    imp = sub.add_parser("import", help="copy the official files from a local folder", allow_abbrev=False)
    imp.add_argument("folder", type=Path)
    imp.add_argument("--group", action="append", choices=list(GROUPS), help="only this dataset (repeatable)")
    args = parser.parse_args(argv)
    dest = args.dest or datasets_dir()
    if dest.exists() and not dest.is_dir():
        print(f"error: --dest: {dest} is a file, not a folder", file=sys.stderr)
        return 2
    try:
        if args.command == "status":
            return _status(dest)
        if args.command == "download":
            report = download(dest, groups=args.group, base_url_override=args.base_url, progress=_Printer())
            _summary(report, "Downloaded")
        else:
            report = import_folder(args.folder, dest, groups=args.group, progress=_Printer())
            _summary(report, "Imported")
    except DatasetError as exc:
        if sys.stdout.isatty():
            print()  # end a live progress line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the folder cannot be written or read: say where, without a traceback
        print(f"error: {exc.filename or dest}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
