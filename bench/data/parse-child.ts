/**
 * Parse Server for the data benchmark, run as its own process (pinned by the parent like Tern).
 * Input: env BENCH_PARSE = {"databaseURI", "appId", "masterKey"}. Prints `listening on <url>`
 * (the mount point, `/parse`) once it answers, and exits on SIGTERM by closing its HTTP server.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ParseServer as ParseServerExport } from 'parse-server';

// Its type declarations describe the export as a function; it is a class.
const ParseServer = ParseServerExport as unknown as new (options: Record<string, unknown>) => {
  start(): Promise<unknown>;
  app: express.Express;
};

interface ParseInput {
  databaseURI: string;
  appId: string;
  masterKey: string;
}

const input = JSON.parse(process.env.BENCH_PARSE ?? '{}') as ParseInput;
const app = express();
const server = app.listen(0, '127.0.0.1');
await new Promise<void>((resolve) => server.once('listening', resolve));
const { port } = server.address() as AddressInfo;
const serverURL = `http://127.0.0.1:${port}/parse`;

const api = new ParseServer({
  databaseURI: input.databaseURI,
  appId: input.appId,
  masterKey: input.masterKey,
  // The master key is only used from this machine (schema set-up).
  masterKeyIps: ['127.0.0.1', '::1', '::ffff:127.0.0.1'],
  serverURL,
  logLevel: 'error',
  allowClientClassCreation: true,
  // Each option whose default changes in a future major, set to the future value: silences
  // the deprecation warnings; none of them touches the paths measured.
  fileUpload: { allowedFileUrlDomains: [] },
  pages: { encodePageParamHeaders: true },
  readOnlyMasterKeyIps: ['127.0.0.1', '::1'],
  requestComplexity: {
    includeDepth: 10,
    includeCount: 100,
    subqueryDepth: 10,
    queryDepth: 10,
    graphQLDepth: 20,
    graphQLFields: 200,
    batchRequestLimit: 100,
  },
  protectedFieldsOwnerExempt: false,
  protectedFieldsTriggerExempt: true,
  protectedFieldsSaveResponseExempt: false,
  installation: { duplicateDeviceTokenActionEnforceAuth: true },
  allowAggregationForReadOnlyMasterKey: false,
});
await api.start();
app.use('/parse', api.app);
console.log(`listening on ${serverURL}`);

process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
