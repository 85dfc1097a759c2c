# Never answers: burns CPU (T=cpu, the default) or sleeps (T=sleep) forever,
# after writing its pid where the query string says.
import os
import time

qs = dict(p.split("=", 1) for p in os.environ.get("QUERY_STRING", "").split("&") if "=" in p)
if "pidfile" in qs:
    with open(qs["pidfile"], "w") as f:
        f.write(str(os.getpid()))
if qs.get("t") == "sleep":
    while True:
        time.sleep(60)
while True:
    pass
