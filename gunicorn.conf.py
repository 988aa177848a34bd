"""gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app`."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
accesslog = "-"
# No %(h)s (client address) and no user agent: member IP addresses are never logged.
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(L)ss'
# gunicorn's own warnings name the client ("Invalid request from ip=…"): this logger drops it.
logger_class = "federation.privacy.GunicornLogger"
forwarded_allow_ips = "127.0.0.1"
# gunicorn's control socket (for `gunicornc`) defaults to one path per user: several instances
# on one machine (nodes, tests) would take it from each other, and nothing here uses it.
control_socket_disable = True
