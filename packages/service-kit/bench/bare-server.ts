// Baseline for the kit's benchmark: node:http answering the same JSON body, nothing else.
import { createServer } from 'node:http';

const body = JSON.stringify({ message: 'hello from the sre-platform service kit' });
createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(Number(process.env['PORT']), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
