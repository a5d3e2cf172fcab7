"""The use cases, one module per family, one function per use case.

Each use case is a plain function whose first argument is the application (the one
eventsourcing ``Application``, ``policy_core.application.PolicyAdministration``, which gives
it the plumbing: ``_get``, ``_save`` with the actor, ``_retrying`` on a conflict, reads by
recorded time, the scheme catalogue, the clock). A use case validates its input, reads
aggregates, decides with the pure rules, lets the aggregates guard their invariants and saves
what they recorded. ``PolicyAdministration`` names every use case once (its routing table), so
callers keep writing ``app.apply(...)``.

- ``quotes``: ``quote``.
- ``lifecycle``: ``apply``, ``activate``, ``renew``, ``expire``, ``lapse``, the renewal and
  non-renewal notices, ``cancel``, ``declare_sales``.
- ``collections``: ``record_debit_success``, ``record_debit_failure`` (and the debit decisions
  the bulk run shares).
- ``claims``: ``report_incident``, ``assess_losses``, ``pay_claim``, ``deny_claim``,
  ``close_claim``.
- ``bulk``: ``renew_many``, ``record_debit_results``, many policies per atomic save.
- ``reads``: ``get_policy``, ``get_claim`` (current or as of a recorded time),
  ``get_policies``, ``history``.
- ``reserves``, ``corrections`` (issue 11), ``registers`` (the guard aggregates),
  ``risk_assessments``, ``documents`` (issue 15).

- ``risk_assessments``: ``assess_risk`` (the free risk diagnosis), ``get_risk_assessment``,
  ``list_risk_assessments`` (with the change since a member's previous one), the questionnaire
  in force and the scheme's average by area.
- ``documents``: ``certificate_of_cover`` and ``payment_advice``, what those documents print,
  from recorded facts only.

A new family (corrections, personal data, audit) is a new module here and its lines in the
routing table.
"""
