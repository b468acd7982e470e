// A local OTLP/HTTP receiver for the observability bench: takes span exports and drops them,
// in a process of its own so it never waits behind the load generator's event loop. Prints
// "listening on <url>", and the number of exports received when it is stopped (SIGTERM).
import { createServer } from 'node:http';

let exports = 0;
const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    exports++;
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => {
  console.log(`exports ${exports}`);
  server.close(() => process.exit(0));
});
