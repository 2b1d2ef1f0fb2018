// Position encodings: the server picks the first encoding of the client's
// general.positionEncodings it supports (utf-16 when none is offered), and every position
// it receives or sends is counted in those units. The line mixes an astral emoji (4 UTF-8
// bytes, 2 UTF-16 units, 1 code point) and CJK (3 bytes, 1 unit, 1 code point).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import {
  complete, didOpen, initialize, killQuietly, lsp, shutdownAndExit, startStdioServer,
} from '../lib/harness.mjs';

const LINE = 'const char* s = "😀漢字"; int 漢字_count = 1; int zz = 漢字_c';
const URI = 'file:///mnemo-node-tests/encoding.cpp';
const TEXT = `// first line\n${LINE}\n`;

/** Length of a JS (UTF-16) string in the units of `encoding`. */
function units(text, encoding) {
  switch (encoding) {
    case 'utf-8': return Buffer.byteLength(text, 'utf8');
    case 'utf-16': return text.length;
    case 'utf-32': return [...text].length;
    default: throw new Error(encoding);
  }
}

const CASES = [
  { offered: undefined, expected: 'utf-16' },
  { offered: ['utf-16'], expected: 'utf-16' },
  { offered: ['utf-8', 'utf-16'], expected: 'utf-8' },
  { offered: ['x-unknown', 'utf-32', 'utf-16'], expected: 'utf-32' },
];

for (const { offered, expected } of CASES) {
  describe(`positionEncodings ${JSON.stringify(offered)}`, () => {
    let server;
    after(() => killQuietly(server));

    test(`negotiates ${expected} and counts completion ranges in it`, async () => {
      server = startStdioServer();
      const capabilities = offered ? { general: { positionEncodings: offered } } : {};
      const init = await initialize(server.connection, { capabilities });
      assert.equal(init.capabilities.positionEncoding, expected);

      await didOpen(server.connection, URI, TEXT);
      // The cursor is at the end of the line, after the typed prefix "漢字_c".
      const prefixStart = units(LINE.slice(0, LINE.lastIndexOf('漢字_c')), expected);
      const cursor = units(LINE, expected);
      // Sanity of the test itself: the three encodings differ on this line.
      assert.deepEqual([units(LINE, 'utf-8'), units(LINE, 'utf-16'), units(LINE, 'utf-32')], [69, 55, 54]);
      const list = await complete(server.connection, URI, 1, cursor);
      assert.deepEqual(list.items.map((i) => i.label), ['漢字_count']);
      assert.deepEqual(list.items[0].textEdit, {
        range: { start: { line: 1, character: prefixStart }, end: { line: 1, character: cursor } },
        newText: '漢字_count',
      });

      // An incremental edit in the same units: rename the declaration to 漢字_counter.
      const declEnd = units(LINE.slice(0, LINE.indexOf('漢字_count') + '漢字_count'.length), expected);
      await server.connection.sendNotification(lsp.DidChangeTextDocumentNotification.type, {
        textDocument: { uri: URI, version: 2 },
        contentChanges: [{ range: { start: { line: 1, character: declEnd }, end: { line: 1, character: declEnd } },
                           text: 'er' }],
      });
      const newLine = LINE.replace('漢字_count', '漢字_counter');
      const after = await complete(server.connection, URI, 1, units(newLine, expected));
      assert.deepEqual(after.items.map((i) => i.label), ['漢字_counter']);
      assert.deepEqual(after.items[0].textEdit.range, {
        start: { line: 1, character: units(newLine.slice(0, newLine.lastIndexOf('漢字_c')), expected) },
        end: { line: 1, character: units(newLine, expected) },
      });

      // A position inside the emoji (between its surrogates in utf-16, between its bytes
      // in utf-8) rounds down to the emoji's start, where nothing is typed yet.
      if (expected !== 'utf-32') {
        const insideEmoji = units(LINE.slice(0, LINE.indexOf('😀')), expected) + 1;
        const list2 = await complete(server.connection, URI, 1, insideEmoji);
        assert.deepEqual(list2, { isIncomplete: true, items: [] });
      }

      assert.deepEqual(await shutdownAndExit(server), { code: 0, signal: null });
    });
  });
}
