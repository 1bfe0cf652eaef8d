# Gunicorn settings for the benchmarks. "Booting worker" is logged right after fork, before the
# app is imported; this hook prints once the worker has loaded the app, so a reload is timed to
# the moment every new worker can serve (as tsicorn's "worker ready" is).
import os
import sys


def post_worker_init(worker):
    print(f'bench: worker ready pid={os.getpid()}', file=sys.stderr, flush=True)
