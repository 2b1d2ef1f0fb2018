// Cancellation with a slow engine (`--test-completion-delay-ms 3000`: each completion
// takes 3 s while polling its cancellation token): $/cancelRequest through the client's
// CancellationToken, latest-wins for completions on one document, ContentModified on
// didChange, and requests in flight at exit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  complete, didOpen, initialize, inlineComplete, killQuietly, lsp, shutdownAndExit,
  startStdioServer, withTimeout,
} from '../lib/harness.mjs';

const DELAY_MS = 3000;
const URI = 'file:///mnemo-node-tests/cancel.cpp';
const TEXT = ['int slow_alpha = 1;', 'int slow_beta = 2;', 'int x = slo', ''].join('\n');
const AT = { line: 2, character: 11 };

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves with the ResponseError a request was rejected with (fails if it succeeded). */
async function rejection(promise, what) {
  try {
    const result = await withTimeout(promise, 20000, what);
    throw new assert.AssertionError({ message: `${what}: expected an error, got ${JSON.stringify(result)}` });
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    if (!(e instanceof lsp.ResponseError)) throw e;
    return e;
  }
}

function countMatches(text, regex) {
  return [...text.matchAll(new RegExp(regex, 'g'))].length;
}

describe('cancellation', () => {
  let server;

  before(async () => {
    server = startStdioServer(['--test-completion-delay-ms', String(DELAY_MS)]);
    await initialize(server.connection);
    await didOpen(server.connection, URI, TEXT);
  });

  after(() => killQuietly(server));

  test('$/cancelRequest answers a slow completion at once with -32800', async () => {
    const logFrom = server.log.text.length;
    const source = new lsp.CancellationTokenSource();
    const pending = complete(server.connection, URI, AT.line, AT.character, source.token);
    await sleep(200);  // the request is on a worker, inside the engine's delay
    const cancelledAt = Date.now();
    source.cancel();  // the client sends $/cancelRequest
    const error = await rejection(pending, 'the cancelled completion');
    const elapsed = Date.now() - cancelledAt;
    assert.equal(error.code, lsp.LSPErrorCodes.RequestCancelled);
    assert.match(error.message, /cancelRequest/);
    // Well before the 3 s the engine would take: the answer did not wait for the work.
    assert.ok(elapsed < DELAY_MS - 1000, `answered ${elapsed} ms after $/cancelRequest`);

    // The worker saw the token and stopped early.
    const [, observedMs] = await server.log.waitFor(/completion: cancellation observed after (\d+) ms/,
                                                      { from: logFrom });
    assert.ok(Number(observedMs) < DELAY_MS, `observed after ${observedMs} ms`);

    // And the session still serves requests.
    const list = await withTimeout(complete(server.connection, URI, AT.line, AT.character), 20000,
                                   'the completion after the cancelled one');
    assert.deepEqual(list.items.map((i) => i.label), ['slow_beta', 'slow_alpha']);
  });

  test('$/cancelRequest of a slow inline completion', async () => {
    const logFrom = server.log.text.length;
    const source = new lsp.CancellationTokenSource();
    const pending = inlineComplete(server.connection, URI, AT.line, AT.character, { triggerKind: 1 },
                                   source.token);
    await sleep(200);
    source.cancel();
    const error = await rejection(pending, 'the cancelled inline completion');
    assert.equal(error.code, lsp.LSPErrorCodes.RequestCancelled);
    await server.log.waitFor(/inline completion: cancellation observed after \d+ ms/, { from: logFrom });
  });

  test('latest wins: a newer request of the same kind on the document supersedes the older', async () => {
    const logFrom = server.log.text.length;
    const first = complete(server.connection, URI, AT.line, AT.character);
    // Inline completions are another kind: they supersede each other, not completions.
    const firstInline = inlineComplete(server.connection, URI, AT.line, AT.character, { triggerKind: 2 });
    await sleep(100);
    const second = complete(server.connection, URI, AT.line, AT.character);
    const secondInline = inlineComplete(server.connection, URI, AT.line, AT.character, { triggerKind: 2 });

    for (const [promise, what] of [[first, 'the superseded completion'],
                                   [firstInline, 'the superseded inline completion']]) {
      const error = await rejection(promise, what);
      assert.equal(error.code, lsp.LSPErrorCodes.RequestCancelled, what);
      assert.match(error.message, /superseded/, what);
    }
    const [list, inlineList] = await withTimeout(Promise.all([second, secondInline]), 20000, 'the newer requests');
    assert.deepEqual(list.items.map((i) => i.label), ['slow_beta', 'slow_alpha']);
    assert.deepEqual(inlineList.items.map((i) => i.insertText), ['slow_beta']);
    const log = server.log.text.slice(logFrom);
    assert.equal(countMatches(log, /\] inline completion: cancellation observed/), 1, log);
    assert.equal(countMatches(log, /\] completion: cancellation observed/), 1, log);
  });

  test('didChange cancels in-flight requests on the document with -32801', async () => {
    const pending = complete(server.connection, URI, AT.line, AT.character);
    await sleep(100);
    await server.connection.sendNotification(lsp.DidChangeTextDocumentNotification.type, {
      textDocument: { uri: URI, version: 2 },
      contentChanges: [{ range: { start: AT, end: AT }, text: 'w' }],
    });
    const error = await rejection(pending, 'the completion overtaken by an edit');
    assert.equal(error.code, lsp.LSPErrorCodes.ContentModified);
  });

  test('didClose cancels in-flight requests on the document with -32801', async () => {
    const uri = 'file:///mnemo-node-tests/closed.cpp';
    await didOpen(server.connection, uri, TEXT);
    const pending = complete(server.connection, uri, AT.line, AT.character);
    await sleep(100);
    await server.connection.sendNotification(lsp.DidCloseTextDocumentNotification.type, { textDocument: { uri } });
    const error = await rejection(pending, 'the completion on a closed document');
    assert.equal(error.code, lsp.LSPErrorCodes.ContentModified);
  });

  test('$/cancelRequest for a request that is not in flight is ignored', async () => {
    await server.connection.sendNotification('$/cancelRequest', { id: 987654 });
    await assert.rejects(server.connection.sendRequest('mnemo/ping', {}),
                         (e) => e.code === lsp.ErrorCodes.MethodNotFound);
  });

  test('exit answers what is still in flight and ends with code 0', async () => {
    const pending = complete(server.connection, URI, AT.line, AT.character + 1);
    const outcome = pending.then((r) => ({ result: r }), (e) => ({ error: e }));
    await sleep(100);
    const status = await shutdownAndExit(server);
    assert.deepEqual(status, { code: 0, signal: null });
    const { error } = await withTimeout(outcome, 5000, 'the in-flight completion');
    assert.ok(error, 'the in-flight completion got an error response');
    assert.equal(error.code, lsp.LSPErrorCodes.RequestCancelled);
  });
});
