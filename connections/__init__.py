"""Users' connected accounts (DESIGN §9).

* ``models`` — Connection (tenant, owner, provider, external account id, status), its
  encrypted ConnectionToken, selected ConnectionSources, SyncCursors per stream, SyncRuns.
* ``crypto`` — tokens at rest (MultiFernet over ``KB_TOKEN_KEYS``, ciphertexts bound to their row).
* ``oauth`` — PKCE S256, the signed single-use ``state``, authorize URLs per provider.
* ``tokens`` — code exchange, connect/restore, access tokens refreshed single-flight under a
  row lock, refused grants → ``needs_reauth``, key rotation (``manage.py kb_tokens rotate``).
* ``providers/`` — pure wire clients (``oauth2`` token endpoint, ``microsoft`` Graph) and the
  error hierarchy the sync engine handles alike for every provider.
* ``mailclean`` — mail and Teams message cleaning and rendering by ``mail_tier``.
* ``registry`` — the providers offered (client id set, or the sandbox): label, authorize URL,
  token endpoint, revocation, account reader, roots lister; the roots' conventions.
* ``selectors`` / ``services`` — who sees which connection (member: own; admin and manage
  key: the tenant's); the callback, sources, ``sync_request`` (the one way a SyncRun row is
  made: one active run per connection, task queued on commit), disconnect.
* ``api`` + ``schemas`` (/api/v1/connections…), ``views`` + ``urls`` (/kb/connections/… and
  the providers' callback), ``tasks`` (``sync_run(run_id)`` → ``connections.sync.run``).

This app imports ``knowledge``; ``knowledge`` never imports it.
"""
