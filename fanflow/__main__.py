"""`python -m fanflow`: the `fanflow` command."""

from __future__ import annotations

from fanflow.cli import main

if __name__ == "__main__":
    main()
