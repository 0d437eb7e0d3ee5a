"""Entry point for ``python -m liftgenomics``."""

from liftgenomics.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
