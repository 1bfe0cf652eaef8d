// The example app `npm start` serves: a plain Node request listener, the simplest interface
// tsicorn runs (Express and Connect apps are the same shape).
export default function hello(req, res) {
  const body = JSON.stringify({ hello: 'world', pid: process.pid, path: req.url });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
