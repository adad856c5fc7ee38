"""Renderers of a report (projections.reports): Excel (xlsx.py), the A4 print pages (html.py),
JSON (as_json.py). They translate; every figure is the read model's."""
