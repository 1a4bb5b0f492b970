import typer


def register(app: typer.Typer) -> None:
    """Add the auth commands to `relay`."""
