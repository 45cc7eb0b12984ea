// The lean bench's lowest floor: what Node itself costs, a node:http server that answers /readyz and nothing more.
import { createServer } from 'node:http';

// As every service answers it (runMain): how the bench fills the compile cache, as an image build does.
if (process.argv[2] === '--version') process.exit(0);

const server = createServer((request, response) => {
  response.writeHead(request.url === '/readyz' ? 200 : 404, { 'content-type': 'text/plain' });
  response.end(request.url === '/readyz' ? 'ok' : 'not found');
});
server.listen(Number(process.env['PORT'] ?? 8080), process.env['HOST'] ?? '127.0.0.1');
process.once('SIGTERM', () => server.close());
