"""berth's vulnerability scanner: image -> packages -> findings -> Harbor reports and SBOMs.

The engine (image walk, package readers, OSV database, matcher, reports) is a library usable
without the server; `model.py` is the vocabulary its parts share.
"""
