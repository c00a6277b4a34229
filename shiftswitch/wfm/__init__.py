"""Rosters from where they are made (README: Importing shifts): WFM exports (CSV) and calendars
(ICS) read into the roster's dated assignments and breaks."""
