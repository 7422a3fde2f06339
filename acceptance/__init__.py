"""Acceptance suite: every install proves itself.

Small numbered checks (``acceptance.checks``) run by one runner
(``acceptance.runner``) against a site model; results go to JUnit XML, a
self-contained HTML report and a JSON record per run that later runs compare
against (``acceptance.history``). Node-side benchmark programs live in
``acceptance.node`` and import nothing from the controller tooling.
"""
