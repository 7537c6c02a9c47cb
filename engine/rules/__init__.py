"""Matching rules at run time: bank lines (and credit notes) settled against invoices.

The `matching:` section (engine.appdef.matching) says what to do; this package does it.
`service` is the API the CLI and the web workbench call; the other modules each do one
part of a run: normalising names and references, indexes of the open items, evaluating
the rules for one line, classifying differences and writing the outcome.
"""
