// Inline suggestions held to the names at the cursor, through the LSP server: after `q->`
// the suggestion begins with a member of q's class, declared in another file, even from a
// model that alone writes something else there (a tiny model of random weights, whose
// choice is checked first with the names left free).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  complete, didOpen, eventually, fileUri, initialize, inlineComplete, killQuietly,
  makeWorkspace, shutdownAndExit, startStdioServer,
} from '../lib/harness.mjs';

const MODEL = process.env.MNEMO_TINY_MODEL;
const MEMBERS = ['x', 'y', 'norm', 'scale'];

const FILES = {
  'include/geo.h': [
    '#pragma once',
    'namespace geo {',
    'struct Point {',
    '  double x, y;',
    '  double norm() const;',
    '  void scale(double by);',
    '};',
    '}',
    '',
  ].join('\n'),
  'src/geo.cpp': [
    '#include "geo.h"',
    'double geo::Point::norm() const { return x + y; }',
    'void geo::Point::scale(double by) { x *= by; y *= by; }',
    '',
  ].join('\n'),
};

const MAIN = [
  '#include "geo.h"', //               0
  'double length(geo::Point* q) {', // 1
  '  return q->', //                   2
  '}', //                              3
  '',
].join('\n');
const AT = { line: 2, character: 12 };

/** The identifier a suggestion begins with. */
const leading = (text) => (/^[A-Za-z_]\w*/.exec(text) ?? [''])[0];

describe('inline suggestions held to the names at the cursor', () => {
  let ws;
  const servers = [];

  before(() => {
    assert.ok(MODEL, 'MNEMO_TINY_MODEL names the fixture model');
    ws = makeWorkspace(FILES);
  });

  after(() => {
    for (const server of servers) killQuietly(server);
    ws?.cleanup();
  });

  /** The model's invoked suggestions at AT, once the menu (libclang) and the memory answer. */
  async function suggestions(names) {
    const server = startStdioServer([], { identifierMenu: false });
    servers.push(server);
    const uri = fileUri(path.join(ws.dir, 'src', 'main.cpp'));
    await initialize(server.connection, {
      rootDir: ws.dir,
      initializationOptions: { model: MODEL, names, memory: { nextTokenWeight: 0 } },
    });
    await didOpen(server.connection, uri, MAIN);
    await eventually(async () => {
      const list = await complete(server.connection, uri, AT.line, AT.character);
      return list.items.some((item) => item.label === 'norm');
    }, 'libclang\'s members of geo::Point', 60000);
    const items = await eventually(async () => {
      const reply = await inlineComplete(server.connection, uri, AT.line, AT.character,
                                         { triggerKind: 1 });
      const found = reply?.items ?? [];
      // The symbols answer (nothing, with nothing typed) until the memory is open.
      return found.length > 0 ? found : undefined;
    }, 'the model\'s suggestions', 60000);
    assert.deepEqual(await shutdownAndExit(server), { code: 0, signal: null });
    return items.map((item) => item.insertText);
  }

  test('left free, the model writes no member there', async () => {
    const free = await suggestions({ hold: false });
    assert.ok(free.every((text) => !MEMBERS.includes(leading(text))), `${free}`);
  });

  test('held, every suggestion begins with a member of geo::Point', async () => {
    const held = await suggestions({});
    assert.ok(held.length >= 1, `${held}`);
    for (const text of held) assert.ok(MEMBERS.includes(leading(text)), `${text} in ${held}`);
  });
});
