"""The HTTP API (README: HTTP API): ``shiftswitch api`` serves every operation of the command
line under ``/api/v1`` for other systems and the web console, a thin shell over
:mod:`shiftswitch.operations` and the reports the CLI prints, behind users, roles and tokens
(:mod:`shiftswitch.access`)."""
