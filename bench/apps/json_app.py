# The same small JSON app as a WSGI app, for Gunicorn (not json.py: that would shadow the json module).
import json


def app(environ, start_response):
    body = json.dumps(
        {'message': 'Hello, World!', 'method': environ['REQUEST_METHOD'], 'path': environ.get('PATH_INFO', '/'), 'items': [1, 2, 3, 4, 5], 'ok': True},
        separators=(',', ':'),
    ).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
