"""berth's command line (typer)."""
