// The hello-world app every contender serves.
module.exports = function hello(_req, res) {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '13' });
  res.end('Hello, world!');
};
