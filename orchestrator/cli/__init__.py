"""The keyshift command line: argument parsing and one function per command.

main          the parser and main(): python -m orchestrator and the keyshift console script
plan_command  keyshift plan: catalog -> plan -> render -> files, and what it prints
commands      migrate, check, rollback, status, drop-map, export-map, redis-rewrite
"""
