"""`python -m services.cli …`, as the `sunlight` script."""

from services.cli import app

app()
