"""``python -m device`` is the ``custobot`` command."""

from device.cli import app

app(prog_name="custobot")
