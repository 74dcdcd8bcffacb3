"""Plan: a catalog snapshot and the user's options in, an ordered conversion out; every plan-time refusal.

options    what the user asked for, checked before the database is read
model      Plan, Target, Column; the table lock order; the names keyshift will create
planner    build: validate every target and order the conversion (pure, no I/O)
safety     plan-time refusals that read the live catalog (ownership, privileges, publications)
external   external (dual-ID) mode's facts and refusals
ownership  the names keyshift owns in the database
"""
