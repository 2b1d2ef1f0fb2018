// The completion menu of a C++ document as the compiler sees it (libclang in the parse
// worker): after `.`, `->` and `::` only the accessible members, elsewhere the names in
// scope with what is typed, and never a name that would not compile there, such as a name
// of another file that this one does not include. Items carry their signature and comment,
// and where the symbol index says they are defined.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  complete, didOpen, eventually, fileUri, initialize, killQuietly, makeWorkspace,
  shutdownAndExit, startStdioServer,
} from '../lib/harness.mjs';

const FILES = {
  'include/geo.h': [
    '#pragma once',
    'namespace geo {',
    '/// A point in the plane.',
    'struct Point {',
    '  double x, y;',
    '  /// Distance from the origin.',
    '  double norm() const;',
    '  void scale(double by);',
    ' private:',
    '  int secret_;',
    '};',
    'Point origin();',
    '}',
    '',
  ].join('\n'),
  'src/geo.cpp': [
    '#include "geo.h"',
    'double geo::Point::norm() const { return x + y; }',
    'void geo::Point::scale(double by) { x *= by; y *= by; }',
    'geo::Point geo::origin() { return {}; }',
    '',
  ].join('\n'),
  // Never included by main.cpp: its names must not be offered there.
  'src/other.cpp': 'int not_included_anywhere = 1;\n',
};

const MAIN = [
  '#include "geo.h"', //               0
  'int main() {', //                   1
  '  geo::Point p;', //                2
  '  geo::Point* q = &p;', //          3
  '  int local_count = 0;', //         4
  '  p.;', //                          5
  '  q->sc;', //                       6
  '  geo::;', //                       7
  '  not_inc + loc;', //               8
  '}', //                              9
  '',
].join('\n');

describe('the compiler\'s completion menu', () => {
  let ws;
  let server;
  let uri;

  before(async () => {
    ws = makeWorkspace(FILES);
    uri = fileUri(path.join(ws.dir, 'src', 'main.cpp'));
    server = startStdioServer([], { identifierMenu: false });
    await initialize(server.connection, { rootDir: ws.dir });
    await didOpen(server.connection, uri, MAIN);
  });

  after(() => {
    killQuietly(server);
    ws?.cleanup();
  });

  const labels = (list) => list.items.map((item) => item.label);

  test('after a dot: the accessible members, with signatures and comments', async () => {
    // The -I folder of geo.h comes from the symbol index, which the server builds first.
    const list = await eventually(async () => {
      const l = await complete(server.connection, uri, 5, 4);
      return labels(l).includes('x') ? l : undefined;
    }, 'the members of geo::Point');
    const names = labels(list);
    for (const member of ['x', 'y', 'norm', 'scale']) assert.ok(names.includes(member), `${member} in ${names}`);
    for (const absent of ['secret_', 'local_count', 'origin', 'not_included_anywhere']) {
      assert.ok(!names.includes(absent), `${absent} offered after "p."`);
    }
    const norm = list.items.find((item) => item.label === 'norm');
    assert.equal(norm.detail, 'double norm() const');
    assert.match(norm.documentation?.value ?? norm.documentation ?? '', /Distance from the origin\./);
    assert.deepEqual(norm.textEdit.range, { start: { line: 5, character: 4 }, end: { line: 5, character: 4 } });
  });

  test('after an arrow and a scope: their members, filtered by what is typed', async () => {
    assert.deepEqual(labels(await complete(server.connection, uri, 6, 7)), ['scale']);
    const inGeo = labels(await complete(server.connection, uri, 7, 7));
    assert.ok(inGeo.includes('Point') && inGeo.includes('origin'), `${inGeo}`);
    assert.ok(!inGeo.includes('local_count'));
  });

  test('a name of a file this one does not include is never offered', async () => {
    assert.deepEqual(labels(await complete(server.connection, uri, 8, 9)), []);
    // On the same line, a name in scope is.
    assert.deepEqual(labels(await complete(server.connection, uri, 8, 15)), ['local_count']);
  });

  test('a name defined once in the repository says where, once the index has it', async () => {
    const origin = await eventually(async () => {
      const list = await complete(server.connection, uri, 7, 7);
      const item = list.items.find((i) => i.label === 'origin');
      const doc = item?.documentation?.value ?? item?.documentation ?? '';
      return /Defined in src\/geo\.cpp:4/.test(doc) ? item : undefined;
    }, 'the definition site of geo::origin');
    assert.equal(origin.detail, 'Point origin()');
  });

  test('shutdown', async () => {
    assert.deepEqual(await shutdownAndExit(server), { code: 0, signal: null });
  });
});
