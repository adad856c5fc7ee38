"""Routing (分拨): which category, place and unit a complaint goes to, and whether it repeats an
open case.

- :mod:`engine.routing.port`: what the application service asks of a router (``Router``), the
  facts it hands over and the decision it records;
- :mod:`engine.routing.rules`: the config-driven parts every router shares: 属地 by area, and
  the district's routing rules as data (``to: locality | judicial_office | <unit id>``, with
  optional keywords);
- :mod:`engine.routing.keyword`: a router that reads only the config (tests, a district's first
  day);
- :mod:`engine.routing.learning`: the default router, which learns (models, duplicate index,
  operators' lessons from the log).
"""
