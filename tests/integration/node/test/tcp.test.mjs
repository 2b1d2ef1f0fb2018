// The TCP transport: `mnemo serve --listen 127.0.0.1:0` logs the port it bound; each
// connection is its own session (own documents, own lifecycle); the process stays up
// after a session ends and exits with 0 on SIGTERM.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import {
  complete, connectTcp, didOpen, GUARD_MS, initialize, lsp, startTcpServer, withTimeout,
} from '../lib/harness.mjs';

let server;
after(() => {
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
});

test('two concurrent sessions over TCP, then SIGTERM', async () => {
  server = await startTcpServer();
  assert.ok(server.port > 0 && server.port < 65536);

  const a = await connectTcp(server.port);
  const b = await connectTcp(server.port);
  const initA = await initialize(a.connection, { capabilities: { general: { positionEncodings: ['utf-8'] } } });
  const initB = await initialize(b.connection);
  assert.equal(initA.capabilities.positionEncoding, 'utf-8', 'negotiated per session');
  assert.equal(initB.capabilities.positionEncoding, 'utf-16');

  await didOpen(a.connection, 'file:///tcp/a.cpp', 'int tcp_only_in_a = 1;\nint x = tcp_\n');
  await didOpen(b.connection, 'file:///tcp/b.cpp', 'int tcp_only_in_b = 1;\nint y = tcp_\n');
  const listA = await complete(a.connection, 'file:///tcp/a.cpp', 1, 12);
  const listB = await complete(b.connection, 'file:///tcp/b.cpp', 1, 12);
  // Each session completes from its own documents only.
  assert.deepEqual(listA.items.map((i) => i.label), ['tcp_only_in_a']);
  assert.deepEqual(listB.items.map((i) => i.label), ['tcp_only_in_b']);
  assert.deepEqual(listA.items[0].textEdit.range, { start: { line: 1, character: 8 }, end: { line: 1, character: 12 } });

  // Session A ends the LSP way: the server closes the connection; B is unaffected.
  assert.equal(await a.connection.sendRequest(lsp.ShutdownRequest.type), null);
  await a.connection.sendNotification(lsp.ExitNotification.type);
  await withTimeout(a.closed, GUARD_MS, 'the server to close session A');
  a.connection.dispose();
  await server.log.waitFor(/serve: session ended \(0\)/);
  const again = await complete(b.connection, 'file:///tcp/b.cpp', 1, 12);
  assert.deepEqual(again.items.map((i) => i.label), ['tcp_only_in_b']);

  // A new connection is still accepted.
  const c = await connectTcp(server.port);
  await initialize(c.connection);
  assert.equal(await c.connection.sendRequest(lsp.ShutdownRequest.type), null);
  c.connection.dispose();
  c.socket.destroy();

  // SIGTERM stops the listener and the remaining sessions; exit code 0.
  server.child.kill('SIGTERM');
  const status = await withTimeout(server.exited, GUARD_MS, 'the server to exit on SIGTERM');
  assert.deepEqual(status, { code: 0, signal: null });
  assert.match(server.log.text, /serve: signal 15, stopping/);
  b.connection.dispose();
  assert.equal(server.stdout(), '', 'nothing on stdout in TCP mode');
});
