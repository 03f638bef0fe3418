"""Write docs/problems.md: every problem code of the platform and its plugins (kernel.problems)."""

from __future__ import annotations

from pathlib import Path

import localgov.app
import localgov.plugins  # noqa: F401  (and the plugins')
from localgov.kernel.problems import problems_markdown

if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "docs" / "problems.md"
    target.write_text(problems_markdown(), encoding="utf-8")
    print(f"wrote {target}")
