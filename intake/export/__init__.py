"""Archival export (SPEC.md section 7): access bags, their formats, and the catalogue.

Each format is a plain function of an `ExportRecord` (`record.py`); `bag.py` puts them together
into one BagIt bag per record, `catalogue.py` lists an export, and `eligibility.py` decides which
records may go at all.
"""
