// A full session through the vscode-languageserver-protocol client: initialize with a
// workspace (indexed in the background with $/progress), didOpen, incremental didChange,
// completion and inline completion, and a clean shutdown.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  complete, didOpen, eventually, fileUri, initialize, inlineComplete, killQuietly, lsp,
  makeWorkspace, shutdownAndExit, startStdioServer, withTimeout,
} from '../lib/harness.mjs';

// Indexed: src/widget.cpp and include/widget.h. Everything else must be skipped: build*
// and dependency directories, hidden directories, and files that are not source or text.
const WORKSPACE_FILES = {
  'src/widget.cpp': [
    '#include "widget.h"',
    'int workspace_widget_count = 0;',
    'void bump() { workspace_widget_count++; workspace_widget_count--; }',
    'void workspaceFrobnicate() {}',
    '',
  ].join('\n'),
  'include/widget.h': 'struct WorkspaceGadget { int gadget_size; };\n',
  'build/generated.cpp': 'int workspace_from_build_dir = 1;\n',
  'node_modules/dep/index.js': 'var workspace_from_node_modules = 1;\n',
  '.cache/x.cpp': 'int workspace_from_hidden_dir = 1;\n',
  'data.bin': 'workspace_from_unindexed_file\n',
};

const MAIN_LINES = [
  '#include "widget.h"', //           0
  'int local_counter = 0;', //        1
  'int local_total = 1;', //          2
  'int work_in_doc = 3;', //          3
  'int main() {', //                  4
  '  local_counter += local_total;', // 5
  '  work', //                        6
  '}', //                             7
  '',
];

