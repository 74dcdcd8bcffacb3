"""Render: a Plan in, its ordered migrations out (each with its .rollback.sql), one module per step.

Every statement is an ``orchestrator.names.Statement``: a psycopg.sql composition (names as
Identifier, values as orchestrator.names.Literal, psycopg's quoting without its leading space)
and the prose comment above it. Statements become text only in ``Migration.text`` and
``Migration.rollback_text``, and every comment line, headers included, is written by
``names.comment_block``. The only raw text embedded is PostgreSQL's own deparse (constraint,
view, index, trigger and policy definitions) read from the catalog, and the files shipped in
``sql/``.

migrations  render(plan): the ordered migrations for the plan's mode
common      Migration, stmt/compose/do_block and the helpers every step shares
keys        conversion key expressions and key defaults
map_keys    01 mapping tables      foreign_keys  02 detach, 04 reattach
convert     03 key columns          defaults      05 defaults and sequences
slugs       06 slug columns         views         dependent views and carried objects
facts       the plan facts a header states
external    external mode's one migration
ownership   rollback's forget statements and the mapping-users refusal
checks      the plan's own checks: claims that read its tables, one SELECT per table
"""
