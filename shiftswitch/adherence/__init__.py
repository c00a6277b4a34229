"""The adherence report (README: Reports): planned ON time against confirmed ON time."""
