"""Planning from a roster: each agent's desired device at any instant and the transitions of a
window (planner, with a shift's occurrences and an agent's steps), the whole-roster checks that
need them (validation), what an edit changes (diff), and the plan of a window kept per roster
version (plancache). Pure: above the roster's format, below where rosters are kept."""
