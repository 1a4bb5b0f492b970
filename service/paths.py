"""Where Relay finds its bundled files and keeps its state."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def templates_dir() -> Path:
    """The Jinja2 templates: bundled in the wheel, or the checkout's `templates/`."""
    bundled = PACKAGE_DIR / "_templates"
    return bundled if bundled.is_dir() else REPO_DIR / "templates"


def var_dir() -> Path:
    """The working directory's `var/`, created on first use, for this user's eyes only."""
    path = Path.cwd() / "var"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
