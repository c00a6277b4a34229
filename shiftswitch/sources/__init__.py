"""Where the roster in force comes from and how it is kept: a YAML file or the database
(source), the tables that hold it (tables), its versions and the edits that make them
(store)."""
