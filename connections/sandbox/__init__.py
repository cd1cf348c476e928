"""The Microsoft sandbox: a local server speaking the Microsoft identity platform and the
Graph subset the connector uses (``server.FakeMicrosoft``), over an in-memory account
(``store.GraphStore``) seeded with a demo business (``demo.seed``).

The same server serves the tests (with knobs for the unhappy paths) and ``make run`` when
no Microsoft client id is set (``KB_SANDBOX_PROVIDERS``): ``kb_serve`` starts it before the
web and worker processes and points ``KB_MS_AUTHORITY`` / ``KB_MS_GRAPH_URL`` at it, so the
real client code runs unchanged. Its ``/_sandbox/`` control endpoints (loopback only) list,
add, edit and delete items; ``manage.py kb_sandbox`` drives them.
"""
