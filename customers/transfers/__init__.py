"""Transfers of customers between staff and the customer pool (PRODUCT.md E3, B7; WECOM.md §10).

- :mod:`.policy`: which policy covers a member, and who takes over each customer.
- :mod:`.planning`: a departed member's job planned (and previewed) from the policy.
- :mod:`.departures`: departures recorded once (callback, sync, unassigned list) and the nightly run.
- :mod:`.dispatch`: batches of 100 claimed, handed to WeCom, recorded; unknown outcomes reconciled.
- :mod:`.results`: WeCom's results applied: follows moved with their tags, notes and tasks;
  refusals and full takeovers handled by the policy.
- :mod:`.onjob`: on-job transfers of chosen customers or a segment, WeCom's rules checked first.
- :mod:`.pool`: the customer pool (公海) and claims with a daily limit.
- :mod:`.notices`: the app message that tells each successor what they receive.
"""
