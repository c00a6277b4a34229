"""The roster: its model, reading it from YAML with line numbers, validation, diff, dump, the
tables that store it, and where the roster in force comes from."""
