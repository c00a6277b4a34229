"""The roster's format: its model, reading it from YAML with line numbers (fields, loader,
yamldoc) and writing it back (dump). Planning from it is :mod:`shiftswitch.planning`; where it
is kept, :mod:`shiftswitch.sources`."""
