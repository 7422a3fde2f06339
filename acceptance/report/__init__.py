"""Outputs of a run: JUnit XML, a self-contained HTML report, the terminal summary."""
