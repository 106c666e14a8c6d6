"""`python -m core.similarity dedupe FILE ...` (see core/similarity/cli.py)."""

from core.similarity.cli import main

raise SystemExit(main())
