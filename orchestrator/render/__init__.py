"""Render: plan facts in, names.Statement lists out, one module per migration step.

migrations  render(plan): the ordered migrations for the plan's mode
common      Migration, stmt/compose/do_block and the helpers every step shares
keys        conversion key expressions and key defaults
map_keys    01 mapping tables      foreign_keys  02 detach, 04 reattach
convert     03 key columns          defaults      05 defaults and sequences
slugs       06 slug columns         views         dependent views and carried objects
facts       the plan facts a header states
external    external mode's one migration
ownership   rollback's forget statements and the mapping-users refusal
"""
