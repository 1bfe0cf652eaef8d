// An Express app is a Node request listener `(req, res)`: tsicorn serves the default export as is,
// in every worker (`interface: node`, detected).
import express from 'express';

const app = express();
app.use(express.json());

app.get('/', (_req, res) => res.json({ framework: 'express', pid: process.pid }));
app.get('/users/:id', (req, res) => res.json({ id: req.params.id }));
app.post('/echo', (req, res) => res.json({ received: req.body }));

export default app;
