# Gunicorn settings for the benchmarks. "Booting worker" is logged right after fork, before the
# app is imported; this hook prints once the worker has loaded the app, so a reload is timed to
# the moment every new worker can serve (as tsicorn's "worker ready" is).
import os


def post_worker_init(worker):
    # One write(2) of a whole line: two workers starting together never interleave their lines.
    os.write(2, f'bench: worker ready pid={os.getpid()}\n'.encode())
