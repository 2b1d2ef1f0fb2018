#!/usr/bin/env node
// LSP round-trip latency of `mnemo serve` (stdio) as a real client sees it: the time from
// sendRequest to the resolved promise in the vscode-languageserver-protocol client, which
// includes JSON encoding, framing, the pipe both ways, dispatch and the server's work.
//
//   node tests/bench/lsp_roundtrip.mjs [--bin build/mnemo] [--iterations 500]
//        [--warmup 50] [--lines 10000] [--out results.json]
//
// Measurements (one JSON line each on stdout, {"name","p50_ms","p99_ms","n"}):
//   trivial_unknown_method_mnemo_ping  `mnemo/ping`, an unknown method: answered -32601 on
//                                      the protocol thread, without any work
//   completion_empty_prefix            textDocument/completion where nothing is typed: the
//                                      worker returns an empty list at once
//   completion_10000_lines_prefix      textDocument/completion on a generated 10,000-line
//                                      C++ document, cursor after a typed prefix ("comp")
//                                      in the middle (500 candidates, 100 returned)
// Reuses the node_modules of tests/integration/node (npm ci there, or
// scripts/install-deps.sh). scripts/bench-lsp.sh builds mnemo and runs this.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const clientDir = path.join(here, '..', 'integration', 'node');
if (!fs.existsSync(path.join(clientDir, 'node_modules', 'vscode-languageserver-protocol'))) {
  console.error(`lsp_roundtrip: ${clientDir}/node_modules is missing: run scripts/install-deps.sh ` +
                `(or npm ci in ${clientDir})`);
  process.exit(2);
}
const { didOpen, initialize, lsp, shutdownAndExit, startStdioServer } =
  await import(path.join(clientDir, 'lib', 'harness.mjs'));

function parseArgs(argv) {
  const options = {
    bin: process.env.MNEMO_BIN || path.join(here, '..', '..', 'build', 'mnemo'),
    iterations: 500,
    warmup: 50,
    lines: 10000,
    out: null,
  };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--bin': options.bin = value(); break;
      case '--iterations': case '-n': options.iterations = Number(value()); break;
      case '--warmup': options.warmup = Number(value()); break;
      case '--lines': options.lines = Number(value()); break;
      case '--out': case '-o': options.out = value(); break;
      case '--help': case '-h':
        console.log('usage: lsp_roundtrip.mjs [--bin PATH] [--iterations N] [--warmup N] [--lines N] [--out FILE]');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${arg}`);
    }
  }
  for (const key of ['iterations', 'warmup', 'lines']) {
    if (!Number.isInteger(options[key]) || options[key] < (key === 'warmup' ? 0 : 1)) {
      throw new Error(`--${key} must be a positive integer`);
    }
  }
  return options;
}

/** Nearest-rank percentile of sorted samples (ms). */
function percentile(sorted, p) {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

async function measure(name, { iterations, warmup }, once) {
  for (let i = 0; i < warmup; ++i) await once();
  const samples = new Array(iterations);
  for (let i = 0; i < iterations; ++i) {
    const start = process.hrtime.bigint();
    await once();
    samples[i] = Number(process.hrtime.bigint() - start) / 1e6;
  }
  samples.sort((a, b) => a - b);
  const round = (ms) => Math.round(ms * 1000) / 1000;
  return { name, p50_ms: round(percentile(samples, 50)), p99_ms: round(percentile(samples, 99)), n: iterations };
}

/** `lines` lines of C++; the cursor line (in the middle) ends with the typed prefix "comp". */
function generateDocument(lines) {
  const out = [];
  const middle = Math.floor(lines / 2);
  for (let i = 0; i < lines; ++i) {
    if (i === middle) {
      out.push('  auto result = comp');
    } else if (i % 50 === 0) {
      out.push(`// section ${i / 50}: helpers for the generated value table`);
    } else {
      out.push(`static int gen_value_${i} = compute_${i % 500}(gen_value_${Math.max(0, i - 1)}, ${i});`);
    }
  }
  return { text: out.join('\n') + '\n', line: middle, character: out[middle].length };
}

const options = parseArgs(process.argv.slice(2));
process.env.MNEMO_BIN = options.bin;
// Logging at warn: the debug log of every request would be part of what is measured.
const server = startStdioServer([], { logLevel: 'warn' });
const results = [];
try {
  await initialize(server.connection, { clientName: 'mnemo-bench' });
  const conn = server.connection;

  results.push(await measure('trivial_unknown_method_mnemo_ping', options, async () => {
    try {
      await conn.sendRequest('mnemo/ping', {});
      throw new Error('mnemo/ping was answered with a result');
    } catch (e) {
      if (!(e instanceof lsp.ResponseError) || e.code !== lsp.ErrorCodes.MethodNotFound) throw e;
    }
  }));

  const smallUri = 'file:///mnemo-bench/small.cpp';
  await didOpen(conn, smallUri, 'int small_value = 1;\n\n');
  results.push(await measure('completion_empty_prefix', options, async () => {
    const list = await conn.sendRequest(lsp.CompletionRequest.type,
                                        { textDocument: { uri: smallUri }, position: { line: 1, character: 0 } });
    if (list.items.length !== 0) throw new Error('expected no items with an empty prefix');
  }));

  const doc = generateDocument(options.lines);
  const bigUri = 'file:///mnemo-bench/generated.cpp';
  await didOpen(conn, bigUri, doc.text);
  results.push(await measure(`completion_${options.lines}_lines_prefix`, options, async () => {
    const list = await conn.sendRequest(lsp.CompletionRequest.type, {
      textDocument: { uri: bigUri }, position: { line: doc.line, character: doc.character },
    });
    if (list.items.length !== 100 || !list.items[0].label.startsWith('compute_')) {
      throw new Error(`unexpected completion: ${list.items.length} items, first ${list.items[0]?.label}`);
    }
  }));

  const status = await shutdownAndExit(server);
  if (status.code !== 0) throw new Error(`mnemo exited with ${JSON.stringify(status)}`);
} catch (e) {
  server.child.kill('SIGKILL');
  console.error(`lsp_roundtrip: ${e.stack || e}\nserver log:\n${server.log.text}`);
  process.exit(1);
}

for (const r of results) console.log(JSON.stringify(r));
if (options.out) {
  fs.mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true });
  fs.writeFileSync(options.out, JSON.stringify(results, null, 2) + '\n');
  console.error(`lsp_roundtrip: wrote ${options.out}`);
}
