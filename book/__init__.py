"""The Jupyter Book that derives every formula refimpl uses.

``python -m book.build`` builds it strictly; ``book.labels`` maps equation
labels to the code lines that cite them.
"""
