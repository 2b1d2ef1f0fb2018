// The LSP lifecycle as the client library sees it: requests before initialize, a second
// initialize, unknown methods and notifications, invalid params, and the exit codes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import {
  complete, GUARD_MS, initialize, killQuietly, lsp, startStdioServer,
  withTimeout,
} from '../lib/harness.mjs';

const servers = [];
after(() => servers.forEach(killQuietly));

function start() {
  const server = startStdioServer();
  servers.push(server);
  return server;
}

test('errors before and after initialize; shutdown + exit gives 0', async () => {
  const server = start();
  const c = server.connection;
  await assert.rejects(complete(c, 'file:///x.cpp', 0, 0),
                       (e) => e.code === lsp.ErrorCodes.ServerNotInitialized);
  await initialize(c);
  await assert.rejects(c.sendRequest(lsp.InitializeRequest.type, { processId: null, rootUri: null, capabilities: {} }),
                       (e) => e.code === lsp.ErrorCodes.InvalidRequest, 'a second initialize');
  await assert.rejects(c.sendRequest('mnemo/noSuchMethod', {}),
                       (e) => e.code === lsp.ErrorCodes.MethodNotFound);
  await c.sendNotification('mnemo/noSuchNotification', {});
  await server.log.waitFor(/unknown notification mnemo\/noSuchNotification ignored/);
  await assert.rejects(c.sendRequest(lsp.CompletionRequest.type, { textDocument: { uri: 'file:///x.cpp' } }),
                       (e) => e.code === lsp.ErrorCodes.InvalidParams, 'completion without a position');
  await assert.rejects(complete(c, 'file:///never-opened.cpp', 0, 0),
                       (e) => e.code === lsp.ErrorCodes.InvalidParams && /not open/.test(e.message));
  assert.equal(await c.sendRequest(lsp.ShutdownRequest.type), null);
  await assert.rejects(c.sendRequest('mnemo/noSuchMethod', {}),
                       (e) => e.code === lsp.ErrorCodes.InvalidRequest, 'requests after shutdown');
  await c.sendNotification(lsp.ExitNotification.type);
  assert.deepEqual(await withTimeout(server.exited, GUARD_MS, 'exit'), { code: 0, signal: null });
  c.dispose();
});

test('exit without shutdown gives 1', async () => {
  const server = start();
  await initialize(server.connection);
  await server.connection.sendNotification(lsp.ExitNotification.type);
  assert.deepEqual(await withTimeout(server.exited, GUARD_MS, 'exit'), { code: 1, signal: null });
  server.connection.dispose();
});

test('closing stdin without exit gives 1', async () => {
  const server = start();
  await initialize(server.connection);
  server.child.stdin.end();
  assert.deepEqual(await withTimeout(server.exited, GUARD_MS, 'exit at end of input'), { code: 1, signal: null });
  assert.match(server.log.text, /closed the stream without 'exit'/);
  server.connection.dispose();
});

test('closing stdin after shutdown (no exit) gives 0', async () => {
  const server = start();
  await initialize(server.connection);
  assert.equal(await server.connection.sendRequest(lsp.ShutdownRequest.type), null);
  server.child.stdin.end();
  assert.deepEqual(await withTimeout(server.exited, GUARD_MS, 'exit at end of input'), { code: 0, signal: null });
  server.connection.dispose();
});
