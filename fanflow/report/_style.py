"""The report's stylesheet, inline: system fonts only, nothing fetched."""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em;
       color: #1d1f24; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 .4em; } h2 { font-size: 1.15em; margin: 1.6em 0 .5em; }
header dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; margin: 0; }
header dt { color: #667; } header dd { margin: 0; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border-bottom: 1px solid #e3e5ea; padding: .3em .7em; text-align: right; }
th { background: #f4f5f7; font-weight: 600; }
td:first-child, th:first-child { text-align: left; }
table.failures td { text-align: left; vertical-align: top; }
tr.failure-example td { border-bottom: 2px solid #d0d3da; }
.example { font-size: .9em; color: #444; } .error { color: #a32020; }
.note { color: #667; font-size: .9em; }
pre { background: #f4f5f7; padding: 1em; overflow-x: auto; font-size: .85em; }
.graph-box { overflow-x: auto; }
svg.graph rect { fill: #eef3fb; stroke: #4a6fa5; stroke-width: 1.2; }
svg.graph .input rect { fill: #f4f5f7; stroke: #8890a0; }
svg.graph path { fill: none; stroke: #667; stroke-width: 1.3; }
svg.graph text { font-family: system-ui, sans-serif; fill: #1d1f24; }
svg.graph .step-name { font-size: 14px; font-weight: 600; }
svg.graph .step-caption, svg.graph .edge-flow { font-size: 11px; fill: #556; }
svg.graph .edge-count { font-size: 12px; font-weight: 600; fill: #2a4d80; }
.chart svg { max-width: 100%; height: auto; }
"""
