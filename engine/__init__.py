"""Formwork: a low-code engine for accounts receivable, driven by YAML app definitions."""
