// The small JSON app: an object built and serialized per request (TechEmpower's JSON test, a bit larger).
module.exports = function json(req, res) {
  const body = JSON.stringify({ message: 'Hello, World!', method: req.method, path: req.url, items: [1, 2, 3, 4, 5], ok: true });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
};
