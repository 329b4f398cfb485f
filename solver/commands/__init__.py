"""The commands behind the CLI: solve, sheet, variants, grade, selftest, export. Only
commands write files; nothing below imports them."""
