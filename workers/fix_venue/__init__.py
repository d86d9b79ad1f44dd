"""FIX 4.4 venue, through QuickFIX (the optional extra `.[fix]`): docs/fix.md.

  fields.py       our records <-> FIX fields: prices as exact decimals, ids, the
                  enumerations (ExecType, OrdStatus, Side, TimeInForce), the messages
                  we send (D, F, G, H) and read (8, 9)
  credentials.py  the logon's username and password: the environment, or a file of
                  mode 0600; never in the config, never logged
  settings.py     QuickFIX settings files (the initiator's the config points to; the
                  simulated exchange's, made from its options) and the FIX44 dictionary
  session.py      the initiator: logon, state (DOWN, RECONCILING, UP), orders out,
                  reports in (deduplicated), reconciliation on reconnect
  sim.py          `tickpipe venue fix-sim`: a QuickFIX acceptor that matches orders with
                  the built-in venue's kernels (workers/gateway/venue.py), so its book
                  and queue model are the built-in venue's
"""
