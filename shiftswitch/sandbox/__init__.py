"""The sandbox: a local Exotel stand-in for demos, tests and rehearsals (a tool beside the
product, which never imports it)."""
