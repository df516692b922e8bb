# Sphinx configuration for the Memorizer documentation (make docs).
project = "Memorizer"
author = "Memorizer developers"
copyright = "2026, Memorizer developers"
extensions = []
master_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
highlight_language = "none"
