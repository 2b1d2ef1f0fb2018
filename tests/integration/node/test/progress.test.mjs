// $/progress of workspace indexing when the client answers window/workDoneProgress/create
// at once and the scan takes longer than that round trip (2000 files): begin, reports
// with rising percentages, end. (completion.test.mjs covers the opposite order: a slow
// answer and a scan that is already over.)
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import {
  GUARD_MS, initialize, killQuietly, lsp, makeWorkspace, shutdownAndExit, startStdioServer,
  withTimeout,
} from '../lib/harness.mjs';

const FILE_COUNT = 2000;
let ws;
let server;

after(() => {
  killQuietly(server);
  ws?.cleanup();
});

test('indexing a larger workspace reports begin, report ... and end', async () => {
  const files = {};
  for (let i = 0; i < FILE_COUNT; ++i) {
    files[`src/dir${i % 20}/file${i}.cpp`] = `int progress_symbol_${i} = ${i};\nint shared_name = ${i};\n`;
  }
  ws = makeWorkspace(files);
  // --no-index: the symbol index (libclang) would show a progress bar of its own, and this
  // test is about the completion engine's scan (serve_index_test.py covers the other).
  server = startStdioServer(['--no-index']);
  const values = [];
  const tokens = [];
  const ended = new Promise((resolve) => {
    server.connection.onRequest(lsp.WorkDoneProgressCreateRequest.type, (params) => {
      tokens.push(params.token);
      server.connection.onProgress(lsp.WorkDoneProgress.type, params.token, (value) => {
        values.push(value);
        if (value.kind === 'end') resolve();
      });
      return null;
    });
  });
  await initialize(server.connection, { rootDir: ws.dir, capabilities: { window: { workDoneProgress: true } } });
  await withTimeout(ended, GUARD_MS, '$/progress end');

  assert.equal(tokens.length, 1);
  assert.equal(values[0].kind, 'begin');
  assert.equal(values[0].title, 'Indexing workspace');
  assert.equal(values[0].cancellable, true);
  const reports = values.slice(1, -1);
  assert.ok(reports.length > 0, 'reports while reading 2000 files');
  assert.ok(reports.every((v) => v.kind === 'report'));
  const percentages = reports.map((v) => v.percentage);
  assert.deepEqual([...percentages].sort((a, b) => a - b), percentages, 'percentages rise');
  assert.ok(percentages.every((p) => p >= 0 && p <= 100));
  assert.deepEqual(values.at(-1), { kind: 'end', message: `Indexed ${FILE_COUNT} files` });

  assert.deepEqual(await shutdownAndExit(server), { code: 0, signal: null });
});