describe('completion session over stdio', () => {
  let ws;
  let server;
  let initResult;
  let mainUri;
  const progress = { created: [], values: [] };
  let progressEnded;

  before(async () => {
    ws = makeWorkspace(WORKSPACE_FILES);
    // Not on disk: an unsaved buffer inside the workspace.
    mainUri = fileUri(path.join(ws.dir, 'src', 'main.cpp'));
    // --no-index: one progress bar, the completion engine's scan (serve_index_test.py
    // covers the symbol index's).
    server = startStdioServer(['--no-index']);
    progressEnded = new Promise((resolve) => {
      // The server asks for a token first; progress notifications for it follow. Like
      // VS Code, the client answers asynchronously (here after 200 ms, which is longer
      // than indexing this tiny workspace takes): the server must queue what it reports
      // meanwhile and send it once the token is acknowledged.
      server.connection.onRequest(lsp.WorkDoneProgressCreateRequest.type, async (params) => {
        progress.created.push(params.token);
        server.connection.onProgress(lsp.WorkDoneProgress.type, params.token, (value) => {
          progress.values.push({ token: params.token, value });
          if (value.kind === 'end') resolve();
        });
        await new Promise((r) => setTimeout(r, 200));
        return null;
      });
    });
    initResult = await initialize(server.connection, {
      rootDir: ws.dir,
      capabilities: {
        window: { workDoneProgress: true },
        textDocument: {
          completion: { completionItem: { snippetSupport: false } },
          synchronization: { dynamicRegistration: false },
        },
      },
    });
  });

  after(() => {
    killQuietly(server);
    ws?.cleanup();
  });

  test('initialize announces the capabilities', () => {
    const caps = initResult.capabilities;
    assert.equal(caps.positionEncoding, 'utf-16', 'no encodings offered: the default');
    assert.deepEqual(caps.completionProvider.triggerCharacters, ['.', '>', ':']);
    assert.ok(caps.inlineCompletionProvider, 'inlineCompletionProvider');
    assert.equal(caps.textDocumentSync.change, lsp.TextDocumentSyncKind.Incremental);
    assert.equal(caps.textDocumentSync.openClose, true);
    assert.equal(initResult.serverInfo.name, 'mnemo');
  });

  test('workspace indexing reports $/progress begin ... end', async () => {
    // A deadlock guard only: on success 'end' arrives a few ms after the 200 ms answer.
    await withTimeout(progressEnded, 5000, '$/progress end').catch(() => {});
    assert.equal(progress.created.length, 1, 'one window/workDoneProgress/create');
    const kinds = progress.values.map((p) => p.value.kind);
    assert.ok(kinds[0] === 'begin' && kinds.at(-1) === 'end',
              `after the client answered window/workDoneProgress/create for token ` +
              `${JSON.stringify(progress.created[0])} (200 ms later), expected $/progress ` +
              `begin ... end for it; received ${JSON.stringify(kinds)}`);
    assert.ok(kinds.slice(1, -1).every((k) => k === 'report'), `kinds: ${kinds}`);
    assert.ok(progress.values.every((p) => p.token === progress.created[0]));
    assert.equal(progress.values[0].value.title, 'Indexing workspace');
    assert.equal(progress.values.at(-1).value.message, 'Indexed 2 files');
  });

  test('completion ranks document and workspace identifiers', async () => {
    await didOpen(server.connection, mainUri, MAIN_LINES.join('\n'));
    // Indexing runs in the background: independently of $/progress, wait until the
    // workspace's identifiers are in (every identifier of the workspace at once).
    const list = await eventually(async () => {
      const l = await complete(server.connection, mainUri, 6, 6, undefined,
                               { triggerKind: lsp.CompletionTriggerKind.Invoked });
      return l.items.some((i) => i.label === 'WorkspaceGadget') && l;
    }, 'the workspace identifiers');
    assert.equal(list.isIncomplete, false);
    const labels = list.items.map((i) => i.label);
    // Exact-case matches first; the one used in this document first of all.
    assert.deepEqual(labels,
                     ['work_in_doc', 'workspace_widget_count', 'workspaceFrobnicate', 'WorkspaceGadget']);
    const sortTexts = list.items.map((i) => i.sortText);
    assert.deepEqual([...sortTexts].sort(), sortTexts, 'sortText follows the ranking');
    assert.equal(new Set(sortTexts).size, sortTexts.length, 'sortText is unique');
    for (const item of list.items) {
      assert.deepEqual(item.textEdit.range, { start: { line: 6, character: 2 }, end: { line: 6, character: 6 } },
                       `range of ${item.label}`);
      assert.equal(item.textEdit.newText, item.label);
      assert.equal(item.filterText, item.label);
      assert.equal(item.kind, lsp.CompletionItemKind.Variable);
      assert.equal(item.insertTextFormat, lsp.InsertTextFormat.PlainText);
    }
    assert.match(list.items[0].detail, /1 use in this file/);
    assert.match(list.items[1].detail, /3 uses in other files/);
    for (const skipped of ['workspace_from_build_dir', 'workspace_from_node_modules',
                           'workspace_from_hidden_dir', 'workspace_from_unindexed_file']) {
      assert.ok(!labels.includes(skipped), `${skipped} must not be indexed`);
    }
  });

  test('incremental didChange edits are applied in order', async () => {
    // Two edits in one notification, then one more: replace "work" by "local_c" in two
    // steps, and insert a new declaration above (which shifts the cursor line to 7).
    await server.connection.sendNotification(lsp.DidChangeTextDocumentNotification.type, {
      textDocument: { uri: mainUri, version: 2 },
      contentChanges: [
        { range: { start: { line: 6, character: 2 }, end: { line: 6, character: 6 } }, text: 'loc' },
        { range: { start: { line: 6, character: 5 }, end: { line: 6, character: 5 } }, text: 'al_c' },
      ],
    });
    await server.connection.sendNotification(lsp.DidChangeTextDocumentNotification.type, {
      textDocument: { uri: mainUri, version: 3 },
      contentChanges: [
        { range: { start: { line: 4, character: 0 }, end: { line: 4, character: 0 } },
          text: 'int local_counterpart = 4;\n' },
      ],
    });
    const list = await complete(server.connection, mainUri, 7, 9);
    assert.deepEqual(list.items.map((i) => i.label), ['local_counter', 'local_counterpart']);
    for (const item of list.items) {
      assert.deepEqual(item.textEdit.range, { start: { line: 7, character: 2 }, end: { line: 7, character: 9 } });
    }
    // The removed word is gone from the document ('work_in_doc' remains a declaration).
    const work = await complete(server.connection, mainUri, 3, 8);
    assert.deepEqual(work.items.map((i) => i.label).filter((l) => l === 'work'), []);
  });

  test('isIncomplete: empty prefix, member access and more candidates than the limit', async () => {
    const uri = fileUri(path.join(ws.dir, 'src', 'many.cpp'));
    const decls = Array.from({ length: 150 }, (_, i) => `int cand_${String(i).padStart(3, '0')} = ${i};`);
    const text = [...decls, 'int f() {', '  ', '  local_thing.', '  cand_', '}', ''].join('\n');
    await didOpen(server.connection, uri, text);
    const base = decls.length + 1;

    const empty = await complete(server.connection, uri, base, 2);
    assert.equal(empty.isIncomplete, true, 'nothing typed: ask again');
    assert.deepEqual(empty.items, []);

    const member = await complete(server.connection, uri, base + 1, 14, undefined,
                                  { triggerKind: lsp.CompletionTriggerKind.TriggerCharacter, triggerCharacter: '.' });
    assert.equal(member.isIncomplete, true);
    assert.ok(member.items.length > 0, 'after "." every identifier is a candidate');
    for (const item of member.items) {
      assert.deepEqual(item.textEdit.range, { start: { line: base + 1, character: 14 }, end: { line: base + 1, character: 14 } });
    }

    const many = await complete(server.connection, uri, base + 2, 7);
    assert.equal(many.isIncomplete, true, '150 candidates, 100 returned');
    assert.equal(many.items.length, 100);
    assert.ok(many.items.every((i) => i.label.startsWith('cand_')));
    await server.connection.sendNotification(lsp.DidCloseTextDocumentNotification.type, { textDocument: { uri } });
  });

  test('inline completion: Invoked, Automatic and selectedCompletionInfo', async () => {
    const uri = fileUri(path.join(ws.dir, 'src', 'inline.cpp'));
    const text = ['int work_in_doc = 3;', 'void g() {', '  work', '}', ''].join('\n');
    await didOpen(server.connection, uri, text);
    const range = { start: { line: 2, character: 2 }, end: { line: 2, character: 6 } };

    const invoked = await inlineComplete(server.connection, uri, 2, 6, { triggerKind: 1 });
    assert.deepEqual(invoked.items,
                     ['work_in_doc', 'workspace_widget_count', 'workspaceFrobnicate'].map(
                       (insertText) => ({ insertText, range })),
                     'Invoked: up to 3 exact-case suggestions');

    const automatic = await inlineComplete(server.connection, uri, 2, 6, { triggerKind: 2 });
    assert.deepEqual(automatic.items, [{ insertText: 'work_in_doc', range }], 'Automatic: 1 suggestion');

    const selected = await inlineComplete(server.connection, uri, 2, 6, {
      triggerKind: 1,
      selectedCompletionInfo: { range, text: 'workspace' },
    });
    assert.deepEqual(selected.items.map((i) => i.insertText), ['workspace_widget_count', 'workspaceFrobnicate']);
    for (const item of selected.items) assert.deepEqual(item.range, range);

    // Mid-word and nothing-typed positions give nothing.
    assert.deepEqual((await inlineComplete(server.connection, uri, 2, 4, { triggerKind: 1 })).items, []);
    assert.deepEqual((await inlineComplete(server.connection, uri, 3, 0, { triggerKind: 1 })).items, []);

    await assert.rejects(inlineComplete(server.connection, uri, 2, 6, { triggerKind: 3 }),
                         (e) => e.code === lsp.ErrorCodes.InvalidParams);
  });

  test('shutdown and exit end the process with code 0', async () => {
    const status = await shutdownAndExit(server);
    assert.deepEqual(status, { code: 0, signal: null });
    assert.match(server.log.text, /lsp: exit \(0\)/);
  });
});
