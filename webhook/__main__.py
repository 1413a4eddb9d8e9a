"""`python -m webhook` runs the CLI."""

from .cli import main

raise SystemExit(main())
