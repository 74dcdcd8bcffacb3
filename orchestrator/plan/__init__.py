"""Plan: a catalog snapshot and the user's options in, an ordered conversion out; every plan-time refusal.

options    what the user asked for, checked before the database is read
model      Plan, Target, Column; the table lock order; the names keyshift will create
planner    make_plan: every refusal, then build: validate every target and order the conversion
safety     the refusals decided on the snapshot's facts (ownership, privileges, publications, ...)
references the --reference columns and scratch copies the catalog could not read as asked
external   external (dual-ID) mode: the names it asks the catalog about, and its refusals

Pure: every module decides on catalog.Snapshot and its Facts; none reads the database.
ownership  the names keyshift owns in the database
"""
